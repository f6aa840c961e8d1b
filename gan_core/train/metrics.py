"""Quality measured at each snapshot of a training run (``--metrics swd|fid``; every family).

G_ema's images for the seeds 0…N−1 (constant noise, no truncation) against the dataset's first N
images, by one of:

* ``swd``: the sliced Wasserstein distance (``gan_core.analysis.swd``); needs no pretrained
  network. Row keys ``swd_<res>`` per pyramid level and ``swd_mean``.
* ``fid``: the Fréchet Inception distance (``gan_core.analysis.fid``), as the official trainer
  measures at every snapshot; needs the local Inception weights file (``--inception``; nothing
  is downloaded). Row keys ``fid`` (which ranks snapshots) and ``kid``. The dataset's statistics
  are computed once per process.

Rank 0 measures; one line per snapshot goes to ``metrics.jsonl`` (``kimg``, ``snapshot``, the
metric's keys, ``num``, ``seconds``, ``timestamp``) and to log.txt, so the app and ``ganscope
status`` show it. Pruning then spares the best measured snapshot (``SnapshotQuality``).
"""
from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F

from gan_core.train.rundir import RunDirectory, best_measured

METRICS = ("none", "swd", "fid")


class SnapshotMetrics:
    """Measures G_ema against the dataset; the real images' patches (SWD) or feature statistics
    (FID) are gathered once."""

    def __init__(self, name: str, num: int, dataset, device: torch.device, batch: int = 16,
                 inception: str | None = None) -> None:
        if name not in METRICS or name == "none":
            raise ValueError(f"unknown metric {name!r}: use one of {', '.join(METRICS)}")
        self.name = name
        self.inception = inception
        self._net = None
        self.num = min(int(num), dataset.num_images)
        self.dataset = dataset
        self.device = device
        self.batch = batch
        self._reference = None

    def _new_set(self, seed: int):
        """An empty accumulator of this metric (SWD: patches; FID: Inception feature statistics)."""
        if self.name == "swd":
            from gan_core.analysis.swd import PatchSet
            return PatchSet(seed=seed)
        from gan_core.analysis.fid import load_inception
        if self._net is None:
            self._net = load_inception(self.inception, self.device)
        return _InceptionSet(self._net)

    def _reals(self):
        ref = self._new_set(seed=0)
        for start in range(0, self.num, self.batch):
            imgs = [torch.from_numpy(self.dataset.get_image(i)) for i in range(start, min(start + self.batch, self.num))]
            ref.add(_rgb(torch.stack(imgs).float()))
        return ref

    def measure(self, G_ema: torch.nn.Module) -> dict[str, Any]:
        """{"swd_<res>": …, "swd_mean": …} or {"fid": …}, plus "num": N, "seconds": … for ``G_ema`` now."""
        from gan_core.analysis.image_sources import iter_generator_images

        t0 = time.time()
        if self._reference is None:
            self._reference = self._reals()
        fakes = self._new_set(seed=1)
        res = self.dataset.resolution
        with torch.no_grad():
            for imgs in iter_generator_images(G_ema, self.num, self.batch, seed=0, device=self.device):
                if imgs.shape[-1] != res:   # a progressive run's lower stage, compared at the data's size
                    imgs = F.interpolate(imgs, size=(res, res), mode="nearest")
                fakes.add(_rgb(imgs))
        if self.name == "swd":
            from gan_core.analysis.swd import swd
            row: dict[str, Any] = {f"swd_{k}": round(v, 4) for k, v in swd(self._reference, fakes).items()}
        else:
            from gan_core.analysis.fid import fid_many, kid_many
            row = {"fid": round(fid_many(self._reference.stats, [fakes.stats])[0], 4),
                   "kid": round(kid_many(self._reference.stats, [fakes.stats])[0][0], 6)}
        row.update(num=self.num, seconds=round(time.time() - t0, 2))
        return row


class _InceptionSet:
    """Images in, FID statistics of their Inception features kept (``stats``)."""

    def __init__(self, net: torch.nn.Module) -> None:
        from gan_core.analysis.fid import FeatureStats
        self.net, self.stats = net, FeatureStats()

    def add(self, images: torch.Tensor) -> None:
        from gan_core.analysis.fid import inception_features
        self.stats.add(inception_features(self.net, images))


class SnapshotQuality:
    """What every trainer does after writing a snapshot (rank 0): with ``--metrics``, measure G_ema
    into metrics.jsonl and the log, then keep the newest ``--keep-snapshots`` snapshots plus the
    best measured one still on disk (measured first, so that a new best is spared at once). A
    measurement that fails (the Inception file gone, out of memory) is logged and the run goes on."""

    def __init__(self, o: Any, dataset, device: torch.device) -> None:
        self.o, self.dataset, self.device = o, dataset, device
        self._meter: SnapshotMetrics | None = None   # made at the first snapshot that measures

    def after_snapshot(self, run: RunDirectory, name: str, G_ema: torch.nn.Module, cur_nimg: int) -> None:
        best = None
        if self.o.metrics not in (None, "none"):
            if self._meter is None:
                self._meter = SnapshotMetrics(self.o.metrics, self.o.metrics_num, self.dataset, self.device,
                                              inception=getattr(self.o, "inception", None))
            try:
                row = self._meter.measure(G_ema)
            except Exception as e:  # noqa: BLE001 - a measurement must not end the training it watches
                run.log(f"metric {self.o.metrics} failed for {name} ({type(e).__name__}: {e}); training goes on, "
                        f"this snapshot unmeasured", echo=True)
                row = None
            if row is not None:
                run.append_metrics({"kimg": round(cur_nimg / 1000, 6), "snapshot": name, **row,
                                    "timestamp": time.time()})
                run.log(describe(row), echo=False)
            best = best_measured(run.path)
        run.prune_snapshots(self.o.keep_snapshots, protect=run.file(best["snapshot"]) if best else None)


def describe(row: dict[str, Any]) -> str:
    """A log line for one metrics row."""
    if isinstance(row.get("fid"), (int, float)):
        kid = f", KID×10³ {row['kid'] * 1e3:.3f}" if isinstance(row.get("kid"), (int, float)) else ""
        return f"metric fid ({row.get('num')} images): {row['fid']:.3f}{kid} in {row.get('seconds', 0):.0f} s"
    levels = ", ".join(f"{k[4:]}²: {v:.2f}" for k, v in row.items()
                       if k.startswith("swd_") and k != "swd_mean" and isinstance(v, (int, float)))
    return (f"metric swd ({row.get('num')} images): mean {row.get('swd_mean', float('nan')):.2f} ({levels}) "
            f"in {row.get('seconds', 0):.0f} s")


def _rgb(images: torch.Tensor) -> torch.Tensor:
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
