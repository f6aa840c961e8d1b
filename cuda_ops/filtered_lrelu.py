"""filtered_lrelu: the alias-suppressing nonlinearity of StyleGAN3.

    x = x + b                                  # bias along channels
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up**2)
    x = clamp(leaky_relu(x, slope) * gain, ±clamp)
    x = upfirdn2d(x, fd, down=down)

``padding`` = [x0, x1, y0, y1] applies at the upsampling step. Filters may be 1-D
(separable) or 2-D (e.g. the radially symmetric down filter of StyleGAN3-R); None is the
identity.
"""
from __future__ import annotations

import math

import torch

from cuda_ops._dispatch import resolve_impl
from cuda_ops.bias_act import bias_act_ref
from cuda_ops.upfirdn2d import Padding, parse_padding, parse_scaling, upfirdn2d_ref


def filtered_lrelu(x: torch.Tensor, fu: torch.Tensor | None = None, fd: torch.Tensor | None = None,
                   b: torch.Tensor | None = None, up: int = 1, down: int = 1, padding: Padding = 0,
                   gain: float = math.sqrt(2), slope: float = 0.2, clamp: float | None = None,
                   flip_filter: bool = False, impl: str = "auto") -> torch.Tensor:
    """Bias, upsample, leaky ReLU, clamp, downsample. ``x``: [N, C, H, W] float."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError("filtered_lrelu: expected x of shape [N, C, H, W]")
    if resolve_impl("filtered_lrelu", impl, x) == "cuda":
        from cuda_ops import _build
        return _build.filtered_lrelu_cuda(x, fu, fd, b, up=up, down=down, padding=padding, gain=gain,
                                          slope=slope, clamp=clamp, flip_filter=flip_filter)
    return filtered_lrelu_ref(x, fu, fd, b, up=up, down=down, padding=padding, gain=gain,
                              slope=slope, clamp=clamp, flip_filter=flip_filter)


def filtered_lrelu_ref(x: torch.Tensor, fu: torch.Tensor | None = None, fd: torch.Tensor | None = None,
                       b: torch.Tensor | None = None, up: int = 1, down: int = 1, padding: Padding = 0,
                       gain: float = math.sqrt(2), slope: float = 0.2, clamp: float | None = None,
                       flip_filter: bool = False) -> torch.Tensor:
    """The definition of filtered_lrelu in plain PyTorch (differentiable to any order)."""
    upx, upy = parse_scaling(up)
    if upx != upy:
        raise ValueError(f"filtered_lrelu: up must be the same along x and y, got {up}")
    parse_scaling(down)
    pad = parse_padding(padding)
    if b is not None:
        x = bias_act_ref(x, b)
    x = upfirdn2d_ref(x, fu, up=up, padding=pad, gain=upx * upy, flip_filter=flip_filter)
    x = bias_act_ref(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
    return upfirdn2d_ref(x, fd, down=down, flip_filter=flip_filter)
