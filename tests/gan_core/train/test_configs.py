"""A few training steps of every config: finite losses, a snapshot and the run-directory files."""
from __future__ import annotations

import json
import math

import pytest
import torch

import gan_core
from gan_core.train import train
from gan_core.train.rundir import STATS_KEYS, STATUS_KEYS

from .conftest import tiny_options


@pytest.mark.parametrize("cfg", ["stylegan2", "stylegan3-t", "stylegan3-r"])
def test_few_steps_every_config(cfg, tiny_zip, tmp_path):
    run = tmp_path / "run"
    # 3 steps of 4 images; every regularizer runs at step 0 (R1, and path length for stylegan2)
    opts = tiny_options(tiny_zip, run, cfg=cfg, kimg=0.012, aug="fixed", p=0.5, cond=True,
                        pl_weight=2.0, blur_fade_kimg=1.0)
    assert train(opts, progress=False) == "finished"

    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert len(rows) >= 2
    for row in rows:
        assert set(STATS_KEYS) <= set(row)
        for k in ("loss_G", "loss_D"):
            assert row[k] is not None and math.isfinite(row[k]), (k, row)
    first = rows[0]
    assert first["loss_r1"] is not None and math.isfinite(first["loss_r1"])
    assert first["loss_pl"] is not None and math.isfinite(first["loss_pl"])
    assert first["gpu_mem_gb"] is None and first["augment_p"] == 0.5
    assert rows[-1]["kimg"] == pytest.approx(0.012)

    status = json.loads((run / "live_status.json").read_text())
    assert set(status) == set(STATUS_KEYS)
    assert status["state"] == "finished" and status["error"] is None
    assert status["latest_snapshot"] == "network-snapshot-000000.pt"
    for name in ("training_options.json", "live_preview.png", "reals.png", "fakes000000.png", "log.txt"):
        assert (run / name).is_file(), name

    ck = gan_core.load_checkpoint(run / "network-snapshot-000000.pt")
    assert ck.family == ("stylegan2" if cfg == "stylegan2" else "stylegan3")
    assert ck.G is not None and ck.D is not None and ck.G_ema is not None
    for net in (ck.G, ck.D, ck.G_ema):
        assert all(torch.isfinite(p).all() for p in net.parameters())
    ts = ck.training_state
    assert ts["cur_nimg"] == 12 and ts["step"] == 3
    assert set(ts["rng"]) >= {"torch", "numpy", "python"} and "state" in ts["G_opt"]
    # The snapshot's generator renders (the explorer opens it directly).
    G = gan_core.load_generator(run / "network-snapshot-000000.pt")
    c = G.make_c(1, 2)
    img = G(torch.randn([2, G.z_dim]), c)
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()
    if cfg == "stylegan3-r":
        assert json.loads((run / "training_options.json").read_text())["blur_sigma"] == 10.0


def test_a_cheaper_stylegan3_synthesis_trains_resumes_and_keeps_its_layout(tiny_zip, tmp_path):
    """--layers / --margin build a smaller StyleGAN3 synthesis network; the snapshot renders with
    it, a resume continues it, and a resume that names another layout is refused (the generator
    comes from the snapshot, so the option would otherwise be silently ignored)."""
    from gan_core.train import OptionError, Trainer

    run = tmp_path / "run"
    assert train(tiny_options(tiny_zip, run, cfg="stylegan3-t", kimg=0.008, layers=5, margin=2), progress=False) == "finished"
    saved = json.loads((run / "training_options.json").read_text())
    assert (saved["layers"], saved["margin"]) == (5, 2)
    G = gan_core.load_generator(run / "network-snapshot-000000.pt")
    assert (G.synthesis.num_layers, G.synthesis.margin_size) == (5, 2) and G.num_ws == 7
    img = G(torch.randn([2, G.z_dim]), G.make_c(None, 2))
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()
    assert train(tiny_options(tiny_zip, run, cfg="stylegan3-t", kimg=0.012, layers=5, margin=2, resume=str(run)),
                 progress=False) == "finished"
    with pytest.raises(OptionError, match="--layers 14: the generator in network-snapshot-000000.pt was built with 5"):
        Trainer(tiny_options(tiny_zip, tmp_path / "other", cfg="stylegan3-t", layers=14, margin=2,
                             resume=str(run / "network-snapshot-000000.pt")))
