"""rosinality/stylegan2-pytorch state dicts -> ``gan_core.models.stylegan2`` (official names).

The project computes exactly the official StyleGAN2 (config-F 'skip' generator, 'resnet'
discriminator): mapping with lr multiplier ``lr_mlp``, modulated/demodulated convs (its extra
1/sqrt(fan_in) scale cancels in the demodulation), scalar noise strengths, [1,3,3,1] FIR
resampling, minibatch-stddev group 4. So loading is a rename table plus reshapes, no numeric
conversion (checked against the reference outputs in ``../shared/fixtures/zoo``):

    style.{k+1}.{weight,bias}                       mapping.fc{k}.{weight,bias}
    input.input [1,C,4,4]                           synthesis.b4.const [C,4,4]
    conv1.conv.weight [1,O,I,3,3]                   synthesis.b4.conv1.weight [O,I,3,3]
    conv1.conv.modulation.*                         synthesis.b4.conv1.affine.*
    conv1.noise.weight [1] / conv1.activate.bias    synthesis.b4.conv1.noise_strength [] / .bias
    to_rgb1.conv.weight [1,3,C,1,1] / to_rgb1.bias [1,3,1,1] / modulation
                                                    synthesis.b4.torgb.{weight,bias,affine.*}
    convs.{2j}, convs.{2j+1}, to_rgbs.{j}           synthesis.b{8·2^j}.conv0, .conv1, .torgb
    noises.noise_{i} [1,1,R,R]                      the i-th noise layer's noise_const [R,R]
    latent_avg [w_dim] (convert_weight.py)          mapping.w_avg

    D: convs.0.{0.weight,1.bias}                    b{size}.fromrgb.{weight,bias}
       convs.{k}.conv1.{0.weight,1.bias}            b{size/2^(k-1)}.conv0
       convs.{k}.conv2.{1.weight,2.bias}            b{…}.conv1;  convs.{k}.skip.1.weight -> b{…}.skip.weight
       final_conv.{0.weight,1.bias}                 b4.conv;  final_linear.0 / .1 -> b4.fc / b4.out

FIR kernel buffers (``*.kernel``) must be the outer product of one 1-D filter (that filter
becomes ``resample_filter``). Inferred from shapes: resolution (number of to_rgbs), z/w size,
mapping depth, the channel table (as ``channel_base``/``channel_max``, which represents the
project's table for channel_multiplier 1 and 2). Not recorded anywhere in the weights:
``lr_mlp`` (``args.lr_mlp`` if the file has it, else the project's default 0.01).
"""
from __future__ import annotations

import re
from typing import Any

import torch

from gan_core.io.errors import CheckpointError, short_list
from gan_core.io.rosinality import W_AVG_SAMPLES, W_AVG_SEED, estimate_w_avg, load_converted, need, strip_module_prefix
from gan_core.models.stylegan2 import Discriminator, Generator

DEFAULT_LR_MLP = 0.01


def _indices(sd: dict, pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in sd if (m := rx.match(k))})


def _fir_1d(sd: dict, what: str) -> list[float] | None:
    """The 1-D filter whose (normalised) outer product every ``*.kernel`` buffer is."""
    filt = None
    for k, t in sd.items():
        if not k.endswith(".kernel"):
            continue
        t = t.detach().double()
        if t.ndim != 2 or t.shape[0] != t.shape[1] or float(t.sum()) == 0:
            raise CheckpointError(f"{what}: FIR kernel {k} has shape {list(t.shape)}; expected a square 2-D kernel")
        t = t / t.sum()
        f = t.sum(dim=1)
        if not torch.allclose(torch.outer(f, f), t, atol=1e-6):
            raise CheckpointError(f"{what}: FIR kernel {k} is not separable; this variant is not supported")
        if filt is None:
            filt = f
        elif filt.shape != f.shape or not torch.allclose(filt, f, atol=1e-6):
            raise CheckpointError(f"{what}: its FIR kernels differ ({k}); this variant is not supported")
    if filt is None:
        return None
    scale = float(filt.min()) if float(filt.min()) > 0 else 1.0
    return [round(float(v / scale), 6) for v in filt]


