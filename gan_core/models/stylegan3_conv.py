"""Style-modulated convolution for StyleGAN3 layers, with a Winograd fast path on the CPU.

``modulated_conv2d`` is the definition (any device, differentiable to any order).
``ModulatedConv2d`` caches per-weight data and, for 3×3 kernels on larger CPU inputs
without autograd, runs the convolution with Winograd's minimal filtering algorithm
F(m×m, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): an
m×m output tile is ``Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`` for the (m+2)×(m+2) input tile d and the
3×3 kernel g, so the multiply-adds per output pixel and channel pair drop from 9 to
(m+2)²/m² (4 for m=2, 2.25 for m=4); the channel sums become (m+2)² batched matrix products.

The transform matrices come from the Toom-Cook construction below. F(4×4, 3×3) uses the
interpolation points 0, ±1, 1/2, -2 (better conditioned than the textbook 0, ±1, ±2): its
float32 result differs from a direct convolution by a few 1e-6 relative to the output's
range, a few times the direct convolution's own rounding error; F(2×2, 3×3) is as accurate
as the direct convolution. ``WINOGRAD_TILE`` selects m (0 disables the fast path).
"""
from __future__ import annotations

import functools
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F

# Output tile size m of the CPU fast path: 4 (fastest), 2 (as exact as direct), 0 (off).
WINOGRAD_TILE = 4
# Use it (CPU, float32, no autograd) when the output has at least this many pixels and both
# channel counts reach WINOGRAD_MIN_CHANNELS: below that, the memory-bound transforms cost
# more than the multiply-adds saved (measured on an AVX-512 CPU).
WINOGRAD_MIN_PIXELS = 32 * 32
WINOGRAD_MIN_CHANNELS = 160
# Tile rows per chunk: bounds the transformed input/output ((m+2)² × rows × tiles × channels).
WINOGRAD_CHUNK_ELEMENTS = 1 << 22
# Toom-Cook interpolation points (plus the point at infinity) per tile size.
_POINTS = {2: (0, 1, -1), 4: (0, 1, -1, 0.5, -2)}


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, padding: int,
                     demodulate: bool, input_gain: torch.Tensor | None = None) -> torch.Tensor:
    """Style-modulated convolution. x [N, I, H, W], weight [O, I, k, k], styles [N, I].

    The effective per-sample weight is ``weight[o, i] · styles[n, i]``, divided by its L2
    norm over (i, k, k) when ``demodulate``, times ``input_gain``. For numerical range the
    weight and the styles are first divided by their RMS (per output channel and per
    sample), which demodulation makes a no-op mathematically.

    For a single sample the modulation and demodulation are folded into the weight (one
    plain convolution); for a batch it runs as ``conv(x · styles · gain, weight) · dcoef``,
    one batched convolution with the shared weight instead of N per-sample weights (faster
    on the CPU than N grouped or per-sample products). The memory layout of ``x``
    (channels-last is fastest on the CPU) is kept.
    """
    w, s, dcoefs = _modulation(weight, styles, demodulate, input_gain, x.dtype)
    n, i = s.shape
    o = w.shape[0]
    if n == 1:
        wf = w * s.view(1, i, 1, 1)
        if dcoefs is not None:
            wf = wf * dcoefs.view(o, 1, 1, 1)
        return F.conv2d(x, wf, padding=padding)
    y = F.conv2d(x * s.view(n, i, 1, 1), w, padding=padding)
    if dcoefs is not None:
        y = y.mul_(dcoefs.view(n, o, 1, 1)) if not _needs_grad(y) else y * dcoefs.view(n, o, 1, 1)
    return y


