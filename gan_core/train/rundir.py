"""The run directory: the files a training run writes and the app (or anyone) reads.

This is a contract with the app's Training widget (see docs/notes/training.md):

* ``training_options.json`` — every option of the run;
* ``stats.jsonl`` — one flat JSON object per tick (:data:`STATS_KEYS`; missing values null);
* ``live_preview.png`` — G_ema at fixed seeds, replaced atomically every preview interval;
* ``live_status.json`` — :data:`STATUS_KEYS`, replaced atomically at least as often;
* ``control.json`` — written by the app: ``{"command": "pause"|"resume"|"stop", "time": unix}``;
* ``network-snapshot-NNNNNN.pt`` (NNNNNN = kimg; see ``RunDirectory.sparing_best``), ``fakesNNNNNN.png``, ``reals.png``, ``log.txt``,
  ``broken_images.txt`` when the dataset has unreadable images, and ``metrics.jsonl`` (one line
  per snapshot) when the run measures quality (``--metrics``).

All JSON and PNG files are written to a temporary name and renamed over the target, so a
reader never sees a half-written file.
"""
from __future__ import annotations

import json
import math
import os
import re
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

STATS_KEYS = ("tick", "kimg", "total_kimg", "wall_s", "img_per_s", "sec_per_kimg", "eta_s", "loss_G",
              "loss_D", "loss_r1", "loss_pl", "augment_p", "cpu_mem_gb", "gpu_mem_gb", "timestamp")
STATUS_KEYS = ("state", "kimg", "total_kimg", "img_per_s", "eta_s", "pid", "host", "updated", "error",
               "latest_snapshot", "run_dir")
STATES = ("starting", "running", "paused", "stopped", "finished", "failed")
COMMANDS = ("pause", "resume", "stop")
SNAPSHOT_RE = re.compile(r"^network-snapshot-(\d{6,})\.pt$")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.generic):
        return _json_value(v.item())
    return v


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, default=str) + "\n").encode("utf-8"))


def image_grid(images: np.ndarray, cols: int) -> np.ndarray:
    """``[N, H, W, C]`` uint8 -> one ``[rows·H, cols·W, C]`` grid (missing cells black)."""
    n, h, w, c = images.shape
    rows = (n + cols - 1) // cols
    grid = np.zeros([rows * h, cols * w, c], dtype=np.uint8)
    for i in range(n):
        r, k = divmod(i, cols)
        grid[r * h:(r + 1) * h, k * w:(k + 1) * w] = images[i]
    return grid


def dataset_grid(dataset, cols: int, rows: int) -> np.ndarray:
    """The first ``cols·rows`` images of ``dataset`` (an ``ImageDataset``) as one grid (reals.png)."""
    n = min(cols * rows, dataset.num_images)
    imgs = np.stack([dataset.get_image(i) for i in range(n)]).transpose(0, 2, 3, 1)
    return image_grid(imgs, cols)


