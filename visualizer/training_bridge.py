"""The app's side of training: start a run as a separate process, or watch any run directory
(one started here, from the command line, or on another machine through a shared folder) by
reading the files the trainer writes (see ``gan_core.train.rundir``); pause / resume / stop by
writing ``control.json``. No GUI here: the Training panel draws what ``RunWatcher.poll`` returns.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gan_core.train.run_state import (ENDED_STATES, RunHealth, describe_options, kimg_text, run_health,
                                      silent_after)
from gan_core.train.rundir import COMMANDS, atomic_write_json, best_measured, quality_key, read_json_dict

CONFIGS = ("stylegan2", "stylegan3-t", "stylegan3-r", "stylegan1", "biggan", "biggan-deep", "mobilestylegan")
# The config that runs `ganscope distill` (MobileStyleGAN from a StyleGAN2 teacher): the panel's
# dataset field names the teacher, the teacher sets the resolution and the student's widths.
DISTILL = "mobilestylegan"
# The configs `ganscope train --bf16` applies to (the panel's bfloat16 checkbox).
BF16_CONFIGS = ("stylegan2", "stylegan3-t", "stylegan3-r")
# Options the panel sets from its own fields (refused in its free-form options box).
PANEL_FLAGS = ("--data", "--run-dir", "--outdir", "--cfg", "--batch", "--kimg", "--resume", "--preview-interval",
               "--no-progress", "--bf16")
# Options a continued run cannot take: where it lives and what it resumes are fixed, kimg has its field.
CONTINUE_FIXED = ("--run-dir", "--outdir", "--resume", "--kimg", "--no-progress")
# A network small enough to learn the procedural data on a CPU in minutes.
SMALL_NETWORK = ["--cbase", "2048", "--cmax", "64", "--map", "2", "--zdim", "64", "--wdim", "64"]


class JsonlFollower:
    """Reads the rows a trainer appends to a .jsonl file, each once: an unfinished last line
    waits for the rest, a file that shrank (rewritten) is read again from the start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        self._offset = 0
        self._partial = b""

    def read_new(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < self._offset:
                    self._offset, self._partial, self.rows = 0, b"", []
                f.seek(self._offset)
                chunk = f.read()
        except OSError:
            return []
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        rows = []
        for line in lines:
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(row, dict):
                rows.append(row)
        self.rows.extend(rows)
        return rows


@dataclass
class RunUpdate:
    """What changed since the last poll."""

    status: dict[str, Any] | None = None           # live_status.json, when it changed
    new_stats: list[dict[str, Any]] = field(default_factory=list)   # new stats.jsonl rows
    new_metrics: list[dict[str, Any]] = field(default_factory=list)  # new metrics.jsonl rows (--metrics)
    preview: np.ndarray | None = None              # [H, W, 3] uint8, when a new preview landed
    options: dict[str, Any] | None = None          # training_options.json, first time it is seen
    process_exit: int | None = None                # exit code of a run this app started
    process_said: str = ""                         # … and the last line it printed
    broken_images: int | None = None               # unreadable dataset images skipped so far, when it grew
    problem: str | None = None                     # e.g. the folder is not a run directory


class RunWatcher:
    """Follows one run directory. ``poll`` is cheap (stat calls) when nothing changed."""

    def __init__(self, run_dir: str | os.PathLike, process: subprocess.Popen | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.process = process
        self._mtimes: dict[str, float] = {}
        self._stats = JsonlFollower(self.run_dir / "stats.jsonl")
        self._metrics = JsonlFollower(self.run_dir / "metrics.jsonl")
        self.status: dict[str, Any] = {}
        self.options: dict[str, Any] | None = None
        self._exit_reported = False
        self._status_seen: float | None = None   # monotonic time live_status.json last changed

    def _changed(self, name: str) -> bool:
        try:
            m = (self.run_dir / name).stat().st_mtime_ns
        except OSError:
            return False
        if self._mtimes.get(name) == m:
            return False
        self._mtimes[name] = m
        return True

    def poll(self) -> RunUpdate:
        up = RunUpdate()
        if not self.run_dir.is_dir():
            up.problem = f"{self.run_dir} does not exist (yet)"
        if self.options is None and self._changed("training_options.json"):
            self.options = read_json_dict(self.run_dir / "training_options.json")
            up.options = self.options
        if self._changed("live_status.json"):
            st = read_json_dict(self.run_dir / "live_status.json")
            if isinstance(st, dict):
                self._note_status_change(st)
                self.status = st
                up.status = st
        if self._changed("stats.jsonl"):
            up.new_stats = self._stats.read_new()
        if self._changed("metrics.jsonl"):
            up.new_metrics = self._metrics.read_new()
        if self._changed("broken_images.txt"):
            up.broken_images = count_broken_images(self.run_dir / "broken_images.txt")
        if self._changed("live_preview.png"):
            up.preview = _read_png(self.run_dir / "live_preview.png")
        if self.process is not None and not self._exit_reported:
            code = self.process.poll()
            if code is not None:
                self._exit_reported = True
                up.process_exit = code
                up.process_said = last_line(self.run_dir / "process_output.txt")
        if up.problem is None and not self.status and self.options is None and self.process is None \
                and not (self.run_dir / "live_status.json").exists():
            up.problem = f"{self.run_dir} is not a training run directory (no live_status.json)"
        return up

    def _note_status_change(self, st: dict[str, Any]) -> None:
        now = time.monotonic()
        if self._status_seen is None and isinstance(st.get("updated"), (int, float)):
            # First sight (attaching to an old run): date the change by the writer's clock. A
            # writer on another machine with a skewed clock is corrected by its next update,
            # which is timed here by this machine's clock only.
            now -= max(0.0, time.time() - float(st["updated"]))
        self._status_seen = now

    def health(self) -> RunHealth:
        """Whether something still trains this run (``gan_core.train.run_state.RunHealth``)."""
        status, code = self.status, None
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            st = read_json_dict(self.run_dir / "live_status.json")   # its last word may not be read yet
            if isinstance(st, dict) and st.get("state") in ENDED_STATES:
                status, code = st, None
        quiet = time.monotonic() - self._status_seen if self._status_seen is not None else 0.0
        return run_health(status, self.options, quiet_s=quiet, process_exit=code)

    def silent_after(self) -> float:
        """Seconds without a status change after which a live run is called silent."""
        return silent_after(self.status, self.options)

    def send(self, command: str) -> None:
        """Ask the trainer to pause, resume or stop (it polls control.json)."""
        if command not in COMMANDS:
            raise ValueError(f"command must be one of {', '.join(COMMANDS)}, got {command!r}")
        atomic_write_json(self.run_dir / "control.json", {"command": command, "time": time.time()})

    def latest_snapshot(self) -> Path | None:
        name = self.status.get("latest_snapshot")
        if name and (self.run_dir / name).is_file():
            return self.run_dir / name
        snaps = sorted(self.run_dir.glob("network-snapshot-*.pt"))
        return snaps[-1] if snaps else None

    @property
    def stats(self) -> list[dict[str, Any]]:
        """Every stats.jsonl row read so far."""
        return self._stats.rows

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """Every metrics.jsonl row read so far (one per snapshot of a run with --metrics)."""
        return self._metrics.rows

    def series(self, key: str) -> tuple[list[float], list[float]]:
        """(kimg, value) for one stats or metrics key, skipping rows where it is null."""
        xs, ys = [], []
        for row in self.metrics if key.startswith("swd_") or key == "fid" else self.stats:
            v, k = row.get(key), row.get("kimg")
            if isinstance(v, (int, float)) and isinstance(k, (int, float)):
                xs.append(float(k))
                ys.append(float(v))
        return xs, ys


def count_broken_images(path: Path) -> int:
    """How many different images broken_images.txt names (each loader process reports its own)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return 0
    return len({line.strip() for line in lines if line.strip()})   # a repeat is the same line


def last_line(path: Path, max_bytes: int = 4096) -> str:
    """The last non-empty line of a text file (e.g. a trainer's one-line error), or ""."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - max_bytes))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [x.strip() for x in tail.replace("\r", "\n").splitlines() if x.strip()]
    return lines[-1] if lines else ""


def _read_png(path: Path) -> np.ndarray | None:
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError):
        return None


@dataclass
class RunRequest:
    """What the Training panel asks for. ``data`` may be ``procedural:COUNT`` (made first, at
    ``resolution``, inside the run directory)."""

    data: str
    run_dir: str
    cfg: str = "stylegan3-t"
    resolution: int = 64
    batch: int = 16
    kimg: float = 50.0
    small_network: bool = True
    bf16: bool = False              # --bf16: on the CPU, train the reduced-precision blocks in bfloat16
    preview_interval: float = 5.0
    extra: list[str] = field(default_factory=list)     # more `ganscope train` options

    def check(self) -> None:
        for arg in self.extra:
            flag = arg.split("=", 1)[0]
            if flag in PANEL_FLAGS or flag == "--teacher":
                raise ValueError(f"{flag} is set by the panel's own field, not in the options box")
        if self.cfg not in CONFIGS:
            raise ValueError(f"config must be one of {', '.join(CONFIGS)}, got {self.cfg!r}")
        if self.bf16 and self.cfg not in BF16_CONFIGS:
            raise ValueError(f"bfloat16 training is for {' / '.join(BF16_CONFIGS)}; {self.cfg} trains in float32 "
                             f"on the CPU")
        if self.cfg == DISTILL:
            from gan_core.models.demo import NAMED_DEMOS
            if not self.data or self.data.startswith("procedural:"):
                raise ValueError("distillation needs a StyleGAN2 teacher in the teacher field: a checkpoint file or "
                                 "demo-sg2")
            if self.data not in NAMED_DEMOS and not os.path.exists(self.data):
                raise ValueError(f"teacher {self.data} does not exist")
        elif not self.data:
            raise ValueError("give a dataset: a zip, an image folder, an LMDB, or procedural:COUNT")
        elif not self.data.startswith("procedural:") and not os.path.exists(self.data):
            raise ValueError(f"dataset {self.data} does not exist")
        if self.batch < 1 or self.kimg <= 0:
            raise ValueError("batch must be >= 1 and kimg > 0")
        if self.resolution < 8 or self.resolution & (self.resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {self.resolution}")
        if holds_run(self.run_dir):
            raise ValueError(f"{self.run_dir} already holds a run: attach to it, or pick another folder")


def parse_extra_options(text: str) -> list[str]:
    """The Training panel's options box (``--gamma 0.5 --mirror true``) as arguments; the trainer
    itself checks names and values (a bad one ends the process with its one-line error)."""
    try:
        args = shlex.split(text)
    except ValueError as e:
        raise ValueError(f"options: {e} in {text!r}") from None
    if args and not args[0].startswith("--"):
        raise ValueError(f"options must start with an option name such as --gamma, got {args[0]!r}")
    return args


def bf16_hint() -> str:
    """The bfloat16 checkbox's tooltip: what --bf16 does, and whether this CPU runs it natively."""
    from gan_core.models.half import cpu_bfloat16_speedup_expected

    has = cpu_bfloat16_speedup_expected()
    cpu = {True: "This CPU has bfloat16 arithmetic (AVX-512 BF16 or AMX).",
           False: "This CPU lacks bfloat16 arithmetic (no AVX-512 BF16 or AMX): it would be emulated, "
                  "slower than float32.",
           None: "Whether this CPU has bfloat16 arithmetic could not be read."}[has]
    return ("--bf16: on the CPU, StyleGAN2/3's reduced-precision blocks (float16 on CUDA) compute in "
            "bfloat16; filters stay float32, snapshots and previews float32. Measured 1.2-1.5x faster "
            "on a CPU with bfloat16 arithmetic. Does nothing on CUDA. " + cpu)


def holds_run(run_dir: str | os.PathLike) -> bool:
    """Whether a run lives in ``run_dir``, or one started from the panel is being set up there
    (its procedural dataset being made, its process starting)."""
    d = Path(run_dir)
    return any((d / name).exists() for name in ("live_status.json", "process_output.txt", "stats.jsonl")) \
        or any(d.glob("procedural-*.zip"))


def launch_trainer(cmd: list[str], run_dir: Path) -> subprocess.Popen:
    """Start a trainer process that outlives the app, its output appended to process_output.txt."""
    with open(run_dir / "process_output.txt", "ab") as log:   # the child keeps its own handle
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def continue_command(run_dir: str | os.PathLike, cfg: str | None = None) -> list[str]:
    """``ganscope train --resume RUN_DIR`` (``ganscope distill`` for a distillation run, by its
    options' ``cfg``): the run goes on in place from its newest snapshot with its own options
    (training_options.json)."""
    from gan_core.train.distill import CFG_NAME as DISTILL_CFG

    command = "distill" if cfg == DISTILL_CFG else "train"
    return [sys.executable, "-m", "gan_core", command, "--resume", str(run_dir), "--no-progress"]


def start_run(req: RunRequest) -> tuple[subprocess.Popen | None, threading.Thread | None, dict]:
    """Start ``ganscope train`` as its own process (it outlives nothing: closing the app leaves it
    running). A procedural dataset is made first, in a background thread, and the trainer started
    after it; returns (process or None, that thread or None, a holder dict whose "process" key
    gets the process once it starts and "error" if making the dataset failed)."""
    req.check()
    run_dir = Path(req.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    holder: dict[str, Any] = {}

    def train_cmd(data: str) -> list[str]:
        common = ["--run-dir", str(run_dir), "--batch", str(req.batch), "--kimg", str(req.kimg),
                  "--preview-interval", str(req.preview_interval), "--no-progress"]
        if req.cfg == DISTILL:     # the student's size follows the teacher: no small-network flags
            return [sys.executable, "-m", "gan_core", "distill", "--teacher", data] + common + list(req.extra)
        cmd = [sys.executable, "-m", "gan_core", "train", "--data", data, "--cfg", req.cfg] + common
        if req.small_network:
            cmd += SMALL_NETWORK
        if req.bf16:
            cmd += ["--bf16", "true"]
        return cmd + list(req.extra)

    def launch(data: str) -> subprocess.Popen:
        return launch_trainer(train_cmd(data), run_dir)

    if req.cfg == DISTILL or not req.data.startswith("procedural:"):
        proc = launch(req.data)
        holder["process"] = proc
        return proc, None, holder

    count = req.data.split(":", 1)[1] or "2000"

    def make_then_train() -> None:
        dest = run_dir / f"procedural-{req.resolution}.zip"
        out = subprocess.run([sys.executable, "-m", "gan_core", "dataset", "--source",
                              f"procedural:{count}:{req.resolution}", "--dest", str(dest)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            holder["error"] = (out.stderr.strip().splitlines() or ["making the procedural dataset failed"])[-1]
            return
        holder["process"] = launch(str(dest))

    t = threading.Thread(target=make_then_train, name="ganscope-dataset", daemon=True)
    t.start()
    return None, t, holder


class TrainingSession:
    """The one run the Training panel follows (started here or attached to)."""

    holds_run = staticmethod(holds_run)
    bf16_hint = staticmethod(bf16_hint)

    def __init__(self) -> None:
        self.watcher: RunWatcher | None = None
        self._holder: dict[str, Any] | None = None
        self._last_poll = 0.0

    @property
    def run_dir(self) -> Path | None:
        return self.watcher.run_dir if self.watcher else None

    def start(self, req: RunRequest) -> None:
        proc, _thread, holder = start_run(req)
        self._holder = holder
        self.watcher = RunWatcher(req.run_dir, proc)

    def attach(self, run_dir: str) -> None:
        path = Path(os.path.expanduser(run_dir))
        if not (path / "live_status.json").exists() and not (path / "training_options.json").exists():
            raise ValueError(f"{path} is not a training run directory (no live_status.json or "
                             "training_options.json)")
        self._holder = None
        self.watcher = RunWatcher(path)

    def poll(self, min_interval: float = 0.5, force: bool = False) -> RunUpdate | None:
        """New data from the run, at most every ``min_interval`` seconds."""
        if self.watcher is None:
            return None
        now = time.monotonic()
        if not force and now - self._last_poll < min_interval:
            return None
        self._last_poll = now
        if self._holder is not None and self.watcher.process is None and "process" in self._holder:
            self.watcher.process = self._holder["process"]
        up = self.watcher.poll()
        if self._holder is not None and self._holder.get("error"):
            up.problem = f"could not make the dataset: {self._holder.pop('error')}"
        return up

    def send(self, command: str) -> None:
        if self.watcher is None:
            raise ValueError("no run: start one or attach to a run directory first")
        health = self.watcher.health()
        if health.kind in ("ended", "gone"):
            raise ValueError(f"nothing trains this run now ({health.text}): nobody would read the command")
        self.watcher.send(command)

    def health(self) -> RunHealth:
        return self.watcher.health() if self.watcher else RunHealth("unknown")

    def continue_run(self, kimg: float | None = None, extra_text: str = "", bf16: bool | None = None) -> str:
        """Train a stopped, failed, abandoned or finished run further: ``ganscope train --resume
        RUN_DIR`` as a new process (exact resume from the newest snapshot), up to ``kimg`` when
        that is more than the run's own total, with the options in ``extra_text`` changed (as typed
        in the panel's options box, e.g. ``--glr 0.001``; the trainer refuses what cannot change
        and logs what did). ``bf16`` is the panel's checkbox: where it differs from the run's own
        ``--bf16`` (a StyleGAN2/3 run) the run goes on with it changed. Returns what happened, for
        the status line; raises ValueError when the run cannot or need not be continued."""
        w = self.watcher
        if w is None:
            raise ValueError("no run: start one or attach to a run directory first")
        extra = parse_extra_options(extra_text)
        for arg in extra:
            flag = arg.split("=", 1)[0]
            if flag in CONTINUE_FIXED:
                raise ValueError(f"{flag} cannot be given when continuing a run"
                                 + (" (use the kimg field)" if flag == "--kimg" else ""))
            if flag == "--bf16" and bf16 is not None:
                raise ValueError("--bf16 is set by the panel's bfloat16 checkbox, not in the options box")
        w.poll()
        health = w.health()
        state = w.status.get("state")
        if health.kind == "alive":
            raise ValueError("the run is still being trained" + (": Resume unpauses it" if state == "paused" else ""))
        if health.kind == "silent":
            raise ValueError(f"the run may still be training elsewhere ({health.text}); if it is really gone, "
                             f"continue it with: ganscope train --resume {w.run_dir}")
        if health.kind == "unknown":
            raise ValueError("the run has not written its status yet")
        total = w.status.get("total_kimg")
        longer = kimg is not None and (not isinstance(total, (int, float)) or kimg > total)
        if state == "finished" and not longer:
            raise ValueError(f"the run finished its {kimg_text(total)} kimg; set kimg above that to train longer")
        snap = w.latest_snapshot()
        if snap is None:
            raise ValueError("the run has no snapshot to continue from; start a new run")
        # the options as saved now (an earlier continue may have changed them since they were read)
        options = read_json_dict(w.run_dir / "training_options.json") or w.options or {}
        if bf16 is not None and options.get("cfg") in BF16_CONFIGS and bool(options.get("bf16")) != bf16:
            extra += ["--bf16", "true" if bf16 else "false"]
        cmd = continue_command(w.run_dir, options.get("cfg")) + (["--kimg", f"{kimg:g}"] if longer else []) \
            + list(extra)
        proc = launch_trainer(cmd, w.run_dir)
        w.process, w._exit_reported = proc, False
        self._holder = None
        return (f"continuing {w.run_dir.name} from {snap.name}" + (f" up to {kimg:g} kimg" if longer else "")
                + (f" with {shlex.join(extra)}" if extra else ""))

    def latest_snapshot(self) -> Path | None:
        return self.watcher.latest_snapshot() if self.watcher else None

    def quality_key(self) -> str | None:
        """The metrics.jsonl key that ranks the followed run's snapshots (``swd_mean`` or ``fid``)."""
        return quality_key(self.watcher.metrics) if self.watcher else None

    def best_measured(self) -> dict[str, Any] | None:
        """The metrics.jsonl row of the snapshot measured best that is still on disk, or None."""
        return best_measured(self.watcher.run_dir) if self.watcher else None

    def best_snapshot(self) -> Path | None:
        """The snapshot measured best (lowest SWD or FID in metrics.jsonl) that is still on disk."""
        best = self.best_measured()
        return self.watcher.run_dir / best["snapshot"] if best else None

    def describe(self) -> str:
        """What the followed run trains (``describe_options``); empty until its options are read."""
        return describe_options(self.watcher.options) if self.watcher else ""
