"""Widening a StyleGAN3 generator keeps its images, carries the optimizer state over, and a resume
with a larger --cbase / --cmax trains on from the widened networks."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gan_core.io import load_checkpoint
from gan_core.models.stylegan3 import Generator
from gan_core.train import train
from gan_core.train.widen import widen_on_resume, widen_optimizer_state, widen_stylegan3

from .conftest import tiny_options


def _generator(r: bool = False) -> Generator:
    torch.manual_seed(1)
    kw = dict(conv_kernel=1, use_radial_filters=True) if r else {}
    G = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, channel_base=128, channel_max=16,
                  **kw)
    with torch.no_grad():   # a trained generator's input gains are not 1
        for layer in G.synthesis.layers():
            layer.magnitude_ema.fill_(float(torch.empty([]).uniform_(0.05, 0.6)))
            layer.bias.normal_(0, 0.3)
    return G


def _images(G, seeds=range(6)) -> torch.Tensor:
    z = torch.from_numpy(np.random.RandomState(0).randn(len(seeds), G.z_dim)).float()
    with torch.no_grad():
        return G(z, None, noise_mode="const")


@pytest.mark.parametrize("r", [False, True], ids=["T", "R"])
def test_widened_generator_draws_the_same_images(r):
    G = _generator(r)
    W, grown = widen_stylegan3(G, 256, 24)
    before = [l.out_channels for l in G.synthesis.layers()]
    after = [l.out_channels for l in W.synthesis.layers()]
    assert before[:-1] != after[:-1] and all(b >= a for a, b in zip(before, after)) and after[-1] == 3
    assert max(after) == 24 and min(after[:-1]) > min(before[:-1])
    a, b = _images(G), _images(W)
    assert (a - b).abs().max() < 1e-4 * max(1.0, float(a.abs().max()))   # float rounding
    assert set(grown) == {n for n, _ in W.named_parameters()}
    # every layer really has new channels that compute something of their own: copies of old
    # ones plus a little noise, not exact duplicates
    for old, new in zip(G.synthesis.layers()[:-1], W.synthesis.layers()[:-1]):
        o0 = old.out_channels
        if new.out_channels > o0:
            assert new.weight[o0:].abs().sum() > 0
            rows = new.weight[o0:, :old.in_channels]
            assert not any(torch.equal(rows[j], old.weight[k]) for j in range(len(rows)) for k in range(o0))
    # same seed, same new entries: G and G_ema widened alike start equal in the new channels
    W2, _ = widen_stylegan3(G, 256, 24)
    assert all(torch.equal(x, y) for x, y in zip(W.state_dict().values(), W2.state_dict().values()))


def test_narrowing_and_other_families_are_refused():
    G = _generator()
    with pytest.raises(ValueError, match="fewer than its"):
        widen_stylegan3(G, 64, 16)
    from gan_core.models.stylegan2 import Generator as G2
    with pytest.raises(ValueError, match="StyleGAN3"):
        widen_stylegan3(G2(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3, channel_base=64,
                           channel_max=8), 128, 16)


def test_optimizer_state_is_carried_over():
    G = _generator()
    opt = torch.optim.Adam(G.parameters(), lr=0.01, betas=(0.0, 0.99))
    for _ in range(2):
        opt.zero_grad()
        _images_grad = G(torch.randn(2, 16), None).square().mean()
        _images_grad.backward()
        opt.step()
    W, grown = widen_stylegan3(G, 256, 24)
    state = widen_optimizer_state(opt.state_dict(), G, W, grown)
    names = [n for n, _ in W.named_parameters()]
    old = dict(zip([n for n, _ in G.named_parameters()], opt.state_dict()["state"].values()))
    for j, (name, p) in enumerate(W.named_parameters()):
        st, g = state["state"][j], grown[name]
        assert st["exp_avg"].shape == p.shape and st["exp_avg_sq"].shape == p.shape, name
        blk = tuple(slice(0, n) for n in g.old_shape)
        torch.testing.assert_close(st["exp_avg"][blk], old[g.old_name]["exp_avg"] * g.scale)
        torch.testing.assert_close(st["exp_avg_sq"][blk], old[g.old_name]["exp_avg_sq"] * g.scale ** 2)
        new = torch.ones(p.shape, dtype=torch.bool)
        new[blk] = False
        if new.any():     # no momentum yet, and a second moment like the tensor's
            assert st["exp_avg"][new].abs().max() == 0, name
            assert torch.allclose(st["exp_avg_sq"][new], (old[g.old_name]["exp_avg_sq"] * g.scale ** 2).mean())
    W_opt = torch.optim.Adam(W.parameters(), lr=0.01, betas=(0.0, 0.99))
    W_opt.load_state_dict(state)      # the shapes fit
    assert len(names) == len(state["state"])


def test_resume_with_more_channels_widens_g_and_trains_on(tiny_zip, tmp_path):
    run = tmp_path / "run"
    opts = dict(cfg="stylegan3-t", cbase=128, cmax=16, r1_interval=2)
    assert train(tiny_options(tiny_zip, run, kimg=0.008, **opts), progress=False) == "finished"
    snap = load_checkpoint(run / "network-snapshot-000000.pt")
    # what the resume starts from draws what the run's G_ema drew
    widened, note = widen_on_resume(snap, "stylegan3-t", 256, 24)
    assert note.startswith("G widened: channels 8–16 → 16–24, parameters ") and note.endswith("; D as it was"), note
    a, b = _images(snap.G_ema), _images(widened.G_ema)
    assert (a - b).abs().max() < 1e-4 * max(1.0, float(a.abs().max()))   # float rounding
    assert widened.D is snap.D
    assert widen_on_resume(snap, "stylegan3-t", 128, 16) == (snap, None)     # no change, nothing done

    assert train(tiny_options(tiny_zip, None, kimg=0.016, resume=str(run), **{**opts, "cbase": 256, "cmax": 24}),
                 progress=False) == "finished"
    ck = load_checkpoint(sorted(run.glob("network-snapshot-*.pt"))[-1])
    assert ck.training_state["step"] == 4
    assert ck.G.config()["channel_max"] == 24 and ck.G_ema.config()["channel_base"] == 256
    assert ck.D.config()["channel_max"] == 16 and ck.D.config()["channel_base"] == 128    # D kept its widths
    assert all(torch.isfinite(p).all() for p in ck.G.parameters())
    saved = json.loads((run / "training_options.json").read_text())
    assert (saved["cbase"], saved["cmax"], saved["d_cbase"], saved["d_cmax"]) == (256, 24, 128, 16)
    line = [x for x in (run / "log.txt").read_text().splitlines() if "starting at kimg 0.008" in x][0]
    assert "cbase 128 → 256, cmax 16 → 24" in line and "G widened" in line, line
    # the next resume continues the wider run as any other
    assert train(tiny_options(tiny_zip, None, kimg=0.020, resume=str(run), **{**opts, "cbase": 256, "cmax": 24}),
                 progress=False) == "finished"
