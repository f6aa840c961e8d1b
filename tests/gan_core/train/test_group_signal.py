"""Ctrl+C / SIGTERM sent to a run's whole process group (a terminal, a service manager) stops it
cleanly even with data-loading workers: they ignore it, the trainer finishes its step, writes a
snapshot and ends "stopped"."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_to_the_process_group_with_workers(tiny_zip, tmp_path, sig):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "gan_core", "train", "--data", str(tiny_zip), "--run-dir", str(run),
           "--cfg", "stylegan2", "--kimg", "1000", "--batch", "4", "--cbase", "128", "--cmax", "16", "--map", "2",
           "--zdim", "16", "--wdim", "16", "--workers", "1", "--tick", "0.004", "--no-progress", "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        end = time.time() + 180
        while time.time() < end:
            st = run / "stats.jsonl"
            if st.exists() and len(st.read_text().splitlines()) >= 2:
                break
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read()[-2000:])
            time.sleep(0.2)
        else:
            raise AssertionError("the run did not start")
        os.killpg(proc.pid, sig)                 # everyone in the group: trainer and data workers
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    status = json.loads((run / "live_status.json").read_text())
    assert status["state"] == "stopped" and status["error"] is None
    assert (run / status["latest_snapshot"]).exists()


SCRIPT_NEVER_CLOSES = """
import sys
from gan_core.train import TrainOptions
from gan_core.train.families import make_trainer
opts = TrainOptions(data=sys.argv[1], run_dir=sys.argv[2], cfg=sys.argv[3], kimg=0.016, batch=4, cbase=128,
                    cmax=16, map=2, z_dim=16, w_dim=16, workers=1, snap=0, grid=(2, 2), device="cpu")
trainer = make_trainer(opts)
for _ in range(2):
    trainer.step()
print("stepped", flush=True)
# no trainer.close(): the interpreter has to shut the workers down by itself
"""


@pytest.mark.parametrize("cfg", ["stylegan2", "biggan"])
def test_a_script_that_never_closes_its_trainer_still_exits(tiny_zip, tmp_path, cfg):
    # The workers ignore SIGTERM, and multiprocessing stops daemonic children at exit with SIGTERM
    # before joining them: without closing the loader first, this process used to hang for ever.
    proc = subprocess.run([sys.executable, "-c", SCRIPT_NEVER_CLOSES, str(tiny_zip), str(tmp_path / "run"), cfg],
                          capture_output=True, text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0 and "stepped" in proc.stdout, proc.stderr[-2000:]
