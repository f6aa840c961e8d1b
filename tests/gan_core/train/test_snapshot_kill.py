"""Killing a run while it writes a snapshot leaves the previous snapshot intact and resumable."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import gan_core
from gan_core.train import Trainer
from gan_core.train.rundir import latest_snapshot, list_snapshots

from .conftest import tiny_options

CHILD = textwrap.dedent("""
    import io, sys, time, torch
    from gan_core.train import Trainer, TrainOptions
    opts = TrainOptions(data=sys.argv[1], run_dir=sys.argv[2], kimg=1, batch=4, cbase=128, cmax=16, map=2,
                        z_dim=16, w_dim=16, workers=0, grid=(2, 2), keep_snapshots=int(sys.argv[3]))
    t = Trainer(opts)
    t.step()
    t.save_snapshot()                       # network-snapshot-000000.pt after 1 step
    t.step()
    real_save = torch.save
    def half_then_hang(obj, f, *a, **k):    # the process is killed half-way through the write
        buf = io.BytesIO(); real_save(obj, buf); data = buf.getvalue()
        f.write(data[: len(data) // 2]); f.flush()
        print("WRITING", flush=True)
        time.sleep(600)
    torch.save = half_then_hang
    t.save_snapshot()                       # same name (kimg 0): would replace the first
""")


def test_kill_during_snapshot_keeps_previous(tiny_zip, tmp_path):
    keep = 5
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tiny_zip), str(run), str(keep)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "WRITING", proc.stderr.read()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [p.name for p in list_snapshots(run)] == ["network-snapshot-000000.pt"]
    assert list(run.glob(".network-snapshot-*.tmp")), "the half-written temporary file should be left behind"
    ck = gan_core.load_checkpoint(latest_snapshot(run))
    assert ck.training_state["step"] == 1 and ck.G is not None and ck.D is not None
    # Resuming from the folder picks that snapshot and removes the leftover temporary file.
    t = Trainer(tiny_options(tiny_zip, None, kimg=1, resume=str(run)))
    try:
        assert t.step_idx == 1 and t.cur_nimg == 4
        assert not list(run.glob(".network-snapshot-*.tmp"))
    finally:
        t.close()
