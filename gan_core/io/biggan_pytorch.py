"""Importing BigGAN-PyTorch (ajbrock/BigGAN-PyTorch) weights.

BigGAN-PyTorch's ``utils.save_weights`` writes, per experiment folder::

    G.pth  G_ema.pth  D.pth        torch.save(net.state_dict())   (+ _copy0, _best0, … suffixes)
    G_optim.pth  D_optim.pth       optimizer states (not read)
    state_dict.pth                 {'itr', 'epoch', …, 'config': {...}}  — the config holds
                                   torch.nn.ReLU objects, so it is read through the allow-list
                                   reader of gan_core.io.torch_restricted (never executed)

Our BigGAN / BigGAN-deep classes use the same tensor names (``u0`` / ``sv0`` spectral-norm
buffers, ``stored_mean`` / ``stored_var`` standing statistics), so the state dicts load with a
strict key and shape check and no conversion. The constructor arguments are inferred from the
tensor shapes: widths, the z / embedding sizes, hierarchical z, attention positions, the number
of singular values. What the shapes cannot tell — the up/down-sampling schedule of BigGAN-deep,
``BN_eps`` / ``SN_eps`` — comes from ``state_dict.pth`` when it is beside the weights, else from
the project's architecture tables (chosen by matching every block's width) and defaults; an
ambiguity is an error that names the argument to pass.
"""
from __future__ import annotations

import math
import os
import re
from typing import Any, Mapping

import torch
from torch import nn

from gan_core.io.errors import CheckpointError, short_list

KINDS = ("biggan-pytorch",)
DEFAULT_BN_EPS = 1e-5
DEFAULT_SN_EPS = 1e-6
_NAME = re.compile(r"^(G_ema|G|D)(?!_optim)(_[^.]*)?\.pth$")  # G_optim*.pth / D_optim*.pth are not networks


def classify_state_dict(obj: Any) -> str | None:
    """'G', 'G-deep', 'D', 'D-deep' for a BigGAN-PyTorch state dict, else None."""
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        return None
    keys = set(obj)
    if {"shared.weight", "linear.weight", "output_layer.2.weight"} <= keys:
        return "G-deep" if "blocks.0.0.conv4.weight" in keys else "G"
    if {"embed.weight", "linear.weight"} <= keys and any(k.startswith("blocks.") for k in keys):
        return "D-deep" if "input_conv.weight" in keys else "D"
    return None


def _shape(sd: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...]:
    if key not in sd:
        raise CheckpointError(f"it lacks the tensor {key}; it is not a complete BigGAN-PyTorch state dict")
    return tuple(sd[key].shape)


def _indices(sd: Mapping[str, torch.Tensor], pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in sd for m in [rx.match(k)] if m})


def _num_svs(sd: Mapping[str, torch.Tensor]) -> int:
    n = len(_indices(sd, r"^linear\.u(\d+)$"))
    if n == 0:
        raise CheckpointError("its layers have no spectral-norm vectors (u0); only BigGAN-PyTorch models "
                              "trained with spectral norm (G_param/D_param 'SN', the default) are supported")
    return n


