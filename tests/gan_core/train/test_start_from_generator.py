"""Training from a generator alone (a ``--generator-only`` file, the shipped demo): a new D trains
alone first, the G EMA does not ramp up from scratch, and a resumed run continues both exactly."""
from __future__ import annotations

import pytest
import torch

from gan_core.io import load_checkpoint, save_checkpoint
from gan_core.train import OptionError, train
from gan_core.train.ema import ema_beta
from gan_core.train.trainer import Trainer

from .conftest import tiny_options
from .test_resume import _assert_same_state

COMMON = dict(aug="noaug", r1_interval=2, pl_interval=2, pl_weight=2.0)


@pytest.fixture(scope="module")
def generator_file(tiny_zip, tmp_path_factory):
    """A G_ema-only file, as ``ganscope convert --generator-only`` writes it."""
    tmp = tmp_path_factory.mktemp("gen")
    assert train(tiny_options(tiny_zip, tmp / "run", kimg=0.008, **COMMON), progress=False) == "finished"
    ck = load_checkpoint(tmp / "run" / "network-snapshot-000000.pt")
    path = tmp / "generator.pt"
    save_checkpoint(path, G_ema=ck.G_ema)
    return path


def _params(net) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def _same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_new_discriminator_trains_alone_first(tiny_zip, tmp_path, generator_file):
    t = Trainer(tiny_options(tiny_zip, tmp_path / "ft", kimg=1, resume=str(generator_file), d_warmup=0.008, **COMMON))
    try:
        assert t.start_info["fresh_D"] and t.d_warmup_nimg == 8 and t.ema_rampup is None
        assert "D alone until kimg 0.008" in t.describe() and "a new D" in t.describe()
        G0, D0, E0 = _params(t.G), _params(t.D), _params(t.G_ema)
        src = load_checkpoint(generator_file).G_ema
        assert _same(G0, _params(src)) and _same(E0, G0)  # G and its EMA start from the file
        t.step()
        t.step()  # 8 images: still warming up
        assert _same(_params(t.G), G0) and _same(_params(t.G_ema), E0)
        assert not _same(_params(t.D), D0)
        t.step()  # G trains from here
        G1 = _params(t.G)
        assert not _same(G1, G0)
        # EMA without ramp-up: the full half-life from the first G step on, not cur_nimg · 0.05
        beta = ema_beta(t.o.batch, t.o.ema_kimg, 8, None)
        assert beta > ema_beta(t.o.batch, t.o.ema_kimg, 8, 0.05)
        for e, g, e0 in zip(t.G_ema.parameters(), G1, E0):
            torch.testing.assert_close(e, g.lerp(e0, beta), rtol=0, atol=1e-7)
    finally:
        t.close()


def test_default_warmup_only_when_d_is_missing(tiny_zip, tmp_path, generator_file):
    t = Trainer(tiny_options(tiny_zip, tmp_path / "a", resume=str(generator_file), **COMMON))
    try:
        assert t.d_warmup_nimg == 2000  # 2 kimg by default for a new D
    finally:
        t.close()
    # A full snapshot without training state (an official pickle, say) keeps its D: no warm-up.
    full = load_checkpoint(sorted((generator_file.parent / "run").glob("network-snapshot-*.pt"))[-1])
    path = tmp_path / "g_and_d.pt"
    save_checkpoint(path, G=full.G, D=full.D, G_ema=full.G_ema)
    t = Trainer(tiny_options(tiny_zip, tmp_path / "b", resume=str(path), **COMMON))
    try:
        assert t.d_warmup_nimg == 0 and not t.start_info["fresh_D"] and t.ema_rampup is None
        assert _same(_params(t.D), _params(full.D))
    finally:
        t.close()


def test_resume_inside_the_warmup_continues_exactly(tiny_zip, tmp_path, generator_file):
    opts = dict(resume=str(generator_file), d_warmup=0.008, **COMMON)
    full = tmp_path / "full"
    assert train(tiny_options(tiny_zip, full, kimg=0.016, **opts), progress=False) == "finished"
    part = tmp_path / "part"
    assert train(tiny_options(tiny_zip, part, kimg=0.004, **opts), progress=False) == "finished"
    # Resumed from its own snapshot: the warm-up end and the EMA setting come from the snapshot.
    resumed = dict(COMMON, resume=str(part))
    assert train(tiny_options(tiny_zip, None, kimg=0.016, **resumed), progress=False) == "finished"
    a = load_checkpoint(full / "network-snapshot-000000.pt")
    b = load_checkpoint(part / "network-snapshot-000000.pt")
    assert b.training_state["start"]["d_warmup_nimg"] == 8 and b.training_state["step"] == 4
    for key in ("G", "D", "G_ema"):
        _assert_same_state(getattr(a, key).state_dict(), getattr(b, key).state_dict(), key)
    for key in ("G_opt", "D_opt", "rng", "cur_nimg", "start"):
        _assert_same_state(a.training_state[key], b.training_state[key], key)


