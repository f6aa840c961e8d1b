"""Generator speed: milliseconds per image for StyleGAN2 (config F) and StyleGAN3-T/-R
(and, on request, StyleGAN1: ``--families sg1,sg2``).

    python benchmarks/generator.py                       # 256², batch 1 and 8, CPU (+ CUDA)
    python benchmarks/generator.py --families sg3t --batches 1 --reps 5 --json out.json
    python benchmarks/generator.py --families sg1,sg2 --no-baseline --json sg1.json

Each network is timed as ``G(z)`` (mapping + synthesis, no gradients, noise_mode='const')
after ``--warmup`` untimed runs; the figure is the median of ``--reps`` runs divided by the
batch size. Random weights are used (speed does not depend on them).

BASELINE. In the same run, the same networks are timed again with the resampling ops
switched to their literal definition (``literal_ops`` below):
``cuda_ops.upfirdn2d_direct`` — zero insertion, padding, dense filtering at the full
(upsampled) rate with the whole filter (the 2-D filter as one 2-D convolution when it is
not separable; 1-D filters as two dense 1-D passes), then dropping the samples that
downsampling discards — and ``filtered_lrelu`` as that op, the activation, and that op
again. This is the algorithm of the official reference (non-CUDA) ops. Everything else
(the modulated convolutions, mapping, layout) is unchanged, so the ratio isolates the ops.
StyleGAN2's CPU fast paths in ``gan_core.models.conv_resample`` are switched off for the
baseline too, so its resampling goes through the patched ops.

Prints a table and writes JSON (``--json``, default ``benchmarks/results/generator.json``).
Timings on a shared machine are noisy: the JSON keeps every run and the load average.
On Linux, ``THP_MEM_ALLOC_ENABLE=1`` (PyTorch's transparent-huge-page allocation) cuts the
page-fault cost of the large activations for both variants.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import cuda_ops  # noqa: E402
from cuda_ops.bias_act import bias_act_ref  # noqa: E402
from cuda_ops.upfirdn2d import upfirdn2d_direct  # noqa: E402
from benchmarks.machine import cpu_name  # noqa: E402

# The submodules (``cuda_ops.upfirdn2d`` as an attribute is the function of that name).
_upfirdn_mod = sys.modules["cuda_ops.upfirdn2d"]
_flrelu_mod = sys.modules["cuda_ops.filtered_lrelu"]

FAMILIES = ("sg2", "sg3t", "sg3r", "sg1")
DEFAULT_FAMILIES = ("sg2", "sg3t", "sg3r")
LABELS = {"sg2": "StyleGAN2-F", "sg3t": "StyleGAN3-T", "sg3r": "StyleGAN3-R", "sg1": "StyleGAN1"}


# --------------------------------------------------------------------------------------------
# Baseline: the literal definition of the ops
# --------------------------------------------------------------------------------------------

def _upfirdn2d_literal(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    return upfirdn2d_direct(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain)


def _filtered_lrelu_literal(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=math.sqrt(2), slope=0.2,
                            clamp=None, flip_filter=False):
    """bias → zero-insert ×up, pad, dense filter (gain up²) → lrelu·gain, clamp → dense filter, ::down."""
    if b is not None:
        x = bias_act_ref(x, b)
    upx, upy = cuda_ops.parse_scaling(up)
    x = upfirdn2d_direct(x, fu, up=up, padding=padding, gain=upx * upy, flip_filter=flip_filter)
    x = bias_act_ref(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
    return upfirdn2d_direct(x, fd, down=down, flip_filter=flip_filter)


@contextlib.contextmanager
def literal_ops() -> Iterator[list[str]]:
    """Switch upfirdn2d and filtered_lrelu (reference implementations) to their literal
    definitions while the block runs; yields the list of what was patched."""
    patches: list[tuple[Any, str, Any]] = [
        (_upfirdn_mod, "upfirdn2d_ref", _upfirdn2d_literal),
        (cuda_ops, "upfirdn2d_ref", _upfirdn2d_literal),
        (_flrelu_mod, "filtered_lrelu_ref", _filtered_lrelu_literal),
        (cuda_ops, "filtered_lrelu_ref", _filtered_lrelu_literal),
    ]
    try:  # StyleGAN2's own CPU fast paths: route them through the (patched) ops
        import gan_core.models.conv_resample as conv_resample
        if hasattr(conv_resample, "_fast_fir_ok"):
            patches.append((conv_resample, "_fast_fir_ok", lambda *a, **k: False))
    except ImportError:
        pass
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches if hasattr(obj, name)]
    try:
        done = []
        for obj, name, new in patches:
            if hasattr(obj, name):
                setattr(obj, name, new)
                done.append(f"{getattr(obj, '__name__', obj)}.{name}")
        yield done
    finally:
        for obj, name, old in saved:
            setattr(obj, name, old)


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------

def build(family: str, resolution: int) -> torch.nn.Module:
    """The official configurations at ``resolution`` (random weights, fixed seed)."""
    torch.manual_seed(0)
    common = dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, img_channels=3)
    if family == "sg2":
        from gan_core.models.stylegan2 import Generator as G2
        return G2(**common, mapping_kwargs=dict(num_layers=8), channel_base=32768, channel_max=512)
    if family == "sg1":  # the paper's / rosinality's channel table (min(16384 / res, 512)), 8 mapping layers
        from gan_core.models.stylegan1 import Generator as G1
        return G1(z_dim=512, w_dim=512, img_resolution=resolution, mapping_layers=8, channel_base=16384,
                  channel_max=512)
    from gan_core.models.stylegan3 import Generator as G3
    if family == "sg3t":
        return G3(**common, channel_base=32768, channel_max=512)
    if family == "sg3r":
        return G3(**common, channel_base=65536, channel_max=1024, conv_kernel=1, use_radial_filters=True)
    raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")


def literal_peak_bytes(G: torch.nn.Module, batch: int) -> int:
    """Rough peak memory of the literal baseline: a few live copies of the largest
    zero-inserted, full-rate intermediate of any StyleGAN3 layer (0 for other families)."""
    layers = getattr(G.synthesis, "layers", None)
    if not callable(layers):
        return 0
    peak = 0
    for layer in layers():
        side = (layer.in_size + layer.conv_kernel - 1) * layer.up_factor + sum(layer.padding[:2])
        peak = max(peak, batch * layer.out_channels * side * side * 4)
    return 4 * peak


def available_memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def time_runs(fn: Callable[[], Any], warmup: int, reps: int, sync: Callable[[], None]) -> list[float]:
    for _ in range(warmup):
        fn()
        sync()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t0)
    return out


def bench_one(G: torch.nn.Module, batch: int, device: torch.device, warmup: int, reps: int) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(123)
    z = torch.randn([batch, G.z_dim], generator=gen).to(device)
    c = torch.zeros([batch, G.c_dim], device=device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)

    def run():
        with torch.no_grad():
            return G(z, c, noise_mode="const")

    times = time_runs(run, warmup, reps, sync)
    med = statistics.median(times)
    return {"runs_s": times, "median_s": med, "ms_per_image": 1000 * med / batch}


# --------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", default=",".join(DEFAULT_FAMILIES), help="comma list of sg2, sg3t, sg3r, sg1")
    ap.add_argument("--batches", default="1,8", help="comma list of batch sizes")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--devices", default=None, help="comma list (default: cpu, plus cuda when present)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the literal-definition baseline")
    ap.add_argument("--baseline-batches", default=None, help="batch sizes for the baseline (default: --batches)")
    ap.add_argument("--baseline-reps", type=int, default=None, help="reps for the baseline (default: --reps)")
    ap.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "generator.json"))
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    for f in families:
        if f not in FAMILIES:
            ap.error(f"unknown family {f!r}; choose from {', '.join(FAMILIES)}")
    batches = [int(b) for b in args.batches.split(",")]
    base_batches = batches if args.baseline_batches is None else [int(b) for b in args.baseline_batches.split(",")]
    base_reps = args.reps if args.baseline_reps is None else args.baseline_reps
    devices = (args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))

    env = {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
           "processor": cpu_name(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
           "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
           "resolution": args.resolution, "reps": args.reps, "warmup": args.warmup, "baseline_reps": base_reps,
           "THP_MEM_ALLOC_ENABLE": os.environ.get("THP_MEM_ALLOC_ENABLE"),
           "loadavg_start": _loadavg()}
    results: list[dict[str, Any]] = []
    skipped: list[str] = []
    print(f"torch {env['torch']} | {env['processor']} | {env['torch_threads']} threads | "
          f"{args.resolution}² | median of {args.reps} (baseline {base_reps}) after {args.warmup} warm-up")
    for family in families:
        try:
            G0 = build(family, args.resolution)
        except ImportError as e:
            msg = f"{LABELS[family]}: skipped ({e}); it is not importable yet"
            print(msg)
            skipped.append(msg)
            continue
        for dev in devices:
            device = torch.device(dev)
            G = G0.to(device).eval().requires_grad_(False)
            for batch in batches:
                row = {"family": family, "label": LABELS[family], "device": dev, "batch": batch}
                row["ours"] = bench_one(G, batch, device, args.warmup, args.reps)
                print(f"  {LABELS[family]:12s} {dev:4s} batch {batch:2d}  ours      "
                      f"{row['ours']['ms_per_image']:10.1f} ms/img", flush=True)
                need, avail = literal_peak_bytes(G, batch), available_memory_bytes()
                if not args.no_baseline and batch in base_batches and dev == "cpu" and avail and need > 0.8 * avail:
                    row["baseline_skipped"] = (f"needs about {need / 2**30:.0f} GiB for its full-rate "
                                               f"intermediates; {avail / 2**30:.0f} GiB available")
                    print(f"  {LABELS[family]:12s} {dev:4s} batch {batch:2d}  baseline  skipped: "
                          f"{row['baseline_skipped']}", flush=True)
                elif not args.no_baseline and batch in base_batches:
                    with literal_ops() as patched:
                        row["baseline"] = bench_one(G, batch, device, min(args.warmup, 1), base_reps)
                    row["baseline"]["patched"] = patched
                    row["speedup"] = row["baseline"]["ms_per_image"] / row["ours"]["ms_per_image"]
                    print(f"  {LABELS[family]:12s} {dev:4s} batch {batch:2d}  baseline  "
                          f"{row['baseline']['ms_per_image']:10.1f} ms/img  ({row['speedup']:.1f}×)", flush=True)
                results.append(row)
                _write_json(args.json, env, results, skipped)  # keep partial results
        del G0
    env["loadavg_end"] = _loadavg()
    _print_table(results)
    print(f"load average (1, 5, 15 min) at start {env['loadavg_start']}, at end {env['loadavg_end']}")
    print(f"wrote {_write_json(args.json, env, results, skipped)}")
    return 0


def _write_json(path: str, env: dict[str, Any], results: list[dict[str, Any]], skipped: list[str]) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps({"environment": env, "results": results, "skipped": skipped}, indent=2))
    tmp.replace(out)
    return out


def _print_table(results: list[dict[str, Any]]) -> None:
    print()
    print(f"| {'network':12s} | {'device':6s} | {'batch':>5s} | {'ours ms/img':>11s} | {'baseline ms/img':>15s} | "
          f"{'speed-up':>8s} |")
    print(f"|{'-' * 14}|{'-' * 8}|{'-' * 7}|{'-' * 13}|{'-' * 17}|{'-' * 10}|")
    for r in results:
        base = r.get("baseline")
        b = f"{base['ms_per_image']:15.1f}" if base else f"{'skipped' if r.get('baseline_skipped') else '-':>15s}"
        s = f"{r['speedup']:7.1f}×" if base else f"{'-':>8s}"
        print(f"| {r['label']:12s} | {r['device']:6s} | {r['batch']:5d} | {r['ours']['ms_per_image']:11.1f} | {b} | {s} |")


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
