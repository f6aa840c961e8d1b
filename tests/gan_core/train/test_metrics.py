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
        SnapshotMetrics("ssim", 20, ImageDataset(tiny_zip), torch.device("cpu"))


def test_metrics_options_are_checked(tiny_zip, tmp_path, capsys):
    assert main(["train", "--data", str(tiny_zip), "--run-dir", str(tmp_path / "a"), "--metrics", "swd",
                 "--metrics-num", "4"] + TINY) == 2
    assert "--metrics-num must be at least 16" in capsys.readouterr().err
    assert main(["train", "--data", str(tiny_zip), "--run-dir", str(tmp_path / "b"), "--cfg", "stylegan1",
                 "--metrics", "swd", "--metrics-num", "8", "--kimg", "0.004", "--no-progress"]) == 2
    assert "--metrics-num must be at least 16" in capsys.readouterr().err


def test_pruning_spares_the_best_measured_snapshot(tiny_zip, tmp_path, monkeypatch, capsys):
    """A run's quality swings (the demo run's SWD went 40 → 78 in 15 kimg), so the newest K
    snapshots alone can lose the best one: with --metrics it is kept until a better one comes."""
    import gan_core.train.metrics as metrics_mod
    import gan_core.train.trainer as trainer_mod

    # snapshots named by image count, so that this tiny run makes several distinct ones
    monkeypatch.setattr(trainer_mod, "snapshot_name", lambda nimg: f"network-snapshot-{nimg:06d}.pt")
    scores = iter([5.0, 1.0, 3.0, 4.0, 0.5, 2.0, 6.0, 7.0])  # one per snapshot (tick 0 makes one too)
    monkeypatch.setattr(metrics_mod.SnapshotMetrics, "measure",
                        lambda self, G: {"swd_16": (v := next(scores)), "swd_mean": v, "num": 16, "seconds": 0.0})
    kept = []
    real_prune = trainer_mod.RunDirectory.prune_snapshots

    def prune(self, keep, protect=None):
        gone = real_prune(self, keep, protect)
        kept.append(sorted(p.name for p in self.path.glob("network-snapshot-*.pt")))
        return gone

    monkeypatch.setattr(trainer_mod.RunDirectory, "prune_snapshots", prune)
    run = tmp_path / "run"
    assert main(["train", "--data", str(tiny_zip), "--run-dir", str(run), "--kimg", "0.056", "--metrics", "swd",
                 "--metrics-num", "16", "--keep-snapshots", "2"] + TINY) == 0
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    names = [r["snapshot"] for r in rows]
    assert len(rows) == len(kept) == 8 and len(set(names)) == len(names)
    for i, on_disk in enumerate(kept):
        seen = rows[:i + 1]
        best = min(reversed(seen), key=lambda r: r["swd_mean"])["snapshot"]
        assert on_disk == sorted({best, *names[max(0, i - 1):i + 1]}), (i, on_disk)
    assert names[1] in kept[3] and names[1] not in kept[4]          # 1.0 spared until 0.5 came
    assert names[4] in kept[-1] and len(kept[-1]) == 3
    capsys.readouterr()
    assert main(["status", str(run)]) == 0
    assert f"best so far: {names[4]} (kimg " in capsys.readouterr().out


def test_a_snapshot_within_the_same_kimg_never_replaces_the_best_one(tiny_zip, tmp_path, monkeypatch):
    """A tiny run's snapshots all fall within kimg 0, so each would be network-snapshot-000000.pt.
    The first measures best: later ones must not overwrite it (a Stop right after a snapshot that
    measured best did just that), and the newest state must still be what a resume picks."""
    import gan_core.train.metrics as metrics_mod
    from gan_core.io import load_checkpoint
    from gan_core.train.rundir import best_measured, latest_snapshot

    scores = iter([0.5, 5.0, 3.0, 4.0, 6.0, 7.0, 8.0, 9.0])
    monkeypatch.setattr(metrics_mod.SnapshotMetrics, "measure",
                        lambda self, G: {"swd_16": (v := next(scores)), "swd_mean": v, "num": 16, "seconds": 0.0})
    run = tmp_path / "run"
    assert main(["train", "--data", str(tiny_zip), "--run-dir", str(run), "--kimg", "0.024", "--metrics", "swd",
                 "--metrics-num", "16"] + TINY) == 0
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) >= 3 and rows[-1]["kimg"] == 0.024
    assert [r["snapshot"] for r in rows] == ["network-snapshot-000000.pt"] + ["network-snapshot-000001.pt"] * (len(rows) - 1)
    assert best_measured(run)["snapshot"] == "network-snapshot-000000.pt"
    best_nimg = round(rows[0]["kimg"] * 1000)
    assert load_checkpoint(run / "network-snapshot-000000.pt").training_state["cur_nimg"] == best_nimg  # the best's state
    assert latest_snapshot(run).name == "network-snapshot-000001.pt"
    assert load_checkpoint(latest_snapshot(run)).training_state["cur_nimg"] == 24               # resume goes on from here
    assert (run / "fakes000000.png").is_file() and (run / "fakes000001.png").is_file()