def test_negative_warmup_is_refused(tiny_zip, tmp_path):
    with pytest.raises(OptionError, match="--d-warmup"):
        Trainer(tiny_options(tiny_zip, tmp_path / "x", d_warmup=-1.0))


@pytest.mark.parametrize("cfg", ["stylegan2", "stylegan3-t", "stylegan3-r"])
def test_what_a_generator_was_built_with_round_trips(cfg, tiny_zip):
    from gan_core.train.options import build_networks, generator_built_with, resolve

    o = resolve(tiny_options(tiny_zip, None, cfg=cfg, cbase=256, cmax=32, map=3, z_dim=8, w_dim=12), 16, 1)
    G, _ = build_networks(o, 16, 3, 0)
    # config R builds with twice the channels; the options say what was asked for
    sg3 = {} if cfg == "stylegan2" else {"layers": 14, "margin": 10}
    assert generator_built_with(G) == {"cfg": cfg, "cbase": 256, "cmax": 32, "map": 3, "z_dim": 8, "w_dim": 12, **sg3}


def test_a_generator_file_says_what_g_is(tiny_zip, tmp_path, capsys):
    """Starting from a file without training state (here a StyleGAN3-T --generator-only file, like
    the built-in demo), the options that describe G come from it: left out on the command line they
    are filled in (so training_options.json tells the truth, StyleGAN3's defaults apply, and the new
    D is as wide as G rather than the 512-channel default); given otherwise, a one-line error."""
    import json

    from gan_core.cli import main

    assert train(tiny_options(tiny_zip, tmp_path / "run", cfg="stylegan3-t", kimg=0.004, **COMMON),
                 progress=False) == "finished"
    g_file = tmp_path / "sg3t.pt"
    save_checkpoint(g_file, G_ema=load_checkpoint(tmp_path / "run" / "network-snapshot-000000.pt").G_ema)
    capsys.readouterr()
    assert main(["train", "--resume", str(g_file), "--data", str(tiny_zip), "-n"]) == 0
    opts = json.loads(capsys.readouterr().out)
    assert {k: opts[k] for k in ("cfg", "cbase", "cmax", "map", "z_dim", "w_dim", "d_cbase", "d_cmax", "pl_weight")} == \
        {"cfg": "stylegan3-t", "cbase": 128, "cmax": 16, "map": 2, "z_dim": 16, "w_dim": 16, "d_cbase": 128,
         "d_cmax": 16, "pl_weight": 0.0}
    for args, message in ((["--cfg", "stylegan2"], "--cfg stylegan2: the generator in sg3t.pt was built with "
                                                   "stylegan3-t (it comes from the file: leave --cfg out)"),
                          (["--zdim", "32"], "--zdim 32: the generator in sg3t.pt was built with 16")):
        assert main(["train", "--resume", str(g_file), "--data", str(tiny_zip), "-n", *args]) == 2
        assert message in capsys.readouterr().err
    # the library says the same to a caller that names another config (TrainOptions' default, stylegan2)
    with pytest.raises(OptionError, match="--cfg stylegan2: the generator in sg3t.pt was built with stylegan3-t"):
        Trainer(tiny_options(tiny_zip, tmp_path / "lib", resume=str(g_file)))
    # and a real start: the run records G's options and builds D from them
    run = tmp_path / "fine-tune"
    assert main(["train", "--resume", str(g_file), "--data", str(tiny_zip), "--run-dir", str(run), "--kimg", "0.004",
                 "--batch", "4", "--workers", "0", "--d-warmup", "0", "--no-progress"]) == 0
    saved = json.loads((run / "training_options.json").read_text())
    assert (saved["cfg"], saved["cbase"], saved["cmax"], saved["z_dim"]) == ("stylegan3-t", 128, 16, 16)
    assert load_checkpoint(sorted(run.glob("network-snapshot-*.pt"))[-1]).D.config()["channel_max"] == 16
