"""Importing pytorch-pretrained-BigGAN (huggingface) generators.

A model is a directory (or the pair of files) ``config.json`` (``BigGANConfig``: output_dim,
z_dim, class_embed_dim, channel_width, num_classes, layers ``[[upsample, in_mult, out_mult],
…]``, attention_layer_position, eps, n_stats) + ``pytorch_model.bin`` (``torch.save`` of the
state dict, read with ``torch.load(weights_only=True)``).

It is a BigGAN-deep generator, held by our ``biggan-deep`` class with a rename table and three
layout changes made once, at import (they leave every output unchanged):

* the conditioning vector is ``z ⊕ y`` there and ``y ⊕ z`` here: the input columns of
  ``gen_z`` and of every batch norm's ``scale`` / ``offset`` (and their spectral-norm ``v``)
  are swapped;
* ``gen_z``'s output is laid out ``[4, 4, C]`` (channels last) there: its rows (bias and
  spectral-norm ``u``) are permuted to ``[C, 4, 4]``;
* the class embedding ``Linear(num_classes, dim)`` weight is transposed into ``shared.weight``.

Spectral norm is ``torch.nn.utils.spectral_norm`` (``weight_orig`` / ``weight_u`` / ``weight_v``):
it is kept with ``sn_eval='stored'`` (σ = u·W v from the stored vectors, as torch does in eval).
The 51 per-truncation batch-norm statistics become ``[n_stats, C]`` ``stored_mean`` /
``stored_var`` tables, interpolated as pytorch-pretrained-BigGAN does
(:func:`gan_core.models.biggan_layers.truncation_stats_index`).
"""
from __future__ import annotations

import json
import os
import re
from typing import Any, Mapping

import torch

from gan_core.io.errors import CheckpointError, short_list

KINDS = ("biggan-hf",)
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "pytorch_model.bin"
_REQUIRED = ("output_dim", "channel_width", "layers", "attention_layer_position")


def is_hf_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and "embeddings.weight" in obj and "generator.gen_z.weight_orig" in obj


def find_pair(path: str) -> tuple[str, str] | None:
    """``(config.json, pytorch_model.bin)`` for a model directory or either of its two files."""
    path = os.path.abspath(path)
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    if not os.path.isdir(path) and os.path.basename(path) not in (CONFIG_NAME, WEIGHTS_NAME):
        return None
    cfg, weights = os.path.join(folder, CONFIG_NAME), os.path.join(folder, WEIGHTS_NAME)
    if os.path.isfile(cfg) and os.path.isfile(weights):
        return cfg, weights
    return None


def read_config(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"is not a readable pytorch-pretrained-BigGAN config ({e})", path) from None
    if not isinstance(cfg, dict):
        raise CheckpointError("is not a pytorch-pretrained-BigGAN config (not a JSON object)", path)
    missing = [k for k in _REQUIRED if k not in cfg]
    if missing:
        raise CheckpointError(f"is not a pytorch-pretrained-BigGAN config: it lacks {', '.join(missing)}", path)
    return cfg


def _sn(src: Mapping[str, torch.Tensor], hf: str, ours: str, out: dict[str, torch.Tensor],
        row_perm: torch.Tensor | None = None, col_perm: torch.Tensor | None = None, bias: bool = False) -> None:
    """One spectrally normalised layer: ``weight_orig/_u/_v`` -> ``weight/u0/v0/sv0`` (+ bias)."""
    try:
        w, u, v = src[f"{hf}.weight_orig"], src[f"{hf}.weight_u"], src[f"{hf}.weight_v"]
    except KeyError as e:
        raise CheckpointError(f"it lacks the tensor {e.args[0]}; not a complete pytorch-pretrained-BigGAN "
                              f"state dict") from None
    b = src.get(f"{hf}.bias") if bias else None
    if row_perm is not None:
        w, u = w[row_perm], u[row_perm]
        b = b[row_perm] if b is not None else None
    if col_perm is not None:
        w, v = w[:, col_perm], v[col_perm]
    out[f"{ours}.weight"] = w.clone()
    out[f"{ours}.u0"] = u.reshape(1, -1).clone()
    out[f"{ours}.v0"] = v.reshape(1, -1).clone()
    out[f"{ours}.sv0"] = (u.reshape(1, -1) @ w.reshape(w.shape[0], -1) @ v.reshape(-1, 1)).reshape(1).clone()
    if bias:
        if b is None:
            raise CheckpointError(f"it lacks the tensor {hf}.bias")
        out[f"{ours}.bias"] = b.clone()


