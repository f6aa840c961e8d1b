"""How well style mixing separates a model's factors: swap one group of ws (coarse, middle,
fine) between row and column seeds and measure whom each mixed picture resembles.

Two distances per picture, averaged over an R×C grid of seeds:
* colour — the mean RGB of the picture (0..255 units), |mixed − source|;
* layout — the picture's luminance standardized to zero mean and unit variance (where things
  are, whatever their colours), mean squared difference.
A group that carries colour makes ``colour_col`` (to the column seed whose ws were taken) small
against ``colour_row``; a group that carries layout does the same for ``layout_col``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from gan_core.latents import cs_from_seeds, mix_ws, parse_style_layers, zs_from_seeds
from gan_core.media import to_uint8


def _layout(x: np.ndarray) -> np.ndarray:
    g = x.mean(-1)
    g = g - g.mean(axis=(-2, -1), keepdims=True)
    return g / (g.std(axis=(-2, -1), keepdims=True) + 1e-6)


def _colour(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=(-3, -2))


@torch.no_grad()
def style_mixing_distances(G, group: str, row_seeds: Sequence[int] = range(8),
                           col_seeds: Sequence[int] = range(20, 28)) -> dict[str, float]:
    """``{"colour_row", "colour_col", "layout_row", "layout_col"}`` for a generator with the ws of
    ``group`` (a name or indices, as ``parse_style_layers`` reads them) taken from the column
    seeds; constant noise, no truncation. A conditional model draws each seed's class from the
    seed (``cs_from_seeds``), so rows and columns mix different classes too."""
    c_dim = getattr(G, "c_dim", 0)
    w_rows = G.mapping(zs_from_seeds(list(row_seeds), G.z_dim), cs_from_seeds(list(row_seeds), c_dim))
    w_cols = G.mapping(zs_from_seeds(list(col_seeds), G.z_dim), cs_from_seeds(list(col_seeds), c_dim))
    layers = parse_style_layers(group, G.ws_resolutions())
    render = lambda ws: to_uint8(G.synthesis(ws, noise_mode="const")).astype(np.float32)  # noqa: E731
    rows, cols = render(w_rows), render(w_cols)
    cells = render(mix_ws(w_rows, w_cols, layers).flatten(0, 1)).reshape(len(rows), len(cols), *rows.shape[1:])
    return {"colour_row": float(np.abs(_colour(cells) - _colour(rows)[:, None]).mean()),
            "colour_col": float(np.abs(_colour(cells) - _colour(cols)[None]).mean()),
            "layout_row": float(((_layout(cells) - _layout(rows)[:, None]) ** 2).mean()),
            "layout_col": float(((_layout(cells) - _layout(cols)[None]) ** 2).mean())}
