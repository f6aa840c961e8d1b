"""style_mixing_distances: whom a style-mixed picture resembles, in colour and in layout."""
from __future__ import annotations

import pytest
import torch

from gan_core.analysis.mixing import style_mixing_distances


class _Toy:
    """w 0 draws where a bright bar is (layout), w 3 the picture's tint (colour)."""
    z_dim = 4

    def ws_resolutions(self):
        return [4, 4, 8, 8]

    def mapping(self, z, c):
        return z[:, None, :].repeat(1, 4, 1)

    def synthesis(self, ws, noise_mode="const"):
        n = len(ws)
        rows = torch.arange(16, dtype=torch.float32)
        where = (ws[:, 0, 0].tanh() * 6 + 8)[:, None]                          # the bar's row
        bar = torch.exp(-(rows[None] - where) ** 2 / 4)[:, :, None].expand(n, 16, 16)
        tint = ws[:, 3, :3].tanh()[:, :, None, None] * 0.5
        return (bar[:, None] * 0.4 + tint).clamp(-1, 1)                        # [N, 3, 16, 16] in [-1, 1]


def test_the_group_that_carries_a_factor_takes_it_from_the_column_seed():
    G = _Toy()
    d = style_mixing_distances(G, "3")             # the tint's w: colours from the column seeds
    assert d["colour_col"] < 0.2 * d["colour_row"] and d["layout_row"] < 0.2 * d["layout_col"], d
    d = style_mixing_distances(G, "0")             # the bar's w: layout from the column seeds
    assert d["layout_col"] < 0.2 * d["layout_row"] and d["colour_row"] < 0.5 * d["colour_col"], d
    assert set(d) == {"colour_row", "colour_col", "layout_row", "layout_col"}
    with pytest.raises(ValueError, match="do not exist"):
        style_mixing_distances(G, "7")


class _ConditionalToy(_Toy):
    """The class (3 of them) sets the bar's row; z still sets the tint."""
    c_dim = 3

    def mapping(self, z, c):
        assert c is not None and c.shape == (len(z), 3) and torch.all(c.sum(1) == 1), c
        w = z[:, None, :].repeat(1, 4, 1).clone()
        w[:, 0, 0] = c.argmax(1).float() - 1                                # class -> layout
        return w


def test_a_conditional_model_mixes_the_classes_the_seeds_draw():
    d = style_mixing_distances(_ConditionalToy(), "0")      # the class's w from the column seeds
    assert d["layout_col"] < 0.2 * d["layout_row"], d
    assert d["layout_row"] > 0.05, d                            # the seeds drew different classes
