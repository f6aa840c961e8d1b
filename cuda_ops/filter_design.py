"""Kaiser-window low-pass filter design for StyleGAN3 layers (numpy + torch only).

``design_lowpass_filter(numtaps, cutoff, width, fs)`` is a windowed-sinc FIR with a Kaiser
window whose β follows Kaiser's empirical formulas for the requested transition ``width``
(all frequencies in the units of ``fs``), normalized to unit DC gain. ``radial=True`` gives
the radially symmetric 2-D variant (a jinc low-pass under a separable Kaiser window) used by
StyleGAN3-R's downsampling filters.
"""
from __future__ import annotations

import math

import numpy as np
import torch


def kaiser_attenuation(numtaps: int, width: float) -> float:
    """Stop-band attenuation (dB) of a Kaiser FIR with ``numtaps`` and transition ``width``
    (as a fraction of the Nyquist frequency)."""
    return 2.285 * (numtaps - 1) * math.pi * width + 7.95


def kaiser_beta(attenuation: float) -> float:
    """Kaiser window β for a stop-band ``attenuation`` in dB."""
    a = attenuation
    if a > 50:
        return 0.1102 * (a - 8.7)
    if a > 21:
        return 0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21)
    return 0.0


def _kaiser_window(numtaps: int, width: float, fs: float) -> np.ndarray:
    beta = kaiser_beta(kaiser_attenuation(numtaps, width / (fs / 2)))
    return np.kaiser(numtaps, beta)


def design_lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float,
                          radial: bool = False) -> torch.Tensor | None:
    """Low-pass FIR: ``[numtaps]`` (separable) or ``[numtaps, numtaps]`` (radial), float32.

    Returns None for ``numtaps == 1`` (the identity filter).
    """
    if numtaps < 1:
        raise ValueError(f"design_lowpass_filter: numtaps must be >= 1, got {numtaps}")
    if numtaps == 1:
        return None
    if not 0 < cutoff < fs / 2:
        raise ValueError(f"design_lowpass_filter: cutoff {cutoff} must lie in (0, fs/2 = {fs / 2})")
    window = _kaiser_window(numtaps, width, fs)
    t = np.arange(numtaps) - (numtaps - 1) / 2  # tap positions in samples
    if not radial:
        rel = cutoff / (fs / 2)
        h = rel * np.sinc(rel * t) * window
        return torch.as_tensor(h / h.sum(), dtype=torch.float32)
    r = np.hypot(*np.meshgrid(t / fs, t / fs))
    # jinc: the 2-D Fourier transform of a disc of radius `cutoff`.
    h = _bessel_j1(2 * math.pi * cutoff * r) / (math.pi * r)
    h = h * np.outer(window, window)
    return torch.as_tensor(h / h.sum(), dtype=torch.float32)


def _bessel_j1(x: np.ndarray) -> np.ndarray:
    """Bessel function of the first kind, order 1 (float64, via torch.special)."""
    return torch.special.bessel_j1(torch.as_tensor(x, dtype=torch.float64)).numpy()
