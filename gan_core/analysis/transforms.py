"""Band-limited image operators of the Alias-Free GAN paper (Karras et al. 2021, Appendix E).

Everything works on ``[N, C, H, W]`` float tensors in pixel-value units (any range) and returns
``(image, mask)``: the transformed image of the same shape and a float mask of the same shape,
1 where the result depends only on pixels inside the input (the "valid region" over which the
equivariance metrics are measured), 0 elsewhere. Translations are in *image units* (1 = the
image width / height, the unit of StyleGAN3's input transform); content moves by ``+t``
(a positive ``tx`` moves content to the right, a positive ``ty`` moves it down). Angles are in
radians here; a positive angle turns content counter-clockwise as displayed (y down).

* ``translate_integer``: shift by ``round(t · size)`` whole pixels, no resampling.
* ``translate_fractional``: separable Lanczos (a = 3) resampling, i.e. windowed-sinc
  interpolation of the band-limited signal the pixels sample.
* ``rotate``: band-limited rotation. The rotated signal must be band-limited both in the input
  orientation and in the output orientation, so the ideal filter is the convolution of the two
  oriented 2-D sinc filters (its spectrum is the intersection of the two squares), windowed by
  the convolution of the two oriented 2-D Lanczos windows; the input is upsampled ×4 with that
  filter and the rotated positions are read from the upsampled image bilinearly.
* ``pseudo_rotate``: filtering with the same band-limiting filter without moving anything; EQ-R
  compares ``rotate(g(z))`` with ``pseudo_rotate(g(rotated z))`` so both have the same band.
* ``untransform``: undo a StyleGAN3 user transform (translate / rotate) on a generator output.
"""
from __future__ import annotations

import functools
import math
from typing import Sequence

import torch
import torch.nn.functional as F


