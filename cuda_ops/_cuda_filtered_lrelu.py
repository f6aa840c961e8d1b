"""filtered_lrelu on our own CUDA kernel (``cuda_ops/csrc/filtered_lrelu.*``), differentiable to
any order.

Everything runs on one kernel, ``resample`` (``_resample`` below): a polyphase upfirdn2d pass
(correlation with a 2-D filter, zero-insertion by ``up``, a leading padding ``pad0``, keeping
every ``down``-th sample, an explicit output size) with an optional bias on the input and a
pointwise epilogue: ``mode`` 0 none, 1 leaky ReLU·gain + clamp writing one derivative class
per sample into a uint8 ``signs`` tensor (0 positive, 1 negative, 2 clamped), 2 multiply by the
recorded derivative (gain, slope·gain or 0).

Per axis, with input length ``n``, intermediate ``m = n*up + p0 + p1 - Ku + 1`` and output
``o = (m - Kd + down) // down``::

    forward   z = resample(x + b, wu, up=up, down=1, pad0=p0, size m, mode 1)   -> signs
              y = resample(z, wd, up=1, down=down, pad0=0, size o)
    fixed     the same with mode 2 (signs given, no bias): linear in x
    adjoint   g = resample(dy, flip(wd), up=down, down=1, pad0=Kd-1, size m, mode 2)
              dx = resample(g, flip(wu), up=1, down=up, pad0=Ku-1-p0, size n)

``wu`` carries the upsampling gain up² (1-D filters: outer product of the taps). The backward
of ``forward`` is ``adjoint`` (db = dx summed over N, H, W); the backward of ``adjoint`` is
``fixed`` and vice versa (the op is piecewise linear, so nothing flows through the signs).
Filters are constants (no gradient). Tests replace ``_resample`` with a CPU emulation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from cuda_ops.upfirdn2d import output_memory_format, parse_padding, parse_scaling

_CODES = {torch.float32: 0, torch.float16: 1, torch.float64: 2}
PLAIN, ACTIVATE, FIXED = 0, 1, 2


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _resample(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, signs: torch.Tensor | None,
              out_hw: tuple[int, int], up: tuple[int, int], down: tuple[int, int], pad0: tuple[int, int],
              mode: int, gain: float, slope: float, clamp: float, out_dtype: torch.dtype
              ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One kernel pass; up/down/pad0 as (x, y), out_hw as (h, w). Returns (y, signs)."""
    from cuda_ops import _build
    mod = _build.load("filtered_lrelu")
    y, s = mod.resample(x, w, bias, signs, out_hw[0], out_hw[1], up[0], up[1], down[0], down[1], pad0[0], pad0[1],
                        mode, gain, slope, clamp, _CODES[out_dtype])
    return y, (s if mode != PLAIN else None)


def _corr_weights(f: torch.Tensor | None, gain: float, flip_filter: bool, dtype: torch.dtype,
                  device: torch.device) -> torch.Tensor:
    """A [kh, kw] filter in correlation orientation carrying ``gain`` in total."""
    if f is None:
        return torch.full([1, 1], float(gain), dtype=dtype, device=device)
    f = f.detach().to(device=device, dtype=dtype)
    if f.ndim == 1:
        f = torch.outer(f, f)
    elif f.ndim != 2:
        raise ValueError(f"filtered_lrelu: filter must be 1-D or 2-D, got shape {tuple(f.shape)}")
    if f.numel() == 0:
        raise ValueError("filtered_lrelu: empty filter")
    f = f * gain
    if not flip_filter:  # true convolution = correlation with the flipped filter
        f = f.flip([0, 1])
    return f.contiguous()


