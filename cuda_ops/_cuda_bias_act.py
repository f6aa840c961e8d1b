"""bias_act on the fused CUDA kernel (``cuda_ops/csrc/bias_act.*``), differentiable twice.

One elementwise pass computes the forward, the first derivative (``dy · gain · act'(z)`` inside
the clamp) or the second (``dy · g · gain · act''(z)``), with ``z = x + b``. The autograd
functions chain them: the gradient's gradient with respect to ``dy`` is the gradient again,
and with respect to ``x`` it is the second-derivative pass.
"""
from __future__ import annotations

import torch

from cuda_ops.bias_act import ACTIVATIONS, _lookup

ACT_CODES = {name: i for i, name in enumerate(ACTIVATIONS)}  # the order of the kernel's enum
_FORWARD, _GRAD, _GRAD2 = 0, 1, 2
_LINEAR_PIECES = ("linear", "relu", "lrelu")  # act'' == 0 everywhere they are differentiable
_EMPTY: dict[tuple, torch.Tensor] = {}


def _empty(like: torch.Tensor) -> torch.Tensor:
    key = (like.device, like.dtype)
    if key not in _EMPTY:
        _EMPTY[key] = torch.empty([0], device=like.device, dtype=like.dtype)
    return _EMPTY[key]


def _dense(x: torch.Tensor) -> torch.Tensor:
    if x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last):
        return x
    return x.contiguous()


def _inner(x: torch.Tensor, dim: int) -> int:
    """Elements between consecutive entries along ``dim`` in x's memory order."""
    return int(x.stride(dim))


class _Spec:
    __slots__ = ("dim", "act", "code", "alpha", "gain", "clamp")

    def __init__(self, dim, act, alpha, gain, clamp):
        spec = _lookup(act)
        self.dim, self.act, self.code = dim, act, ACT_CODES[act]
        self.alpha = spec.def_alpha if alpha is None else float(alpha)
        self.gain = spec.def_gain if gain is None else float(gain)
        self.clamp = -1.0 if clamp is None else float(clamp)

    def run(self, mode, x, b, g1=None, g2=None):
        from cuda_ops import _build
        mod = _build.load("bias_act")
        e = _empty(x)
        return mod.bias_act(x, e if b is None else b, e if g1 is None else g1, e if g2 is None else g2,
                            self.dim, _inner(x, self.dim), self.code, mode, self.alpha, self.gain, self.clamp)


def _bias_grad(dz: torch.Tensor, dim: int) -> torch.Tensor:
    return dz.sum([i for i in range(dz.ndim) if i != dim])


class _BiasAct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, b, spec):
        ctx.spec = spec
        ctx.save_for_backward(x, b)
        return spec.run(_FORWARD, x, b)

    @staticmethod
    def backward(ctx, dy):
        x, b = ctx.saved_tensors
        spec = ctx.spec
        dz = _BiasActGrad.apply(_dense(dy).contiguous(memory_format=_format(x)), x, b, spec)
        db = _bias_grad(dz, spec.dim) if b is not None and ctx.needs_input_grad[1] else None
        return dz, db, None


class _BiasActGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, dy, x, b, spec):
        ctx.spec = spec
        ctx.save_for_backward(dy, x, b)
        return spec.run(_GRAD, x, b, dy)

    @staticmethod
    def backward(ctx, g):
        dy, x, b = ctx.saved_tensors
        spec = ctx.spec
        g = _dense(g).contiguous(memory_format=_format(x))
        d_dy = _BiasActGrad.apply(g, x, b, spec) if ctx.needs_input_grad[0] else None
        d_x = d_b = None
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            # act'' is 0 for the piecewise-linear activations: zeros (not None), so x and b stay in
            # the graph of the second derivative as they are in the reference's.
            d_x = torch.zeros_like(x) if spec.act in _LINEAR_PIECES else spec.run(_GRAD2, x, b, dy, g)
            if b is not None and ctx.needs_input_grad[2]:
                d_b = _bias_grad(d_x, spec.dim)
        return d_dy, d_x, d_b, None


def _format(x: torch.Tensor) -> torch.memory_format:
    if x.ndim == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def bias_act_cuda(x: torch.Tensor, b: torch.Tensor | None = None, dim: int = 1, act: str = "linear",
                  alpha: float | None = None, gain: float | None = None, clamp: float | None = None) -> torch.Tensor:
    """The semantics of ``cuda_ops.bias_act_ref`` on the fused kernel (x on a CUDA device)."""
    from cuda_ops._build import kernel_device_type
    if x.device.type != kernel_device_type():
        raise ValueError("bias_act_cuda: x must be on a CUDA device")
    if x.dtype not in (torch.float32, torch.float16, torch.float64):
        raise ValueError(f"bias_act_cuda: dtype {x.dtype} is not supported")
    dim = dim % x.ndim if x.ndim else 0
    if b is not None:
        if b.ndim != 1 or b.shape[0] != x.shape[dim]:
            raise ValueError(f"bias_act: bias of shape {tuple(b.shape)} does not match "
                             f"dim {dim} of input {tuple(x.shape)}")
        b = b.to(x.dtype).contiguous()
    spec = _Spec(dim, act, alpha, gain, clamp)
    return _BiasAct.apply(_dense(x), b, spec)
