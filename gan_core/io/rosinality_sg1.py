"""rosinality/style-based-gan-pytorch (StyleGAN v1) state dicts -> ``gan_core.models.stylegan1``.

Their names and ours (i = progression index, res = 4·2^i; ``*_orig`` tensors are equalized-lr
weights and map to our ``weight`` unchanged, the run-time scale sqrt(2/fan_in) being the same):

    style.{2k+1}.linear.{weight_orig,bias}              mapping.fc{k}.{weight,bias}
    generator.progression.0.conv1.input [1,C,4,4]       synthesis.b4.conv0.const [C,4,4]
    generator.progression.i.conv1.1.conv.*  (upsample + conv, then blur .2)    b{res}.conv0.{weight,bias}
    generator.progression.i.conv1.0.{weight,bias} (FusedUpsample [in,out,3,3], blur .1)
                                                        b{res}.conv0: weight = ¼·transpose·flip (see below)
    generator.progression.i.noise{1,2}.weight_orig [1,C,1,1]   b{res}.conv{0,1}.noise_strength = w·sqrt(2/C)
    generator.progression.i.adain{1,2}.style.linear.*   b{res}.conv{0,1}.affine.*
    generator.progression.i.conv2.conv.*                b{res}.conv1.{weight,bias}
    generator.to_rgb.i.conv.*                           b{res}.torgb.{weight,bias}

FusedUpsample is ``conv_transpose2d(x, box_average_4x4(pad(W·m)), stride 2)``, i.e. a quarter of
nearest-×2 + 3×3 conv with the transposed, flipped kernel; our layers always compute nearest-×2 +
conv (as one fused transposed conv at high resolutions), hence the ¼ at import.

Discriminator (j = 8 − k for input resolution 4·2^k, n = number of progression blocks):

    progression.j.conv1.0.conv.*                        b{res}.conv0.*
    progression.j.conv2.1.{weight,bias} (FusedDownsample) or conv2.1.conv.* (conv + avg pool)
                                                        b{res}.conv1.*   (same math, no rescale)
    progression.{n-1}.conv1.0.conv.*                    b4.conv.*
    progression.{n-1}.conv2.0.conv.* [C,C,4,4]          b4.fc.* [C, 16C]
    from_rgb.j(.0).conv.*                               b{res}.fromrgb.conv.*
    linear.linear.*                                     b4.out.*

Blur buffers (``*.weight`` / ``*.weight_flip`` of the Blur modules) are checked to be the
standard [1,2,1]⊗[1,2,1]/16 kernel and not stored. Not in the files: the progressive step
(inferred: the last block whose noise weights differ from their zero init), the mean w for
truncation (estimated from ``w_avg_samples`` z), constant noise (ours, seeded).
"""
from __future__ import annotations

import math
import re
from typing import Any

import torch

from gan_core.io.errors import CheckpointError, short_list
from gan_core.io.rosinality import (W_AVG_SAMPLES, W_AVG_SEED, estimate_w_avg, load_converted, need,
                                    strip_module_prefix)
from gan_core.models.stylegan1 import Discriminator, Generator

_BLUR = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16


def _indices(sd: dict, pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in sd if (m := rx.match(k))})


def _check_blur(sd: dict, prefix: str, what: str) -> None:
    for name in (f"{prefix}.weight", f"{prefix}.weight_flip"):
        t = sd.get(name)
        if t is None:
            continue
        if t.ndim != 4 or tuple(t.shape[1:]) != (1, 3, 3) or \
                not torch.allclose(t.float(), _BLUR.expand_as(t), atol=1e-6):
            raise CheckpointError(f"{what}: the blur kernel {name} is not the standard [1,2,1]x[1,2,1]/16 one; "
                                  f"this variant is not supported")


def _is_fused_g(sd: dict, i: int) -> bool:
    return f"generator.progression.{i}.conv1.0.weight" in sd


