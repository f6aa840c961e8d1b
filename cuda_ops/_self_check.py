"""First-use checks of the fused kernels against the reference, per op and device.

``impl='auto'`` uses an op's fused kernel on a device only after the kernel has run once there
on small random inputs (a few typical calls: forward and input gradients) and agreed with the
reference to ``CHECK_TOL`` (relative, float32). A kernel that raises or disagrees is not used
on that device for the rest of the process: one ``RuntimeWarning`` says why and the reference
runs, so a kernel fault costs speed, never a wrong image. ``impl='cuda'`` (asked for
explicitly) skips the check.
"""
from __future__ import annotations

import math
import warnings
from typing import Callable

import torch

CHECK_TOL = 1e-4
_results: dict[tuple[str, str], bool] = {}


def _cases(op: str, device: torch.device) -> list[tuple[Callable, torch.Tensor, dict]]:
    """(reference function, x, keyword arguments) of a few calls typical of the generators."""
    from cuda_ops.bias_act import ACTIVATIONS, bias_act_ref
    from cuda_ops.filtered_lrelu import filtered_lrelu_ref
    from cuda_ops.upfirdn2d import setup_filter, upfirdn2d_ref
    g = torch.Generator().manual_seed(0)

    def rnd(*shape, scale=1.0):
        return (torch.randn(shape, generator=g) * scale).to(device)

    if op == "upfirdn2d":
        x = rnd(2, 3, 11, 10)
        f4 = setup_filter([1, 3, 3, 1], device=device)
        return [(upfirdn2d_ref, x, dict(f=f4, up=2, padding=[2, 1, 2, 1], gain=4)),
                (upfirdn2d_ref, x, dict(f=f4, down=2, padding=1)),
                (upfirdn2d_ref, x, dict(f=torch.rand([3, 5], generator=g).to(device), up=2, down=2,
                                        padding=[3, 2, 1, 2], gain=1.3))]
    if op == "bias_act":
        x, b = rnd(3, 6, 5, 4, scale=2), rnd(6)
        return [(bias_act_ref, x, dict(b=b, act=act, clamp=1.5 if act == "lrelu" else None)) for act in ACTIVATIONS]
    if op == "filtered_lrelu":
        x, b, fu = rnd(2, 3, 14, 13, scale=2), rnd(3), torch.rand([6], generator=g).to(device)
        common = dict(fu=fu, b=b, padding=[4, 3, 4, 2], gain=math.sqrt(2), slope=0.2, clamp=1.5)
        return [(filtered_lrelu_ref, x, dict(common, fd=torch.rand([4], generator=g).to(device), up=2, down=2)),
                (filtered_lrelu_ref, x, dict(common, fd=torch.rand([4, 4], generator=g).to(device), up=2, down=2)),
                (filtered_lrelu_ref, x, dict(common, fd=None, up=2, down=1))]
    raise ValueError(f"no self-check cases for op {op!r}")


def relative_error(op: str, device: torch.device, candidate: Callable | None = None) -> float:
    """Largest relative difference between ``candidate`` (default: the op with impl='cuda') and
    the reference over the check cases: outputs, and gradients of x (and of the bias)."""
    import cuda_ops
    if candidate is None:
        fn = getattr(cuda_ops, op)
        candidate = lambda x, **kw: fn(x, impl="cuda", **kw)  # noqa: E731
    worst = 0.0
    for ref, x, kw in _cases(op, device):
        results = []
        for run in (ref, candidate):
            xi = x.detach().clone().requires_grad_(True)
            kwi = dict(kw)
            if isinstance(kwi.get("b"), torch.Tensor):
                kwi["b"] = kwi["b"].detach().clone().requires_grad_(True)
            y = run(xi, **kwi)
            w = torch.linspace(-1, 1, y.numel(), device=y.device, dtype=y.dtype).reshape(y.shape)
            inputs = [xi] + ([kwi["b"]] if isinstance(kwi.get("b"), torch.Tensor) else [])
            grads = torch.autograd.grad((y * w).sum(), inputs)
            results.append([y.detach(), *grads])
        worst = max(worst, max_relative_difference(zip(results[1], results[0])))
    return worst


def max_relative_difference(pairs) -> float:
    """Largest ``max|got - want| / max|want|`` over (got, want) pairs; a shape mismatch raises."""
    worst = 0.0
    for got, want in pairs:
        if got.shape != want.shape:
            raise RuntimeError(f"shape {tuple(got.shape)} instead of {tuple(want.shape)}")
        scale = want.abs().max().clamp_min(1e-12)
        worst = max(worst, float(((got.double() - want.double()).abs().max() / scale).item()))
    return worst


def kernel_ok(op: str, device: torch.device) -> bool:
    """Whether ``op``'s fused kernel passed its check on ``device`` (run on first call)."""
    key = (op, str(device))
    if key not in _results:
        _results[key] = False  # while checking, nothing recurses into the check
        try:
            # the first call often comes from rendering, under no_grad or inference_mode: the check
            # compares gradients too, so it turns autograd on for itself (else every kernel
            # "failed" there and the reference ran for the rest of the process)
            with torch.inference_mode(False), torch.enable_grad():
                err = relative_error(op, device)
            ok, reason = err <= CHECK_TOL, f"it differs from the reference by {err:.3g} (relative)"
        except Exception as e:  # a build, launch or shape fault: report it, keep working
            ok, reason = False, f"{type(e).__name__}: {str(e).strip()[:200]}"
        if not ok:
            warnings.warn(f"{op}: the fused CUDA kernel failed its self-check on {device} ({reason}); using the "
                          "reference PyTorch implementation there (slower, same results). Please report this.",
                          RuntimeWarning, stacklevel=4)
        _results[key] = ok
    return _results[key]
