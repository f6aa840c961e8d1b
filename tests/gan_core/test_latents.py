"""Seeds to latents: the classes a conditional model draws where none is given."""
from __future__ import annotations

import numpy as np
import torch

from gan_core.analysis.image_sources import iter_generator_images
from gan_core.latents import cs_from_seeds


def test_each_seed_brings_its_own_one_hot_class():
    seeds = list(range(300))
    c = cs_from_seeds(seeds, 3)
    assert c.shape == (300, 3) and c.dtype == torch.float32
    assert torch.all(c.sum(1) == 1) and torch.all((c == 0) | (c == 1))
    idx = c.argmax(1)
    assert [int(i) for i in idx[:5]] == [int(np.random.RandomState(s).randint(3)) for s in range(5)]
    counts = torch.bincount(idx, minlength=3)
    assert counts.min() > 70, counts                       # roughly uniform over the classes
    assert torch.equal(cs_from_seeds(seeds[10:20], 3), c[10:20])   # a seed's class does not depend on its batch
    assert cs_from_seeds([0, 1], 0).shape == (2, 0)


class _Echo:
    """Draws its class as the image's brightness."""
    z_dim, c_dim = 2, 3

    def mapping(self, z, c, truncation_psi=1):
        return c[:, None, :]

    def synthesis(self, ws, noise_mode="const"):
        level = ws[:, 0].argmax(1).float() - 1
        return level[:, None, None, None].expand(len(ws), 3, 4, 4)


def test_metrics_sample_a_conditional_model_with_the_seeds_classes():
    imgs = torch.cat(list(iter_generator_images(_Echo(), 10, batch=4)))
    classes = cs_from_seeds(list(range(10)), 3).argmax(1)
    expected = ((classes.float() - 1) * 127.5 + 128).clamp(0, 255).floor()
    assert torch.allclose(imgs[:, 0, 0, 0], expected, atol=1), (imgs[:, 0, 0, 0], expected)
