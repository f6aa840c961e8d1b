"""Choosing between the reference (plain PyTorch) and fused CUDA implementation of an op.

Every op takes ``impl='auto'|'ref'|'cuda'``:

* ``'ref'``  – plain PyTorch; this is the definition of the op and runs on any device.
* ``'cuda'`` – the fused kernel; an error if it cannot be used for this tensor.
* ``'auto'`` – the kernel when it is built, the tensor is on a CUDA device and the kernel has
  passed its first-use check against the reference there (``cuda_ops._self_check``), otherwise
  the reference (with one warning per op when a CUDA tensor has to fall back).

``GANSCOPE_OPS_IMPL=ref`` in the environment forces the reference everywhere.
"""
from __future__ import annotations

import os
import warnings

import torch

VALID_IMPLS = ("auto", "ref", "cuda")
_warned: set[str] = set()


def fused_kernels_status(op: str) -> tuple[bool, str]:
    """(available, reason) for the fused CUDA kernel of ``op``.

    The kernels are compiled on first use by ``cuda_ops._build``; when that module is
    missing or the build fails, the reason says why so ``impl='cuda'`` can report it.
    """
    from cuda_ops import _build
    return _build.kernel_status(op)


def resolve_impl(op: str, impl: str, x: torch.Tensor) -> str:
    """Return 'ref' or 'cuda' for running ``op`` on tensor ``x``."""
    if impl not in VALID_IMPLS:
        raise ValueError(f"{op}: impl must be one of {VALID_IMPLS}, got {impl!r}")
    forced = os.environ.get("GANSCOPE_OPS_IMPL", "").strip().lower()
    if forced == "ref":
        return "ref"
    if impl == "ref":
        return "ref"
    from cuda_ops._build import kernel_device_type
    on_kernel_device = x.device.type == kernel_device_type()  # "cuda" (or "cpu" when emulated)
    if impl == "auto" and not on_kernel_device:
        return "ref"
    available, reason = fused_kernels_status(op)
    if available and on_kernel_device:
        if impl == "auto":
            from cuda_ops._self_check import kernel_ok
            if not kernel_ok(op, x.device):  # it warned once, saying why
                return "ref"
        return "cuda"
    if impl == "cuda":
        where = "" if on_kernel_device else f" (the tensor is on {x.device.type})"
        raise RuntimeError(f"{op}: impl='cuda' was asked for but cannot be used{where}: {reason}. "
                           "Use impl='auto' or impl='ref'.")
    if op not in _warned:
        _warned.add(op)
        warnings.warn(f"{op}: using the reference PyTorch implementation on CUDA ({reason}).",
                      RuntimeWarning, stacklevel=3)
    return "ref"