def channel_base_max(table: dict[int, int], what: str) -> tuple[int, int]:
    """(channel_base, channel_max) with ``min(base // res, max) == table[res]`` for every res."""
    cmax = max(table.values())
    below = [r for r in sorted(table) if table[r] < cmax]
    candidates = [table[r] * r for r in below] or [cmax * max(table)]
    for base in candidates:
        if all(min(base // r, cmax) == c for r, c in table.items()):
            return base, cmax
    raise CheckpointError(f"{what}: its channel table {table} is not of the form min(base / resolution, max) "
                          f"(e.g. channel_multiplier 4); this variant is not supported yet")


def convert_generator(sd: dict[str, torch.Tensor], what: str) -> tuple[dict[str, Any], dict[str, torch.Tensor],
                                                                      dict[str, Any], list[str]]:
    """(our kwargs without lr_mlp, our state dict, what was inferred, our keys the file lacked)."""
    sd = strip_module_prefix(sd)
    maps = _indices(sd, r"style\.(\d+)\.weight$")
    if not maps or maps != list(range(1, len(maps) + 1)):
        raise CheckpointError(f"{what} has no mapping layers style.1 … style.N (found {maps}); it is not a "
                              f"stylegan2-pytorch Generator; this variant is not supported yet")
    rgbs = _indices(sd, r"to_rgbs\.(\d+)\.")
    if rgbs != list(range(len(rgbs))):
        raise CheckpointError(f"{what} has to_rgbs {rgbs}, not 0 … N: tensors are missing; the file is incomplete")
    n_up = len(rgbs)
    size = 4 * 2 ** n_up
    out: dict[str, torch.Tensor] = {}
    for k, idx in enumerate(maps):
        out[f"mapping.fc{k}.weight"] = need(sd, f"style.{idx}.weight", what, 2)
        out[f"mapping.fc{k}.bias"] = need(sd, f"style.{idx}.bias", what, 1)
    z_dim, w_dim = out["mapping.fc0.weight"].shape[1], out[f"mapping.fc{len(maps) - 1}.weight"].shape[0]
    out["synthesis.b4.const"] = need(sd, "input.input", what, 4)[0]

    def layer(theirs: str, ours: str) -> None:
        out[f"{ours}.weight"] = need(sd, f"{theirs}.conv.weight", what, 5)[0]
        out[f"{ours}.affine.weight"] = need(sd, f"{theirs}.conv.modulation.weight", what, 2)
        out[f"{ours}.affine.bias"] = need(sd, f"{theirs}.conv.modulation.bias", what, 1)
        out[f"{ours}.noise_strength"] = need(sd, f"{theirs}.noise.weight", what, 1).reshape([])
        out[f"{ours}.bias"] = need(sd, f"{theirs}.activate.bias", what, 1)

    def torgb(theirs: str, ours: str) -> None:
        out[f"{ours}.weight"] = need(sd, f"{theirs}.conv.weight", what, 5)[0]
        out[f"{ours}.affine.weight"] = need(sd, f"{theirs}.conv.modulation.weight", what, 2)
        out[f"{ours}.affine.bias"] = need(sd, f"{theirs}.conv.modulation.bias", what, 1)
        out[f"{ours}.bias"] = need(sd, f"{theirs}.bias", what, 4).flatten()

    layer("conv1", "synthesis.b4.conv1")
    torgb("to_rgb1", "synthesis.b4.torgb")
    noise_layers = ["synthesis.b4.conv1"]
    table = {4: int(out["synthesis.b4.conv1.weight"].shape[0])}
    for j in range(n_up):
        res = 8 * 2 ** j
        layer(f"convs.{2 * j}", f"synthesis.b{res}.conv0")
        layer(f"convs.{2 * j + 1}", f"synthesis.b{res}.conv1")
        torgb(f"to_rgbs.{j}", f"synthesis.b{res}.torgb")
        noise_layers += [f"synthesis.b{res}.conv0", f"synthesis.b{res}.conv1"]
        table[res] = int(out[f"synthesis.b{res}.conv1.weight"].shape[0])
    kept = []
    for i, name in enumerate(noise_layers):
        t = sd.get(f"noises.noise_{i}")
        if t is None:
            kept.append(f"{name}.noise_const")
        else:
            out[f"{name}.noise_const"] = t.detach().float().reshape(t.shape[-2], t.shape[-1])
    known = re.compile(r"(style\.\d+\.|input\.input$|conv1\.|to_rgb1\.|convs\.\d+\.|to_rgbs\.\d+\.|noises\.noise_\d+$)")
    leftovers = [k for k in sd if not known.match(k)]
    if leftovers:
        raise CheckpointError(f"{what} holds tensors this importer does not know ({short_list(leftovers, 4)}); "
                              f"this variant is not supported yet")
    base, cmax = channel_base_max(table, what)
    fir = _fir_1d(sd, what) or [1, 3, 3, 1]
    kwargs = dict(z_dim=int(z_dim), c_dim=0, w_dim=int(w_dim), img_resolution=size, img_channels=3,
                  mapping_kwargs=dict(num_layers=len(maps)), channel_base=base, channel_max=cmax, num_fp16_res=0,
                  conv_clamp=None, architecture="skip", resample_filter=fir)
    cm = {16384: 1, 32768: 2}.get(base) if cmax == 512 else None
    inferred = {
        "size": f"{size} (from {n_up} to_rgbs)",
        "z_dim/w_dim (latent)": f"{z_dim}/{w_dim} (from tensor shapes)",
        "n_mlp": f"{len(maps)} (style.1 … style.{maps[-1]})",
        "channels": f"{table} (from tensor shapes) = channel_base {base}, channel_max {cmax}"
                    + (f" (channel_multiplier {cm})" if cm else ""),
        "blur_kernel": f"{fir} (from the FIR buffers)",
    }
    return kwargs, out, inferred, kept


def convert_discriminator(sd: dict[str, torch.Tensor], what: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    sd = strip_module_prefix(sd)
    blocks = _indices(sd, r"convs\.(\d+)\.")
    if not blocks or blocks != list(range(len(blocks))):
        raise CheckpointError(f"{what} has no convs.0 … convs.N; it is not a stylegan2-pytorch Discriminator")
    size = 4 * 2 ** (len(blocks) - 1)
    out: dict[str, torch.Tensor] = {
        f"b{size}.fromrgb.weight": need(sd, "convs.0.0.weight", what, 4),
        f"b{size}.fromrgb.bias": need(sd, "convs.0.1.bias", what, 1),
    }
    table = {}
    for k in blocks[1:]:
        res = size // 2 ** (k - 1)
        p, q = f"convs.{k}", f"b{res}"
        out[f"{q}.conv0.weight"] = need(sd, f"{p}.conv1.0.weight", what, 4)
        out[f"{q}.conv0.bias"] = need(sd, f"{p}.conv1.1.bias", what, 1)
        out[f"{q}.conv1.weight"] = need(sd, f"{p}.conv2.1.weight", what, 4)
        out[f"{q}.conv1.bias"] = need(sd, f"{p}.conv2.2.bias", what, 1)
        out[f"{q}.skip.weight"] = need(sd, f"{p}.skip.1.weight", what, 4)
        table[res] = int(out[f"{q}.conv0.weight"].shape[0])
        table[res // 2] = int(out[f"{q}.conv1.weight"].shape[0])
    for ours, theirs in (("b4.conv", "final_conv"),):
        out[f"{ours}.weight"] = need(sd, f"{theirs}.0.weight", what, 4)
        out[f"{ours}.bias"] = need(sd, f"{theirs}.1.bias", what, 1)
    for ours, theirs in (("b4.fc", "final_linear.0"), ("b4.out", "final_linear.1")):
        out[f"{ours}.weight"] = need(sd, f"{theirs}.weight", what, 2)
        out[f"{ours}.bias"] = need(sd, f"{theirs}.bias", what, 1)
    table.setdefault(4, int(out["b4.conv.weight"].shape[0]))
    table.setdefault(size, int(out[f"b{size}.fromrgb.weight"].shape[0]))
    base, cmax = channel_base_max(table, what)
    fir = _fir_1d(sd, what) or [1, 3, 3, 1]
    kwargs = dict(c_dim=0, img_resolution=size, img_channels=3, architecture="resnet", channel_base=base,
                  channel_max=cmax, num_fp16_res=0, conv_clamp=None,
                  block_kwargs=dict(resample_filter=fir), epilogue_kwargs=dict(mbstd_group_size=4))
    return kwargs, out


def read_sg2(obj: dict, which: tuple[str, ...], first_only: bool, path: str | None, lr_mlp: float | None = None,
             w_avg_samples: int = W_AVG_SAMPLES) -> dict[str, Any]:
    """Our networks from a stylegan2-pytorch container or bare g_ema state dict."""
    if all(isinstance(v, torch.Tensor) for v in obj.values()):
        layout, sources, args, latent_avg = "bare g_ema state dict", {"G_ema": obj}, None, None
    else:
        layout = ", ".join(str(k) for k in obj)
        sources = {}
        for ours, theirs in (("G_ema", "g_ema"), ("G", "g"), ("D", "d")):
            if theirs in obj:
                if not isinstance(obj[theirs], dict):
                    raise CheckpointError(f"its {theirs!r} entry is a {type(obj[theirs]).__name__}, not a state dict")
                sources[ours] = obj[theirs]
        args = obj.get("args")
        latent_avg = obj.get("latent_avg")
        if args is not None and not isinstance(args, dict):
            args = None
    if "G_ema" not in sources and "G" not in sources:
        raise CheckpointError("holds no generator ('g_ema' or 'g'); give a file with the generator weights")
    assumed: dict[str, str] = {}
    if lr_mlp is None:
        if args is not None and isinstance(args.get("lr_mlp"), (int, float)):
            lr_mlp = float(args["lr_mlp"])
        else:
            lr_mlp = DEFAULT_LR_MLP
            assumed["lr_mlp"] = (f"{DEFAULT_LR_MLP} (the project's default; not recorded in the file — pass "
                                 f"lr_mlp= to load_rosinality if the model was trained with another)")
    keys = [k for k in which if k in sources][: 1 if first_only else None]
    gkey = "G_ema" if "G_ema" in sources else "G"
    g_kwargs, _, inferred, _ = convert_generator(sources[gkey], f"its {'g_ema' if gkey == 'G_ema' else 'g'}")
    if args is not None:
        for name, ours in (("size", g_kwargs["img_resolution"]), ("latent", g_kwargs["w_dim"]),
                           ("n_mlp", g_kwargs["mapping_kwargs"]["num_layers"])):
            if isinstance(args.get(name), int) and args[name] != ours:
                raise CheckpointError(f"its args.{name} is {args[name]} but the tensors say {ours}; the file is "
                                      f"inconsistent")
        inferred["args"] = {k: args[k] for k in ("size", "latent", "n_mlp", "channel_multiplier", "iter", "batch")
                            if k in args}
    nets = {}
    for key in keys:
        what = {"G_ema": "its g_ema", "G": "its g", "D": "its d"}[key]
        if key == "D":
            d_kwargs, converted = convert_discriminator(sources["D"], what)
            if d_kwargs["img_resolution"] != g_kwargs["img_resolution"]:
                raise CheckpointError(f"its discriminator is for {d_kwargs['img_resolution']}px but the generator "
                                      f"for {g_kwargs['img_resolution']}px")
            net = Discriminator(**d_kwargs)
            load_converted(net, converted, what, may_keep=("resample_filter",))
        else:
            kwargs, converted, _, kept_noise = convert_generator(sources[key], what)
            kwargs["mapping_kwargs"]["lr_multiplier"] = lr_mlp
            net = Generator(**kwargs)
            load_converted(net, converted, what, may_keep=("resample_filter", "noise_const", "w_avg"))
            if kept_noise:
                assumed["noise_const"] = f"random for {short_list(kept_noise, 3)} (the file has no noises.noise_i)"
            if isinstance(latent_avg, torch.Tensor) and latent_avg.numel() == net.w_dim:
                net.mapping.w_avg.copy_(latent_avg.detach().float().flatten())
                inferred["w_avg"] = "latent_avg from the file"
            else:
                net.mapping.w_avg.copy_(estimate_w_avg(net.mapping, net.z_dim, w_avg_samples))
                assumed["w_avg"] = (f"mean of {w_avg_samples} mapped z (seed {W_AVG_SEED}), as the project's "
                                    f"mean_latent(4096); the file has no latent_avg")
        nets[key] = net
    assumed["architecture"] = "official StyleGAN2 config-F equivalent: G 'skip', D 'resnet', no conv clamp, fp32"
    metadata = {"source_project": "rosinality/stylegan2-pytorch", "source_layout": layout,
                "inferred": inferred, "assumed": assumed, "lr_mlp": lr_mlp}
    if obj.get("ada_aug_p") is not None and isinstance(obj.get("ada_aug_p"), (int, float)):
        metadata["ada_aug_p"] = float(obj["ada_aug_p"])
    if path:
        metadata["source_file"] = path
    return {"networks": nets, "family": "stylegan2", "metadata": metadata}
