"""filtered_lrelu: the alias-suppressing nonlinearity of StyleGAN3.

    x = x + b                                  # bias along channels
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up**2)
    x = clamp(leaky_relu(x, slope) * gain, ±clamp)
    x = upfirdn2d(x, fd, down=down)

``padding`` = [x0, x1, y0, y1] applies at the upsampling step. Filters may be 1-D
(separable) or 2-D (e.g. the radially symmetric down filter of StyleGAN3-R); None is the
identity.

The reference implementation runs the whole sequence chunk by chunk (a few channels of a
few samples at a time, channels-last on the CPU), so the ×up² intermediate never leaves the
cache; upsampling is polyphase (transposed convolution), downsampling computes only the
kept samples, and the nonlinearity's gain is folded into the upsampling filter. Without
autograd the nonlinearity runs in place.
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from cuda_ops._dispatch import resolve_impl
from cuda_ops.bias_act import LeakyClamp
from cuda_ops.upfirdn2d import (AxisPass, Pass2D, Padding, parse_padding, parse_scaling, plan_upfirdn2d,
                                run_chunked, run_passes)


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
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError("filtered_lrelu: expected x of shape [N, C, H, W]")
    upx, upy = parse_scaling(up)
    if upx != upy:
        raise ValueError(f"filtered_lrelu: up must be the same along x and y, got {up}")
    parse_scaling(down)
    pad = parse_padding(padding)
    if clamp is not None and clamp < 0:
        raise ValueError(f"filtered_lrelu: clamp must be >= 0 or None, got {clamp}")
    if b is not None and (b.ndim != 1 or b.shape[0] != x.shape[1]):
        raise ValueError(f"filtered_lrelu: bias of shape {tuple(b.shape)} does not match "
                         f"the {x.shape[1]} channels of x {tuple(x.shape)}")
    gain = float(gain)
    slope = float(slope)
    up_passes = plan_upfirdn2d(fu, up=up, padding=pad, gain=upx * upy, flip_filter=flip_filter,
                               dtype=x.dtype, device=x.device)
    act_gain = gain
    if gain > 0 and slope >= 0:
        # lrelu(z) * gain == lrelu(z * gain) for gain > 0: fold it into the last upsampling pass.
        up_passes[-1] = _scaled(up_passes[-1], gain)
        act_gain = 1.0
    down_passes = plan_upfirdn2d(fd, down=down, flip_filter=flip_filter, dtype=x.dtype, device=x.device)
    passes = up_passes + down_passes
    grad = torch.is_grad_enabled() and (x.requires_grad or (b is not None and b.requires_grad)
                                        or any(p.taps.requires_grad for p in passes))

    def nonlinearity(z: torch.Tensor, owned: bool) -> torch.Tensor:
        inplace = owned and not grad
        if grad and act_gain == 1 and 0 <= slope <= 1:
            return LeakyClamp.apply(z, slope, clamp)
        if slope != 1:
            z = F.leaky_relu_(z, slope) if inplace else F.leaky_relu(z, slope)
        if act_gain != 1:
            z = z.mul_(act_gain) if inplace else z * act_gain
        if clamp is not None:
            z = z.clamp_(-clamp, clamp) if inplace else z.clamp(-clamp, clamp)
        return z

    def fn(xc: torch.Tensor) -> torch.Tensor:
        z = run_passes(xc, up_passes)
        # In-place only on a fresh, dense tensor (not the chunk input, not a view).
        owned = z is not xc and z.data_ptr() != xc.data_ptr() and (
            z.is_contiguous() or z.is_contiguous(memory_format=torch.channels_last))
        z = nonlinearity(z, owned)
        return run_passes(z, down_passes)

    return run_chunked(x, passes, fn, bias=b)


def _scaled(p: AxisPass | Pass2D, gain: float) -> AxisPass | Pass2D:
    return dataclasses.replace(p, taps=p.taps * gain)
