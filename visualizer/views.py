"""What the canvas can show besides the image: a layer's channels, their spectrum, the
equivariance error map — each a pure function of the captured tensors and the RenderArgs."""
from __future__ import annotations

import math

import numpy as np
import torch

from widgets.render_args import RenderArgs


def _stats(x: torch.Tensor) -> dict[str, float]:
    x = x.float()
    return {"mean": float(x.mean()), "std": float(x.std()) if x.numel() > 1 else 0.0,
            "max": float(x.abs().max())}


def selected_channels(num_channels: int, args: RenderArgs) -> list[int]:
    base = min(int(args.layer_channel), num_channels - 1)
    if not args.layer_rgb:
        return [base]
    return [(base + k) % num_channels for k in range(3)]


def layer_view(feat: torch.Tensor, args: RenderArgs) -> tuple[np.ndarray, dict]:
    """``feat`` [C, H, W] (one sample) -> ([H, W, 3] uint8 picture of the chosen channels,
    stats of all vs selected channels)."""
    sel = selected_channels(feat.shape[0], args)
    x = feat[sel].float()
    stats = {"all": _stats(feat), "selected": _stats(x)}
    if args.layer_normalize:
        x = x / x.flatten(1).abs().amax(dim=1).clamp_min(1e-8).view(-1, 1, 1)
    else:
        x = x / feat.float().abs().max().clamp_min(1e-8)
    x = x * (10 ** (args.layer_gain_db / 20))
    pixels = (x * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0)
    if pixels.shape[2] == 1:
        pixels = pixels.expand(-1, -1, 3)
    return np.ascontiguousarray(pixels.cpu().numpy()), stats


def spectrum_view(feat: torch.Tensor, args: RenderArgs) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Log power spectrum of the chosen channels (mean removed, Kaiser window), DC at the centre,
    as a colour-mapped [h, w, 3] uint8 picture, and the radially averaged spectrum in dB."""
    from gan_core.analysis.plot import colormap
    from gan_core.analysis.spectrum import db_to_unit, log_power_spectrum, radial_profile

    sel = selected_channels(feat.shape[0], args)
    db = log_power_spectrum(feat[sel].float().cpu(), beta=args.spectrum_beta, interp=1, remove_mean=True)
    peak = float(db.max())
    unit, _ = db_to_unit(db, db_range=(peak - args.spectrum_db_range, peak))
    freq, prof = radial_profile(10 ** (db.double() / 10))
    prof_db = 10 * np.log10(np.maximum(np.asarray(prof, dtype=np.float64), 1e-30))
    return np.ascontiguousarray(colormap(np.asarray(unit))), (np.asarray(freq), prof_db)


def error_view(error: np.ndarray | torch.Tensor, mask: np.ndarray | torch.Tensor) -> np.ndarray:
    """|g(t(z)) - t(g(z))| as a colour map, scaled to its 99.5th percentile in the valid region;
    pixels outside the valid region are dark grey."""
    from gan_core.analysis.plot import colormap

    err = np.asarray(error, dtype=np.float32)
    m = np.asarray(mask, dtype=bool)
    scale = float(np.percentile(err[m], 99.5)) if m.any() else 1.0
    unit = np.clip(err / max(scale, 1e-8), 0, 1)
    rgb = colormap(unit).copy()
    rgb[~m] = (40, 40, 40)
    return np.ascontiguousarray(rgb)


def untransformed(img: torch.Tensor, args: RenderArgs) -> torch.Tensor:
    """The output warped back by the inverse of the input transform (band-limited), so an
    equivariant generator shows a still picture; undefined pixels are darkened."""
    from gan_core.analysis.transforms import untransform

    if args.translate == (0.0, 0.0) and args.rotate == 0.0:
        return img
    still, mask = untransform(img, translate=args.translate, rotate_deg=args.rotate)
    mask = mask.to(still.dtype)
    if mask.ndim == 2:
        mask = mask[None, None]
    elif mask.ndim == 3:
        mask = mask[:, None]
    return still * mask + (1 - mask) * -0.75


def wrap_angle(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


def circle_point(t: float, radius: float) -> tuple[float, float]:
    return radius * math.cos(2 * math.pi * t), radius * math.sin(2 * math.pi * t)
