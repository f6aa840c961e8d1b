"""Watching a run directory without a window: incremental stats, previews, control.json."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from visualizer.training_bridge import (RunHealth, RunRequest, RunWatcher, TrainingSession,
                                       continue_command, last_line)


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


# -- is anything still training the run? ------------------------------------------------------

def _status(run_dir, **fields):
    st = {"state": "running", "kimg": 1.5, "total_kimg": 4.0, "pid": os.getpid(), "host": socket.gethostname(),
          "updated": time.time(), **fields}
    (run_dir / "live_status.json").write_text(json.dumps(st))


def _ended_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_health_tells_alive_ended_gone_and_silent(tmp_path):
    w = RunWatcher(tmp_path)
    assert w.health().kind == "unknown"
    _status(tmp_path)
    w.poll()
    assert w.health() == RunHealth("alive", f"process {os.getpid()} on this machine")
    assert not w.health().can_continue
    _status(tmp_path, state="stopped")
    w.poll()
    h = w.health()
    assert h.kind == "ended" and h.can_continue and "stopped at kimg 1.5" in h.text
    # killed without a last word: the status still says running, its process is gone
    _status(tmp_path, pid=_ended_pid())
    w.poll()
    h = w.health()
    assert h.kind == "gone" and h.can_continue and "no longer running" in h.text and "kimg 1.5" in h.text
    # on another machine: only the age of the last update tells, never a reason to continue here
    w2 = RunWatcher(tmp_path)
    _status(tmp_path, host="trainbox", updated=time.time() - 3600)
    w2.poll()
    h = w2.health()
    assert h.kind == "silent" and not h.can_continue and "from trainbox for 60 min" in h.text
    w3 = RunWatcher(tmp_path)
    _status(tmp_path, host="trainbox", updated=time.time() - 20)
    w3.poll()
    assert w3.health() == RunHealth("alive", "on trainbox")


def test_commands_and_continuing_follow_the_health(tmp_path):
    s = TrainingSession()
    with pytest.raises(ValueError, match="no run"):
        s.continue_run()
    _status(tmp_path)
    s.attach(str(tmp_path))
    s.poll(force=True)
    with pytest.raises(ValueError, match="still being trained"):
        s.continue_run()
    s.send("pause")                                               # a live run gets the command
    _status(tmp_path, state="finished", kimg=4.0)
    s.poll(force=True)
    with pytest.raises(ValueError, match="nobody would read"):
        s.send("stop")
    with pytest.raises(ValueError, match="finished its 4 kimg; set kimg above that"):
        s.continue_run()
    with pytest.raises(ValueError, match="finished its 4 kimg"):
        s.continue_run(kimg=4.0)
    with pytest.raises(ValueError, match="no snapshot"):     # longer would do, but from what?
        s.continue_run(kimg=8.0)
    _status(tmp_path, pid=_ended_pid())
    s.poll(force=True)
    with pytest.raises(ValueError, match="no snapshot"):
        s.continue_run()
    assert continue_command(tmp_path)[-4:] == ["train", "--resume", str(tmp_path), "--no-progress"]


def test_a_failed_process_reports_its_last_line(tmp_path):
    (tmp_path / "process_output.txt").write_text("")
    proc = subprocess.Popen([sys.executable, "-c", "import sys; print('warming up'); "
                             "sys.stderr.write('ganscope train: error: --data is required\\n\\n'); sys.exit(2)"],
                            stdout=open(tmp_path / "process_output.txt", "ab"), stderr=subprocess.STDOUT)
    proc.wait()
    up = RunWatcher(tmp_path, proc).poll()
    assert up.process_exit == 2 and up.process_said == "ganscope train: error: --data is required"
    assert last_line(tmp_path / "nothing.txt") == ""


def test_continuing_a_finished_run_trains_it_to_the_new_kimg(tmp_path, monkeypatch):
    import visualizer.training_bridge as bridge

    started = []

    class FakeProcess:
        returncode = None

        def poll(self):
            return None

    monkeypatch.setattr(bridge, "launch_trainer", lambda cmd, run_dir: started.append(cmd) or FakeProcess())
    _status(tmp_path, state="finished", kimg=4.0, latest_snapshot="network-snapshot-000004.pt")
    (tmp_path / "network-snapshot-000004.pt").write_bytes(b"")
    s = TrainingSession()
    s.attach(str(tmp_path))
    assert s.continue_run(kimg=10.0) == f"continuing {tmp_path.name} from network-snapshot-000004.pt up to 10 kimg"
    assert started == [continue_command(tmp_path) + ["--kimg", "10"]]
    # a stopped run goes on to its own total when the box asks for less
    _status(tmp_path, state="stopped", kimg=2.0, latest_snapshot="network-snapshot-000004.pt")
    s.attach(str(tmp_path))
    assert s.continue_run(kimg=3.0).endswith("network-snapshot-000004.pt")
    assert started[-1] == continue_command(tmp_path)
    # the options box goes along (a lower learning rate late in a run); where and how far are fixed
    assert s.continue_run(kimg=3.0, extra_text="--glr 0.001 --desc 'two words'").endswith(
        "network-snapshot-000004.pt with --glr 0.001 --desc 'two words'")
    assert started[-1] == continue_command(tmp_path) + ["--glr", "0.001", "--desc", "two words"]
    for bad, why in (("--kimg 9", "use the kimg field"), ("--run-dir elsewhere", "--run-dir cannot be given"),
                     ("--resume=x", "--resume cannot be given"), ("glr 1", "must start with an option name")):
        with pytest.raises(ValueError, match=why):
            s.continue_run(extra_text=bad)
    assert len(started) == 3


def test_a_distillation_run_is_continued_by_ganscope_distill(tmp_path, monkeypatch):
    # `ganscope train --resume` cannot read a distillation run (no dataset): the run's cfg decides
    import visualizer.training_bridge as bridge

    started = []
    monkeypatch.setattr(bridge, "launch_trainer", lambda cmd, run_dir: started.append(cmd) or object())
    (tmp_path / "training_options.json").write_text(json.dumps({"cfg": "mobilestylegan-distill", "kimg": 2.0}))
    _status(tmp_path, state="stopped", kimg=1.0, latest_snapshot="network-snapshot-000001.pt")
    (tmp_path / "network-snapshot-000001.pt").write_bytes(b"")
    s = TrainingSession()
    s.attach(str(tmp_path))
    s.poll(force=True)
    s.continue_run(kimg=6.0, extra_text="--lr 0.0002")
    assert started == [[sys.executable, "-m", "gan_core", "distill", "--resume", str(tmp_path), "--no-progress",
                        "--kimg", "6", "--lr", "0.0002"]]
    assert continue_command(tmp_path, "stylegan2")[3] == "train"


def test_a_folder_being_set_up_for_a_run_is_taken(tmp_path):
    assert not TrainingSession.holds_run(tmp_path)
    (tmp_path / "procedural-32.zip").write_bytes(b"")       # the panel's dataset, being made
    assert TrainingSession.holds_run(tmp_path)
    with pytest.raises(ValueError, match="already holds a run"):
        RunRequest(data="procedural:10", run_dir=str(tmp_path)).check()


def test_the_options_box(tmp_path):
    from visualizer.training_bridge import parse_extra_options
    assert parse_extra_options("  --gamma 0.5 --mirror true --desc 'two words' ") == \
        ["--gamma", "0.5", "--mirror", "true", "--desc", "two words"]
    assert parse_extra_options("") == []
    with pytest.raises(ValueError, match="No closing quotation"):
        parse_extra_options("--desc 'open")
    with pytest.raises(ValueError, match="must start with an option name"):
        parse_extra_options("0.5 --gamma")
    for flag in ("--kimg", "--run-dir=x", "--data"):
        with pytest.raises(ValueError, match="set by the panel's own field"):
            RunRequest(data="procedural:10", run_dir=str(tmp_path), extra=[flag, "1"]).check()


def test_the_bfloat16_switch_reaches_the_trainer_and_a_continued_run(tmp_path, monkeypatch):
    import visualizer.training_bridge as bridge

    class EndedProcess:     # each continued process "ends" at once, so the next continue is allowed
        returncode = 0

        def poll(self):
            return 0

    started = []
    monkeypatch.setattr(bridge, "launch_trainer", lambda cmd, run_dir: started.append(cmd) or EndedProcess())
    data = tmp_path / "d.zip"
    data.write_bytes(b"")
    bridge.start_run(RunRequest(data=str(data), run_dir=str(tmp_path / "a"), cfg="stylegan3-t", bf16=True))
    assert started[-1][-2:] == ["--bf16", "true"]
    bridge.start_run(RunRequest(data=str(data), run_dir=str(tmp_path / "b"), cfg="stylegan2"))
    assert "--bf16" not in started[-1]
    with pytest.raises(ValueError, match="bfloat16 training is for stylegan2 / stylegan3-t / stylegan3-r; "
                                         "biggan trains in float32"):
        RunRequest(data=str(data), run_dir=str(tmp_path / "c"), cfg="biggan", bf16=True).check()
    with pytest.raises(ValueError, match="--bf16 is set by the panel's own field"):
        RunRequest(data=str(data), run_dir=str(tmp_path / "c"), extra=["--bf16"]).check()
    # continuing: the checkbox changes the run's own setting only where it differs from it
    run = tmp_path / "run"
    run.mkdir()
    (run / "training_options.json").write_text(json.dumps({"cfg": "stylegan2", "kimg": 9.0, "bf16": True}))
    _status(run, state="stopped", kimg=1.0, latest_snapshot="network-snapshot-000001.pt")
    (run / "network-snapshot-000001.pt").write_bytes(b"")
    s = TrainingSession()
    s.attach(str(run))
    s.poll(force=True)
    s.continue_run(bf16=True)
    assert started[-1] == continue_command(run, "stylegan2")
    assert s.continue_run(bf16=False).endswith("with --bf16 false")
    assert started[-1] == continue_command(run, "stylegan2") + ["--bf16", "false"]
    # the options as saved now count: the trainer rewrote them when it went on without bf16
    (run / "training_options.json").write_text(json.dumps({"cfg": "stylegan2", "kimg": 9.0, "bf16": False}))
    s.continue_run(bf16=False)
    assert started[-1] == continue_command(run, "stylegan2")
    with pytest.raises(ValueError, match="set by the panel's bfloat16 checkbox"):
        s.continue_run(extra_text="--bf16 true", bf16=False)
    s.continue_run(extra_text="--bf16 true")      # without the checkbox (scripts) the box may say it
    assert started[-1] == continue_command(run, "stylegan2") + ["--bf16", "true"]
    # a config without --bf16 is continued as it is, whatever the checkbox says
    (run / "training_options.json").write_text(json.dumps({"cfg": "biggan", "kimg": 9.0}))
    s.continue_run(bf16=True)
    assert started[-1] == continue_command(run, "biggan")
    assert "bfloat16 arithmetic" in bridge.bf16_hint()
