"""What a trainer must provide for the run-directory loop (``gan_core.train.loop.TrainingLoop``).

The loop owns everything the run-directory contract (``gan_core.train.rundir``) promises: ticks,
stats.jsonl rows, live_preview.png / live_status.json, control.json (pause/resume/stop),
SIGINT/SIGTERM, periodic and final snapshots. A trainer owns the networks, the objective and the
exact-resume state. Four trainers implement this protocol, in one process or several:

* ``gan_core.train.trainer.Trainer`` — StyleGAN2, StyleGAN3-T/R;
* ``gan_core.train.families.ProgressiveRunTrainer`` — StyleGAN1 progressive growing;
* ``gan_core.train.families.BigGANRunTrainer`` — BigGAN and BigGAN-deep;
* ``gan_core.train.distill.DistillRunTrainer`` — MobileStyleGAN distillation.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from gan_core.data.dataset import ImageDataset
from gan_core.train.distributed import DistInfo
from gan_core.train.rundir import RunDirectory


class LoopTrainer(Protocol):
    # Resolved options; the loop reads cfg, kimg, tick, tick_seconds, snap, preview_interval and grid.
    o: Any
    # The training images (the loop writes the first grid of them as reals.png); None for
    # distillation, whose teacher makes the targets.
    dataset: ImageDataset | None
    # The run directory (None on processes other than rank 0), the process group and the device.
    run: RunDirectory | None
    dist: DistInfo
    device: torch.device
    # Counters: images shown so far (kimg = cur_nimg / 1000), optimizer steps, ticks (the loop
    # increments ``tick``; it is part of the snapshot), the image count of the last snapshot.
    cur_nimg: int
    step_idx: int
    tick: int
    last_snapshot_nimg: int | None

    def step(self) -> None:
        """One training step; advances cur_nimg and step_idx."""

    def tick_stats(self) -> dict[str, Any]:
        """This tick's values for stats.jsonl: the ``rundir.STATS_KEYS`` loss_G, loss_D, loss_r1,
        loss_pl, augment_p (None where they do not apply) plus family extras; resets the means."""

    def describe(self) -> str:
        """The log line that starts (or continues) a session."""

    def render_grid(self) -> np.ndarray:
        """The preview: G_ema at the fixed grid seeds, ``[H, W, C]`` uint8."""

    def save_snapshot(self) -> Path | None:
        """Write network-snapshot-NNNNNN.pt (networks + the training state that makes a resume
        exact) and fakesNNNNNN.png, keep the newest K, set last_snapshot_nimg."""

    def wall_s(self) -> float:
        """Training wall time including earlier sessions of a resumed run."""

    def ranks_in_sync(self) -> bool:
        """Whether every process holds the same networks (True for one process)."""

    def close(self) -> None:
        """Release the data loader and the dataset."""


class TickStats:
    """Per-tick means of logged values, shared by every trainer: ``_record`` adds values,
    ``take_stats`` returns the means since the last call (None for a value never computed).

    Values may be Python numbers or 0-dim tensors. Tensors are summed where they are (in
    float64, as the Python floats were), so recording a device value does not wait for the
    device; ``take_stats`` reads all the sums with one transfer per device."""

    stats: dict[str, list[Any]]

    def _record(self, values: dict[str, Any]) -> None:
        for k, v in values.items():
            s = self.stats.setdefault(k, [0.0, 0])
            if isinstance(v, torch.Tensor):
                s[0] = v.detach().double() + s[0]
            else:
                s[0] += float(v)
            s[1] += 1

    def take_stats(self) -> dict[str, float | None]:
        sums = {k: s[0] for k, s in self.stats.items()}
        by_device: dict[torch.device, list[str]] = {}
        for k, v in sums.items():
            if isinstance(v, torch.Tensor):
                by_device.setdefault(v.device, []).append(k)
        for keys in by_device.values():
            for k, v in zip(keys, torch.stack([sums[k] for k in keys]).tolist()):
                sums[k] = v
        out = {k: (sums[k] / s[1] if s[1] else None) for k, s in self.stats.items()}
        self.stats = {}
        return out
