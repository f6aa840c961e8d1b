"""``ganscope info``: what a checkpoint holds."""
from __future__ import annotations

import json

from gan_core.cli.common import user_errors


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="describe a checkpoint",
                       description="Print a checkpoint's format, family, resolution, latent sizes and "
                                   "parameter counts without rendering anything.")
    p.add_argument("file", help="checkpoint file (official .pkl or ganscope .pt), or 'demo'")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


# How a model was trained, as ganscope writes it into the files it ships or converts.
TRAINING_NOTES = {"trained_on": "trained on", "trained_kimg": "trained kimg", "training_time": "training time",
                  "created_at": "created"}


def describe(path: str) -> dict:
    from gan_core.io import load_checkpoint
    from gan_core.models.demo import demo_file, is_demo_name, load_demo_generator
    notes = {}
    if is_demo_name(path):
        G = load_demo_generator(name=str(path))
        nets, fmt = {"G_ema": G}, "built-in demo" + (" (untrained)" if getattr(G, "untrained", False) else "")
        if demo_file(str(path)) is not None:
            fmt += f" ({demo_file(str(path)).name})"
            notes = load_checkpoint(demo_file(str(path))).metadata
    else:
        ck = load_checkpoint(path)
        nets = {k: v for k, v in (("G_ema", ck.G_ema), ("G", ck.G), ("D", ck.D)) if v is not None}
        fmt, notes = ck.source_format, dict(ck.metadata)
        if "cur_nimg" in (ck.training_state or {}):  # a training snapshot knows how far it got
            notes.setdefault("trained_kimg", int(ck.training_state["cur_nimg"]) / 1000)
    G = nets.get("G_ema") or nets.get("G")
    out = {"file": str(path), "format": fmt, "networks": sorted(nets)}
    if G is not None:
        out.update(G.capabilities())
        out["params_G"] = out.pop("num_params")
    if "D" in nets:
        out["params_D"] = sum(p.numel() for p in nets["D"].parameters())
    out.update({k: notes[k] for k in TRAINING_NOTES if notes.get(k) is not None})
    if not is_demo_name(path):
        for key in ("inferred", "assumed"):  # what a foreign format did not record (rosinality files)
            if ck.metadata.get(key):
                out[key] = ck.metadata[key]
    return out


def run(args) -> int:
    with user_errors():
        d = describe(args.file)
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    labels = {"file": "file", "format": "format", "networks": "networks", "family": "family",
              "img_resolution": "resolution", "img_channels": "channels", "z_dim": "z dim", "w_dim": "w dim",
              "num_ws": "num ws", "c_dim": "classes (c dim)", "is_conditional": "conditional",
              "has_noise": "noise inputs", "has_input_transform": "input transform",
              "params_G": "parameters G", "params_D": "parameters D",
              "output_resolution": "output now", "progressive_step": "progressive step",
              "progressive_alpha": "fade-in alpha", **TRAINING_NOTES}
    for k, label in labels.items():
        if k in d:
            v = d[k]
            if isinstance(v, list):
                v = ", ".join(v)
            elif isinstance(v, int) and not isinstance(v, bool) and k.startswith("params"):
                v = f"{v:,}"
            print(f"{label:>16}: {v}")
    for key in ("inferred", "assumed"):
        for name, v in (d.get(key) or {}).items():
            print(f"{key:>16}: {name} = {v}")
    return 0