@dataclass(frozen=True, eq=False)
class _Plan:
    wu: torch.Tensor          # upsampling filter, correlation orientation, gain up²
    wd: torch.Tensor          # downsampling filter, correlation orientation
    wu_adj: torch.Tensor      # flipped (for the adjoint)
    wd_adj: torch.Tensor
    up: tuple[int, int]       # (x, y)
    down: tuple[int, int]
    pad0: tuple[int, int]     # leading padding of the upsampling step (x, y)
    in_hw: tuple[int, int]
    mid_hw: tuple[int, int]
    out_hw: tuple[int, int]
    gain: float
    slope: float
    clamp: float              # -1: none

    def forward(self, x: torch.Tensor, b: torch.Tensor | None, signs: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """signs None: activate and record the signs; else multiply by the recorded derivative."""
        mode = ACTIVATE if signs is None else FIXED
        z, s = _resample(x.contiguous(), self.wu, b, signs, self.mid_hw, self.up, (1, 1), self.pad0, mode,
                         self.gain, self.slope, self.clamp, _acc_dtype(x.dtype))
        y, _ = _resample(z, self.wd, None, None, self.out_hw, (1, 1), self.down, (0, 0), PLAIN,
                         1.0, 0.0, -1.0, x.dtype)
        return y, s

    def adjoint(self, dy: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
        kdh, kdw = self.wd.shape
        kuh, kuw = self.wu.shape
        g, _ = _resample(dy.contiguous(), self.wd_adj, None, signs, self.mid_hw, self.down, (1, 1),
                         (kdw - 1, kdh - 1), FIXED, self.gain, self.slope, self.clamp, _acc_dtype(dy.dtype))
        dx, _ = _resample(g, self.wu_adj, None, None, self.in_hw, (1, 1), self.up,
                          (kuw - 1 - self.pad0[0], kuh - 1 - self.pad0[1]), PLAIN, 1.0, 0.0, -1.0, dy.dtype)
        return dx


def _axis_len(n: int, k: int, up: int, down: int, p0: int, p1: int, axis: str) -> int:
    full = n * up + p0 + p1
    if full < k:
        raise ValueError(f"filtered_lrelu: along {axis} the padded input ({full} samples) is shorter than the "
                         f"filter ({k} taps); increase the padding")
    return (full - k + down) // down


def make_plan(x: torch.Tensor, fu, fd, up, down, padding, gain, slope, clamp, flip_filter) -> _Plan:
    upx, upy = parse_scaling(up)
    if upx != upy:
        raise ValueError(f"filtered_lrelu: up must be the same along x and y, got {up}")
    downx, downy = parse_scaling(down)
    if min(upx, downx, downy) < 1:
        raise ValueError("filtered_lrelu: up/down factors must be >= 1")
    px0, px1, py0, py1 = parse_padding(padding)
    if clamp is not None and clamp < 0:
        raise ValueError(f"filtered_lrelu: clamp must be >= 0 or None, got {clamp}")
    acc = _acc_dtype(x.dtype)
    wu = _corr_weights(fu, upx * upy, flip_filter, acc, x.device)
    wd = _corr_weights(fd, 1.0, flip_filter, acc, x.device)
    h, w = x.shape[2], x.shape[3]
    mh = _axis_len(h, wu.shape[0], upy, 1, py0, py1, "y")
    mw = _axis_len(w, wu.shape[1], upx, 1, px0, px1, "x")
    oh = _axis_len(mh, wd.shape[0], 1, downy, 0, 0, "y")
    ow = _axis_len(mw, wd.shape[1], 1, downx, 0, 0, "x")
    return _Plan(wu=wu, wd=wd, wu_adj=wu.flip([0, 1]).contiguous(), wd_adj=wd.flip([0, 1]).contiguous(),
                 up=(upx, upy), down=(downx, downy), pad0=(px0, py0), in_hw=(h, w), mid_hw=(mh, mw),
                 out_hw=(oh, ow), gain=float(gain), slope=float(slope),
                 clamp=-1.0 if clamp is None else float(clamp))


class _FilteredLReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, b, plan):
        bias = None if b is None else b.detach().to(_acc_dtype(x.dtype)).contiguous()
        y, signs = plan.forward(x, bias, None)
        ctx.save_for_backward(signs)
        ctx.plan = plan
        ctx.b_dtype = None if b is None else b.dtype
        return y.contiguous(memory_format=output_memory_format(x))

    @staticmethod
    def backward(ctx, dy):
        (signs,) = ctx.saved_tensors
        dx = db = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            dx = _Adjoint.apply(dy, signs, ctx.plan)
            if ctx.needs_input_grad[1]:
                db = dx.sum(dim=[0, 2, 3], dtype=_acc_dtype(dx.dtype)).to(ctx.b_dtype)
        return (dx if ctx.needs_input_grad[0] else None), db, None


class _Adjoint(torch.autograd.Function):
    """dy -> dx with the derivative classes fixed (linear in dy)."""

    @staticmethod
    def forward(ctx, dy, signs, plan):
        ctx.save_for_backward(signs)
        ctx.plan = plan
        return plan.adjoint(dy, signs).contiguous(memory_format=output_memory_format(dy))

    @staticmethod
    def backward(ctx, ddx):
        (signs,) = ctx.saved_tensors
        return _Fixed.apply(ddx, signs, ctx.plan), None, None


class _Fixed(torch.autograd.Function):
    """x -> y with the derivative classes fixed (linear in x, no bias)."""

    @staticmethod
    def forward(ctx, x, signs, plan):
        ctx.save_for_backward(signs)
        ctx.plan = plan
        y, _ = plan.forward(x, None, signs)
        return y.contiguous(memory_format=output_memory_format(x))

    @staticmethod
    def backward(ctx, dy):
        (signs,) = ctx.saved_tensors
        return _Adjoint.apply(dy, signs, ctx.plan), None, None


def filtered_lrelu_cuda(x: torch.Tensor, fu: torch.Tensor | None = None, fd: torch.Tensor | None = None,
                        b: torch.Tensor | None = None, up: int = 1, down: int = 1, padding=0,
                        gain: float = math.sqrt(2), slope: float = 0.2, clamp: float | None = None,
                        flip_filter: bool = False) -> torch.Tensor:
    """filtered_lrelu (see cuda_ops/filtered_lrelu.py) on the CUDA kernel; output in x's memory format."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError("filtered_lrelu: expected x of shape [N, C, H, W]")
    if x.dtype not in _CODES:
        raise ValueError(f"filtered_lrelu (CUDA): dtype {x.dtype} is not supported")
    if b is not None and (b.ndim != 1 or b.shape[0] != x.shape[1]):
        raise ValueError(f"filtered_lrelu: bias of shape {tuple(b.shape)} does not match "
                         f"the {x.shape[1]} channels of x {tuple(x.shape)}")
    plan = make_plan(x, fu, fd, up, down, padding, gain, slope, clamp, flip_filter)
    return _FilteredLReLU.apply(x, b, plan)
