"""upfirdn2d: upsample by zero insertion, pad, FIR filter, downsample — and its helpers.

Definition (per image and channel, separately along x and y)::

    z = zero_insert(x, up)              # length in*up: each sample followed by up-1 zeros
    z = pad(z, [p0, p1])                # negative padding crops
    y[j] = gain * sum_k f[k] * z[j + K-1-k]   # true convolution (flip_filter=True: correlation)
    y = y[::down]

so ``out = (in*up + p0 + p1 - K + down) // down``.  A 1-D filter ``f`` is applied separably
along x and y (each pass carries ``sqrt(gain)``); a 2-D filter is applied as a whole.

The reference implementation computes exactly this, but never multiplies an inserted zero
and never computes a sample that downsampling throws away:

* upsampling passes are depthwise *transposed* convolutions with stride ``up`` (polyphase
  filtering: each output phase uses only the taps that meet real samples), cropped to the
  padded window;
* downsampling passes are depthwise convolutions with stride ``down``;
* 1-D filters and rank-1 2-D filters run as two 1-D passes, other 2-D filters as one;
* on the CPU the work runs in channels-last layout (where these depthwise kernels are
  several times faster) and in chunks of channels and samples small enough that every
  intermediate stays in cache and is served from reused memory; the result has the
  memory layout of the input.

``upfirdn2d_direct`` keeps the literal definition (zero insertion, dense filtering at the
full rate, then subsampling) as a test oracle and benchmark baseline.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

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


_SPLIT_CACHE: dict[tuple, tuple] = {}
_SPLIT_CACHE_MAX = 512


def _filter_on(f: torch.Tensor, device, dtype) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
    """(``f`` on ``device`` in ``dtype``, ``_as_separable`` of it), remembered per filter tensor
    while it is unchanged: the separability test reads the filter on the host (three device
    synchronisations), and the models pass the same constant filter buffers on every call."""
    device = torch.device(device)
    if f.requires_grad or f.shape[0] < 2 or f.shape[1] < 2:  # (no host read for these)
        if f.device != device or f.dtype != dtype:
            f = f.to(device=device, dtype=dtype)
        return f, _as_separable(f)
    key = (id(f), device, dtype)
    hit = _SPLIT_CACHE.get(key)
    if hit is not None and hit[0] is f and hit[1] == f._version:
        return hit[2], hit[3]
    fc = f if f.device == device and f.dtype == dtype else f.to(device=device, dtype=dtype)
    split = _as_separable(fc)
    if len(_SPLIT_CACHE) >= _SPLIT_CACHE_MAX:
        _SPLIT_CACHE.clear()
    _SPLIT_CACHE[key] = (f, f._version, fc, split)
    return fc, split


def upfirdn2d_ref(x: torch.Tensor, f: torch.Tensor | None, up: int | Sequence[int] = 1,
                  down: int | Sequence[int] = 1, padding: Padding = 0, flip_filter: bool = False,
                  gain: float = 1) -> torch.Tensor:
    """Plain-PyTorch upfirdn2d (differentiable to any order)."""
    _check_input(x)
    passes = plan_upfirdn2d(f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain,
                            dtype=x.dtype, device=x.device)
    return run_chunked(x, passes, lambda z: run_passes(z, passes))


# ---------------------------------------------------------------------------------------------
# The engine shared with filtered_lrelu: a filter operation is planned as a list of passes
# (1-D along one axis, or 2-D), then run chunk by chunk.
# ---------------------------------------------------------------------------------------------

_CL = torch.channels_last
# CPU chunking: when the largest intermediate of the whole operation exceeds
# SINGLE_CHUNK_ELEMENTS, the work is split so that no chunk's largest intermediate exceeds
# CHUNK_ELEMENTS (at least 16 channels — one AVX-512 vector in channels-last — per chunk).
CHUNK_ELEMENTS = 1 << 19
SINGLE_CHUNK_ELEMENTS = 1 << 22
MIN_CHUNK_CHANNELS = 16


@dataclass(frozen=True)
class AxisPass:
    """upfirdn along one axis (``dim`` 3 = x, 2 = y) with 1-D ``taps`` in the non-flipped
    (true convolution) orientation, the gain already applied."""
    dim: int
    taps: torch.Tensor
    up: int
    down: int
    p0: int
    p1: int

    def out_len(self, n: int) -> int:
        return _out_len(n, self.taps.shape[0], self.up, self.down, self.p0, self.p1)


@dataclass(frozen=True)
class Pass2D:
    """upfirdn with a whole 2-D filter ``taps`` [fh, fw] (true-convolution orientation, gain
    applied); up/down are (x, y), pad is (x0, x1, y0, y1)."""
    taps: torch.Tensor
    up: tuple[int, int]
    down: tuple[int, int]
    pad: tuple[int, int, int, int]

    def out_len(self, n: int, dim: int) -> int:
        a = 0 if dim == 3 else 1
        k = self.taps.shape[1 - a]
        return _out_len(n, k, self.up[a], self.down[a], self.pad[2 * a], self.pad[2 * a + 1])


Pass = AxisPass | Pass2D


def _out_len(n: int, k: int, up: int, down: int, p0: int, p1: int) -> int:
    full = n * up + p0 + p1
    if full < k:
        raise ValueError(f"upfirdn2d: the padded input ({full} samples) is shorter than the filter "
                         f"({k} taps); increase the padding")
    return (full - k + down) // down


def plan_upfirdn2d(f: torch.Tensor | None, up: int | Sequence[int] = 1, down: int | Sequence[int] = 1,
                   padding: Padding = 0, flip_filter: bool = False, gain: float = 1,
                   dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> list[Pass]:
    """The passes that compute ``upfirdn2d(·, f, up, down, padding, flip_filter, gain)``."""
    upx, upy = parse_scaling(up)
    downx, downy = parse_scaling(down)
    px0, px1, py0, py1 = parse_padding(padding)
    if f is None:
        f = torch.ones([1, 1], dtype=dtype, device=device)
    if f.ndim == 2:
        f, split = _filter_on(f, device, dtype)
    elif f.device != torch.device(device) or f.dtype != dtype:
        f = f.to(device=device, dtype=dtype)
    if f.ndim == 2:
        if split is None:
            taps = f.flip([0, 1]) if flip_filter else f
            return [Pass2D(taps * gain, (upx, upy), (downx, downy), (px0, px1, py0, py1))]
        fx, fy = split
        fx = fx * gain
    elif f.ndim == 1:
        fx = fy = f * (gain ** 0.5)
    else:
        raise ValueError(f"upfirdn2d: filter must be 1-D or 2-D, got shape {tuple(f.shape)}")
    if flip_filter:
        fx, fy = fx.flip(0), fy.flip(0)
    return [AxisPass(3, fx, upx, downx, px0, px1), AxisPass(2, fy, upy, downy, py0, py1)]


def passes_out_size(passes: Sequence[Pass], h: int, w: int) -> tuple[int, int, int]:
    """(out_h, out_w, largest intermediate h·w) after running ``passes`` on an h×w image."""
    peak = h * w
    for p in passes:
        if isinstance(p, AxisPass):
            if p.dim == 3:
                w = p.out_len(w)
            else:
                h = p.out_len(h)
            if p.up > 1 and p.down > 1:  # computed at the upsampled rate, then subsampled
                peak = max(peak, h * w * p.down)
        else:
            h1, w1 = p.out_len(h, 2), p.out_len(w, 3)
            if max(p.up) > 1 and max(p.down) > 1:
                peak = max(peak, h1 * w1 * p.down[0] * p.down[1])
            h, w = h1, w1
        peak = max(peak, h * w)
    return h, w, peak


def run_passes(x: torch.Tensor, passes: Sequence[Pass]) -> torch.Tensor:
    for p in passes:
        x = _axis_pass(x, p) if isinstance(p, AxisPass) else _pass_2d(x, p)
    return x


def _depthwise(taps: torch.Tensor, c: int, dim: int | None, dtype: torch.dtype) -> torch.Tensor:
    """Depthwise conv weight [c, 1, kh, kw] (an expanded view) for 1-D taps along ``dim`` or 2-D taps."""
    if dim is None:
        w = taps.reshape(1, 1, *taps.shape)
    elif dim == 3:
        w = taps.reshape(1, 1, 1, -1)
    else:
        w = taps.reshape(1, 1, -1, 1)
    return w.to(dtype).expand(c, 1, *w.shape[2:])


def _axis_pass(x: torch.Tensor, p: AxisPass) -> torch.Tensor:
    k = p.taps.shape[0]
    n = x.shape[p.dim]
    _out_len(n, k, p.up, p.down, p.p0, p.p1)  # validates the size
    c = x.shape[1]
    if p.up == 1:
        if k == 1 and p.down == 1:
            x = _pad_dim(x, p.p0, p.p1, p.dim)
            return x if float(p.taps[0]) == 1 else x * p.taps[0].to(x.dtype)
        x = _pad_dim(x, p.p0, p.p1, p.dim)
        stride = (1, p.down) if p.dim == 3 else (p.down, 1)
        return F.conv2d(x, _depthwise(p.taps.flip(0), c, p.dim, x.dtype), stride=stride, groups=c)
    # Upsampling: the transposed convolution y[t] = sum_i x[i] taps[t - up*i] (length
    # (n-1)*up + k) is the zero-inserted signal convolved with the taps; the wanted window
    # starts at t = k-1-p0 and has n*up + p0 + p1 - k + 1 samples (zeros outside [0, len)).
    full = (n - 1) * p.up + k
    length = n * p.up + p.p0 + p.p1 - k + 1
    c0 = k - 1 - p.p0
    c1 = full - c0 - length
    crop = max(0, min(c0, c1))
    stride = (1, p.up) if p.dim == 3 else (p.up, 1)
    padding = (0, crop) if p.dim == 3 else (crop, 0)
    y = F.conv_transpose2d(x, _depthwise(p.taps, c, p.dim, x.dtype), stride=stride, padding=padding, groups=c)
    y = _pad_dim(y, crop - c0, crop - c1, p.dim)
    if p.down > 1:
        y = y[:, :, :, ::p.down] if p.dim == 3 else y[:, :, ::p.down, :]
    return y


def _pass_2d(x: torch.Tensor, p: Pass2D) -> torch.Tensor:
    fh, fw = p.taps.shape
    (upx, upy), (downx, downy) = p.up, p.down
    px0, px1, py0, py1 = p.pad
    c = x.shape[1]
    _out_len(x.shape[3], fw, upx, downx, px0, px1)
    _out_len(x.shape[2], fh, upy, downy, py0, py1)
    if upx == 1 and upy == 1:
        x = _pad_dim(_pad_dim(x, px0, px1, 3), py0, py1, 2)
        return F.conv2d(x, _depthwise(p.taps.flip([0, 1]), c, None, x.dtype), stride=(downy, downx), groups=c)
    crops = []
    for n, k, up, p0, p1 in ((x.shape[3], fw, upx, px0, px1), (x.shape[2], fh, upy, py0, py1)):
        full = (n - 1) * up + k
        length = n * up + p0 + p1 - k + 1
        c0 = k - 1 - p0
        c1 = full - c0 - length
        crop = max(0, min(c0, c1))
        crops.append((crop, c0, c1))
    (cx, cx0, cx1), (cy, cy0, cy1) = crops
    y = F.conv_transpose2d(x, _depthwise(p.taps, c, None, x.dtype), stride=(upy, upx), padding=(cy, cx), groups=c)
    y = _pad_dim(_pad_dim(y, cx - cx0, cx - cx1, 3), cy - cy0, cy - cy1, 2)
    if downx > 1 or downy > 1:
        y = y[:, :, ::downy, ::downx]
    return y


def _pad_dim(x: torch.Tensor, p0: int, p1: int, dim: int) -> torch.Tensor:
    """Zero-pad (positive) or crop (negative) along dim 2 or 3: the window [-p0, n + p1) of x,
    zeros outside it. A crop on one side may reach past the other end (the window then holds
    only zeros there), which happens for tiny inputs with large upsampling."""
    n = x.shape[dim]
    start, stop = -p0, n + p1
    a, b = max(start, 0), min(stop, n)
    if b <= a:  # the window misses every sample (padding an empty slice keeps x in the graph)
        return F.pad(x.narrow(dim, 0, 0), [max(stop - start, 0), 0] if dim == 3 else [0, 0, max(stop - start, 0), 0])
    if a > 0 or b < n:
        x = x.narrow(dim, a, b - a)
    if a > start or stop > b:
        lo, hi = a - start, stop - b
        x = F.pad(x, [lo, hi] if dim == 3 else [0, 0, lo, hi])
    return x


def output_memory_format(x: torch.Tensor) -> torch.memory_format:
    """Channels-last when ``x`` is stored with channels innermost (and is not NCHW-contiguous),
    else NCHW."""
    if x.is_contiguous():
        return torch.contiguous_format
    if x.is_contiguous(memory_format=_CL) or (x.shape[1] > 1 and x.stride(1) == 1):
        return _CL
    return torch.contiguous_format


def run_chunked(x: torch.Tensor, passes: Sequence[Pass], fn: Callable[[torch.Tensor], torch.Tensor],
                bias: torch.Tensor | None = None, peak_factor: int = 1) -> torch.Tensor:
    """Run ``fn`` (a per-channel operation that ``passes`` describe, shape-wise) on ``x``
    [N, C, H, W] plus the optional per-channel ``bias``.

    On the CPU, ``x`` is split into chunks of samples × channels whose largest intermediate
    has at most ``CHUNK_ELEMENTS`` elements (``peak_factor`` scales the estimate), each
    chunk is made channels-last (adding the bias in the same copy) and the results are
    assembled in the memory format of ``x``. Elsewhere ``fn`` runs once on the whole tensor.
    """
    n, c, h, w = x.shape
    out_h, out_w, peak = passes_out_size(passes, h, w)
    fmt = output_memory_format(x)
    if bias is not None:
        if bias.ndim != 1 or bias.shape[0] != c:
            raise ValueError(f"bias of shape {tuple(bias.shape)} does not match the {c} channels of the input")
        bias = bias.to(x.dtype).reshape(1, -1, 1, 1)
    if x.device.type != "cpu":
        y = fn(x if bias is None else x + bias)
        return y.contiguous(memory_format=fmt)
    per_chan = max(1, peak * peak_factor)
    if n * c * per_chan <= SINGLE_CHUNK_ELEMENTS:
        cg, ng = c, n
    else:
        g = MIN_CHUNK_CHANNELS
        cg = c if c <= g else min(c, max(g, (CHUNK_ELEMENTS // per_chan) // g * g))
        ng = max(1, min(n, CHUNK_ELEMENTS // (per_chan * cg)))

    def chunk(xc: torch.Tensor, bc: torch.Tensor | None) -> torch.Tensor:
        if bc is not None:
            xc = xc.contiguous(memory_format=_CL) + bc
        return fn(xc.contiguous(memory_format=_CL))

    if ng >= n and cg >= c:
        return chunk(x, bias).contiguous(memory_format=fmt)
    grad = torch.is_grad_enabled() and (x.requires_grad or (bias is not None and bias.requires_grad)
                                        or any(p.taps.requires_grad for p in passes))
    if grad:
        # split, not slicing: the backward of one split is one concatenation of the chunks'
        # gradients, where each slice's backward would scatter into a zero tensor of the
        # whole input (chunks × input-size fills and adds — most of a training step).
        biases = [None] * len(range(0, c, cg)) if bias is None else bias.split(cg, dim=1)
        rows = [torch.cat([chunk(xc, bc) for xc, bc in zip(xr.split(cg, dim=1), biases)], dim=1)
                for xr in x.split(ng, dim=0)]
        return torch.cat(rows, dim=0).contiguous(memory_format=fmt)
    out = torch.empty([n, c, out_h, out_w], dtype=x.dtype, device=x.device, memory_format=fmt)
    for n0 in range(0, n, ng):
        for c0 in range(0, c, cg):
            out[n0:n0 + ng, c0:c0 + cg].copy_(chunk(x[n0:n0 + ng, c0:c0 + cg],
                                                    None if bias is None else bias[:, c0:c0 + cg]))
    return out


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
