"""upfirdn2d on the fused CUDA kernel (``cuda_ops/csrc/upfirdn2d.*``), differentiable to any order.

The operation is planned as one or two kernel passes (``_plan``): a 2-D filter runs as one 2-D
pass; a 1-D filter (or a large separable 2-D filter) as a pass along x and one along y, unless
the combined filter is small enough (few taps per output) that one 2-D pass is cheaper.

The backward of upfirdn2d is upfirdn2d again (``_adjoint``): per axis, with ``n`` input and
``m`` output samples, ``K`` taps, factors ``up``/``down`` and padding ``(p0, p1)``, the gradient
with respect to the input is upfirdn2d of the output gradient with the filter flipped
(``flip_filter`` toggled), ``up`` and ``down`` swapped, the same gain, and padding::

    q0 = K - 1 - p0
    q1 = n * up - m * down + p0 - up + 1

so its length is exactly ``n`` (see docs/notes/cuda_upfirdn2d.md). The gradient's gradient is
the same construction applied again, so backward and double backward both work. The filter
is a constant: a gradient with respect to it is not supported.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from cuda_ops.upfirdn2d import (AxisPass, Pass2D, _out_len, filter_size, output_memory_format, parse_padding,
                                parse_scaling, plan_upfirdn2d)

# Channels-last inputs: True runs the kernel on an NCHW copy and converts the result back
# (coalesced accesses, two extra copies); False reads/writes through the strides directly
# (no copies, but a warp's accesses are C elements apart).
CHANNELS_LAST_VIA_COPY = True

# A separable filter runs as one 2-D pass when it needs at most this many taps per output
# sample (ceil(fw/upx) * ceil(fh/upy)); above, as two 1-D passes.
MAX_2D_TAPS = 16


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _launch(x: torch.Tensor, f2d: torch.Tensor, up: tuple[int, int], down: tuple[int, int],
            pad: tuple[int, int, int, int], channels_last: bool) -> torch.Tensor:
    """One kernel pass: ``f2d`` [fh, fw] in true-convolution orientation with the gain applied,
    up/down as (x, y), pad as (x0, x1, y0, y1). Tests replace this with a CPU emulation."""
    from cuda_ops import _build
    mod = _build.load("upfirdn2d")
    return mod.upfirdn2d(x, f2d, up[0], up[1], down[0], down[1], pad[0], pad[1], pad[2], pad[3], 1.0, channels_last)


@dataclass(frozen=True)
class _KernelPass:
    f2d: torch.Tensor                   # [fh, fw], accumulation dtype, contiguous, gain applied
    up: tuple[int, int]
    down: tuple[int, int]
    pad: tuple[int, int, int, int]


def _plan(f: torch.Tensor | None, up, down, padding, flip_filter: bool, gain: float,
          dtype: torch.dtype, device: torch.device) -> list[_KernelPass]:
    upx, upy = parse_scaling(up)
    downx, downy = parse_scaling(down)
    px0, px1, py0, py1 = parse_padding(padding)
    acc = _acc_dtype(dtype)
    if f is not None:
        f = f.detach()
    if f is not None and f.ndim == 2 and (-(-f.shape[1] // upx)) * (-(-f.shape[0] // upy)) <= MAX_2D_TAPS:
        # Small 2-D filter: one pass, no separability test (which would synchronise).
        taps = f.to(device=device, dtype=acc)
        if flip_filter:
            taps = taps.flip([0, 1])
        return [_KernelPass((taps * gain).contiguous(), (upx, upy), (downx, downy), (px0, px1, py0, py1))]
    passes = plan_upfirdn2d(f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain,
                            dtype=acc, device=device)
    if len(passes) == 1:
        p = passes[0]
        assert isinstance(p, Pass2D)
        return [_KernelPass(p.taps.contiguous(), p.up, p.down, p.pad)]
    px, py = passes
    assert isinstance(px, AxisPass) and isinstance(py, AxisPass) and px.dim == 3 and py.dim == 2
    kx, ky = px.taps.shape[0], py.taps.shape[0]
    if (-(-kx // upx)) * (-(-ky // upy)) <= MAX_2D_TAPS:
        return [_KernelPass(torch.outer(py.taps, px.taps).contiguous(), (upx, upy), (downx, downy),
                            (px0, px1, py0, py1))]
    return [_KernelPass(px.taps.reshape(1, -1).contiguous(), (upx, 1), (downx, 1), (px0, px1, 0, 0)),
            _KernelPass(py.taps.reshape(-1, 1).contiguous(), (1, upy), (1, downy), (0, 0, py0, py1))]


def adjoint_params(in_size: tuple[int, int], out_size: tuple[int, int], fsize: tuple[int, int],
                   up: tuple[int, int], down: tuple[int, int], pad: tuple[int, int, int, int]):
    """(up', down', pad') of the adjoint pass, per axis; sizes and factors as (x, y) = (w, h),
    fsize as (fw, fh), pad as (x0, x1, y0, y1). The filter is flipped and the gain kept."""
    q = []
    for a in range(2):
        n, m, k, u, d = in_size[a], out_size[a], fsize[a], up[a], down[a]
        p0 = pad[2 * a]
        q += [k - 1 - p0, n * u - m * d + p0 - u + 1]
    return (down[0], down[1]), (up[0], up[1]), tuple(q)


@dataclass(frozen=True)
class _Spec:
    f: torch.Tensor | None
    up: tuple[int, int]
    down: tuple[int, int]
    pad: tuple[int, int, int, int]
    flip_filter: bool
    gain: float

    def out_size(self, w: int, h: int) -> tuple[int, int]:
        fw, fh = filter_size(self.f)
        return (_out_len(w, fw, self.up[0], self.down[0], self.pad[0], self.pad[1]),
                _out_len(h, fh, self.up[1], self.down[1], self.pad[2], self.pad[3]))

    def run(self, x: torch.Tensor) -> torch.Tensor:
        self.out_size(x.shape[3], x.shape[2])  # validates the sizes (ValueError like the reference)
        cl = output_memory_format(x) == torch.channels_last
        copy = cl and CHANNELS_LAST_VIA_COPY
        if copy:
            x = x.contiguous()
        for p in _plan(self.f, self.up, self.down, self.pad, self.flip_filter, self.gain, x.dtype, x.device):
            x = _launch(x, p.f2d, p.up, p.down, p.pad, cl and not copy)
        return x.contiguous(memory_format=torch.channels_last) if copy else x

    def adjoint(self, in_h: int, in_w: int) -> "_Spec":
        ow, oh = self.out_size(in_w, in_h)
        up, down, pad = adjoint_params((in_w, in_h), (ow, oh), filter_size(self.f), self.up, self.down, self.pad)
        return _Spec(self.f, up, down, pad, not self.flip_filter, self.gain)


class _Upfirdn2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, spec):
        ctx.spec = spec
        ctx.in_hw = (x.shape[2], x.shape[3])
        return spec.run(x)

    @staticmethod
    def backward(ctx, dy):
        if not ctx.needs_input_grad[0]:
            return None, None
        in_h, in_w = ctx.in_hw
        return _Upfirdn2d.apply(dy, ctx.spec.adjoint(in_h, in_w)), None


def upfirdn2d_cuda(x: torch.Tensor, f: torch.Tensor | None, up=1, down=1, padding=0, flip_filter: bool = False,
                   gain: float = 1) -> torch.Tensor:
    """The semantics of ``cuda_ops.upfirdn2d_ref`` on the fused kernel (x on a CUDA device)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError("upfirdn2d_cuda: expected x of shape [N, C, H, W]")
    if x.dtype not in (torch.float32, torch.float16, torch.float64):
        raise ValueError(f"upfirdn2d_cuda: dtype {x.dtype} is not supported; use float32, float16 or float64")
    if f is not None:
        if f.ndim not in (1, 2) or f.numel() == 0:
            raise ValueError(f"upfirdn2d: filter must be a non-empty 1-D or 2-D tensor, got shape {tuple(f.shape)}")
        if f.requires_grad and torch.is_grad_enabled():
            raise NotImplementedError("upfirdn2d_cuda: the gradient with respect to the filter is not supported "
                                      "(filters are constants); pass f.detach() or use impl='ref'")
    spec = _Spec(f, parse_scaling(up), parse_scaling(down), parse_padding(padding), bool(flip_filter), float(gain))
    return _Upfirdn2d.apply(x, spec)
