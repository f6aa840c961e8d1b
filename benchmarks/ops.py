"""Each fused CUDA op against its reference implementation, on the calls real networks make.

    python benchmarks/ops.py                      # needs a CUDA device
    python benchmarks/ops.py --batch 32 --res 256 --json out.json

The calls are captured from the generators themselves: StyleGAN2 (config F) and StyleGAN3-T/-R
at ``--res`` are run once on the CPU at batch 1 with the ops wrapped, recording every distinct
call (shapes, filters, factors). Each recorded call is then timed on the GPU at ``--batch`` with
``impl='ref'`` and ``impl='cuda'``: forward, and forward + backward. Times are CUDA-event
medians of ``--reps`` runs after warm-up; the table shows the sum over the distinct calls of
each op and family and the speed-up. Also checks that both impls agree on every call.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import cuda_ops  # noqa: E402
from benchmarks.generator import build  # noqa: E402

OPS = ("upfirdn2d", "bias_act", "filtered_lrelu")


def capture_calls(family: str, res: int) -> list[tuple[str, tuple, dict]]:
    """Distinct (op, args, kwargs) calls a generator makes, on the CPU at batch 1."""
    # (the package re-exports functions under the submodules' names, so look the modules up)
    ba, fl, ud = (sys.modules[f"cuda_ops.{n}"] for n in ("bias_act", "filtered_lrelu", "upfirdn2d"))
    G = build(family, res).eval().requires_grad_(False)
    seen, calls = set(), []
    originals = {"upfirdn2d": ud.upfirdn2d, "bias_act": ba.bias_act, "filtered_lrelu": fl.filtered_lrelu}

    def wrap(name):
        orig = originals[name]

        def f(x, *args, **kw):
            shapes = tuple(tuple(a.shape) if isinstance(a, torch.Tensor) else a for a in args)
            key = repr((name, tuple(x.shape), shapes, sorted((k, tuple(v.shape) if isinstance(v, torch.Tensor) else v)
                                                             for k, v in kw.items() if k != "impl")))
            if key not in seen:
                seen.add(key)
                calls.append((name, (x.detach().clone(),) + tuple(a.detach().clone() if isinstance(a, torch.Tensor) else a
                                                                     for a in args),
                              {k: (v.detach().clone() if isinstance(v, torch.Tensor) else v) for k, v in kw.items()
                               if k != "impl"}))
            return orig(x, *args, **kw)
        return f

    # patch every module that imported the ops by name
    patched = []
    for mod in list(sys.modules.values()):
        if mod is None or not getattr(mod, "__name__", "").startswith(("gan_core", "cuda_ops")):
            continue
        for name in OPS:
            if getattr(mod, name, None) is originals[name]:
                patched.append((mod, name))
                setattr(mod, name, wrap(name))
    # StyleGAN2's CPU fast paths bypass upfirdn2d; on CUDA they are off, so capture as CUDA runs.
    import gan_core.models.conv_resample as conv_resample
    fast = conv_resample._fast_fir_ok
    conv_resample._fast_fir_ok = lambda *a, **k: False
    try:
        with torch.no_grad():
            G(torch.randn([1, G.z_dim]), torch.zeros([1, G.c_dim]))
    finally:
        conv_resample._fast_fir_ok = fast
        for mod, name in patched:
            setattr(mod, name, originals[name])
    return calls


def timed(fn, reps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def on_batch(t: torch.Tensor, batch: int, dtype: torch.dtype) -> torch.Tensor:
    reps = [batch] + [1] * (t.ndim - 1)
    return torch.randn_like(t.repeat(reps)).to("cuda", dtype)


def bench_call(name: str, args: tuple, kw: dict, batch: int, dtype: torch.dtype, reps: int) -> dict:
    op = getattr(cuda_ops, name)
    x = on_batch(args[0], batch, dtype) if name != "bias_act" or args[0].ndim == 4 else args[0].to("cuda", dtype)
    rest = tuple(a.to("cuda") if isinstance(a, torch.Tensor) else a for a in args[1:])
    kw = {k: (v.to("cuda") if isinstance(v, torch.Tensor) else v) for k, v in kw.items()}
    if name in ("bias_act", "filtered_lrelu") and kw.get("b") is not None:
        kw["b"] = kw["b"].to(dtype)
    if name == "bias_act" and len(rest) >= 1 and isinstance(rest[0], torch.Tensor):
        rest = (rest[0].to(dtype),) + rest[1:]
    out = {}
    with torch.no_grad():
        y_ref = op(x, *rest, **kw, impl="ref")
        y_cuda = op(x, *rest, **kw, impl="cuda")
        err = float((y_cuda.double() - y_ref.double()).norm() / y_ref.double().norm().clamp_min(1e-30))
        out["rel_err"] = err
        for impl in ("ref", "cuda"):
            out[f"fwd_{impl}_ms"] = timed(lambda: op(x, *rest, **kw, impl=impl), reps)
    xg = x.clone().requires_grad_()
    dy = torch.randn_like(y_ref)

    for impl in ("ref", "cuda"):
        def fb():
            y = op(xg, *rest, **kw, impl=impl)
            torch.autograd.grad(y, xg, dy)
        out[f"fwdbwd_{impl}_ms"] = timed(fb, max(3, reps // 2))
    out.update(op=name, x=list(x.shape), dtype=str(dtype).replace("torch.", ""))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", default="sg2,sg3t,sg3r")
    ap.add_argument("--res", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--dtypes", default="float32,float16")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "ops.json"))
    a = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("benchmarks/ops.py compares the fused CUDA kernels with the reference: it needs a CUDA device")
        return 2
    results = []
    for fam in a.families.split(","):
        calls = capture_calls(fam, a.res)
        for dt in a.dtypes.split(","):
            dtype = getattr(torch, dt)
            for name, args, kw in calls:
                try:
                    r = bench_call(name, args, kw, a.batch, dtype, a.reps)
                except Exception as e:  # noqa: BLE001 — report and go on with the other calls
                    r = {"op": name, "x": list(args[0].shape), "dtype": dt, "error": f"{type(e).__name__}: {e}"[:300]}
                r["family"] = fam
                results.append(r)
                print(json.dumps(r), flush=True)
    print(f"\n| family | op | dtype | calls | fwd ref ms | fwd cuda ms | speed-up | fwd+bwd ref ms | fwd+bwd cuda ms | speed-up | max rel err |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for fam in a.families.split(","):
        for dt in a.dtypes.split(","):
            for name in OPS:
                rows = [r for r in results if r["family"] == fam and r["dtype"] == dt and r["op"] == name]
                ok = [r for r in rows if "error" not in r]
                if not rows:
                    continue
                if not ok:
                    print(f"| {fam} | {name} | {dt} | {len(rows)} | failed: {rows[0]['error'][:80]} |")
                    continue
                s = {k: sum(r[k] for r in ok) for k in ("fwd_ref_ms", "fwd_cuda_ms", "fwdbwd_ref_ms", "fwdbwd_cuda_ms")}
                print(f"| {fam} | {name} | {dt} | {len(ok)}/{len(rows)} | {s['fwd_ref_ms']:.2f} | {s['fwd_cuda_ms']:.2f} | "
                      f"{s['fwd_ref_ms'] / s['fwd_cuda_ms']:.1f}× | {s['fwdbwd_ref_ms']:.2f} | {s['fwdbwd_cuda_ms']:.2f} | "
                      f"{s['fwdbwd_ref_ms'] / s['fwdbwd_cuda_ms']:.1f}× | {max(r['rel_err'] for r in ok):.1e} |")
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps({"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
                                        "res": a.res, "batch": a.batch, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
