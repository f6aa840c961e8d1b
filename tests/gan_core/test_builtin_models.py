"""The trained StyleGAN2 demo model shipped in assets/ (see assets/README.md)."""
from __future__ import annotations

import numpy as np
import torch

import gan_core
from gan_core.models.demo import NAMED_DEMOS


def test_trained_stylegan2_demo_ships_small_and_renders_scenes():
    path = NAMED_DEMOS["demo-sg2"]
    assert path.exists() and path.stat().st_size <= 20 * 2**20
    G = gan_core.load_generator("demo-sg2")
    assert G.family == "stylegan2" and G.img_resolution == 32 and not G.untrained
    ck = gan_core.load_checkpoint(path)
    assert ck.metadata["trained_kimg"] > 50 and "procedural" in ck.metadata["trained_on"]
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