def test_sparing_best_only_moves_off_the_best_measured_file(tmp_path):
    from gan_core.train.rundir import RunDirectory

    run = RunDirectory(tmp_path / "r", total_kimg=10)
    name = "network-snapshot-000003.pt"
    assert run.sparing_best(name, 3500) == name                        # nothing measured
    run.file(name).write_bytes(b"x")
    run.append_metrics({"kimg": 3.2, "snapshot": name, "swd_mean": 2.0})
    assert run.sparing_best(name, 3500) == "network-snapshot-000004.pt"  # would replace the best
    assert run.sparing_best(name, 3200) == name                        # the same state again
    assert run.sparing_best("network-snapshot-000002.pt", 2500) == "network-snapshot-000002.pt"
    run.file("network-snapshot-000002.pt").write_bytes(b"x")
    run.append_metrics({"kimg": 2.1, "snapshot": "network-snapshot-000002.pt", "swd_mean": 9.0})
    assert run.sparing_best("network-snapshot-000002.pt", 2500) == "network-snapshot-000002.pt"  # not the best


def test_best_measured_reads_only_snapshots_still_on_disk(tmp_path):
    from gan_core.train.rundir import RunDirectory, best_measured

    run = RunDirectory(tmp_path / "r", total_kimg=1)
    assert best_measured(run.path) is None                         # no metrics.jsonl
    for k in (1, 2, 3, 4):
        run.file(f"network-snapshot-{k:06d}.pt").write_bytes(b"x")
    rows = [(1, 9.0), (2, 2.0), (3, 2.0), (4, float("nan")), (5, 0.1)]   # 5 was pruned before
    for k, v in rows:
        run.append_metrics({"kimg": k, "snapshot": f"network-snapshot-{k:06d}.pt", "swd_mean": v})
    with open(run.file("metrics.jsonl"), "a") as f:
        f.write('{"snapshot": "../../etc/passwd", "swd_mean": -1}\n["not a row"]\n{"swd_mean": "x"}\n')
    assert best_measured(run.path)["snapshot"] == "network-snapshot-000003.pt"   # the newest of equals
    run.append_metrics({"kimg": 3.9, "snapshot": "network-snapshot-000003.pt", "swd_mean": 8.0})  # replaced
    assert best_measured(run.path)["snapshot"] == "network-snapshot-000002.pt"
    with open(run.file("metrics.jsonl"), "a") as f:
        f.write('{"snapshot": "network-snapshot-000004.pt", "swd_mean": 0.0')    # being written
    assert best_measured(run.path)["snapshot"] == "network-snapshot-000002.pt"
    assert [p.name for p in run.prune_snapshots(1, protect=run.file("network-snapshot-000002.pt"))] == \
        ["network-snapshot-000001.pt", "network-snapshot-000003.pt"]
    assert sorted(p.name for p in run.path.glob("*.pt")) == ["network-snapshot-000002.pt", "network-snapshot-000004.pt"]


def test_a_run_measures_fid_with_a_local_inception_file(tiny_zip, tmp_path, capsys, monkeypatch):
    from gan_core.train.rundir import best_measured
    from tests.gan_core.analysis.fid_reference import write_weights_file

    monkeypatch.delenv("GANSCOPE_INCEPTION", raising=False)
    weights = write_weights_file(tmp_path / "pt_inception.pth")
    run = tmp_path / "run"
    args = ["train", "--data", str(tiny_zip), "--run-dir", str(run), "--kimg", "0.004", "--metrics", "fid",
            "--metrics-num", "16"] + TINY
    # the weights file is needed at the start, not at the first snapshot
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--metrics fid: FID needs the Inception weights file" in err and "--inception FILE" in err
    assert not (run / "stats.jsonl").exists()
    assert main(["train", "--data", str(tiny_zip), "--run-dir", str(tmp_path / "x"), "--inception", str(weights)]
                + TINY) == 2
    assert "--inception is the weights file of --metrics fid" in capsys.readouterr().err
    assert main(args + ["--inception", str(weights)]) == 0
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows and all(r["fid"] > 0 and r["num"] == 16 and "swd_mean" not in r and "kid" in r for r in rows)
    assert json.loads((run / "training_options.json").read_text())["inception"] == str(weights.resolve())
    assert (run / "log.txt").read_text().count("metric fid (16 images): ") == len(rows)
    last = {r["snapshot"]: r for r in rows}        # (a snapshot name measured twice counts once, its last)
    assert best_measured(run)["fid"] == min(r["fid"] for r in last.values())
    capsys.readouterr()
    assert main(["status", str(run)]) == 0
    assert f"quality at kimg 0.004: FID {rows[-1]['fid']:.2f} (16 images" in capsys.readouterr().out


def test_a_failing_measurement_does_not_end_the_run(tiny_zip, tmp_path, monkeypatch, capsys):
    import gan_core.train.metrics as metrics_mod

    def broken(self, G):
        raise OSError("Inception weights gone")
    monkeypatch.setattr(metrics_mod.SnapshotMetrics, "measure", broken)
    run = tmp_path / "run"
    assert main(["train", "--data", str(tiny_zip), "--run-dir", str(run), "--kimg", "0.008", "--metrics", "swd",
                 "--metrics-num", "16"] + TINY) == 0
    log = (run / "log.txt").read_text()
    assert "metric swd failed for network-snapshot-000000.pt (OSError: Inception weights gone); training goes on" in log
    assert "finished at kimg 0.008" in log and not (run / "metrics.jsonl").exists()
    assert list(run.glob("network-snapshot-*.pt"))
