"""Count host-device synchronisations per training step on CUDA (torch.cuda.set_sync_debug_mode),
by the gan_core/ or cuda_ops/ line that caused each; also H2D copies seen by the profiler.

    python benchmarks/count_syncs.py [--configs stylegan2,stylegan3-t] [--res 64] [--batch 16]
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gan_core.data import write_procedural_zip  # noqa: E402
from gan_core.train import Trainer, TrainOptions  # noqa: E402

WATCHED = (str(REPO / "gan_core") + os.sep, str(REPO / "cuda_ops") + os.sep)


def site():
    for fr in reversed(traceback.extract_stack()[:-3]):
        if fr.filename.startswith(WATCHED):
            return f"{os.path.relpath(fr.filename, REPO)}:{fr.lineno}"
    return "?"


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--configs", default="stylegan2,stylegan3-t")
    p.add_argument("--res", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=4)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "p.zip"
        write_procedural_zip(data, count=64, resolution=args.res, labels=True)
        for cfg in args.configs.split(","):
            o = TrainOptions(data=str(data), run_dir=str(Path(tmp) / cfg), cfg=cfg, kimg=10 ** 6, batch=args.batch,
                             cbase=4096, cmax=64, map=2, z_dim=64, w_dim=64, workers=0, grid=(2, 2), seed=0,
                             aug="ada", ada_interval=4, pl_interval=2, r1_interval=2, pl_weight=2.0, cond=True,
                             mirror=True, target=-1.0, ada_kimg=0.5)
            t = Trainer(o)
            for _ in range(4):
                t.step()
            torch.cuda.synchronize()
            counts = collections.Counter()
            orig = warnings.showwarning

            def show(message, category, filename, lineno, file=None, line=None):
                if "synchronizing" in str(message):
                    counts[site()] += 1
            warnings.showwarning = show
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU,
                                                    torch.profiler.ProfilerActivity.CUDA]) as prof:
                for _ in range(args.steps):
                    t.step()
                torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode(0)
            warnings.showwarning = orig
            ev = {e.key: e.count for e in prof.key_averages()}
            n = args.steps
            print(f"## {cfg}: {sum(counts.values()) / n:.2f} sync warnings/step; per step: "
                  f"cudaStreamSynchronize {ev.get('cudaStreamSynchronize', 0) / n:.1f}, "
                  f"cudaMemcpyAsync {ev.get('cudaMemcpyAsync', 0) / n:.1f}, "
                  f"cudaLaunchKernel {ev.get('cudaLaunchKernel', 0) / n:.1f}", flush=True)
            for s, c in counts.most_common(40):
                print(f"{c / n:7.2f}  {s}")
            t.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
