"""Power spectra of images and feature maps (the spectral analysis of the Alias-Free GAN paper).

Average power spectrum of a set of images (``SpectrumAccumulator``), as the paper's spectrum
figures compute it: pixel values whitened with one mean and std, each image multiplied by a 2-D
Kaiser window (β = 8, scaled to unit energy), zero-padded to ``interp`` × the size,
``|FFT|²`` averaged over channels and images. Layout: ``[R·interp, R·interp]`` float64 with the
DC term at ``[0, 0]`` (``centered`` moves it to the middle); frequency bin ``k`` is
``k / (R·interp)`` cycles per pixel.

For the layer inspector: ``log_power_spectrum`` (one image or feature map, mean removed, Kaiser
window with adjustable β, in dB, centred) and ``radial_profile`` (radially averaged spectrum).
"""
from __future__ import annotations

import math

import numpy as np
import torch


def kaiser_window_2d(size: int, beta: float = 8.0, dtype=torch.float64) -> torch.Tensor:
    """Separable 2-D Kaiser window ``[size, size]`` scaled to unit energy (Σ w² = 1)."""
    w = torch.from_numpy(np.kaiser(int(size), float(beta))).to(dtype)
    w2 = torch.outer(w, w)
    return w2 / w2.square().sum().sqrt()


