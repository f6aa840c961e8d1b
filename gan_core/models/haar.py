"""Single-level 2-D Haar (db1) wavelet transform and its inverse, in plain PyTorch.

Band layout (the convention of MobileStyleGAN's checkpoints, which use the separable db1
synthesis filters ``g0 = [1, 1]/√2``, ``g1 = [1, -1]/√2`` along height, then width):

* ``low``  ``[N, C, H, W]``: LL, low-pass along both axes;
* ``high`` ``[N, C, 3, H, W]``: band 0 high-pass along the height (rows), band 1 high-pass
  along the width (columns), band 2 high-pass along both.

With ``s_0 = +1, s_1 = -1`` the inverse is, for the output pixel ``(2i + a, 2j + b)``::

    y = ½ (LL + s_a·B0 + s_b·B1 + s_a·s_b·B2)

and the forward transform is its transpose (the transform is orthonormal, so
``idwt(*dwt(x)) == x`` up to float rounding). The forward transform is ``pixel_unshuffle`` and
additions, the inverse one grouped transposed 2×2 convolution; no external wavelet package.

Multichannel wavelet images (the ``to_img`` outputs of MobileStyleGAN) pack an RGB image's
transform into ``4 · C`` channels: ``[LL (C channels), then for each colour its 3 bands]``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def dwt(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` [N, C, 2H, 2W] -> (low [N, C, H, W], high [N, C, 3, H, W])."""
    if x.ndim != 4 or x.shape[-1] % 2 or x.shape[-2] % 2:
        raise ValueError(f"dwt: expected [N, C, H, W] with even H and W; got {tuple(x.shape)}")
    n, c, h2, w2 = x.shape
    p = F.pixel_unshuffle(x, 2).view(n, c, 4, h2 // 2, w2 // 2)
    x00, x01, x10, x11 = p.unbind(2)  # (row offset a, column offset b)
    s0, d0 = x00 + x01, x00 - x01
    s1, d1 = x10 + x11, x10 - x11
    low = 0.5 * (s0 + s1)
    high = torch.stack([0.5 * (s0 - s1), 0.5 * (d0 + d1), 0.5 * (d0 - d1)], dim=2)
    return low, high


def idwt(low: torch.Tensor, high: torch.Tensor, kernel: torch.Tensor | None = None) -> torch.Tensor:
    """(low [N, C, H, W], high [N, C, 3, H, W]) -> [N, C, 2H, 2W]. ``kernel``: the
    :func:`idwt_kernel` for C channels, when the caller keeps one (a constant for exporters)."""
    if low.ndim != 4 or high.ndim != 5 or high.shape[2] != 3 or high.shape[:2] != low.shape[:2] \
            or high.shape[3:] != low.shape[2:]:
        raise ValueError(f"idwt: expected low [N, C, H, W] and high [N, C, 3, H, W]; got {tuple(low.shape)} "
                         f"and {tuple(high.shape)}")
    n, c, h, w = low.shape
    # one grouped transposed convolution (stride 2, 2×2): per output channel the four bands
    # [LL, B0, B1, B2] with kernels ½·(1, s_a, s_b, s_a·s_b) — faster on CPUs than pixel_shuffle
    x = torch.cat([low.unsqueeze(2), high], dim=2).reshape(n, 4 * c, h, w)
    if kernel is None:
        kernel = idwt_kernel(c, low.dtype, low.device)
    return F.conv_transpose2d(x, kernel.to(low.dtype), stride=2, groups=c)


_SIGNS = ((1.0, 1.0, 1.0, 1.0), (1.0, 1.0, -1.0, -1.0), (1.0, -1.0, 1.0, -1.0), (1.0, -1.0, -1.0, 1.0))


def idwt_kernel(channels: int, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """[4C, 1, 2, 2]: for each channel the LL, B0, B1, B2 synthesis kernels (row a, column b)."""
    k = 0.5 * torch.tensor(_SIGNS, dtype=dtype, device=device).view(4, 1, 2, 2)
    return k.repeat(channels, 1, 1, 1)


def pack(low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """(low [N, C, H, W], high [N, C, 3, H, W]) -> multichannel wavelet image [N, 4C, H, W]."""
    n, c, h, w = low.shape
    return torch.cat([low, high.reshape(n, 3 * c, h, w)], dim=1)


def unpack(x: torch.Tensor, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Multichannel wavelet image [N, 4C, H, W] -> (low [N, C, H, W], high [N, C, 3, H, W])."""
    n, c4, h, w = x.shape
    if c4 != 4 * channels:
        raise ValueError(f"expected a wavelet image with {4 * channels} channels; got {c4}")
    return x[:, :channels], x[:, channels:].reshape(n, channels, 3, h, w)


def image_to_wavelets(img: torch.Tensor) -> torch.Tensor:
    """Image [N, C, 2H, 2W] -> multichannel wavelet image [N, 4C, H, W]."""
    return pack(*dwt(img))


def wavelets_to_image(freq: torch.Tensor, channels: int = 3, kernel: torch.Tensor | None = None) -> torch.Tensor:
    """Multichannel wavelet image [N, 4C, H, W] -> image [N, C, 2H, 2W]."""
    return idwt(*unpack(freq, channels), kernel=kernel)


class WaveletsToImage(nn.Module):
    """Module form of :func:`wavelets_to_image` (so the final image is a hookable layer)."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        self.channels = channels
        self.register_buffer("kernel", idwt_kernel(channels), persistent=False)

    def forward(self, freq: torch.Tensor) -> torch.Tensor:
        return wavelets_to_image(freq, self.channels, self.kernel)

    def extra_repr(self) -> str:
        return f"channels={self.channels}"
