"""upfirdn2d: upsample by zero insertion, pad, FIR filter, downsample — and its helpers.

Definition (per image and channel, separately along x and y)::

    z = zero_insert(x, up)              # length in*up: each sample followed by up-1 zeros
    z = pad(z, [p0, p1])                # negative padding crops
    y[j] = gain * sum_k f[k] * z[j + K-1-k]   # true convolution (flip_filter=True: correlation)
    y = y[::down]

so ``out = (in*up + p0 + p1 - K + down) // down``.  A 1-D filter ``f`` is applied separably
along x and y (each pass carries ``sqrt(gain)``); a 2-D filter is applied as a whole.

The reference implementation never multiplies by inserted zeros it can skip and never
computes samples that downsampling throws away: it runs each pass as a depthwise strided
convolution, and splits rank-1 2-D filters into two 1-D passes.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from cuda_ops._dispatch import resolve_impl

Padding = int | Sequence[int]


def parse_scaling(s: int | Sequence[int]) -> tuple[int, int]:
    """Scaling factor as (sx, sy)."""
    if isinstance(s, int):
        s = [s, s]
    sx, sy = (int(v) for v in s)
    if sx < 1 or sy < 1:
        raise ValueError(f"upfirdn2d: up/down factors must be >= 1, got {s}")
    return sx, sy


def parse_padding(padding: Padding) -> tuple[int, int, int, int]:
    """Padding as (x0, x1, y0, y1); an int pads all sides, [px, py] pads symmetrically."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    p = [int(v) for v in padding]
    if len(p) == 2:
        return p[0], p[0], p[1], p[1]
    if len(p) == 4:
        return p[0], p[1], p[2], p[3]
    raise ValueError(f"upfirdn2d: padding must be an int, [px, py] or [x0, x1, y0, y1], got {padding}")


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """(width, height) of a filter; None is the 1×1 identity."""
    if f is None:
        return 1, 1
    if f.ndim == 1:
        return int(f.shape[0]), int(f.shape[0])
    if f.ndim == 2:
        return int(f.shape[1]), int(f.shape[0])
    raise ValueError(f"upfirdn2d: filter must be 1-D or 2-D, got shape {tuple(f.shape)}")


def setup_filter(f, device: torch.device | str = "cpu", normalize: bool = True,
                 flip_filter: bool = False, gain: float = 1, separable: bool | None = None) -> torch.Tensor:
    """Make a filter tensor from taps (list, array or tensor).

    A 1-D tap list with fewer than 8 taps becomes its 2-D outer product unless
    ``separable=True`` (this is the layout official checkpoints store, e.g. the 4×4
    ``resample_filter`` of StyleGAN2). The result sums to 1 when ``normalize``, is flipped
    when ``flip_filter`` and carries ``gain`` in total.
    """
    if f is None:
        f = 1
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.ndim == 0:
        f = f[np.newaxis]
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(f"setup_filter: expected a non-empty 1-D or 2-D filter, got shape {tuple(f.shape)}")
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(device=device)


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: int | Sequence[int] = 1,
              down: int | Sequence[int] = 1, padding: Padding = 0, flip_filter: bool = False,
              gain: float = 1, impl: str = "auto") -> torch.Tensor:
    """Upsample, pad, filter and downsample ``x`` [N, C, H, W] (see module docstring)."""
    _check_input(x)
    if resolve_impl("upfirdn2d", impl, x) == "cuda":
        from cuda_ops import _build
        return _build.upfirdn2d_cuda(x, f, up=up, down=down, padding=padding,
                                     flip_filter=flip_filter, gain=gain)
    return upfirdn2d_ref(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain)


def _check_input(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"upfirdn2d: expected x of shape [N, C, H, W], got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")


