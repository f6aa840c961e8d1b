"""Where a training step spends its time: the top operators by self time (device and host).

    python benchmarks/profile_train.py --data proc64.zip --configs stylegan2,stylegan3-t

Builds the trainer as `ganscope train` would (batch, channels and z/w from the options below),
runs ``--warmup`` steps, times ``--steps`` steps, then profiles as many with torch.profiler
and prints the operators that took the most self time on the device and on the host.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gan_core.train import Trainer, TrainOptions  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--configs", default="stylegan2,stylegan3-t")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--cbase", type=int, default=8192)
    p.add_argument("--cmax", type=int, default=192)
    p.add_argument("--zdim", type=int, default=128)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--fp32", action="store_true")
    p.add_argument("--bf16", action="store_true", help="as `ganscope train --bf16` (CPU bfloat16 blocks)")
    p.add_argument("--rows", type=int, default=15)
    args = p.parse_args(argv)
    cuda = torch.cuda.is_available()
    for cfg in args.configs.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            opts = TrainOptions(data=args.data, run_dir=str(Path(tmp) / cfg), cfg=cfg, kimg=10 ** 6, batch=args.batch,
                                cbase=args.cbase, cmax=args.cmax, map=2, z_dim=args.zdim, w_dim=args.zdim,
                                workers=args.workers, fp32=args.fp32, bf16=args.bf16, grid=(2, 2), seed=0)
            t = Trainer(opts)
            sync = torch.cuda.synchronize if cuda else (lambda: None)
            for _ in range(args.warmup):
                t.step()
            sync()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                t.step()
            sync()
            dt = (time.perf_counter() - t0) / args.steps
            print(f"\n## {cfg}: {dt * 1000:.1f} ms/step, {args.batch / dt:.1f} img/s", flush=True)
            G = t.G_ema
            z = torch.randn([args.batch, G.z_dim], device=t.device)
            with torch.no_grad():
                for _ in range(2):
                    G(z, None)
                sync()
                t0 = time.perf_counter()
                for _ in range(5):
                    G(z, None)
                sync()
            print(f"G inference batch {args.batch}: {(time.perf_counter() - t0) / 5 * 1000:.1f} ms", flush=True)
            acts = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if cuda else [])
            with torch.profiler.profile(activities=acts) as prof:
                for _ in range(args.steps):
                    t.step()
                sync()
            keys = (["self_cuda_time_total"] if cuda else []) + ["self_cpu_time_total"]
            for key in keys:
                print(prof.key_averages().table(sort_by=key, row_limit=args.rows, max_name_column_width=60))
            t.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
