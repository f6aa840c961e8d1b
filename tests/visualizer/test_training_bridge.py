"""Watching a run directory without a window: incremental stats, previews, control.json."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from visualizer.training_bridge import RunRequest, RunWatcher, describe_options


def test_watcher_reads_what_the_trainer_writes(tmp_path):
    (tmp_path / "training_options.json").write_text(json.dumps({"cfg": "stylegan2"}))
    (tmp_path / "live_status.json").write_text(json.dumps({"state": "running", "kimg": 1.0, "total_kimg": 4.0}))
    w = RunWatcher(tmp_path)
    up = w.poll()
    assert up.options == {"cfg": "stylegan2"} and up.status["state"] == "running" and up.problem is None
    with open(tmp_path / "stats.jsonl", "w") as f:
        f.write(json.dumps({"kimg": 0.5, "loss_G": 1.0, "loss_r1": None}) + "\n")
        f.write('{"kimg": 1.0, "loss_')                       # a line still being written
    up = w.poll()
    assert [r["kimg"] for r in up.new_stats] == [0.5]
    with open(tmp_path / "stats.jsonl", "a") as f:
        f.write('G": 0.8, "loss_r1": 0.1}\n')
    up = w.poll()
    assert [r["kimg"] for r in up.new_stats] == [1.0]
    assert w.series("loss_G") == ([0.5, 1.0], [1.0, 0.8])
    assert w.series("loss_r1") == ([1.0], [0.1])             # null ticks are skipped
    Image.fromarray(np.full((8, 16, 3), 7, np.uint8)).save(tmp_path / "live_preview.png")
    up = w.poll()
    assert up.preview.shape == (8, 16, 3) and up.preview[0, 0, 0] == 7
    assert w.poll().preview is None                             # unchanged: not read again
    w.send("pause")
    cmd = json.loads((tmp_path / "control.json").read_text())
    assert cmd["command"] == "pause" and cmd["time"] > 0
    with pytest.raises(ValueError, match="command"):
        w.send("explode")


def test_run_request_checks(tmp_path):
    with pytest.raises(ValueError, match="config"):
        RunRequest(data="procedural:10", run_dir=str(tmp_path), cfg="stylegan9").check()
    with pytest.raises(ValueError, match="does not exist"):
        RunRequest(data=str(tmp_path / "x.zip"), run_dir=str(tmp_path)).check()
    with pytest.raises(ValueError, match="power of two"):
        RunRequest(data="procedural:10", run_dir=str(tmp_path), resolution=48).check()
    (tmp_path / "live_status.json").write_text("{}")
    with pytest.raises(ValueError, match="already holds a run"):
        RunRequest(data="procedural:10", run_dir=str(tmp_path)).check()


def test_describe_options_names_what_a_run_trains():
    opts = {"cfg": "stylegan2", "batch": 32, "kimg": 1000.0, "world_size": 2, "data": "/d/proc32.zip",
            "dataset": {"path": "/d/proc32.zip", "num_images": 5000, "resolution": 32}}
    assert describe_options(opts) == "stylegan2 on proc32.zip (5000 images, 32²), batch 32, 1000 kimg, 2 processes"
    # partial or damaged options give what they can, never an exception
    assert describe_options({"cfg": "stylegan3-t", "dataset": "oops", "batch": "x"}) == "stylegan3-t"
    assert describe_options(None) == "" and describe_options([1, 2]) == ""