def _as_separable(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Split a rank-1 2-D filter into (fx, fy) with outer(fy, fx) == f, else None."""
    if f.requires_grad or f.shape[0] < 2 or f.shape[1] < 2:
        return None
    fd = f.detach().double()
    total = fd.sum()
    if total.abs() < 1e-12:
        return None
    fx, fy = fd.sum(0), fd.sum(1) / total
    if not torch.allclose(torch.outer(fy, fx), fd, rtol=1e-6, atol=1e-7 * float(fd.abs().max())):
        return None
    return fx.to(f.dtype), fy.to(f.dtype)


def upfirdn2d_ref(x: torch.Tensor, f: torch.Tensor | None, up: int | Sequence[int] = 1,
                  down: int | Sequence[int] = 1, padding: Padding = 0, flip_filter: bool = False,
                  gain: float = 1) -> torch.Tensor:
    """Plain-PyTorch upfirdn2d (differentiable to any order)."""
    _check_input(x)
    upx, upy = parse_scaling(up)
    downx, downy = parse_scaling(down)
    px0, px1, py0, py1 = parse_padding(padding)
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    f = f.to(x.dtype)
    if f.ndim == 2:
        split = _as_separable(f)
        if split is not None:
            fx, fy = split
            x = _fir_pass(x, fx * gain, dim=3, up=upx, down=downx, pad0=px0, pad1=px1, flip=flip_filter)
            return _fir_pass(x, fy, dim=2, up=upy, down=downy, pad0=py0, pad1=py1, flip=flip_filter)
        return _fir_2d(x, f * gain, (upx, upy), (downx, downy), (px0, px1, py0, py1), flip_filter)
    if f.ndim != 1:
        raise ValueError(f"upfirdn2d: filter must be 1-D or 2-D, got shape {tuple(f.shape)}")
    g = f * (gain ** 0.5)
    x = _fir_pass(x, g, dim=3, up=upx, down=downx, pad0=px0, pad1=px1, flip=flip_filter)
    return _fir_pass(x, g, dim=2, up=upy, down=downy, pad0=py0, pad1=py1, flip=flip_filter)


def _zero_insert(x: torch.Tensor, up: int, dim: int) -> torch.Tensor:
    """Each sample along ``dim`` (2 or 3) followed by ``up - 1`` zeros (length × up)."""
    if up == 1:
        return x
    z = F.pad(x.unsqueeze(dim + 1), [0, up - 1] if dim == 3 else [0, 0, 0, up - 1])
    shape = list(x.shape)
    shape[dim] *= up
    return z.reshape(shape)


def _pad_dim(x: torch.Tensor, p0: int, p1: int, dim: int) -> torch.Tensor:
    """Zero-pad (positive) or crop (negative) along dim 2 or 3."""
    if p0 < 0 or p1 < 0:
        n = x.shape[dim]
        x = x.narrow(dim, max(-p0, 0), n - max(-p0, 0) - max(-p1, 0))
    if p0 > 0 or p1 > 0:
        pads = [max(p0, 0), max(p1, 0)] if dim == 3 else [0, 0, max(p0, 0), max(p1, 0)]
        x = F.pad(x, pads)
    return x


def _fir_pass(x: torch.Tensor, g: torch.Tensor, dim: int, up: int, down: int, pad0: int, pad1: int,
              flip: bool) -> torch.Tensor:
    """One separable pass along ``dim`` (3 = x, 2 = y) as a depthwise strided convolution."""
    if g.numel() == 1 and up == 1 and down == 1 and pad0 == 0 and pad1 == 0:
        return x * g[0] if float(g[0]) != 1 else x
    c = x.shape[1]
    x = _zero_insert(x, up, dim)
    x = _pad_dim(x, pad0, pad1, dim)
    k = g.shape[0]
    if x.shape[dim] < k:
        raise ValueError(f"upfirdn2d: the padded input ({x.shape[dim]} samples) is shorter than the "
                         f"filter ({k} taps); increase the padding")
    w = g if flip else g.flip(0)
    if dim == 3:
        w = w.reshape(1, 1, 1, k).expand(c, 1, 1, k)
        stride = (1, down)
    else:
        w = w.reshape(1, 1, k, 1).expand(c, 1, k, 1)
        stride = (down, 1)
    return F.conv2d(x, w.to(x.dtype), stride=stride, groups=c)


def _fir_2d(x: torch.Tensor, f: torch.Tensor, up: tuple[int, int], down: tuple[int, int],
            pad: tuple[int, int, int, int], flip: bool) -> torch.Tensor:
    """A non-separable 2-D filter, in one depthwise strided convolution."""
    c = x.shape[1]
    x = _zero_insert(x, up[0], 3)
    x = _zero_insert(x, up[1], 2)
    x = _pad_dim(x, pad[0], pad[1], 3)
    x = _pad_dim(x, pad[2], pad[3], 2)
    fh, fw = f.shape
    if x.shape[3] < fw or x.shape[2] < fh:
        raise ValueError(f"upfirdn2d: the padded input {tuple(x.shape[2:])} is smaller than the "
                         f"filter {tuple(f.shape)}; increase the padding")
    w = f if flip else f.flip([0, 1])
    w = w.reshape(1, 1, fh, fw).expand(c, 1, fh, fw)
    return F.conv2d(x, w.to(x.dtype), stride=(down[1], down[0]), groups=c)


def upfirdn2d_direct(x: torch.Tensor, f: torch.Tensor | None, up: int | Sequence[int] = 1,
                     down: int | Sequence[int] = 1, padding: Padding = 0, flip_filter: bool = False,
                     gain: float = 1) -> torch.Tensor:
    """The literal definition, kept as a test oracle and benchmark baseline.

    Zero-inserts, pads, filters every sample at the upsampled rate with the full filter and
    only then drops the samples downsampling discards — the slow way the operation is
    usually written down.
    """
    upx, upy = parse_scaling(up)
    downx, downy = parse_scaling(down)
    px0, px1, py0, py1 = parse_padding(padding)
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    n, c, h, w = x.shape
    z = x.new_zeros([n, c, h * upy, w * upx])
    z[:, :, ::upy, ::upx] = x
    z = _pad_dim(_pad_dim(z, px0, px1, 3), py0, py1, 2)
    f = f.to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 2:
        z = F.conv2d(z, (f * gain)[None, None].repeat(c, 1, 1, 1), groups=c)
    else:
        g = f * gain ** 0.5
        z = F.conv2d(z, g.reshape(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
        z = F.conv2d(z, g.reshape(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return z[:, :, ::downy, ::downx]


def filter2d(x: torch.Tensor, f: torch.Tensor | None, padding: Padding = 0, flip_filter: bool = False,
             gain: float = 1, impl: str = "auto") -> torch.Tensor:
    """Filter ``x`` with ``f``; by default pads so the output has the input's size."""
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    p = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(x: torch.Tensor, f: torch.Tensor | None, up: int | Sequence[int] = 2, padding: Padding = 0,
               flip_filter: bool = False, gain: float = 1, impl: str = "auto") -> torch.Tensor:
    """Upsample by ``up`` with filter ``f``; output is ``in * up`` (plus padding); keeps DC gain."""
    upx, upy = parse_scaling(up)
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    p = [px0 + (fw + upx - 1) // 2, px1 + (fw - upx) // 2,
         py0 + (fh + upy - 1) // 2, py1 + (fh - upy) // 2]
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * upx * upy, impl=impl)


def downsample2d(x: torch.Tensor, f: torch.Tensor | None, down: int | Sequence[int] = 2, padding: Padding = 0,
                 flip_filter: bool = False, gain: float = 1, impl: str = "auto") -> torch.Tensor:
    """Filter with ``f`` and downsample by ``down``; output is ``in / down`` (plus padding)."""
    downx, downy = parse_scaling(down)
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    p = [px0 + (fw - downx + 1) // 2, px1 + (fw - downx) // 2,
         py0 + (fh - downy + 1) // 2, py1 + (fh - downy) // 2]
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)
