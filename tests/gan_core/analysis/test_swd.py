"""Sliced Wasserstein distance: the pyramid, the patches, the distance, and ``ganscope swd``."""
from __future__ import annotations

import json
import math

import pytest
import torch

import gan_core
from gan_core.analysis.swd import (PatchSet, _up, laplacian_pyramid, random_patches, sliced_wasserstein,
                                   sliced_wasserstein_many, swd, swd_many)
from gan_core.cli import main
from gan_core.data.procedural import write_procedural_zip
from gan_core.models.registry import build_network


def test_the_pyramid_adds_back_up_to_the_image():
    x = torch.rand(2, 3, 64, 64) * 255
    levels = laplacian_pyramid(x)
    assert [lvl.shape[-1] for lvl in levels] == [64, 32, 16]
    back = levels[-1]
    for band in reversed(levels[:-1]):
        back = band + _up(back)
    assert torch.allclose(back, x, atol=1e-3)
    # a flat image has no detail: the band-pass levels are zero, mirrored borders included
    flat = laplacian_pyramid(torch.full((1, 3, 32, 32), 7.0))
    assert flat[0].abs().max() < 1e-4 and torch.allclose(flat[1], torch.full_like(flat[1], 7.0))
    for bad in (torch.rand(1, 3, 32, 16), torch.rand(1, 3, 8, 8), torch.rand(1, 3, 24, 24)):
        with pytest.raises(ValueError):
            laplacian_pyramid(bad)


def test_patches_are_7x7_neighbourhoods():
    x = torch.arange(2 * 3 * 16 * 16, dtype=torch.float32).view(2, 3, 16, 16)
    p = random_patches(x, 5, torch.Generator().manual_seed(3))
    assert p.shape == (10, 147)
    for row in p:            # each row is one image's 7×7 window, channel by channel
        c0 = row[:49].view(7, 7)
        n, rem = divmod(int(c0[0, 0].item()), 3 * 256)
        y, x0 = divmod(rem, 16)
        assert torch.equal(row.view(3, 7, 7), x[n, :, y:y + 7, x0:x0 + 7])


def test_sliced_wasserstein_measures_a_shift():
    torch.manual_seed(0)
    a = torch.randn(20000, 147)
    assert sliced_wasserstein(a, a.clone()) == 0
    b = a.clone()
    b[:, 0] += 1.0
    # a shift by 1 along one axis moves each projection by |u_0|, whose mean over random unit
    # vectors in 147 dimensions is about sqrt(2 / (pi·147))
    assert sliced_wasserstein(a, b) == pytest.approx(math.sqrt(2 / (math.pi * 147)), rel=0.05)
    assert sliced_wasserstein(b, a) == pytest.approx(sliced_wasserstein(a, b), rel=1e-6)
    many = sliced_wasserstein_many(a, [a, b, b[:5000]])
    assert many[:2] == [0, sliced_wasserstein(a, b)] and many[2] == pytest.approx(many[1], rel=0.1)
    with pytest.raises(ValueError):
        sliced_wasserstein(a, torch.randn(10, 3))


def test_swd_tells_images_of_the_dataset_from_noise(tmp_path):
    from gan_core.analysis.image_sources import iter_dataset_images
    data = tmp_path / "d.zip"
    write_procedural_zip(data, count=96, resolution=32)
    halves = [PatchSet(per_image=32, seed=s) for s in (0, 1)]
    for i, batch in enumerate(iter_dataset_images(data, 96, None, 48)):
        halves[i].add(batch)
    noise = PatchSet(per_image=32)
    noise.add(torch.rand(48, 3, 32, 32) * 255)
    same, other = swd_many(halves[0], [halves[1], noise])
    assert set(same) == {"32", "16", "mean"}
    # noise has far too much fine detail; blurred to 16² it is a flat grey, unlike any scene
    assert other["32"] > 10 * same["32"] and other["16"] > 2 * same["16"], (same, other)
    assert swd(halves[0], noise) == other
    small = PatchSet()
    small.add(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match="different sizes"):
        swd(halves[0], small)


def test_swd_command(tmp_path, capsys):
    data = tmp_path / "d.zip"
    write_procedural_zip(data, count=40, resolution=16)
    torch.manual_seed(0)
    G = build_network("stylegan2", "G", dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
                                             mapping_kwargs=dict(num_layers=1), channel_base=64, channel_max=8))
    net = tmp_path / "g.pt"
    gan_core.save(net, G_ema=G.eval())
    assert main(["swd", "--network", str(net), "--data", str(data), "--num", "20", "--patches", "8",
                 "--directions", "64", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["num"] == 20 and out["resolution"] == 16
    reals, fake = out["results"]
    assert reals["source"] == "reals (images 20-39)" and fake["source"] == str(net)
    assert fake["mean"] > reals["mean"] > 0            # an untrained generator is far from the data
    assert main(["swd", "--network", str(net), "--data", str(data), "--num", "30", "--patches", "8",
                 "--directions", "64"]) == 0
    text = capsys.readouterr().out
    assert "holds 40 images" not in text and "reals (" not in text and "16²" in text   # no second half
    assert main(["swd", "--network", str(net), "--data", str(tmp_path / "none.zip")]) == 2
    assert "none.zip" in capsys.readouterr().err
    assert main(["swd", "--network", str(net), "--data", str(data), "--num", "0"]) == 2
