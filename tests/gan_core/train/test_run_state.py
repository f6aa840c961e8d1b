"""A run directory seen from outside: is anything still training it, and what does it train."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

from gan_core.train.run_state import (RunHealth, describe_options, live_trainer, process_alive, run_health,
                                      silent_after)


def _ended_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_process_alive_on_this_machine_only():
    host = socket.gethostname()
    assert process_alive(os.getpid(), host) is True
    assert process_alive(_ended_pid(), host) is False
    assert process_alive(os.getpid(), host + "-elsewhere") is None     # cannot tell
    assert process_alive(None, host) is None and process_alive(True, host) is None
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])         # exits, not reaped yet
    deadline = time.monotonic() + 30
    while process_alive(zombie.pid, host) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_alive(zombie.pid, host) is False
    zombie.wait()


def test_describe_options_names_what_a_run_trains():
    opts = {"cfg": "stylegan2", "batch": 32, "kimg": 1000.0, "world_size": 2, "data": "/d/proc32.zip",
            "dataset": {"path": "/d/proc32.zip", "num_images": 5000, "resolution": 32}}
    assert describe_options(opts) == "stylegan2 on proc32.zip (5000 images, 32²), batch 32, 1000 kimg, 2 processes"
    assert describe_options({"cfg": "mobilestylegan-distill", "teacher": "/m/ffhq.pkl", "batch": 8, "kimg": 50}) == \
        "mobilestylegan-distill from ffhq.pkl, batch 8, 50 kimg"
    # partial or damaged options give what they can, never an exception
    assert describe_options({"cfg": "stylegan3-t", "dataset": "oops", "batch": "x"}) == "stylegan3-t"
    assert describe_options(None) == "" and describe_options([1, 2]) == ""


def test_run_health_from_the_files_alone():
    here = socket.gethostname()
    base = {"state": "running", "kimg": 2.5, "pid": os.getpid(), "host": here, "updated": time.time()}
    assert run_health(None) == RunHealth("unknown") and run_health({}).kind == "unknown"
    assert run_health(base) == RunHealth("alive", f"process {os.getpid()} on this machine")
    assert run_health({**base, "state": "failed"}) == RunHealth("ended", "failed at kimg 2.5")
    assert run_health(base, process_exit=-9).text == "its process exited (code -9) without ending the run, at kimg 2.5"
    assert run_health({**base, "pid": _ended_pid()}).kind == "gone"
    far = {**base, "host": "trainbox", "pid": 77}
    assert run_health(far) == RunHealth("alive", "on trainbox")
    h = run_health({**far, "updated": time.time() - 7200})
    assert h.kind == "silent" and h.text == "no news from trainbox for 2 h 0 min, at kimg 2.5" and not h.can_continue
    assert run_health({**far, "updated": time.time() - 7200}, quiet_s=3.0).kind == "alive"   # the caller's clock wins


def test_silence_allows_for_slow_previews_and_steps():
    assert silent_after(None, None) == 300
    assert silent_after({}, {"preview_interval": 60, "batch": 32}) == 600
    assert silent_after({"img_per_s": 0.1}, {"batch": 32}) == 1600     # a 320 s step: five of them


def test_live_trainer_names_who_holds_a_folder(tmp_path):
    def status(**fields):
        (tmp_path / "live_status.json").write_text(json.dumps(
            {"state": "running", "pid": os.getpid(), "host": socket.gethostname(), "updated": time.time(), **fields}))
    assert live_trainer(tmp_path) is None                          # no status at all
    status()
    assert live_trainer(tmp_path) is None                          # this very process: it is resuming itself
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        status(pid=other.pid)
        assert live_trainer(tmp_path) == f"process {other.pid} on this machine"
        status(pid=other.pid, state="paused")
        assert live_trainer(tmp_path) == f"process {other.pid} on this machine"
        status(pid=other.pid, state="stopped")
        assert live_trainer(tmp_path) is None
    finally:
        other.kill()
        other.wait()
    status(pid=other.pid)
    assert live_trainer(tmp_path) is None                          # killed: nobody
    status(host="trainbox", updated=time.time() - 30)
    assert live_trainer(tmp_path) == "trainbox, whose last status update was 30 s ago"
    status(host="trainbox", updated=time.time() - 3600)
    assert live_trainer(tmp_path) is None
