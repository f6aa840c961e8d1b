"""The trained demo models shipped in assets/ (see assets/README.md)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gan_core
from gan_core.analysis.mixing import style_mixing_distances
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
    return style_mixing_distances(gan_core.load_generator(name), group)


def test_style_mixing_separates_coarse_from_fine_in_the_demo_models():
    # StyleGAN3-T demo: the fine ws carry the colours, the layout stays the row seed's
    d = _mixing_distances("demo", "fine")
    assert d["colour_col"] < 0.8 * d["colour_row"] and d["layout_row"] < 0.8 * d["layout_col"], d
    # ... and with the coarse ws swapped the colours stay the row seed's
    d = _mixing_distances("demo", "coarse")
    assert d["colour_row"] < 0.5 * d["colour_col"], d
    # StyleGAN2 demo: the coarse ws carry the layout (sky/ground split, where the shape is)
    # and the row seed keeps its colours (1100-kimg model: layout 0.19 vs 0.42, colour 8.7 vs 20.0)
    d = _mixing_distances("demo-sg2", "coarse")
    assert d["layout_col"] < 0.5 * d["layout_row"] and d["colour_row"] < 0.6 * d["colour_col"], d