def _hint(hints: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    for n in names:
        if hints.get(n) is not None:
            return hints[n]
    return default


def _attn_res(attn: Any) -> list[int]:
    if isinstance(attn, str):
        return [int(x) for x in attn.split("_") if x.strip().isdigit() and int(x) > 0]
    return []


def infer_g_config(sd: Mapping[str, torch.Tensor], deep: bool, hints: Mapping[str, Any] | None = None
                   ) -> dict[str, Any]:
    """Our Generator's constructor arguments for a BigGAN-PyTorch G state dict.

    ``hints`` are BigGAN-PyTorch config values (``resolution``, ``G_depth``, ``BN_eps``,
    ``SN_eps``, ``num_G_SV_itrs``, …) from ``state_dict.pth`` or the caller.
    """
    hints = dict(hints or {})
    c_dim, shared_dim = _shape(sd, "shared.weight")
    n = len(_indices(sd, r"^blocks\.(\d+)\.0\.conv1\.weight$"))
    if n == 0:
        raise CheckpointError("it has no generator blocks (blocks.0.0.*)")
    attn_blocks = _indices(sd, r"^blocks\.(\d+)\.1\.gamma$")
    lin_out, lin_in = _shape(sd, "linear.weight")
    img_channels = _shape(sd, "output_layer.2.weight")[0]
    common = dict(c_dim=c_dim, shared_dim=shared_dim, img_channels=img_channels, attn_blocks=attn_blocks,
                  bn_eps=float(_hint(hints, "BN_eps", default=DEFAULT_BN_EPS)),
                  sn_eps=float(_hint(hints, "SN_eps", default=DEFAULT_SN_EPS)),
                  num_svs=_num_svs(sd), num_sv_itrs=int(_hint(hints, "num_G_SV_itrs", default=1)),
                  attn_res=_attn_res(hints.get("G_attn")))
    if not deep:
        channels = []
        for i in range(n):
            out_ch, in_ch, k, _ = _shape(sd, f"blocks.{i}.0.conv1.weight")
            if k != 3:
                raise CheckpointError(f"blocks.{i}.0.conv1 has a {k}x{k} kernel; ganscope's BigGAN uses 3x3 "
                                      f"(G_kernel_size 3, the default)")
            channels.append([in_ch, out_ch])
        bw = math.isqrt(lin_out // channels[0][0])
        if bw * bw * channels[0][0] != lin_out:
            raise CheckpointError(f"linear.weight has {lin_out} outputs, not a square grid of "
                                  f"{channels[0][0]} channels")
        cond = _shape(sd, "blocks.0.0.bn1.gain.weight")[1]
        hier = cond != shared_dim
        if hier:
            chunk = cond - shared_dim
            if chunk != lin_in:
                raise CheckpointError(f"the z chunk of the batch norms ({chunk}) differs from the first linear "
                                      f"layer's input ({lin_in}); not a BigGAN-PyTorch generator ganscope knows")
            z_dim = chunk * (n + 1)
        else:
            z_dim = lin_in
        return dict(common, z_dim=z_dim, img_resolution=bw * 2 ** n, bottom_width=bw, hier=hier,
                    ch=int(_hint(hints, "G_ch", default=max(1, channels[-1][1]))), channels=channels)

    from gan_core.models.biggan_deep import deep_g_blocks
    from gan_core.models.biggan import G_ARCH

    widths = []
    for i in range(n):
        hidden, in_ch = _shape(sd, f"blocks.{i}.0.conv1.weight")[:2]
        out_ch = _shape(sd, f"blocks.{i}.0.conv4.weight")[0]
        widths.append((in_ch, out_ch))
    ratio = widths[0][0] // _shape(sd, "blocks.0.0.conv1.weight")[0]
    bw = math.isqrt(lin_out // widths[0][0])
    cond = _shape(sd, "blocks.0.0.bn1.gain.weight")[1]
    if cond != lin_in:
        raise CheckpointError(f"the batch-norm conditioning ({cond}) differs from the first linear layer's input "
                              f"({lin_in}); not a BigGAN-deep generator ganscope knows")
    want_res, want_depth = hints.get("resolution"), hints.get("G_depth")
    candidates = []
    for res in G_ARCH:
        stages = len(G_ARCH[res])
        if n % stages or bw * 2 ** stages != res or (want_res is not None and int(want_res) != res):
            continue
        depth = n // stages
        if want_depth is not None and int(want_depth) != depth:
            continue
        mult0 = G_ARCH[res][0][0]
        if widths[0][0] % mult0:
            continue
        blocks = deep_g_blocks(res, widths[0][0] // mult0, depth)
        if [(a, b) for a, b, _ in blocks] == widths:
            candidates.append((res, depth, widths[0][0] // mult0, blocks))
    if len(candidates) != 1:
        what = ("several" if candidates else "none")
        raise CheckpointError(
            f"the block widths {short_list([f'{a}->{b}' for a, b in widths], 6)} match {what} of BigGAN-deep's "
            f"standard architectures, so where it upsamples is not known: put the experiment's state_dict.pth "
            f"beside the weights, or call gan_core.io.biggan_import.load_biggan_pytorch(path, resolution=R, "
            f"G_depth=D)")
    res, depth, ch, blocks = candidates[0]
    return dict(common, z_dim=lin_in - shared_dim, img_resolution=res, bottom_width=bw, depth=depth, ch=ch,
                channel_ratio=ratio, blocks=[list(b) for b in blocks])


def infer_d_config(sd: Mapping[str, torch.Tensor], deep: bool, hints: Mapping[str, Any] | None = None
                   ) -> dict[str, Any]:
    """Our Discriminator's constructor arguments for a BigGAN-PyTorch D state dict."""
    from gan_core.models.biggan import D_ARCH
    from gan_core.models.biggan_deep import DEEP_D_ARCH

    hints = dict(hints or {})
    c_dim, feat = _shape(sd, "embed.weight")
    output_dim = _shape(sd, "linear.weight")[0]
    common = dict(c_dim=c_dim, output_dim=output_dim, sn_eps=float(_hint(hints, "SN_eps", default=DEFAULT_SN_EPS)),
                  num_svs=_num_svs(sd), num_sv_itrs=int(_hint(hints, "num_D_SV_itrs", default=1)),
                  attn_res=_attn_res(hints.get("D_attn")))
    table = DEEP_D_ARCH if deep else D_ARCH
    n = len(_indices(sd, r"^blocks\.(\d+)\.0\.conv1\.weight$"))
    by_len = {len(v): r for r, v in table.items()}
    res = int(hints["resolution"]) if hints.get("resolution") is not None else by_len.get(n)
    if res is None or res not in table or len(table[res]) != n:
        raise CheckpointError(f"its {n} discriminator stages match no standard BigGAN{'-deep' if deep else ''} "
                              f"resolution; put state_dict.pth beside it or pass resolution=R")
    downs = [d for _, _, d in table[res]]
    if not deep:
        channels, wide = [], True
        for i in range(n):
            hidden, in_ch = _shape(sd, f"blocks.{i}.0.conv1.weight")[:2]
            out_ch = _shape(sd, f"blocks.{i}.0.conv2.weight")[0]
            wide = hidden == out_ch
            channels.append([in_ch, out_ch, downs[i]])
        attn = _indices(sd, r"^blocks\.(\d+)\.1\.gamma$")
        return dict(common, img_resolution=res, img_channels=channels[0][0], wide=wide,
                    ch=int(_hint(hints, "D_ch", default=max(1, channels[0][1]))), channels=channels, attn_blocks=attn)
    depth = len(_indices(sd, r"^blocks\.0\.(\d+)\.conv1\.weight$"))
    stages = []
    for s in range(n):
        in_ch = _shape(sd, f"blocks.{s}.0.conv1.weight")[1]
        out_ch = _shape(sd, f"blocks.{s}.0.conv4.weight")[0]
        stages.append([in_ch, out_ch, downs[s]])
    ratio = stages[0][1] // _shape(sd, "blocks.0.0.conv1.weight")[0]
    attn = [s for s in range(n) if f"blocks.{s}.{depth}.gamma" in sd]
    return dict(common, img_resolution=res, img_channels=_shape(sd, "input_conv.weight")[1], depth=depth,
                ch=int(_hint(hints, "D_ch", default=max(1, stages[0][0]))), channel_ratio=ratio, stages=stages,
                attn_stages=attn)


def build_from_state_dict(sd: Mapping[str, torch.Tensor], kind: str, hints: Mapping[str, Any] | None = None,
                          what: str = "the network") -> nn.Module:
    """Our network for a BigGAN-PyTorch state dict of ``kind`` ('G', 'G-deep', 'D', 'D-deep')."""
    from gan_core.io.official_pickle import build_checked, load_state_strict

    deep = kind.endswith("-deep")
    family = "biggan-deep" if deep else "biggan"
    if kind.startswith("G"):
        cfg, net_kind = infer_g_config(sd, deep, hints), "G"
    else:
        cfg, net_kind = infer_d_config(sd, deep, hints), "D"
    net = build_checked(family, net_kind, cfg, what)
    load_state_strict(net, dict(sd), what)
    return net


# --------------------------------------------------------------------------------------------
# Files and folders
# --------------------------------------------------------------------------------------------


def read_config_hints(path: str) -> dict[str, Any]:
    """The plain config values of a BigGAN-PyTorch ``state_dict.pth`` (allow-list reader)."""
    from gan_core.io.torch_restricted import ObjectRecord, restricted_torch_load

    obj = restricted_torch_load(path)
    cfg = obj.get("config") if isinstance(obj, dict) else None
    if not isinstance(cfg, dict):
        raise CheckpointError("is not a BigGAN-PyTorch state_dict.pth (no 'config' dict)", path)
    out = {str(k): v for k, v in cfg.items()
           if isinstance(v, (int, float, str, bool)) or v is None}
    out["_activations"] = {str(k): v.class_name for k, v in cfg.items() if isinstance(v, ObjectRecord)}
    for k in ("itr", "epoch"):
        if isinstance(obj.get(k), int):
            out[f"_{k}"] = obj[k]
    return out


def _check_activations(hints: Mapping[str, Any], path: str) -> None:
    for k, cls in (hints.get("_activations") or {}).items():
        if k in ("G_activation", "D_activation") and not cls.endswith(".ReLU"):
            raise CheckpointError(f"its config uses {cls} as {k}; ganscope's BigGAN uses ReLU", path)


def state_dict_path_for(weights: str) -> str | None:
    """``state_dict{suffix}.pth`` beside ``G{suffix}.pth`` / ``G_ema{suffix}.pth`` / ``D{suffix}.pth``."""
    folder, name = os.path.split(os.path.abspath(weights))
    m = _NAME.match(name)
    for cand in ([f"state_dict{m.group(2) or ''}.pth"] if m else []) + ["state_dict.pth"]:
        p = os.path.join(folder, cand)
        if os.path.isfile(p):
            return p
    return None


def experiment_files(folder: str) -> dict[str, str]:
    """``{'G_ema'|'G'|'D': path}`` of a BigGAN-PyTorch weights folder (files without a suffix;
    if there are none, the single suffix present, else an error listing them)."""
    found: dict[str, dict[str, str]] = {}
    for name in os.listdir(folder):
        m = _NAME.match(name)
        if m:
            found.setdefault(m.group(2) or "", {})[m.group(1)] = os.path.join(folder, name)
    if "" in found:
        return found[""]
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        return {}
    raise CheckpointError(f"holds several BigGAN-PyTorch weight sets (suffixes {short_list(sorted(found))}); "
                          f"give the path of one G_ema*.pth / G*.pth file", folder)


def read_biggan_pytorch(path: str, which: tuple[str, ...] = ("G_ema", "G", "D"), device: str | torch.device = "cpu",
                        first_only: bool = False, obj: Any = None, **hints: Any) -> dict[str, Any]:
    """Networks of a BigGAN-PyTorch weights file (``G.pth``, ``G_ema.pth``, ``D.pth``, any suffix)
    or weights folder. A file's network is keyed by its name (``G_ema*`` -> 'G_ema', other
    generators -> 'G', discriminators -> 'D'). ``hints`` override ``state_dict.pth`` values."""
    from gan_core.io.biggan_import import load_torch_weights

    if os.path.isdir(path):
        files = experiment_files(path)
        if not files:
            raise CheckpointError("holds no BigGAN-PyTorch G.pth, G_ema.pth or D.pth", path)
        sd_path = None
        for key in ("G_ema", "G", "D"):
            if key in files:
                sd_path = state_dict_path_for(files[key])
                break
    else:
        m = _NAME.match(os.path.basename(path))
        if obj is None:
            obj = load_torch_weights(path)
        kind0 = classify_state_dict(obj)
        if kind0 is not None and kind0.startswith("D"):
            files = {"D": path}
        else:
            files = {"G_ema" if (m and m.group(1) == "G_ema") else "G": path}
        sd_path = state_dict_path_for(path)
    stored = read_config_hints(sd_path) if sd_path else {}
    if sd_path:
        _check_activations(stored, sd_path)
    merged = {**stored, **{k: v for k, v in hints.items() if v is not None}}
    nets: dict[str, nn.Module] = {}
    kinds: dict[str, str] = {}
    for key in [k for k in ("G_ema", "G", "D") if k in files]:
        fpath = files[key]
        sd = obj if (obj is not None and fpath == path) else load_torch_weights(fpath)
        kind = classify_state_dict(sd)
        if kind is None:
            raise CheckpointError("is not a BigGAN-PyTorch G/D state dict", fpath)
        if kind.startswith("D") != (key == "D"):
            raise CheckpointError(f"holds a BigGAN-PyTorch {'discriminator' if kind.startswith('D') else 'generator'}, "
                                  f"which its name does not suggest; rename it (G*.pth / G_ema*.pth / D*.pth)", fpath)
        kinds[key] = kind
        if key not in which or (first_only and nets):
            continue
        try:
            net = build_from_state_dict(sd, kind, merged, what=f"its {key}")
        except CheckpointError as e:
            raise e.with_path(fpath) from None
        nets[key] = net.to(device)
    family = None
    if kinds:
        family = "biggan-deep" if any(k.endswith("-deep") for k in kinds.values()) else "biggan"
    metadata = {"source_file": path, "source_format": "biggan-pytorch", "files": dict(files),
                "config_file": sd_path, "kinds": kinds,
                "assumed": {k: v for k, v in (("BN_eps", DEFAULT_BN_EPS), ("SN_eps", DEFAULT_SN_EPS))
                            if k not in merged}}
    if sd_path:
        metadata["itr"] = stored.get("_itr")
    return {"networks": nets, "family": family, "metadata": metadata}