def _check_images(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected images of shape [N, C, H, W], got {got}")


def lanczos(s: torch.Tensor, a: int = 3) -> torch.Tensor:
    """Lanczos kernel ``sinc(s) · sinc(s / a)`` for ``|s| < a``, 0 outside (normalized sinc)."""
    return torch.where(s.abs() < a, torch.sinc(s) * torch.sinc(s / a), torch.zeros_like(s))


def lanczos_window(s: torch.Tensor, a: int = 3) -> torch.Tensor:
    """The Lanczos window alone: ``sinc(s / a)`` for ``|s| < a``, 0 outside."""
    return torch.where(s.abs() < a, torch.sinc(s / a), torch.zeros_like(s))


# --------------------------------------------------------------------------------------------
# Translation
# --------------------------------------------------------------------------------------------

def translate_integer(x: torch.Tensor, tx: float, ty: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift ``x`` [N, C, H, W] by ``(round(tx·W), round(ty·H))`` pixels; vacated pixels are 0.

    Returns ``(shifted, mask)``, mask 1 where the shifted image has content."""
    _check_images(x)
    H, W = x.shape[-2:]
    dx, dy = int(round(float(tx) * W)), int(round(float(ty) * H))
    out = torch.zeros_like(x)
    mask = torch.zeros_like(x)
    if abs(dx) < W and abs(dy) < H:
        src_y, dst_y = slice(max(-dy, 0), H - max(dy, 0)), slice(max(dy, 0), H - max(-dy, 0))
        src_x, dst_x = slice(max(-dx, 0), W - max(dx, 0)), slice(max(dx, 0), W - max(-dx, 0))
        out[..., dst_y, dst_x] = x[..., src_y, src_x]
        mask[..., dst_y, dst_x] = 1
    return out, mask


def lanczos_shift_matrix(n: int, shift_px: float, a: int = 3, dtype=torch.float32,
                         device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The [n, n] matrix ``R`` with ``(R @ v)[p] ≈ v(p − shift_px)`` (Lanczos-a interpolation,
    taps normalized to sum 1; samples outside the signal count as 0), and the [n] validity
    vector (1 where all 2a taps fall inside the signal)."""
    shift = torch.tensor(float(shift_px), dtype=torch.float64)
    whole = math.floor(float(shift_px))
    frac = shift - whole
    taps = torch.arange(-(a - 1), a + 1, dtype=torch.float64)            # k = p - whole - j
    norm = lanczos(taps - frac, a).sum()
    p = torch.arange(n, dtype=torch.float64)
    k = p[:, None] - whole - p[None, :]                                  # [p, j]
    R = torch.where((k >= -(a - 1)) & (k <= a), lanczos(k - frac, a), torch.zeros(()))
    R = R / norm
    valid = ((p >= whole + a) & (p < n + whole - (a - 1))).to(dtype)
    return R.to(dtype=dtype, device=device), valid.to(device=device)


def translate_fractional(x: torch.Tensor, tx: float, ty: float, a: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Band-limited shift of ``x`` [N, C, H, W] by ``(tx·W, ty·H)`` pixels (any real values):
    separable Lanczos-``a`` resampling. Returns ``(shifted, mask)``; the mask excludes every
    pixel whose taps reach outside the input."""
    _check_images(x)
    H, W = x.shape[-2:]
    Rx, vx = lanczos_shift_matrix(W, float(tx) * W, a, x.dtype, x.device)
    Ry, vy = lanczos_shift_matrix(H, float(ty) * H, a, x.dtype, x.device)
    out = Ry @ x @ Rx.T
    mask = (vy[:, None] * vx[None, :]).expand_as(x).contiguous()
    return out, mask


# --------------------------------------------------------------------------------------------
# Rotation (and any other linear map of the plane)
# --------------------------------------------------------------------------------------------

def rotation_2x2(angle: float) -> torch.Tensor:
    """``[[cos, -sin], [sin, cos]]`` (float64) acting on (x, y) pixel offsets; with y pointing
    down a positive angle turns points clockwise as displayed (``rotate`` uses ``-angle``)."""
    c, s = math.cos(float(angle)), math.sin(float(angle))
    return torch.tensor([[c, -s], [s, c]], dtype=torch.float64)


def bandlimit_filter(mat: torch.Tensor, a: int = 3, radius: int = 6, up: int = 4,
                     design_radius: int = 64) -> torch.Tensor:
    """The 2-D filter that band-limits to the intersection of the input pixel grid's band and the
    band of the grid mapped by ``mat`` (2×2), sampled every ``1/up`` pixel.

    The ideal part is the convolution of ``sinc(x)·sinc(y)`` (input axes) with the same in the
    axes ``mat`` maps to, taken as a circular convolution on a square grid of half-width
    ``design_radius`` pixels (the sinc tails are cut there); the window is the convolution of the
    two correspondingly oriented 2-D Lanczos-``a`` windows (compact, so computed directly). The
    product is cut to ``|x|, |y| < radius`` and normalized so that each of the ``up²`` sub-pixel
    phases sums to 1 (a flat image stays flat). Returns ``[2·radius·up − 1]²`` float32, centred
    (odd size, centre tap at offset 0)."""
    mat = torch.as_tensor(mat, dtype=torch.float64)[:2, :2]
    k = radius * up - 1                                                 # taps -k..k around the centre
    n = 2 * design_radius * up - 1
    # Ideal part: circular convolution on the n-point grid through the DFT. The input-axes sinc is
    # separable, so its 2-D DFT is an outer product of 1-D DFTs; only the central (2k+1)² taps are
    # needed, so the inverse DFT is evaluated at those offsets only.
    # (float32 here, as the published metric's filters are: 4× faster, and the taps agree to ~1e-6.)
    idx = torch.arange(n, dtype=torch.float64)
    pos = torch.where(idx <= (n - 1) // 2, idx, idx - n) / up           # FFT order: offset 0 at index 0
    pos32 = pos.to(torch.float32)
    yi, xi = torch.meshgrid(pos32, pos32, indexing="ij")
    m32 = mat.to(torch.float32)
    xo = m32[0, 0] * xi + m32[0, 1] * yi
    yo = m32[1, 0] * xi + m32[1, 1] * yi
    s1 = torch.fft.fft(torch.sinc(pos32))
    spec = (s1[:, None] * s1[None, :]) * torch.fft.fft2(torch.sinc(xo) * torch.sinc(yo))
    offs = torch.arange(-k, k + 1, dtype=torch.float64)
    # [2k+1, n] partial inverse DFT; the phase (offset·index mod n) is reduced exactly in integers.
    e = torch.exp(2j * math.pi * ((offs[:, None] * idx[None, :]) % n) / n).to(torch.complex64)
    ideal = (e @ spec @ e.T).real.to(torch.float64) / (n * n)
    # Window part: both windows have compact support, so a direct (linear) convolution is exact.
    ji = torch.arange(-(a * up), a * up + 1, dtype=torch.float64) / up
    wi = lanczos_window(ji, a)[:, None] * lanczos_window(ji, a)[None, :]
    reach = int(math.ceil(a * up * float(torch.linalg.inv(mat).abs().sum(1).max()))) + 1
    jo = torch.arange(-reach, reach + 1, dtype=torch.float64) / up
    yy, xx = torch.meshgrid(jo, jo, indexing="ij")
    wo = lanczos_window(mat[0, 0] * xx + mat[0, 1] * yy, a) * lanczos_window(mat[1, 0] * xx + mat[1, 1] * yy, a)
    full = F.conv2d(wo[None, None], wi.flip(0, 1)[None, None], padding=wi.shape[0] - 1)[0, 0]
    c = (full.shape[0] - 1) // 2
    if c >= k:
        window = full[c - k:c + k + 1, c - k:c + k + 1]
    else:
        window = F.pad(full, [k - c] * 4)
    f = ideal * window
    # Normalize every sub-pixel phase (taps whose offsets share the same fractional part).
    phase = (torch.arange(2 * k + 1) - k) % up
    out = torch.empty_like(f)
    for py in range(up):
        for px in range(up):
            sel = (phase[:, None] == py) & (phase[None, :] == px)
            out[sel] = f[sel] / f[sel].sum()
    return out.to(torch.float32)


@functools.lru_cache(maxsize=32)
def _cached_filter(mat: tuple[float, ...], a: int, radius: int, up: int) -> torch.Tensor:
    """``bandlimit_filter`` memoized on its arguments (the app re-uses angles while animating)."""
    return bandlimit_filter(torch.tensor(mat, dtype=torch.float64).reshape(2, 2), a=a, radius=radius, up=up)


def warp_bandlimited(x: torch.Tensor, mat: torch.Tensor, shift: Sequence[float] = (0.0, 0.0), a: int = 3,
                     up: int = 4, radius: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Move the content of ``x`` [N, C, H, W] by ``q ↦ mat (q − c) + c + shift`` (``c`` the image
    centre, ``mat`` 2×2 acting on (x, y) pixel offsets with y down, ``shift`` in pixels), i.e.
    output pixel ``p`` shows the input at ``mat⁻¹ (p − c − shift) + c``: band-limited upsampling
    ×``up`` with ``bandlimit_filter(mat)``, then bilinear reads.
    Returns ``(warped, mask)``; the mask keeps pixels read from samples whose filter support
    lies inside the input (nearest upsampled sample decides)."""
    _check_images(x)
    radius = 2 * a if radius is None else radius
    N, C, H, W = x.shape
    mat = torch.as_tensor(mat, dtype=torch.float64)[:2, :2]
    f = _cached_filter(tuple(mat.flatten().tolist()), a, radius, up).to(device=x.device, dtype=x.dtype)
    k = (f.shape[0] - 1) // 2                                            # centre tap index
    # Upsample: y[i] = sum_j x[j] f[i - up*j], so y index i sits at input position (i - k) / up.
    weight = f[None, None].expand(C, 1, -1, -1)
    y = F.conv_transpose2d(x, weight, stride=up, groups=C)
    Hy, Wy = y.shape[-2:]
    inv = torch.linalg.inv(mat)
    py, px = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64),
                            indexing="ij")
    cx, cy = (W - 1) / 2, (H - 1) / 2
    qx, qy = px - cx - float(shift[0]), py - cy - float(shift[1])
    ux = inv[0, 0] * qx + inv[0, 1] * qy + cx                            # input positions
    uy = inv[1, 0] * qx + inv[1, 1] * qy + cy
    iy, ix = uy * up + k, ux * up + k                                    # upsampled indices
    grid = torch.stack([2 * ix / (Wy - 1) - 1, 2 * iy / (Hy - 1) - 1], dim=-1)
    grid = grid.to(device=x.device, dtype=x.dtype)[None].expand(N, -1, -1, -1)
    out = F.grid_sample(y, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    # Valid upsampled samples: the filter support falls on input pixels. The range is that of
    # the official metric (one upsampled sample more on the low side than on the high side), so
    # that EQ-R averages over the same pixels as the published numbers.
    jy, jx = torch.round(iy), torch.round(ix)
    lo, hi_y, hi_x = 2 * k - 1, Hy - 1 - 2 * k, Wy - 1 - 2 * k
    valid = (jy >= lo) & (jy <= hi_y) & (jx >= lo) & (jx <= hi_x)
    mask = valid.to(device=x.device, dtype=x.dtype)[None, None].expand(N, C, -1, -1).contiguous()
    return out, mask


def rotate(x: torch.Tensor, angle: float, a: int = 3, up: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Band-limited rotation of ``x`` [N, C, H, W] about the image centre by ``angle`` radians
    (positive: counter-clockwise as displayed, y down). Returns ``(rotated, mask)``."""
    return warp_bandlimited(x, rotation_2x2(-angle), a=a, up=up)


def pseudo_rotate(x: torch.Tensor, angle: float, a: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Filter ``x`` [N, C, H, W] (nothing moves) with the band limit that ``rotate(·, angle)``
    imposes, so that an image generated already rotated can be compared with ``rotate(g)``.
    Returns ``(filtered, mask)``; the mask drops the border the filter reaches past."""
    _check_images(x)
    C = x.shape[1]
    mat = rotation_2x2(angle)
    f = _cached_filter(tuple(mat.flatten().tolist()), a, 2 * a, 1).to(device=x.device, dtype=x.dtype)
    k = (f.shape[0] - 1) // 2
    out = F.conv2d(x, f[None, None].expand(C, 1, -1, -1), padding=k, groups=C)
    mask = torch.zeros_like(x)
    mask[..., k:x.shape[-2] - k, k:x.shape[-1] - k] = 1
    return out, mask


# --------------------------------------------------------------------------------------------
# Undoing a StyleGAN3 input transform
# --------------------------------------------------------------------------------------------

def user_matrix_content_motion(user_matrix) -> tuple[torch.Tensor, tuple[float, float]]:
    """How a StyleGAN3 user transform ``[[cos a, sin a, tx], [-sin a, cos a, ty], [0, 0, 1]]``
    moves an equivariant generator's content, in pixel-free terms: ``(A, t)`` with content at
    ``q`` (image units, origin at the centre, y down) showing up at ``A q + t``."""
    m = torch.as_tensor(user_matrix, dtype=torch.float64).detach().cpu()
    if m.shape != (3, 3):
        raise ValueError(f"expected a 3×3 user transform matrix, got shape {tuple(m.shape)}")
    return m[:2, :2].clone(), (float(m[0, 2]), float(m[1, 2]))


def untransform(img: torch.Tensor, translate: Sequence[float] = (0.0, 0.0), rotate_deg: float = 0.0,
                user_matrix=None, a: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Warp a StyleGAN3 output made with the input transform (``translate`` in image units,
    ``rotate_deg`` in degrees — or an explicit 3×3 ``user_matrix``) back by the inverse motion,
    with band-limited resampling, so a perfectly equivariant generator gives back the untransformed
    image. ``img`` [N, C, H, W] float; returns ``(image, mask)`` (mask: valid pixels).

    A pure translation uses the separable Lanczos shift; anything with rotation uses
    ``warp_bandlimited``."""
    _check_images(img)
    if user_matrix is None:
        from gan_core.models.stylegan3 import user_transform_matrix
        user_matrix = user_transform_matrix(translate, rotate_deg)
    A, (tx, ty) = user_matrix_content_motion(user_matrix)
    H, W = img.shape[-2:]
    if torch.allclose(A, torch.eye(2, dtype=torch.float64), atol=1e-12, rtol=0):
        return translate_fractional(img, -tx, -ty, a=a)
    A_inv = torch.linalg.inv(A)
    back = A_inv @ torch.tensor([tx * W, ty * H], dtype=torch.float64)
    return warp_bandlimited(img, A_inv, shift=(-float(back[0]), -float(back[1])), a=a)
