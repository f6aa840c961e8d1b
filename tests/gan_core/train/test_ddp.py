"""Two processes (torchrun, gloo on the CPU) train one model with averaged gradients."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import gan_core


@pytest.mark.slow
def test_two_process_gloo_ddp_trains(tiny_zip, tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "gan_core", "train", "--data", str(tiny_zip), "--run-dir", str(run), "--kimg", "0.024",
           "--batch", "8", "--batch-gpu", "2", "--cbase", "128", "--cmax", "16", "--map", "2", "--zdim", "16",
           "--wdim", "16", "--workers", "0", "--tick", "0.008", "--no-progress", "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    options = json.loads((run / "training_options.json").read_text())
    assert options["world_size"] == 2 and options["gpus"] == 2
    rows = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert rows[-1]["kimg"] == pytest.approx(0.024) and rows[-1]["step"] == 3
    assert all(r["loss_G"] is not None and r["loss_D"] is not None for r in rows)
    assert "2 process(es) × 2 × 2" in (run / "log.txt").read_text()  # 2 processes × 2 accumulation rounds × 2
    assert "2 processes in sync: yes" in (run / "log.txt").read_text()  # gradients averaged identically
    ck = gan_core.load_checkpoint(run / "network-snapshot-000000.pt")
    assert ck.training_state["cur_nimg"] == 24 and ck.training_state["world_size"] == 2
    assert all(torch.isfinite(p).all() for p in ck.G.parameters())
    # Training moved the weights away from the seed's initialisation.
    from gan_core.train.options import TrainOptions, build_networks, resolve
    torch.manual_seed(0)
    o = resolve(TrainOptions(**{k: options[k] for k in ("cfg", "batch", "batch_gpu", "cbase", "cmax", "map",
                                                        "z_dim", "w_dim", "gamma")}), 16, 2)
    G0, _ = build_networks(o, 16, 3, 0)
    moved = [not torch.equal(a, b) for a, b in zip(G0.state_dict().values(), ck.G.state_dict().values())]
    assert any(moved)
