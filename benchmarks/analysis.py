"""Analysis speed on the CPU: time per equivariance sample (each metric) and per spectrum image.

    python benchmarks/analysis.py                          # demo model + 256² StyleGAN3-T
    python benchmarks/analysis.py --models demo --reps 5 --json out.json

For each model:

The rotation filters are designed per angle (memoized for the app); the cache is cleared
before every timed EQ run, since each sample of the metric draws a new angle.

* ``eq <metric>``: one sample of ``compute_equivariance`` (``num=1``): mapping, the untransformed
  image, the transformed image and the comparison — what one of the ``--num`` samples of
  ``ganscope equivariance`` costs. ``op <metric>`` is the comparison alone (the band-limited
  operator(s) and the masked error) on that model's image size: the analysis overhead.
* ``spectrum image``: one generated image (batch 1, official uint8 conversion) added to the
  average spectrum (Kaiser β 8, ×4 zero padding) — what one of the ``--num`` images of
  ``ganscope spectrum`` costs; ``spectrum add`` is the spectrum part alone (per image, batch 8).

Figures are medians of ``--reps`` timed runs after one warm-up (milliseconds). Random weights
(speed does not depend on them); the 256² StyleGAN3-T is the official configuration
(channel_base 32768, channel_max 512). Prints a table and writes JSON
(``--json``, default ``benchmarks/results/analysis.json``) with every run and the load average.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import gan_core  # noqa: E402
from gan_core.analysis.equivariance import METRICS, compare, compute_equivariance, sample_transform  # noqa: E402
from gan_core.analysis.image_sources import iter_generator_images  # noqa: E402
from gan_core.analysis.spectrum import SpectrumAccumulator  # noqa: E402
from gan_core.analysis.transforms import _cached_filter  # noqa: E402
from benchmarks.machine import cpu_name  # noqa: E402


def build(name: str) -> torch.nn.Module:
    if name == "demo":
        return gan_core.load_generator("demo")
    if name == "sg3t256":
        from gan_core.models.stylegan3 import Generator
        torch.manual_seed(0)
        return Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=256, img_channels=3,
                         channel_base=32768, channel_max=512).eval()
    raise ValueError(f"unknown model {name!r}: choose demo or sg3t256")


def timed(fn: Callable[[], object], reps: int) -> list[float]:
    fn()                                                   # warm-up (caches, allocator)
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="demo,sg3t256", help="comma list of demo, sg3t256")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "analysis.json"))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    env = {"python": platform.python_version(), "torch": torch.__version__, "machine": platform.machine(),
           "processor": cpu_name(), "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
           "loadavg_start": os.getloadavg(), "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
    results = []

    def record(model: str, what: str, runs: list[float]) -> None:
        med = statistics.median(runs)
        results.append({"model": model, "what": what, "median_ms": med, "runs_ms": runs})
        print(f"| {model:<14} | {what:<22} | {med:10.1f} |", flush=True)

    print("| model          | per                    | median ms  |")
    print("| -------------- | ---------------------- | ---------- |")
    with torch.no_grad():
        for name in args.models.split(","):
            G = build(name)
            label = f"{name} ({G.img_resolution}²)"
            res = G.img_resolution
            for m in METRICS:
                def eq_sample():
                    _cached_filter.cache_clear()       # each real sample has a new angle: no cache hits
                    return compute_equivariance(G, 1, [m], seed=1)
                record(label, f"eq {m} sample", timed(eq_sample, args.reps))
            img = G.synthesis(G.mapping(torch.randn(1, G.z_dim), None)).float()
            for m in METRICS:
                d = sample_transform(m, res, torch.Generator().manual_seed(5))
                img_t = img.roll(1, -1)

                def op():
                    _cached_filter.cache_clear()
                    ref, cand, mask = compare(m, img, img_t, d["translate"], d["angle_deg"])
                    return ((cand - ref).square() * mask).sum()
                record(label, f"op {m}", timed(op, args.reps))

            def spectrum_one():
                acc = SpectrumAccumulator(res)
                for batch in iter_generator_images(G, 1, 1):
                    acc.add(batch)
            record(label, "spectrum image", timed(spectrum_one, args.reps))
            batch8 = torch.rand(8, 3, res, res) * 255
            acc = SpectrumAccumulator(res)
            record(label, "spectrum add (per img)", [t / 8 for t in timed(lambda: acc.add(batch8), args.reps)])
    env["loadavg_end"] = os.getloadavg()
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"environment": env, "results": results}, indent=2))
    tmp.replace(path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
