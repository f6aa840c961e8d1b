"""``ganscope status`` and ``ganscope control`` on a real run in another process."""
from __future__ import annotations

import json
import subprocess
import sys
import time

from gan_core.cli import main

TINY = ["--batch", "4", "--cbase", "128", "--cmax", "16", "--map", "2", "--zdim", "16", "--wdim", "16",
        "--workers", "0", "--no-progress", "--tick", "0.004", "--preview-interval", "0.5"]


def _wait_for_state(run, state, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if json.loads((run / "live_status.json").read_text())["state"] == state:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{run} never reached {state}")


def test_status_and_control_a_live_run(tiny_zip, tmp_path, capsys):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "gan_core", "train", "--data", str(tiny_zip), "--run-dir", str(run),
                             "--kimg", "1000"] + TINY, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_state(run, "running")
        assert main(["control", str(run), "pause", "--wait", "120"]) == 0
        assert capsys.readouterr().out.strip() == f"{run}: paused"
        assert main(["status", str(run)]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"{run}  paused (process {proc.pid} on this machine)"), out
        assert "stylegan2 on proc16.zip (32 images, 16²), batch 4, 1000 kimg" in out
        assert main(["control", str(run), "resume", "--wait", "120"]) == 0
        assert capsys.readouterr().out.strip() == f"{run}: running"
        assert main(["control", str(run), "stop", "--wait", "120"]) == 0
        assert capsys.readouterr().out.strip() == f"{run}: stopped"
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert main(["status", str(run), "--json"]) == 0
    (r,) = json.loads(capsys.readouterr().out)
    assert r["state"] == "stopped" and r["health"] == "ended" and r["latest_snapshot"].startswith("network-snapshot-")
    assert isinstance(r["last_tick"]["loss_G"], float)
    assert main(["status", str(run)]) == 0
    assert f"continue it with: ganscope train --resume {run}" in capsys.readouterr().out
    # nobody trains it now: a command would wait for ever
    assert main(["control", str(run), "stop"]) == 2
    err = capsys.readouterr().err
    assert "nothing trains" in err and "stopped at kimg" in err and f"ganscope train --resume {run}" in err


def test_status_of_folders_that_are_not_runs(tmp_path, capsys):
    assert main(["status", str(tmp_path), str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "is not a training run directory" in err and "no such folder" in err
    assert main(["control", str(tmp_path), "pause"]) == 2
    assert "not a training run directory" in capsys.readouterr().err


def test_status_of_a_folder_of_runs(tmp_path, capsys):
    for name, status in (("00000-a", {"state": "finished", "kimg": 2.0, "total_kimg": 2.0}), ("00001-b", None)):
        d = tmp_path / name
        d.mkdir()
        (d / "training_options.json").write_text(json.dumps({"cfg": "stylegan2", "batch": 4}))
        if status:
            (d / "live_status.json").write_text(json.dumps(status))
        else:                       # copied without its status: a snapshot to go on from
            (d / "network-snapshot-000001.pt").write_bytes(b"")
    (tmp_path / "notes").mkdir()
    assert main(["status", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.index("00000-a  finished") < out.index("00001-b  no live status (a copied run?)")
    assert f"continue it with: ganscope train --resume {tmp_path / '00001-b'}" in out
    assert "notes" not in out
