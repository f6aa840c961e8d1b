"""The trained demo models shipped in assets/ (see assets/README.md)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gan_core
from gan_core.cli.style_mix import mix_ws
from gan_core.latents import parse_style_layers
from gan_core.models.demo import DEMO_CHECKPOINT, NAMED_DEMOS


@pytest.mark.parametrize("name, path, family", [("demo", DEMO_CHECKPOINT, "stylegan3"),
                                                ("demo-sg2", NAMED_DEMOS["demo-sg2"], "stylegan2")])
def test_trained_demo_models_ship_small_and_render_scenes(name, path, family):
    assert path.exists() and path.stat().st_size <= 20 * 2**20
    G = gan_core.load_generator(name)
    assert G.family == family and G.img_resolution == 32 and not G.untrained
    ck = gan_core.load_checkpoint(path)
    assert ck.metadata["trained_kimg"] > 50 and "procedural" in ck.metadata["trained_on"]
    assert ck.G is None and ck.D is None            # the generator alone: small, nothing to train on
    with torch.no_grad():
        z = gan_core.zs_from_seeds(list(range(8)), G.z_dim)
        img = gan_core.to_uint8(G.synthesis(G.mapping(z, None), noise_mode="const")).astype(np.float32)
    # a trained model draws varied pictures with structure (sky above ground), not a flat field
    assert img.std() > 25
    assert np.abs(img[1:] - img[:-1]).mean() > 10                    # different seeds differ
    top, bottom = img[:, :8].mean(axis=(1, 2)), img[:, -8:].mean(axis=(1, 2))
    assert np.abs(top - bottom).mean() > 10                          # a horizon: top and bottom differ


def test_generate_renders_the_named_demo(tmp_path):
    from gan_core.cli import main
    assert main(["generate", "--network", "demo-sg2", "--seeds", "0-1", "--outdir", str(tmp_path)]) == 0
    assert (tmp_path / "seed0001.png").exists()


def _mixing_distances(name: str, group: str):
    """How far style-mixed pictures are from the row seed and from the column seed, in mean
    colour and in standardized luminance (layout), over an 8×8 grid of seeds."""
    G = gan_core.load_generator(name)
    with torch.no_grad():
        w_rows = G.mapping(gan_core.zs_from_seeds(list(range(8)), G.z_dim), None)
        w_cols = G.mapping(gan_core.zs_from_seeds(list(range(20, 28)), G.z_dim), None)
        mixed = mix_ws(w_rows, w_cols, parse_style_layers(group, G.ws_resolutions())).flatten(0, 1)
        render = lambda ws: gan_core.to_uint8(G.synthesis(ws, noise_mode="const")).astype(np.float32)
        rows, cols = render(w_rows), render(w_cols)
        cells = render(mixed).reshape(8, 8, *rows.shape[1:])

    def layout(x):
        g = x.mean(-1)
        g = g - g.mean(axis=(-2, -1), keepdims=True)
        return g / (g.std(axis=(-2, -1), keepdims=True) + 1e-6)

    colour = lambda x: x.mean(axis=(-3, -2))
    return dict(colour_row=np.abs(colour(cells) - colour(rows)[:, None]).mean(),
                colour_col=np.abs(colour(cells) - colour(cols)[None]).mean(),
                layout_row=((layout(cells) - layout(rows)[:, None]) ** 2).mean(),
                layout_col=((layout(cells) - layout(cols)[None]) ** 2).mean())


def test_style_mixing_separates_coarse_from_fine_in_the_demo_models():
    # StyleGAN3-T demo: the fine ws carry the colours, the layout stays the row seed's
    d = _mixing_distances("demo", "fine")
    assert d["colour_col"] < 0.8 * d["colour_row"] and d["layout_row"] < 0.8 * d["layout_col"], d
    # ... and with the coarse ws swapped the colours stay the row seed's
    d = _mixing_distances("demo", "coarse")
    assert d["colour_row"] < 0.5 * d["colour_col"], d
    # StyleGAN2 demo: the coarse ws carry the layout (sky/ground split, where the shape is)
    # and the row seed keeps its colours (808-kimg model: layout 0.14 vs 0.45, colour 10.9 vs 22.9)
    d = _mixing_distances("demo-sg2", "coarse")
    assert d["layout_col"] < 0.5 * d["layout_row"] and d["colour_row"] < 0.6 * d["colour_col"], d
