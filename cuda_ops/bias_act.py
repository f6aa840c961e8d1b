"""bias_act: add a bias, apply an activation, scale by a gain and clamp, in that order.

``y = clamp(act(x + b, alpha) * gain, -clamp, clamp)`` with ``b`` broadcast along ``dim``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from cuda_ops._dispatch import resolve_impl


@dataclass(frozen=True)
class Activation:
    func: Callable[[torch.Tensor, float], torch.Tensor]
    def_alpha: float
    def_gain: float


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation(lambda x, a: x, 0.0, 1.0),
    "relu": Activation(lambda x, a: F.relu(x), 0.0, math.sqrt(2)),
    "lrelu": Activation(lambda x, a: F.leaky_relu(x, a), 0.2, math.sqrt(2)),
    "tanh": Activation(lambda x, a: torch.tanh(x), 0.0, 1.0),
    "sigmoid": Activation(lambda x, a: torch.sigmoid(x), 0.0, 1.0),
    "elu": Activation(lambda x, a: F.elu(x, a), 1.0, 1.0),
    "selu": Activation(lambda x, a: F.selu(x), 0.0, 1.0),
    "softplus": Activation(lambda x, a: F.softplus(x), 0.0, 1.0),
    "swish": Activation(lambda x, a: torch.sigmoid(x) * x, 0.0, math.sqrt(2)),
}


def activation_gain(act: str) -> float:
    """The default gain of ``act`` (√2 for relu, lrelu and swish; 1 otherwise)."""
    return _lookup(act).def_gain


def _lookup(act: str) -> Activation:
    try:
        return ACTIVATIONS[act]
    except KeyError:
        raise ValueError(f"bias_act: unknown activation {act!r}; expected one of "
                         f"{', '.join(ACTIVATIONS)}") from None


def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, dim: int = 1, act: str = "linear",
             alpha: float | None = None, gain: float | None = None, clamp: float | None = None,
             impl: str = "auto") -> torch.Tensor:
    """Bias + activation + gain + clamp.

    Args:
        x: any shape, float.
        b: ``[x.shape[dim]]`` or None.
        act: one of ``ACTIVATIONS``; alpha/gain default to the activation's own.
        clamp: clamp the output to ``[-clamp, clamp]`` (None: no clamping).
    Returns:
        Tensor of the shape and dtype of ``x``.
    """
    spec = _lookup(act)
    if clamp is not None and clamp < 0:
        raise ValueError(f"bias_act: clamp must be >= 0 or None, got {clamp}")
    if resolve_impl("bias_act", impl, x) == "cuda":
        from cuda_ops import _build
        return _build.bias_act_cuda(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)
    return bias_act_ref(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)


def bias_act_ref(x: torch.Tensor, b: torch.Tensor | None = None, dim: int = 1, act: str = "linear",
                 alpha: float | None = None, gain: float | None = None,
                 clamp: float | None = None) -> torch.Tensor:
    """The definition of bias_act in plain PyTorch (differentiable to any order)."""
    spec = _lookup(act)
    alpha = spec.def_alpha if alpha is None else float(alpha)
    gain = spec.def_gain if gain is None else float(gain)
    if b is not None:
        if b.ndim != 1 or b.shape[0] != x.shape[dim]:
            raise ValueError(f"bias_act: bias of shape {tuple(b.shape)} does not match "
                             f"dim {dim} of input {tuple(x.shape)}")
        shape = [1] * x.ndim
        shape[dim] = -1
        b = b.reshape(shape).to(x.dtype)
    if act == "lrelu" and 0 <= alpha <= 1 and gain > 0 and torch.is_grad_enabled() and (
            x.requires_grad or (b is not None and b.requires_grad)):
        # Training: lrelu(z) * gain == lrelu(z * gain) for gain > 0, so the gain goes into the
        # bias add (one pass) and LeakyClamp keeps one tensor and takes its gradient in two
        # fused passes. Rendering (no autograd) keeps the plain order below, bit for bit.
        z = x * gain if b is None else torch.add(b * gain, x, alpha=gain)
        return LeakyClamp.apply(z, alpha, clamp)
    if b is not None:
        x = x + b
    x = spec.func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


class LeakyClamp(torch.autograd.Function):
    """clamp(leaky_relu(z, slope), ±clamp) for training (``clamp`` None: no clamp). Autograd's
    own composition keeps two intermediates and spends four elementwise passes on the clamp's
    backward (ge, le, and, where); this keeps only the output and computes the gradient from it
    with two fused passes (a 32² StyleGAN3-T CPU training step: 2622 → 1936 ms; StyleGAN2's
    bias_act, docs/BENCHMARKS.md). With 0 <= slope <= 1 the output has the input's sign and is
    ±clamp exactly where the clamp acted (the measure-zero case of an input exactly at ±clamp
    gets gradient 0 instead of 1). The backward is made of differentiable ops, so higher
    derivatives (R1's double backward) still work."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, slope: float, clamp: float | None) -> torch.Tensor:
        y = F.leaky_relu(z, slope)
        if clamp is not None:
            y.clamp_(-clamp, clamp)
        ctx.save_for_backward(y)
        ctx.slope, ctx.clamp = slope, clamp
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (y,) = ctx.saved_tensors
        if ctx.clamp is not None:
            grad = torch.ops.aten.hardtanh_backward(grad, y, -ctx.clamp, ctx.clamp)
        return torch.ops.aten.leaky_relu_backward(grad, y, ctx.slope, True), None, None