class SpectrumAccumulator:
    """Accumulates what the average power spectrum of a stream of images needs, in one pass,
    so that the whitening (mean, std) can be chosen after seeing all sources.

    ``add(images)`` takes ``[N, C, R, R]`` float pixel values (0..255 for comparability with the
    paper). Because whitening is affine, ``|FFT(w·(x − m)/s)|² = (|X|² − 2m·Re(X·conj(W)) +
    m²|W|²) / s²`` with ``X = FFT(w·x)`` and ``W = FFT(w)``; we keep the means of ``|X|²`` and
    ``X`` plus the pixel sums, all in float64."""

    def __init__(self, resolution: int, beta: float = 8.0, interp: int = 4, device: torch.device | str = "cpu"):
        if resolution < 2 or interp < 1:
            raise ValueError(f"spectrum needs resolution >= 2 and interp >= 1, got {resolution}, {interp}")
        self.resolution, self.beta, self.interp = int(resolution), float(beta), int(interp)
        self.size = self.resolution * self.interp
        self.device = torch.device(device)
        self.window = kaiser_window_2d(self.resolution, self.beta).to(self.device)
        self._W = self._fft(self.window[None, None])[0, 0]
        self._sum_power = torch.zeros(self.size, self.size, dtype=torch.float64, device=self.device)
        self._sum_fft = torch.zeros(self.size, self.size, dtype=torch.complex128, device=self.device)
        self.num_images = 0
        self._planes = 0
        self._pix_sum = 0.0
        self._pix_sq = 0.0
        self._pix_n = 0

    def _fft(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.fft2(x, s=(self.size, self.size))     # zero-pads at the end, like the paper

    def add(self, images: torch.Tensor) -> None:
        if images.ndim != 4 or images.shape[-2:] != (self.resolution, self.resolution):
            raise ValueError(f"expected images [N, C, {self.resolution}, {self.resolution}], "
                             f"got {tuple(images.shape)}")
        x = images.to(device=self.device, dtype=torch.float64)
        X = self._fft(x * self.window)
        self._sum_power += X.abs().square().sum(dim=(0, 1))
        self._sum_fft += X.sum(dim=(0, 1))
        self.num_images += x.shape[0]
        self._planes += x.shape[0] * x.shape[1]
        self._pix_sum += float(x.sum())
        self._pix_sq += float(x.square().sum())
        self._pix_n += x.numel()

    @property
    def pixel_mean(self) -> float:
        return self._pix_sum / max(self._pix_n, 1)

    @property
    def pixel_std(self) -> float:
        m = self.pixel_mean
        return math.sqrt(max(self._pix_sq / max(self._pix_n, 1) - m * m, 0.0))

    def spectrum(self, mean: float | None = None, std: float | None = None) -> np.ndarray:
        """The average power spectrum ``[R·interp, R·interp]`` float64, DC at ``[0, 0]``, after
        whitening with ``mean``/``std`` (default: this source's own pixel statistics)."""
        if self._planes == 0:
            raise ValueError("no images were added to the spectrum")
        mean = self.pixel_mean if mean is None else float(mean)
        std = self.pixel_std if std is None else float(std)
        if not std > 0:
            raise ValueError(f"cannot whiten with std {std}: the images are constant")
        p = self._sum_power / self._planes
        x = self._sum_fft / self._planes
        p = p - 2 * mean * (x * self._W.conj()).real + mean * mean * self._W.abs().square()
        return (p / (std * std)).clamp_min(0).cpu().numpy()


def average_power_spectrum(images: torch.Tensor, mean: float, std: float, beta: float = 8.0,
                           interp: int = 4) -> np.ndarray:
    """Average power spectrum of ``images`` [N, C, R, R] (float pixel values) whitened with
    ``mean``/``std``: ``[R·interp, R·interp]`` float64, DC at ``[0, 0]``."""
    acc = SpectrumAccumulator(images.shape[-1], beta=beta, interp=interp, device=images.device)
    acc.add(images)
    return acc.spectrum(mean, std)


def centered(spectrum: np.ndarray | torch.Tensor) -> np.ndarray:
    """Move the DC term from ``[0, 0]`` to ``[S//2, S//2]`` (numpy ``fftshift``)."""
    return np.fft.fftshift(np.asarray(spectrum), axes=(-2, -1))


def to_db(power: np.ndarray, floor: float = 1e-20) -> np.ndarray:
    """``10·log10(power)``, with ``power`` clipped below at ``floor``."""
    return 10.0 * np.log10(np.maximum(np.asarray(power, dtype=np.float64), floor))


def slices(spectrum: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The 0° and 45° slices of an average spectrum (DC at ``[0, 0]``), from DC outwards:
    ``{'0': (freq, power), '45': (freq, power)}`` with ``freq`` in cycles per pixel (0 .. 0.5
    along the axes, 0 .. 0.5·√2 along the diagonal). 0° averages the horizontal and vertical
    directions, 45° the two diagonals (|FFT|² of real images is point-symmetric)."""
    s = np.asarray(spectrum, dtype=np.float64)
    n = s.shape[-1]
    k = np.arange(n // 2 + 1)
    axis = 0.5 * (s[0, k] + s[k, 0])
    diag = 0.5 * (s[k, k] + s[k, (-k) % n])
    f = k / n
    return {"0": (f, axis), "45": (f * math.sqrt(2), diag)}


def log_power_spectrum(x: torch.Tensor, beta: float = 8.0, interp: int = 1, remove_mean: bool = True) -> torch.Tensor:
    """Log power spectrum of one image or feature map for display.

    ``x``: ``[H, W]`` or ``[C, H, W]`` (any float range; a selection of channels of a layer).
    Each channel has its mean removed (``remove_mean``), is multiplied by a unit-energy 2-D
    Kaiser window with ``beta`` (0 = no window) and zero-padded to ``interp`` × the size; the
    power ``|FFT|²`` is averaged over channels. Returns ``[H·interp, W·interp]`` float32 in dB
    (``10·log10``, floor −200 dB), DC at the centre ``[H·interp//2, W·interp//2]``."""
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"expected [H, W] or [C, H, W], got {tuple(x.shape)}")
    x = x.detach().to(torch.float64)
    H, W = x.shape[-2:]
    if remove_mean:
        x = x - x.mean(dim=(-2, -1), keepdim=True)
    if beta > 0:
        wy = torch.from_numpy(np.kaiser(H, float(beta))).to(x)
        wx = torch.from_numpy(np.kaiser(W, float(beta))).to(x)
        w = torch.outer(wy, wx)
        x = x * (w / w.square().sum().sqrt())
    else:
        x = x / math.sqrt(H * W)
    p = torch.fft.fft2(x, s=(H * interp, W * interp)).abs().square().mean(dim=0)
    p = torch.fft.fftshift(p, dim=(-2, -1))
    return (10 * torch.log10(p.clamp_min(1e-20))).to(torch.float32)


def db_to_unit(db: torch.Tensor | np.ndarray, db_range: tuple[float, float] | None = None,
               ) -> tuple[np.ndarray, tuple[float, float]]:
    """Map dB values to [0, 1] for display: ``db_range = (lo, hi)`` (default: the 60 dB below
    the maximum). Returns ``(unit float32 array, (lo, hi))``."""
    d = np.asarray(db.cpu() if isinstance(db, torch.Tensor) else db, dtype=np.float64)
    if db_range is None:
        hi = float(np.max(d))
        db_range = (hi - 60.0, hi)
    lo, hi = (float(v) for v in db_range)
    if not hi > lo:
        raise ValueError(f"dB range must have lo < hi, got {db_range}")
    return np.clip((d - lo) / (hi - lo), 0, 1).astype(np.float32), (lo, hi)


def radial_profile(spectrum_centered: torch.Tensor | np.ndarray, num_bins: int | None = None,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged spectrum of a centred ``[S, S']`` spectrum. Pass linear power (e.g.
    ``10 ** (db / 10)``) and convert the profile to dB afterwards for the physical average; dB
    values are averaged as given.
    Returns ``(freq, value)``: bin centres in cycles per pixel of the padded grid (0 .. 0.5, up
    to Nyquist along the shorter axis) and the mean over each ring."""
    s = np.asarray(spectrum_centered.cpu() if isinstance(spectrum_centered, torch.Tensor) else spectrum_centered,
                   dtype=np.float64)
    Hs, Ws = s.shape[-2:]
    fy = (np.arange(Hs) - Hs // 2) / Hs
    fx = (np.arange(Ws) - Ws // 2) / Ws
    r = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    num_bins = num_bins or min(Hs, Ws) // 2
    edges = np.linspace(0, 0.5, num_bins + 1)
    idx = np.digitize(r.ravel(), edges) - 1
    keep = (idx >= 0) & (idx < num_bins)
    sums = np.bincount(idx[keep], weights=s.reshape(-1)[keep], minlength=num_bins)
    counts = np.bincount(idx[keep], minlength=num_bins)
    with np.errstate(invalid="ignore"):
        prof = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return 0.5 * (edges[:-1] + edges[1:]), prof