def convert(sd: Mapping[str, torch.Tensor], cfg: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(our biggan-deep constructor arguments, our state dict) for a pytorch-pretrained-BigGAN model."""
    if not is_hf_state_dict(sd):
        raise CheckpointError("is not a pytorch-pretrained-BigGAN state dict (no embeddings.weight / "
                              "generator.gen_z.weight_orig)")
    emb = sd["embeddings.weight"]                       # [dim, num_classes]
    shared_dim, c_dim = emb.shape
    cond = sd["generator.gen_z.weight_orig"].shape[1]
    z_dim = cond - shared_dim
    if z_dim <= 0:
        raise CheckpointError(f"gen_z takes {cond} inputs, fewer than the class embedding's {shared_dim}")
    ch = int(cfg["channel_width"])
    layers = [(bool(u), int(a), int(b)) for u, a, b in cfg["layers"]]
    pos = int(cfg["attention_layer_position"])
    n_stats = int(cfg.get("n_stats", 51))
    eps = float(cfg.get("eps", 1e-4))
    if "num_classes" in cfg and int(cfg["num_classes"]) != c_dim:
        raise CheckpointError(f"config.json says {cfg['num_classes']} classes but the weights have {c_dim}")
    if "z_dim" in cfg and int(cfg["z_dim"]) != z_dim:
        raise CheckpointError(f"config.json says z_dim {cfg['z_dim']} but the weights take {z_dim}")
    if not 1 <= pos <= len(layers):
        raise CheckpointError(f"attention_layer_position {pos} is not after one of the {len(layers)} blocks; "
                              f"ganscope places attention after a block")
    out: dict[str, torch.Tensor] = {"shared.weight": emb.t().contiguous()}
    # conditioning z ⊕ y -> y ⊕ z
    col = torch.cat([torch.arange(z_dim, cond), torch.arange(z_dim)])
    c0 = ch * layers[0][1]
    bw = 4
    if sd["generator.gen_z.weight_orig"].shape[0] != c0 * bw * bw:
        raise CheckpointError(f"gen_z has {sd['generator.gen_z.weight_orig'].shape[0]} outputs, expected "
                              f"{c0}x4x4 from config.json (channel_width {ch} x {layers[0][1]})")
    row = torch.arange(bw * bw * c0).view(bw, bw, c0).permute(2, 0, 1).reshape(-1)
    _sn(sd, "generator.gen_z", "linear", out, row_perm=row, col_perm=col, bias=True)

    def stats(hf: str, ours: str) -> None:
        for a, b in (("running_means", "stored_mean"), ("running_vars", "stored_var")):
            t = sd.get(f"{hf}.{a}")
            if t is None or t.ndim != 2 or t.shape[0] != n_stats:
                raise CheckpointError(f"{hf}.{a} is missing or not [{n_stats}, C]")
            out[f"{ours}.{b}"] = t.clone()

    hf_index = 0
    blocks = []
    attn_blocks = []
    for i, (up, a, b) in enumerate(layers):
        if i == pos:
            src = f"generator.layers.{hf_index}"
            if f"{src}.gamma" not in sd:
                raise CheckpointError(f"expected self-attention at generator.layers.{hf_index} "
                                      f"(attention_layer_position {pos}); the weights do not match config.json")
            dst = f"blocks.{i - 1}.1"
            for hfn, on in (("theta", "theta"), ("phi", "phi"), ("g", "g"), ("o_conv", "o")):
                _sn(sd, f"{src}.snconv1x1_{hfn}", f"{dst}.{on}", out)
            out[f"{dst}.gamma"] = sd[f"{src}.gamma"].reshape(()).clone()
            attn_blocks.append(i - 1)
            hf_index += 1
        src, dst = f"generator.layers.{hf_index}", f"blocks.{i}.0"
        if f"{src}.conv_0.weight_orig" not in sd:
            raise CheckpointError(f"expected a residual block at {src}; the weights do not match config.json")
        in_w, out_w = sd[f"{src}.bn_0.running_means"].shape[1], sd[f"{src}.conv_3.weight_orig"].shape[0]
        if (in_w, out_w) != (ch * a, ch * b):
            raise CheckpointError(f"{src} maps {in_w} -> {out_w} channels but config.json says "
                                  f"{ch * a} -> {ch * b}")
        if out_w != in_w and out_w != in_w // 2:
            raise CheckpointError(f"{src} goes from {in_w} to {out_w} channels; pytorch-pretrained-BigGAN "
                                  f"blocks keep or halve the width")
        for k in range(4):
            for hfn, on in (("scale", "gain"), ("offset", "bias")):
                _sn(sd, f"{src}.bn_{k}.{hfn}", f"{dst}.bn{k + 1}.{on}", out, col_perm=col)
            stats(f"{src}.bn_{k}", f"{dst}.bn{k + 1}")
            _sn(sd, f"{src}.conv_{k}", f"{dst}.conv{k + 1}", out, bias=True)
        blocks.append([in_w, out_w, up])
        hf_index += 1
    for a, b in (("weight", "gain"), ("bias", "bias")):
        if f"generator.bn.{a}" not in sd:
            raise CheckpointError(f"it lacks the tensor generator.bn.{a}")
        out[f"output_layer.0.{b}"] = sd[f"generator.bn.{a}"].clone()
    stats("generator.bn", "output_layer.0")
    _sn(sd, "generator.conv_to_rgb", "output_layer.2", out, bias=True)
    rgb = sd["generator.conv_to_rgb.weight_orig"].shape[0]
    n_up = sum(u for u, _, _ in layers)
    res = int(cfg["output_dim"])
    if bw * 2 ** n_up != res:
        raise CheckpointError(f"config.json's layers upsample 4x4 to {bw * 2 ** n_up}², not output_dim {res}")
    config = dict(z_dim=z_dim, c_dim=c_dim, img_resolution=res, ch=ch, shared_dim=shared_dim, bottom_width=bw,
                  depth=2, attn_res=[], bn_eps=eps, sn_eps=eps, num_svs=1, num_sv_itrs=1, img_channels=min(3, rgb),
                  channel_ratio=4, blocks=blocks, attn_blocks=attn_blocks, n_stats=n_stats, sn_eval="stored",
                  rgb_channels=rgb)
    used = _used_keys(sd)
    unused = [k for k in sd if k not in used]
    if unused:
        raise CheckpointError(f"it has tensors ganscope does not know: {short_list(unused)}")
    return config, out


def _used_keys(sd: Mapping[str, torch.Tensor]) -> set[str]:
    rx = re.compile(r"^(embeddings\.weight|generator\.(gen_z|layers\.\d+|bn|conv_to_rgb)\..*)$")
    return {k for k in sd if rx.match(k)}


def read_biggan_hf(path: str, device: str | torch.device = "cpu", config: Mapping[str, Any] | None = None,
                   obj: Any = None) -> dict[str, Any]:
    """The generator of a pytorch-pretrained-BigGAN directory (or its config.json /
    pytorch_model.bin), as {'networks': {'G_ema': G}, 'family', 'metadata'}."""
    from gan_core.io.biggan_import import load_torch_weights
    from gan_core.io.official_pickle import build_checked, load_state_strict

    pair = find_pair(path)
    if pair is None:
        folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
        if config is None:
            raise CheckpointError(f"is a pytorch-pretrained-BigGAN model without its {CONFIG_NAME} beside it "
                                  f"(in {folder}); put config.json next to pytorch_model.bin, or pass config= to "
                                  f"gan_core.io.biggan_import.load_biggan_hf", path)
        cfg_path, weights = None, path
    else:
        cfg_path, weights = pair
    cfg = dict(config) if config is not None else read_config(cfg_path)
    sd = obj if obj is not None and os.path.abspath(weights) == os.path.abspath(path) else load_torch_weights(weights)
    try:
        our_cfg, our_sd = convert(sd, cfg)
        G = build_checked("biggan-deep", "G", our_cfg, "its generator")
        load_state_strict(G, our_sd, "its generator")
    except CheckpointError as e:
        raise e.with_path(weights) from None
    return {"networks": {"G_ema": G.to(device)}, "family": "biggan-deep",
            "metadata": {"source_file": path, "source_format": "biggan-hf", "config_file": cfg_path,
                         "weights_file": weights, "hf_config": {k: cfg[k] for k in cfg if k != "layers"}}}
