"""Training speed: images per second for small StyleGAN2 and StyleGAN3-T configs.

    python benchmarks/train.py                                  # CPU (+ CUDA when present), 32²
    python benchmarks/train.py --configs stylegan2 --res 64 --spans 5 --json out.json
    python benchmarks/train.py --precisions fp32,bf16          # CPU: --bf16 against float32
    python benchmarks/train.py --configs stylegan3-t --batch 16 --sg3-layouts 14x10,8x4   # --layers / --margin

Each config trains on a procedural dataset (``gan_core.data.procedural``) with the full
objective (ADA on, lazy R1 every 16 steps, path length every 4 for StyleGAN2, style mixing,
EMA). After ``--warmup`` untimed steps, ``--spans`` spans of ``--span-steps`` steps are
timed (16 steps = one whole lazy-regularization cycle, so every span does the same work);
the figure is the median over spans of batch · steps / seconds. Only ``Trainer.step`` is
timed (no previews, ticks or snapshots). ``--precisions fp32,bf16`` also trains each
config on the CPU with ``--bf16`` (the reduced-precision blocks in bfloat16) and gives its ratio to
float32 measured in the same run. ``--sg3-layouts`` trains StyleGAN3 configs with each synthesis
layout ``LAYERSxMARGIN`` (``ganscope train --layers / --margin``) and gives each one's ratio to
the first. Prints a table and writes JSON (``--json``, default
``benchmarks/results/train.json``) with every span and the machine's load average.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gan_core.data import write_procedural_zip  # noqa: E402
from gan_core.train import Trainer, TrainOptions  # noqa: E402
from benchmarks.machine import cpu_name  # noqa: E402


def bench(cfg: str, data: Path, device: str, args, workdir: Path, precision: str = "fp32",
          layout: tuple[int, int] | None = None) -> dict:
    layers, margin = layout if layout is not None else (None, None)
    opts = TrainOptions(data=str(data), run_dir=str(workdir / f"{cfg}-{device}-{precision}-{layers}x{margin}"), cfg=cfg,
                        kimg=10 ** 6, batch=args.batch, cbase=args.cbase, cmax=args.cmax, map=2, z_dim=args.zdim,
                        w_dim=args.zdim, workers=0, device=device, aug="ada", grid=(2, 2), seed=0,
                        bf16=precision == "bf16", layers=layers, margin=margin)
    t = Trainer(opts)
    try:
        n_params = {k: sum(p.numel() for p in getattr(t, k).parameters()) for k in ("G", "D")}

        def sync():
            if t.device.type == "cuda":
                torch.cuda.synchronize()

        for _ in range(args.warmup):
            t.step()
        sync()
        spans = []
        for _ in range(args.spans):
            t0 = time.perf_counter()
            for _ in range(args.span_steps):
                t.step()
            sync()
            spans.append(time.perf_counter() - t0)
        rates = [args.batch * args.span_steps / s for s in spans]
        return {"cfg": cfg, "device": str(t.device), "precision": precision, "layers": t.o.layers, "margin": t.o.margin,
                "res": args.res, "batch": args.batch, "cbase": args.cbase,
                "cmax": args.cmax, "z_dim": args.zdim, "params": n_params, "span_seconds": spans,
                "img_per_s_spans": rates, "img_per_s": statistics.median(rates),
                "sec_per_kimg": 1000 / statistics.median(rates)}
    finally:
        t.close()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default="stylegan2,stylegan3-t")
    p.add_argument("--devices", default="auto", help="auto (cpu, + cuda when present) or a list: cpu,cuda")
    p.add_argument("--res", type=int, default=32)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--cbase", type=int, default=2048)
    p.add_argument("--cmax", type=int, default=64)
    p.add_argument("--zdim", type=int, default=64)
    p.add_argument("--warmup", type=int, default=4)
    p.add_argument("--spans", type=int, default=3)
    p.add_argument("--span-steps", type=int, default=16)
    p.add_argument("--precisions", default="fp32", help="fp32 and/or bf16 (--bf16, CPU only), e.g. fp32,bf16")
    p.add_argument("--sg3-layouts", default="14x10",
                   help="StyleGAN3 synthesis layouts LAYERSxMARGIN to train, e.g. 14x10,8x4 (the first is the baseline)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "train.json"))
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = (["cpu"] + (["cuda"] if torch.cuda.is_available() else [])) if args.devices == "auto" \
        else args.devices.split(",")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "data.zip"
        write_procedural_zip(data, count=256, resolution=args.res, labels=False)
        precisions = args.precisions.split(",")
        try:
            layouts = [tuple(int(v) for v in x.split("x")) for x in args.sg3_layouts.split(",")]
            assert all(len(x) == 2 for x in layouts)
        except (ValueError, AssertionError):
            p.error(f"--sg3-layouts: LAYERSxMARGIN[,...], e.g. 14x10,8x4; got {args.sg3_layouts!r}")
        if set(precisions) - {"fp32", "bf16"}:
            p.error(f"--precisions: fp32 and/or bf16, got {args.precisions!r}")
        for device in devices:
            for cfg in args.configs.split(","):
                for layout, precision in [(lo, pr) for lo in (layouts if cfg != "stylegan2" else [None])
                                          for pr in precisions]:
                    if precision == "bf16" and device != "cpu":
                        continue
                    r = bench(cfg, data, device, args, tmp, precision, layout)
                    base = next((b for b in results if b["cfg"] == cfg and b["device"] == r["device"]
                                 and b["precision"] == "fp32" and b["layers"] == r["layers"]
                                 and b["margin"] == r["margin"]), None)
                    r["ratio_to_fp32"] = r["img_per_s"] / base["img_per_s"] if base else None
                    first = next((b for b in results if b["cfg"] == cfg and b["device"] == r["device"]
                                  and b["precision"] == precision), None) or r
                    r["ratio_to_first_layout"] = (r["img_per_s"] / first["img_per_s"]
                                                  if first and layout is not None else None)
                    results.append(r)
                    lay = f"{r['layers']}x{r['margin']}" if r["layers"] is not None else "-"
                    print(f"{cfg:<12} {lay:<6} {r['device']:<6} {precision:<5} {args.res}²  batch {args.batch:<3} "
                          f"G {r['params']['G'] / 1e6:5.2f}M D {r['params']['D'] / 1e6:5.2f}M  "
                          f"{r['img_per_s']:8.1f} img/s  ({', '.join(f'{x:.1f}' for x in r['img_per_s_spans'])})",
                          flush=True)
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                        "torch": torch.__version__, "python": platform.python_version(),
                        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                        "load_avg": os.getloadavg() if hasattr(os, "getloadavg") else None},
            "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
            "results": results}
    print()
    print("| config | layers×margin | device | precision | resolution | batch | G params | img/s (median) | s/kimg "
          "| × fp32 | × first layout |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        ratio = f"{r['ratio_to_fp32']:.2f}" if r["ratio_to_fp32"] is not None else ""
        lratio = f"{r['ratio_to_first_layout']:.2f}" if r["ratio_to_first_layout"] is not None else ""
        lay = f"{r['layers']}×{r['margin']}" if r["layers"] is not None else ""
        print(f"| {r['cfg']} | {lay} | {r['device']} | {r['precision']} | {r['res']}² | {r['batch']} | "
              f"{r['params']['G'] / 1e6:.2f}M | {r['img_per_s']:.1f} | {r['sec_per_kimg']:.0f} | {ratio} | {lratio} |")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(meta, indent=1) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