def convert_generator(sd: dict[str, torch.Tensor], what: str) -> tuple[dict[str, Any], dict[str, torch.Tensor],
                                                                      dict[str, Any]]:
    """(our constructor kwargs, our state dict without noise_const / w_avg, what was inferred)."""
    sd = strip_module_prefix(sd)
    blocks = _indices(sd, r"generator\.progression\.(\d+)\.")
    if not blocks or blocks != list(range(len(blocks))):
        raise CheckpointError(f"{what} has no generator.progression.0…N blocks (found {blocks}); it is not a "
                              f"style-based-gan-pytorch StyledGenerator")
    maps = _indices(sd, r"style\.(\d+)\.linear\.weight_orig$")
    if not maps or maps != [2 * k + 1 for k in range(len(maps))]:
        raise CheckpointError(f"{what} has no mapping layers style.1, style.3, … (found {maps})")
    res_list = [4 * 2 ** i for i in blocks]
    out: dict[str, torch.Tensor] = {}
    for k, idx in enumerate(maps):
        out[f"mapping.fc{k}.weight"] = need(sd, f"style.{idx}.linear.weight_orig", what, 2)
        out[f"mapping.fc{k}.bias"] = need(sd, f"style.{idx}.linear.bias", what, 1)
    z_dim = out["mapping.fc0.weight"].shape[1]
    w_dim = out[f"mapping.fc{len(maps) - 1}.weight"].shape[0]
    channels = []
    fused_res = []
    for i, res in zip(blocks, res_list):
        p, q = f"generator.progression.{i}", f"synthesis.b{res}"
        if i == 0:
            const = need(sd, f"{p}.conv1.input", what, 4)
            out[f"{q}.conv0.const"] = const[0]
        elif _is_fused_g(sd, i):
            w = need(sd, f"{p}.conv1.0.weight", what, 4)
            out[f"{q}.conv0.weight"] = 0.25 * w.transpose(0, 1).flip([2, 3])
            out[f"{q}.conv0.bias"] = need(sd, f"{p}.conv1.0.bias", what, 1)
            _check_blur(sd, f"{p}.conv1.1", what)
            fused_res.append(res)
        else:
            out[f"{q}.conv0.weight"] = need(sd, f"{p}.conv1.1.conv.weight_orig", what, 4)
            out[f"{q}.conv0.bias"] = need(sd, f"{p}.conv1.1.conv.bias", what, 1)
            _check_blur(sd, f"{p}.conv1.2", what)
        for ours, theirs in (("conv0", "1"), ("conv1", "2")):
            nw = need(sd, f"{p}.noise{theirs}.weight_orig", what, 4)
            out[f"{q}.{ours}.noise_strength"] = nw.flatten() * math.sqrt(2 / nw.shape[1])
            out[f"{q}.{ours}.affine.weight"] = need(sd, f"{p}.adain{theirs}.style.linear.weight_orig", what, 2)
            out[f"{q}.{ours}.affine.bias"] = need(sd, f"{p}.adain{theirs}.style.linear.bias", what, 1)
        out[f"{q}.conv1.weight"] = need(sd, f"{p}.conv2.conv.weight_orig", what, 4)
        out[f"{q}.conv1.bias"] = need(sd, f"{p}.conv2.conv.bias", what, 1)
        out[f"{q}.torgb.weight"] = need(sd, f"generator.to_rgb.{i}.conv.weight_orig", what, 4)
        out[f"{q}.torgb.bias"] = need(sd, f"generator.to_rgb.{i}.conv.bias", what, 1)
        channels.append(int(out[f"{q}.conv1.weight"].shape[0]))
    known = {f"generator.progression.{i}." for i in blocks}
    leftovers = [k for k in sd if not k.startswith(tuple(known)) and not k.startswith("generator.to_rgb.")
                 and not re.match(r"style\.\d+\.linear\.", k)]
    if leftovers:
        raise CheckpointError(f"{what} holds tensors this importer does not know ({short_list(leftovers, 4)}); "
                              f"this variant is not supported yet")
    kwargs = dict(z_dim=int(z_dim), w_dim=int(w_dim), img_resolution=res_list[-1], img_channels=3,
                  mapping_layers=len(maps), mapping_lr_multiplier=1.0, channels=channels,
                  fused_resolution=min(fused_res) if fused_res else 2 * res_list[-1])
    trained = [i for i in blocks if any(
        float(sd[f"generator.progression.{i}.noise{n}.weight_orig"].abs().max()) > 0 for n in (1, 2))]
    inferred = {
        "img_resolution": f"{res_list[-1]} (from {len(blocks)} progression blocks)",
        "channels": f"{dict(zip(res_list, channels))} (from tensor shapes)",
        "mapping_layers": f"{len(maps)} (style.1 … style.{maps[-1]})",
        "z_dim/w_dim": f"{z_dim}/{w_dim} (from tensor shapes)",
        "fused_upsampling_from": f"{kwargs['fused_resolution']} (from the FusedUpsample tensors)",
        "trained_blocks": trained,
    }
    return kwargs, out, inferred


