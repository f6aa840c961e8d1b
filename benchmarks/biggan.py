"""BigGAN vs BigGAN-deep generation speed on the CPU (ms per image, 128²).

    python benchmarks/biggan.py                              # both, batch 4, 5 reps, 2 threads
    python benchmarks/biggan.py --batch 1 --reps 3 --threads 1 --json out.json

Configurations are the paper's ImageNet 128² generators: BigGAN ``ch=96, z=120, shared=128``
(skip-z in 6 chunks of 20), BigGAN-deep ``ch=128, z=128, shared=128, depth=2``, both with
self-attention at 64². Random (orthogonal-initialised) weights — speed does not depend on
them — in eval mode (stored batch-norm statistics, one non-updating spectral-norm power
iteration per layer per forward, as BigGAN-PyTorch evaluates). Timed: ``mapping`` +
``synthesis`` under ``torch.no_grad`` for one batch; figures are medians of ``--reps`` runs
after one warm-up, divided by the batch size. Prints a table and writes JSON (``--json``,
default ``benchmarks/results/biggan.json``) with every run and the load average.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gan_core.models import biggan, biggan_deep  # noqa: E402
from benchmarks.machine import cpu_name  # noqa: E402

CONFIGS = {
    "BigGAN": (biggan.Generator, dict(z_dim=120, c_dim=1000, img_resolution=128, ch=96, shared_dim=128,
                                      attn_res=(64,))),
    "BigGAN-deep": (biggan_deep.Generator, dict(z_dim=128, c_dim=1000, img_resolution=128, ch=128,
                                                shared_dim=128, depth=2, attn_res=(64,))),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default=",".join(CONFIGS))
    ap.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "biggan.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.models.split(","):
        cls, kw = CONFIGS[name]
        torch.manual_seed(0)
        G = cls(**kw).eval()
        z = torch.randn(args.batch, G.z_dim)
        c = G.make_c([i % G.c_dim for i in range(args.batch)], args.batch)
        times = []
        with torch.no_grad():
            G.synthesis(G.mapping(z, c))  # warm-up
            for _ in range(args.reps):
                t0 = time.perf_counter()
                G.synthesis(G.mapping(z, c))
                times.append((time.perf_counter() - t0) * 1e3 / args.batch)
        params = sum(p.numel() for p in G.parameters())
        rows.append({"model": name, "config": G.config(), "params": params, "batch": args.batch,
                     "ms_per_image_median": statistics.median(times), "ms_per_image_runs": times})
        del G
    print(f"{'model':<12} {'params':>10} {'batch':>5} {'ms/image (median)':>18} {'min':>8} {'max':>8}")
    for r in rows:
        t = r["ms_per_image_runs"]
        print(f"{r['model']:<12} {r['params'] / 1e6:>9.1f}M {r['batch']:>5} {r['ms_per_image_median']:>18.1f} "
              f"{min(t):>8.1f} {max(t):>8.1f}")
    out = {
        "benchmark": "biggan", "resolution": 128, "device": "cpu", "threads": args.threads, "reps": args.reps,
        "cpu": cpu_name(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
        "loadavg": os.getloadavg(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/biggan.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "results": rows,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=2)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