def _needs_grad(t: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and t.requires_grad


def _modulation(weight: torch.Tensor, styles: torch.Tensor, demodulate: bool, input_gain: torch.Tensor | None,
                dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(normalized weight [O, I, k, k], input scale [N, I], output scale [N, O] or None), computed
    in float32 (sums of squares could overflow float16) and returned in ``dtype``."""
    w = weight.float()
    s = styles.float()
    dcoefs = None
    if demodulate:
        w = _normalize_weight(w)
        s = s * s.square().mean(dim=1, keepdim=True).rsqrt()
        # ||w[o] * s[n]||² = Σ_i s[n,i]² Σ_kk w[o,i,kk]²
        dcoefs = (s.square() @ w.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()   # [N, O]
    if input_gain is not None:  # applied after demodulation: it rescales the input only
        s = s * input_gain.float()
    return w.to(dtype), s.to(dtype), None if dcoefs is None else dcoefs.to(dtype)


def _normalize_weight(w: torch.Tensor) -> torch.Tensor:
    return w * w.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()


class ModulatedConv2d:
    """Per-layer helper that caches the Winograd-transformed weight between calls.

    Not an ``nn.Module`` (it owns no parameters): the layer passes its ``weight`` each call;
    the cache is keyed on the tensor's identity and version counter, so an optimizer step or
    ``load_state_dict`` invalidates it. It holds (m+2)²/9 times the weight's size (4× for m=4).
    """

    def __init__(self) -> None:
        self._cache: tuple[tuple, torch.Tensor] | None = None  # (key, transformed weight)

    @property
    def _u(self) -> torch.Tensor | None:
        return None if self._cache is None else self._cache[1]

    def clear(self) -> None:
        """Drop the cached transform (it is rebuilt on the next fast-path call)."""
        self._cache = None

    def __getstate__(self) -> dict:  # copies and pickles never carry the cache
        return {"_cache": None}

    def __call__(self, x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, padding: int,
                 demodulate: bool, input_gain: torch.Tensor | None = None) -> torch.Tensor:
        m = WINOGRAD_TILE
        if not self._use_winograd(x, weight, styles, padding, m):
            return modulated_conv2d(x, weight, styles, padding, demodulate, input_gain)
        u = self._transformed_weight(weight, demodulate, m)
        _, s, dcoefs = _modulation(weight.detach(), styles, demodulate, input_gain, x.dtype)
        n, _, h, w = x.shape
        ho, wo = h + 2 * padding - 2, w + 2 * padding - 2
        # Whole tiles for every sample; the result is a view of the wanted part (channels
        # innermost, so it acts as channels-last).
        out = x.new_empty([n, -(-ho // m) * m, -(-wo // m) * m, weight.shape[0]])
        for k in range(n):
            scale = s[k].view(1, -1, 1)
            if dcoefs is not None:
                scale = scale * dcoefs[k].view(1, 1, -1)
            winograd_conv3x3(x[k:k + 1], u * scale, padding, m, out=out[k])
        return out[:, :ho, :wo].permute(0, 3, 1, 2)

    @staticmethod
    def _use_winograd(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, padding: int, m: int) -> bool:
        if m not in _POINTS or x.device.type != "cpu" or x.dtype != torch.float32 or weight.shape[2:] != (3, 3):
            return False
        if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad or styles.requires_grad):
            return False
        if min(weight.shape[0], weight.shape[1]) < WINOGRAD_MIN_CHANNELS or not 0 <= padding <= 2:
            return False
        ho, wo = x.shape[2] + 2 * padding - 2, x.shape[3] + 2 * padding - 2
        return ho * wo >= WINOGRAD_MIN_PIXELS

    def _transformed_weight(self, weight: torch.Tensor, demodulate: bool, m: int) -> torch.Tensor:
        key = (id(weight), weight.data_ptr(), weight._version, weight.dtype, weight.device, demodulate, m)
        cache = self._cache
        if cache is not None and cache[0] == key:
            return cache[1]
        with torch.no_grad():
            w = weight.detach().float()
            if demodulate:
                w = _normalize_weight(w)
            u = winograd_weight(w, m)
        self._cache = (key, u)  # one atomic swap: readers never pair a key with another weight
        return u


@functools.lru_cache(maxsize=None)
def winograd_matrices(m: int, r: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Aᵀ [m, a], G [a, r], Bᵀ [a, a]) of F(m, r), a = m + r - 1, float64, by Toom-Cook.

    With finite points p_0..p_{a-2} and infinity: Aᵀ[i, j] = p_j^i, G[j, k] = p_j^k / Π_{l≠j}(p_j - p_l)
    (the point at infinity contributes the last column of Aᵀ and row of G); Bᵀ is the unique
    solution of Σ_j Aᵀ[i, j] G[j, k] Bᵀ[j, l] = [l == i + k], i.e. the 1-D identity
    y_i = Σ_k g_k d_{i+k} = Σ_j Aᵀ[i, j] (G g)_j (Bᵀ d)_j for every g and d.
    """
    points = [Fraction(p).limit_denominator(1000) for p in _POINTS[m]]
    a = m + r - 1
    if len(points) != a - 1:
        raise ValueError(f"F({m}, {r}) needs {a - 1} finite points")
    at = np.zeros([m, a])
    g = np.zeros([a, r])
    for j, p in enumerate(points):
        denom = Fraction(1)
        for q in points:
            if q != p:
                denom *= p - q
        at[:, j] = [float(p ** i) for i in range(m)]
        g[j] = [float(p ** k / denom) for k in range(r)]
    at[m - 1, a - 1] = 1
    g[a - 1, r - 1] = 1
    # Linear system for Bᵀ: one equation per (i, k, l), unknowns Bᵀ[j, l].
    eqs = np.zeros([m, r, a, a, a])
    for i in range(m):
        for k in range(r):
            for l in range(a):
                eqs[i, k, l, :, l] = at[i] * g[:, k]
    rhs = np.zeros([m, r, a])
    for i in range(m):
        for k in range(r):
            rhs[i, k, i + k] = 1
    bt = np.linalg.lstsq(eqs.reshape(m * r * a, a * a), rhs.reshape(-1), rcond=None)[0].reshape(a, a)
    return at, g, bt


def winograd_weight(w: torch.Tensor, m: int = WINOGRAD_TILE) -> torch.Tensor:
    """3×3 kernels [O, I, 3, 3] → ``G g Gᵀ`` as [(m+2)², I, O] (index = column·(m+2) + row)."""
    o, i = w.shape[:2]
    a = m + 2
    g = torch.from_numpy(winograd_matrices(m)[1]).to(device=w.device, dtype=w.dtype)
    t = w.reshape(o * i * 3, 3) @ g.t()                                        # g Gᵀ: [O·I·3 (row), a (col)]
    u = t.view(o * i, 3, a).transpose(1, 2).reshape(o * i * a, 3) @ g.t()    # G g Gᵀ: [O·I, a (col), a (row)]
    return u.view(o, i, a * a).permute(2, 1, 0).contiguous()


def winograd_conv3x3(x: torch.Tensor, u: torch.Tensor, padding: int, m: int = WINOGRAD_TILE,
                     out: torch.Tensor | None = None) -> torch.Tensor:
    """Correlation of x [1, I, H, W] with the 3×3 kernels whose transform is ``u`` [(m+2)², I, O]
    (``winograd_weight``), zero padding ``padding`` (0..2) on every side →
    [1, O, H + 2p - 2, W + 2p - 2], channels-last.

    ``out``: optional buffer [m·⌈Ho/m⌉, m·⌈Wo/m⌉, O] (whole tiles) to write into."""
    _, ci, h, w = x.shape
    co = u.shape[2]
    a = m + 2
    at_np, _, bt_np = winograd_matrices(m)
    at = torch.from_numpy(at_np).to(x)
    bt = torch.from_numpy(bt_np).to(x)
    ho, wo = h + 2 * padding - 2, w + 2 * padding - 2
    th, tw = -(-ho // m), -(-wo // m)
    # Zero-padded input [m·th + 2, m·tw + 2, I], channels innermost (only the frame is zeroed).
    p = x.new_empty([m * th + 2, m * tw + 2, ci])
    p[:padding].zero_()
    p[padding + h:].zero_()
    p[padding:padding + h, :padding].zero_()
    p[padding:padding + h, padding + w:].zero_()
    p[padding:padding + h, padding:padding + w] = x[0].permute(1, 2, 0)
    if out is None:
        out = x.new_empty([m * th, m * tw, co])
    elif out.shape != (m * th, m * tw, co):
        raise ValueError(f"winograd_conv3x3: out must have shape {(m * th, m * tw, co)}, got {tuple(out.shape)}")
    rows = max(1, min(th, WINOGRAD_CHUNK_ELEMENTS // (a * a * tw * max(ci, co))))
    for t0 in range(0, th, rows):
        r = min(rows, th - t0)
        pc = p[m * t0:m * (t0 + r) + 2]
        # Input transform Bᵀ d B: the a tile rows, then the a tile columns, as small products.
        rows_in = torch.stack([pc[i:i + m * r:m] for i in range(a)])              # [a, r, W', I]
        e = (bt @ rows_in.view(a, -1)).view(a, r, -1, ci)
        cols_in = torch.stack([e[:, :, j:j + m * tw:m] for j in range(a)])         # [a (col), a (row), r, tw, I]
        v = (bt @ cols_in.view(a, -1)).view(a * a, r * tw, ci)
        mm = torch.bmm(v, u)                                                       # [a·a, r·tw, O]
        # Output transform Aᵀ M A, then interleave the m×m tiles into the image rows.
        z = torch.matmul(at, mm.view(a, a, -1))                                    # [a (col), m (row), ...]
        y = (at @ z.view(a, -1)).view(m, m, r, tw, co)                             # [m (col), m (row), r, tw, O]
        out[m * t0:m * (t0 + r)] = y.permute(2, 1, 3, 0, 4).reshape(m * r, m * tw, co)
    return out[:ho, :wo].permute(2, 0, 1).unsqueeze(0)
