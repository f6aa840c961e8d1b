"""--metrics swd: quality measured at each snapshot into metrics.jsonl, without touching the
training's random state (so resume stays exact)."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from gan_core.cli import main
from gan_core.train.metrics import SnapshotMetrics, describe

TINY = ["--batch", "4", "--cbase", "128", "--cmax", "16", "--map", "2", "--zdim", "16", "--wdim", "16",
        "--workers", "0", "--no-progress", "--tick", "0.008", "--snap", "1"]


def test_a_run_measures_swd_at_each_snapshot(tiny_zip, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", str(tiny_zip), "--run-dir", str(run), "--kimg", "0.016", "--metrics", "swd",
                 "--metrics-num", "16"] + TINY) == 0
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) >= 2 and rows[-1]["kimg"] == 0.016
    for r in rows:
        assert r["snapshot"].startswith("network-snapshot-") and r["num"] == 16
        assert r["swd_16"] > 0 and r["swd_mean"] == r["swd_16"]        # 16² data: one pyramid level
    log = (run / "log.txt").read_text()
    assert log.count("metric swd (16 images): mean ") == len(rows)
    assert json.loads((run / "training_options.json").read_text())["metrics"] == "swd"
    capsys.readouterr()
    assert main(["status", str(run)]) == 0
    assert f"quality at kimg 0.016: SWD×10³ {rows[-1]['swd_mean']:.2f} (16 images" in capsys.readouterr().out


def test_measuring_leaves_the_training_random_state_alone(tiny_zip):
    from gan_core.data.dataset import ImageDataset
    from gan_core.models.stylegan2 import Generator
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=1),
                  channel_base=64, channel_max=8).eval()
    m = SnapshotMetrics("swd", 20, ImageDataset(tiny_zip), torch.device("cpu"))
    states = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    row = m.measure(G)
    assert torch.equal(torch.get_rng_state(), states[0]) and np.array_equal(np.random.get_state()[1], states[1])
    assert random.getstate() == states[2]
    assert row["num"] == 20 and set(row) == {"swd_16", "swd_mean", "num", "seconds"}
    assert m.measure(G)["swd_mean"] == row["swd_mean"]          # the same images, the same number
    assert describe(row).startswith(f"metric swd (20 images): mean {row['swd_mean']:.2f} (16²: ")
    with pytest.raises(ValueError, match="unknown metric"):
        SnapshotMetrics("fid", 20, ImageDataset(tiny_zip), torch.device("cpu"))


def test_metrics_options_are_checked(tiny_zip, tmp_path, capsys):
    assert main(["train", "--data", str(tiny_zip), "--run-dir", str(tmp_path / "a"), "--metrics", "swd",
                 "--metrics-num", "4"] + TINY) == 2
    assert "--metrics-num must be at least 16" in capsys.readouterr().err
    assert main(["train", "--data", str(tiny_zip), "--run-dir", str(tmp_path / "b"), "--cfg", "stylegan1",
                 "--metrics", "swd", "--kimg", "0.004", "--no-progress"]) == 2
    assert "--metrics does not apply to --cfg stylegan1" in capsys.readouterr().err
