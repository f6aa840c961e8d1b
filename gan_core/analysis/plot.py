"""Small Pillow-only figures for the command line tools (no matplotlib dependency)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gan_core.analysis.spectrum import centered, db_to_unit, slices, to_db

# Control points of a perceptually ordered dark-to-bright colour map (black-purple-orange-yellow).
_CMAP = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66],
                  [245, 125, 21], [250, 193, 39], [252, 255, 164]], dtype=np.float64)
LINE_COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14),
                (23, 190, 207), (140, 86, 75), (227, 119, 194)]


def colormap(unit: np.ndarray) -> np.ndarray:
    """[H, W] values in [0, 1] -> [H, W, 3] uint8."""
    u = np.clip(np.nan_to_num(np.asarray(unit, dtype=np.float64)), 0, 1) * (len(_CMAP) - 1)
    i = np.minimum(np.floor(u).astype(int), len(_CMAP) - 2)
    f = (u - i)[..., None]
    return np.round(_CMAP[i] * (1 - f) + _CMAP[i + 1] * f).astype(np.uint8)


def _font():
    return ImageFont.load_default()


def heatmap_image(spectrum: np.ndarray, db_range: tuple[float, float], size: int = 256) -> Image.Image:
    """A DC-at-[0,0] power spectrum as a centred dB heatmap, ``size`` pixels square."""
    unit, _ = db_to_unit(to_db(centered(spectrum)), db_range)
    return Image.fromarray(colormap(unit)).resize((size, size), Image.BILINEAR)


def _line_panel(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], title: str,
                curves: Sequence[tuple[str, np.ndarray, np.ndarray]], y_range: tuple[float, float],
                x_max: float) -> None:
    x0, y0, x1, y1 = box
    left, bottom = x0 + 48, y1 - 28
    top, right = y0 + 20, x1 - 10
    draw.rectangle([left, top, right, bottom], outline=(0, 0, 0))
    draw.text((left, y0 + 4), title, fill=(0, 0, 0), font=_font())
    lo, hi = y_range

    def px(fx: float, v: float) -> tuple[float, float]:
        return (left + (right - left) * fx / x_max, bottom - (bottom - top) * (min(max(v, lo), hi) - lo) / (hi - lo))

    step = 10 ** math.floor(math.log10(max(hi - lo, 1e-9)))
    if (hi - lo) / step < 3:
        step /= 2
    tick = math.ceil(lo / step) * step
    while tick <= hi + 1e-9:
        _, ty = px(0, tick)
        draw.line([left, ty, right, ty], fill=(225, 225, 225))
        draw.text((x0 + 2, ty - 6), f"{tick:.0f}", fill=(0, 0, 0), font=_font())
        tick += step
    for fx in np.arange(0, x_max + 1e-9, 0.1):
        tx, _ = px(fx, lo)
        draw.line([tx, bottom, tx, bottom + 3], fill=(0, 0, 0))
        draw.text((tx - 8, bottom + 5), f"{fx:.1f}", fill=(0, 0, 0), font=_font())
    draw.text((right - 150, bottom + 15), "cycles / pixel   (dB)", fill=(90, 90, 90), font=_font())
    for i, (_name, f, v) in enumerate(curves):
        pts = [px(float(a), float(b)) for a, b in zip(f, v) if np.isfinite(b)]
        if len(pts) > 1:
            draw.line(pts, fill=LINE_COLOURS[i % len(LINE_COLOURS)], width=2)


def spectrum_figure(spectra: Sequence[tuple[str, np.ndarray]], db_range: tuple[float, float] | None = None,
                    tile: int = 256) -> Image.Image:
    """Heatmap of each source's average spectrum (dB, centred) on top, then the 0° and 45°
    slices of all sources overlaid, with a legend. Default range: the 80 dB below the max. ``spectra``: ``[(name, spectrum DC at [0,0])]``."""
    if not spectra:
        raise ValueError("nothing to draw: no spectra")
    dbs = [to_db(s) for _, s in spectra]
    if db_range is None:
        hi = max(float(np.max(d)) for d in dbs)
        db_range = (hi - 80.0, hi)
    n = len(spectra)
    width = max(n * (tile + 10) + 10, 2 * 400 + 30)
    height = tile + 30 + 300 + 20 + 16 * n + 10
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for i, (name, s) in enumerate(spectra):
        x = 10 + i * (tile + 10)
        img.paste(heatmap_image(s, db_range, tile), (x, 24))
        draw.text((x, 6), name[:40], fill=(0, 0, 0), font=_font())
    cut0 = [(name, *slices(s)["0"]) for name, s in spectra]
    cut45 = [(name, *slices(s)["45"]) for name, s in spectra]
    cut0 = [(nm, f, to_db(v)) for nm, f, v in cut0]
    cut45 = [(nm, f, to_db(v)) for nm, f, v in cut45]
    y0 = tile + 30
    _line_panel(draw, (10, y0, 10 + 400, y0 + 300), "0° slice", cut0, db_range, 0.5)
    _line_panel(draw, (20 + 400, y0, 20 + 800, y0 + 300), "45° slice", cut45, db_range, 0.75)
    ly = y0 + 310
    for i, (name, _s) in enumerate(spectra):
        c = LINE_COLOURS[i % len(LINE_COLOURS)]
        draw.line([20, ly + 16 * i + 6, 50, ly + 16 * i + 6], fill=c, width=3)
        draw.text((58, ly + 16 * i), name, fill=(0, 0, 0), font=_font())
    draw.text((width - 260, ly), f"heatmaps: {db_range[0]:.0f} .. {db_range[1]:.0f} dB", fill=(90, 90, 90),
              font=_font())
    return img
