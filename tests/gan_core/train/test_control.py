"""control.json pause / resume / stop, and SIGTERM, are obeyed; each stop leaves a snapshot."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import gan_core
from gan_core.train import train
from gan_core.train.rundir import atomic_write_json

from .conftest import tiny_options


def _status(run):
    try:
        return json.loads((run / "live_status.json").read_text())
    except (OSError, ValueError):
        return {}


def _wait_for(pred, timeout=60.0, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _command(run, cmd):
    atomic_write_json(run / "control.json", {"command": cmd, "time": time.time()})


def test_pause_resume_stop(tiny_zip, tmp_path):
    run = tmp_path / "run"
    # A stale "stop" left by an earlier session must be ignored.
    run.mkdir()
    atomic_write_json(run / "control.json", {"command": "stop", "time": time.time() - 3600})
    result = {}
    th = threading.Thread(target=lambda: result.setdefault("state", train(
        tiny_options(tiny_zip, run, kimg=1000, tick=1000, tick_seconds=1.0, preview_interval=0.2),
        progress=False)))
    th.start()
    try:
        _wait_for(lambda: _status(run).get("state") == "running" and _status(run).get("kimg", 0) > 0,
                  what="the run to start")
        _command(run, "pause")
        _wait_for(lambda: _status(run).get("state") == "paused", what="state paused")
        kimg = _status(run)["kimg"]
        t0 = _status(run)["updated"]
        time.sleep(5.0)
        st = _status(run)
        assert st["state"] == "paused" and st["kimg"] == kimg  # no stepping while paused
        assert st["updated"] > t0  # but the status stays fresh
        _command(run, "resume")
        _wait_for(lambda: _status(run).get("state") == "running" and _status(run)["kimg"] > kimg,
                  what="training to continue")
        time.sleep(1.5)  # at least one tick of training after the pause
        _command(run, "stop")
        th.join(60)
        assert not th.is_alive()
    finally:
        if th.is_alive():
            _command(run, "stop")
            th.join(60)
    assert result["state"] == "stopped"
    st = _status(run)
    assert st["state"] == "stopped" and st["latest_snapshot"] == "network-snapshot-000000.pt"
    ck = gan_core.load_checkpoint(run / st["latest_snapshot"])
    assert ck.training_state["cur_nimg"] * 1e-3 == pytest.approx(st["kimg"])
    log = (run / "log.txt").read_text()
    assert "paused at kimg" in log and "resumed at kimg" in log and "stopped at kimg" in log
    # The 5 s pause is not in any tick's time (ticks end after a second of training): it would
    # have ended a tick at once on resume and inflated that tick's s/kimg and the ETA.
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    tick_walls = [r["sec_per_kimg"] * (r["kimg"] - prev["kimg"]) for prev, r in zip(rows, rows[1:])
                  if r["sec_per_kimg"] is not None]
    assert tick_walls and max(tick_walls) < 4.0, tick_walls  # 1 s + a slow step on a busy machine


@pytest.mark.slow
def test_sigterm_stops_cleanly_with_snapshot(tiny_zip, tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "gan_core", "train", "--data", str(tiny_zip), "--run-dir", str(run),
           "--kimg", "1000", "--batch", "4", "--cbase", "128", "--cmax", "16", "--map", "2", "--zdim", "16",
           "--wdim", "16", "--workers", "0", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: _status(run).get("state") == "running" and _status(run).get("kimg", 0) > 0,
                  timeout=120, what="the run to start")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    st = _status(run)
    assert st["state"] == "stopped" and st["pid"] == proc.pid
    assert (run / st["latest_snapshot"]).is_file()
    assert "SIGTERM" in (run / "log.txt").read_text()
    assert os.path.getsize(run / "live_preview.png") > 0


def test_reader_helpers(tmp_path):
    from gan_core.train.rundir import RunDirectory, read_stats, read_status, send_command

    assert read_status(tmp_path) is None and read_stats(tmp_path) == ([], 0)
    run = RunDirectory(tmp_path, total_kimg=2)
    run.write_status(state="running", kimg=0.5)
    assert read_status(tmp_path)["state"] == "running"
    run.append_stats({"tick": 0, "kimg": 0.5})
    rows, off = read_stats(tmp_path)
    assert len(rows) == 1 and rows[0]["kimg"] == 0.5 and rows[0]["loss_G"] is None
    with open(tmp_path / "stats.jsonl", "a") as f:
        f.write('{"tick": 1, "kim')  # a line being written
    rows, off2 = read_stats(tmp_path, off)
    assert rows == [] and off2 == off
    run.poll_control()
    send_command(tmp_path, "pause")
    assert run.poll_control() == "pause" and run.poll_control() is None  # once per change
    with pytest.raises(ValueError):
        send_command(tmp_path, "explode")