def convert_discriminator(sd: dict[str, torch.Tensor], what: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    sd = strip_module_prefix(sd)
    blocks = _indices(sd, r"progression\.(\d+)\.")
    n = len(blocks)
    if not blocks or blocks != list(range(n)):
        raise CheckpointError(f"{what} has no progression.0…N blocks; it is not a style-based-gan-pytorch "
                              f"Discriminator")
    activate = f"from_rgb.{n - 1}.0.conv.weight_orig" in sd
    rgb = (lambda j: f"from_rgb.{j}.0.conv") if activate else (lambda j: f"from_rgb.{j}.conv")
    out: dict[str, torch.Tensor] = {}
    table: dict[int, int] = {}
    fused_res = []
    for j in blocks:
        k = n - 1 - j
        res = 4 * 2 ** k
        q = f"b{res}"
        out[f"{q}.fromrgb.conv.weight"] = need(sd, f"{rgb(j)}.weight_orig", what, 4)
        out[f"{q}.fromrgb.conv.bias"] = need(sd, f"{rgb(j)}.bias", what, 1)
        table[res] = int(out[f"{q}.fromrgb.conv.weight"].shape[0])
        p = f"progression.{j}"
        if k == 0:
            out["b4.conv.weight"] = need(sd, f"{p}.conv1.0.conv.weight_orig", what, 4)
            out["b4.conv.bias"] = need(sd, f"{p}.conv1.0.conv.bias", what, 1)
            fc = need(sd, f"{p}.conv2.0.conv.weight_orig", what, 4)
            out["b4.fc.weight"] = fc.reshape(fc.shape[0], -1)
            out["b4.fc.bias"] = need(sd, f"{p}.conv2.0.conv.bias", what, 1)
            continue
        out[f"{q}.conv0.weight"] = need(sd, f"{p}.conv1.0.conv.weight_orig", what, 4)
        out[f"{q}.conv0.bias"] = need(sd, f"{p}.conv1.0.conv.bias", what, 1)
        _check_blur(sd, f"{p}.conv2.0", what)
        if f"{p}.conv2.1.weight" in sd:
            out[f"{q}.conv1.weight"] = need(sd, f"{p}.conv2.1.weight", what, 4)
            out[f"{q}.conv1.bias"] = need(sd, f"{p}.conv2.1.bias", what, 1)
            fused_res.append(res)
        else:
            out[f"{q}.conv1.weight"] = need(sd, f"{p}.conv2.1.conv.weight_orig", what, 4)
            out[f"{q}.conv1.bias"] = need(sd, f"{p}.conv2.1.conv.bias", what, 1)
    out["b4.out.weight"] = need(sd, "linear.linear.weight_orig", what, 2)
    out["b4.out.bias"] = need(sd, "linear.linear.bias", what, 1)
    res_list = sorted(table)
    kwargs = dict(img_resolution=res_list[-1], img_channels=3, channels=[table[r] for r in res_list],
                  fused_resolution=min(fused_res) if fused_res else 2 * res_list[-1],
                  fromrgb_activation=activate, mbstd_group_size=None)
    return kwargs, out


def read_sg1(obj: dict, which: tuple[str, ...], first_only: bool, path: str | None, step: int | None = None,
             alpha: float | None = None, w_avg_samples: int = W_AVG_SAMPLES) -> dict[str, Any]:
    """Our networks from a style-based-gan-pytorch container or bare g_running state dict."""
    if all(isinstance(v, torch.Tensor) for v in obj.values()):
        layout = "bare g_running state dict (NNNNNN.model)"
        sources = {"G_ema": obj}
    else:
        layout = "train_step-N.model: " + ", ".join(str(k) for k in obj)
        sources = {}
        for ours, theirs in (("G_ema", "g_running"), ("G", "generator"), ("D", "discriminator")):
            if theirs in obj:
                if not isinstance(obj[theirs], dict):
                    raise CheckpointError(f"its {theirs!r} entry is a {type(obj[theirs]).__name__}, not a state dict")
                sources[ours] = obj[theirs]
    if "G_ema" not in sources and "G" not in sources:
        raise CheckpointError("is a style-based-gan-pytorch checkpoint without a generator (no 'g_running' or "
                              "'generator' entry)")
    keys = [k for k in which if k in sources][: 1 if first_only else None]
    gkey = "G_ema" if "G_ema" in sources else "G"
    g_kwargs, _, inferred = convert_generator(sources[gkey], f"its {'g_running' if gkey == 'G_ema' else 'generator'}")
    blocks = g_kwargs["img_resolution"].bit_length() - 2  # number of blocks
    assumed: dict[str, str] = {}
    if step is None:
        trained = inferred["trained_blocks"]
        step = max(trained) if trained else blocks - 1
        inferred["step"] = (f"{step} ({4 * 2 ** step}px: the last block whose noise weights were trained; the file "
                            f"does not record it — pass step= to load_rosinality or call G.set_progressive)")
    if alpha is None:
        alpha = 1.0
        assumed["alpha"] = "1.0 (fully faded in, as generate.py renders)"
    assumed["mapping_lr_multiplier"] = "1.0 (the project's EqualLinear mapping)"
    nets = {}
    for key in keys:
        what = {"G_ema": "its g_running", "G": "its generator", "D": "its discriminator"}[key]
        if key == "D":
            d_kwargs, converted = convert_discriminator(sources["D"], what)
            if d_kwargs["img_resolution"] != g_kwargs["img_resolution"]:
                raise CheckpointError(f"its discriminator is for {d_kwargs['img_resolution']}px but the generator "
                                      f"for {g_kwargs['img_resolution']}px")
            net = Discriminator(**d_kwargs, step=step, alpha=alpha)
            load_converted(net, converted, what)
        else:
            kwargs, converted, _ = convert_generator(sources[key], what)
            net = Generator(**kwargs, step=step, alpha=alpha)
            load_converted(net, converted, what, may_keep=("noise_const", "w_avg"))
            net.mapping.w_avg.copy_(estimate_w_avg(net.mapping, net.z_dim, w_avg_samples))
        nets[key] = net
    assumed["w_avg"] = (f"mean of {w_avg_samples} mapped z (seed {W_AVG_SEED}); the files do not store it "
                        f"(generate.py estimates it the same way)")
    assumed["noise_const"] = "ganscope's own seeded constant noise (the project draws fresh noise per image)"
    inferred.pop("trained_blocks")
    metadata = {"source_project": "rosinality/style-based-gan-pytorch", "source_layout": layout,
                "inferred": inferred, "assumed": assumed}
    if path:
        metadata["source_file"] = path
    return {"networks": nets, "family": "stylegan1", "metadata": metadata}