def png_bytes(pixels: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def cpu_mem_gb() -> float | None:
    """Resident memory of this process in GiB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 30
    except (OSError, ValueError, IndexError):
        try:
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
        except Exception:  # noqa: BLE001 - not available on this platform
            return None


def list_snapshots(run_dir: str | os.PathLike) -> list[Path]:
    """Snapshot files of a run, oldest first (by kimg, then modification time)."""
    out = []
    for p in Path(run_dir).iterdir():
        m = SNAPSHOT_RE.match(p.name)
        if m and p.is_file():
            out.append((int(m.group(1)), p.stat().st_mtime_ns, p))
    return [p for _, _, p in sorted(out)]


def latest_snapshot(run_dir: str | os.PathLike) -> Path | None:
    snaps = list_snapshots(run_dir)
    return snaps[-1] if snaps else None


# The value of a metrics.jsonl row that ranks snapshots (lower is better), per --metrics, and its name.
QUALITY_KEYS = {"swd": "swd_mean", "fid": "fid"}
QUALITY_NAMES = {"swd_mean": "SWD×10³", "fid": "FID"}


def quality_key(rows: list[dict[str, Any]]) -> str | None:
    """The ranking key of the newest measured row (a resume may have changed --metrics), or None."""
    for row in reversed(rows):
        for key in QUALITY_KEYS.values():
            if isinstance(row.get(key), (int, float)) and not isinstance(row.get(key), bool):
                return key
    return None


def best_measured(run_dir: str | os.PathLike, key: str | None = None) -> dict[str, Any] | None:
    """The metrics.jsonl row with the lowest ``key`` (default: the run's current metric,
    ``quality_key``) whose snapshot file still exists (the newest of equals), or None when
    nothing measured is on disk. Snapshots are pruned oldest first and this one is spared, so it
    is the best of the whole run. A name measured twice (a later snapshot within the same kimg
    replaced the file; never the best one, see ``RunDirectory.sparing_best``) counts with its last
    row only."""
    rows, _ = read_stats(run_dir, name="metrics.jsonl")
    key = key or quality_key(rows)
    if key is None:
        return None
    last = {row.get("snapshot"): row for row in rows if isinstance(row.get("snapshot"), str)}
    best = None
    for row in last.values():
        value, name = row.get(key), row["snapshot"]
        if (not isinstance(value, (int, float)) or isinstance(value, bool) or value != value
                or not SNAPSHOT_RE.match(name) or not (Path(run_dir) / name).is_file()):
            continue
        if best is None or value <= best[key]:
            best = row
    return best


def snapshot_name(cur_nimg: int) -> str:
    return f"network-snapshot-{cur_nimg // 1000:06d}.pt"


def fakes_name(snapshot: str) -> str:
    """The sample grid written with a snapshot: ``fakesNNNNNN.png`` for ``network-snapshot-NNNNNN.pt``."""
    return "fakes" + snapshot.removeprefix("network-snapshot-").removesuffix(".pt") + ".png"


def next_run_dir(outdir: str | os.PathLike, desc: str) -> Path:
    """``OUTDIR/NNNNN-desc`` with NNNNN one more than the highest existing run number."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    ids = [int(m.group(1)) for p in outdir.iterdir() if (m := re.match(r"^(\d+)-", p.name))]
    run_id = max(ids, default=-1) + 1
    return outdir / f"{run_id:05d}-{desc}"


class RunDirectory:
    """Writes one run's files. Only the process with rank 0 makes one."""

    def __init__(self, path: str | os.PathLike, total_kimg: float) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.total_kimg = float(total_kimg)
        self.started = time.time()
        self.host = socket.gethostname()
        self.status: dict[str, Any] = {k: None for k in STATUS_KEYS}
        self.status.update(state="starting", kimg=0.0, total_kimg=self.total_kimg, pid=os.getpid(),
                           host=self.host, run_dir=str(self.path.resolve()))
        self._control_mtime: tuple[int, int, int] | None = None
        self.control_path = self.path / "control.json"
        # Commands older than this run (a leftover "stop" from a previous session) are ignored.
        self._control_since = self.started
        self.latest_snapshot_path: Path | None = latest_snapshot(self.path) if self.path.exists() else None
        if self.latest_snapshot_path is not None:
            self.status["latest_snapshot"] = self.latest_snapshot_path.name

    def file(self, name: str) -> Path:
        return self.path / name

    def sparing_best(self, name: str, cur_nimg: int) -> str:
        """The file name for the snapshot at ``cur_nimg``: ``name``, unless writing it would replace
        the best measured snapshot, taken at another image count within the same kimg (a stop, or
        a short snapshot interval, right after a snapshot that measured best): then the next
        kimg's name, so that the best one stays on disk. Names say which snapshot is newer;
        the exact image count is inside each file and in metrics.jsonl."""
        best = best_measured(self.path)
        if best is None or best.get("snapshot") != name or not self.file(name).is_file():
            return name
        kimg = best.get("kimg")
        if isinstance(kimg, (int, float)) and round(kimg * 1000) == cur_nimg:
            return name   # the same state again
        m = SNAPSHOT_RE.match(name)
        return snapshot_name((int(m.group(1)) + 1) * 1000) if m else name

    # -- logs and stats ------------------------------------------------------------------------

    def log(self, line: str, echo: bool = True) -> None:
        if echo:
            print(line, flush=True)
        with open(self.path / "log.txt", "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def write_options(self, options: dict[str, Any]) -> None:
        atomic_write_json(self.path / "training_options.json", options)

    def append_metrics(self, row: dict[str, Any]) -> None:
        """One line of metrics.jsonl (the quality measured at a snapshot, ``train.metrics``)."""
        with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({k: _json_value(v) for k, v in row.items()}) + "\n")
            f.flush()

    def append_stats(self, values: dict[str, Any]) -> dict[str, Any]:
        """Append one line with every key of STATS_KEYS (None when missing) plus any extras."""
        row = {k: _json_value(values.get(k)) for k in STATS_KEYS}
        row.update({k: _json_value(v) for k, v in values.items() if k not in row})
        with open(self.path / "stats.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
        return row

    # -- live files ----------------------------------------------------------------------------

    def write_status(self, **changes: Any) -> dict[str, Any]:
        unknown = set(changes) - set(STATUS_KEYS)
        if unknown:
            raise KeyError(f"unknown live_status keys {sorted(unknown)}")
        if "state" in changes and changes["state"] not in STATES:
            raise ValueError(f"unknown state {changes['state']!r}")
        self.status.update({k: _json_value(v) for k, v in changes.items()})
        self.status["updated"] = time.time()
        atomic_write_json(self.path / "live_status.json", self.status)
        return dict(self.status)

    def write_png(self, name: str, pixels: np.ndarray) -> Path:
        target = self.path / name
        atomic_write_bytes(target, png_bytes(pixels))
        return target

    # -- control -------------------------------------------------------------------------------

    def poll_control(self) -> str | None:
        """The new command in control.json since the last poll, or None. Cheap: one stat call
        unless the file changed. Unreadable or stale files are ignored."""
        try:
            st = self.control_path.stat()
        except OSError:
            return None
        key = (st.st_mtime_ns, st.st_ino, st.st_size)  # an atomic replace always changes the inode
        if key == self._control_mtime:
            return None
        self._control_mtime = key
        try:
            obj = json.loads(self.control_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(obj, dict) or obj.get("command") not in COMMANDS:
            return None
        t = obj.get("time")
        if isinstance(t, (int, float)) and t < self._control_since - 1.0:
            return None
        return obj["command"]

    # -- snapshots -----------------------------------------------------------------------------

    def prune_snapshots(self, keep: int, protect: Path | None = None) -> list[Path]:
        """Delete all but the newest ``keep`` snapshots and ``protect`` (the best measured one,
        which the newest K of a run whose quality swings would otherwise lose); returns what was
        deleted."""
        snaps = list_snapshots(self.path)
        gone = [p for p in (snaps[:-keep] if keep > 0 else []) if protect is None or p.name != protect.name]
        for p in gone:
            try:
                p.unlink()
            except FileNotFoundError:
                pass
        return gone

    def clean_temporaries(self) -> None:
        """Remove leftover temporary files of a killed run (``.network-snapshot-….tmp``)."""
        for p in self.path.glob(".*.tmp"):
            try:
                p.unlink()
            except OSError:
                pass


# -- the reader's side (the app, scripts): plain file I/O -----------------------------------------------


def send_command(run_dir: str | os.PathLike, command: str) -> None:
    """Ask the trainer of ``run_dir`` to pause, resume or stop (writes control.json atomically)."""
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}; use {', '.join(COMMANDS)}")
    atomic_write_json(Path(run_dir) / "control.json", {"command": command, "time": time.time()})


def read_json_dict(path: str | os.PathLike) -> dict[str, Any] | None:
    """A JSON object from a file, or None when it does not exist (yet), cannot be read or is
    not an object (the run files are replaced atomically, but may be from another program)."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def read_status(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """live_status.json as a dict, or None when it does not exist (yet) or cannot be read."""
    return read_json_dict(Path(run_dir) / "live_status.json")


def read_stats(run_dir: str | os.PathLike, offset: int = 0,
               name: str = "stats.jsonl") -> tuple[list[dict[str, Any]], int]:
    """(rows of stats.jsonl — or another .jsonl of the run, e.g. metrics.jsonl — from byte
    ``offset`` on, the offset to pass next time). Only complete lines are returned, so polling
    while the trainer appends never yields half a row."""
    path = Path(run_dir) / name
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1
    rows = []
    for line in data[:end].splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows, offset + end

