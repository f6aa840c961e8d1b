"""A run directory seen from outside: is anything still training it, and what does it train.

A ``live_status.json`` that says ``running`` is only what the trainer last wrote: a process that
was killed (or a machine that went down) never says it ended. This module tells, from the files
and from this machine's process table:

* ``process_alive(pid, host)``: the pid check, for runs of this machine;
* ``live_trainer(run_dir)``: who still trains a folder (the trainer refuses to resume in place
  while someone does, so two processes never write one run directory);
* ``run_health(...)`` → ``RunHealth``: alive, ended, gone or silent, with words for people (the
  app's Training panel and ``ganscope status`` both show it);
* ``describe_options(options)``: one line on what a run trains, from its training_options.json.

Plain file I/O and ``os``: no torch, no GUI.
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan_core.train.rundir import read_status

LIVE_STATES = ("starting", "running", "paused")      # a trainer still owns the folder
ENDED_STATES = ("stopped", "finished", "failed")     # … and it said so
# A live trainer rewrites live_status.json every preview interval (default 10 s), each tick and
# while paused. A run is called silent after this long without a change, or after 10 preview
# intervals or 5 steps when those are longer (one step of a big model on a CPU can take minutes).
SILENT_AFTER_S = 300.0


@dataclass(frozen=True)
class RunHealth:
    """Whether anything still trains a run directory, as far as its files and this machine tell.

    kind: "alive" (a trainer updates it), "ended" (stopped, finished or failed, and said so),
    "gone" (its process is no longer running, though the run never said it ended: killed, or
    the machine restarted), "silent" (no update for a long while and no way to check the
    process: it runs on another machine) or "unknown" (nothing written yet)."""

    kind: str
    text: str = ""

    @property
    def can_continue(self) -> bool:
        """Whether starting ``ganscope train --resume`` on the run is safe (nothing else trains it)."""
        return self.kind in ("ended", "gone")


def process_alive(pid: Any, host: Any) -> bool | None:
    """Whether process ``pid`` runs on this machine; None when that cannot be told (another
    host, no pid, not POSIX). A zombie (exited, not yet reaped) counts as ended."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or os.name != "posix":
        return None
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:        # another user's process: it exists
        return True
    except OSError:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def status_age(status: dict[str, Any]) -> float | None:
    """Seconds since the status was written, by this machine's clock (None when unknown)."""
    updated = status.get("updated")
    return max(0.0, time.time() - float(updated)) if isinstance(updated, (int, float)) else None


def silent_after(status: dict[str, Any] | None, options: dict[str, Any] | None) -> float:
    """Seconds without a status change after which a live-looking run is called silent."""
    status = status if isinstance(status, dict) else {}
    options = options if isinstance(options, dict) else {}
    limit = SILENT_AFTER_S
    if isinstance(options.get("preview_interval"), (int, float)):
        limit = max(limit, 10 * float(options["preview_interval"]))
    ips, batch = status.get("img_per_s"), options.get("batch")
    if isinstance(ips, (int, float)) and ips > 0 and isinstance(batch, int):
        limit = max(limit, 5 * batch / ips)
    return limit


def run_health(status: dict[str, Any] | None, options: dict[str, Any] | None = None,
               quiet_s: float | None = None, process_exit: int | None = None) -> RunHealth:
    """How a run stands. ``quiet_s``: seconds since its status last changed as the caller timed
    it (default: the age of ``updated``); ``process_exit``: the exit code of the trainer process
    when the caller started it and it has ended."""
    status = status if isinstance(status, dict) else {}
    state = status.get("state")
    if not state:
        return RunHealth("unknown")
    where = f"at kimg {kimg_text(status.get('kimg'))}"
    if state in ENDED_STATES:
        return RunHealth("ended", f"{state} {where}")
    if process_exit is not None:
        return RunHealth("gone", f"its process exited (code {process_exit}) without ending the run, {where}")
    pid, host = status.get("pid"), status.get("host")
    alive = process_alive(pid, host)
    if alive is False:
        return RunHealth("gone", f"its process {pid} is no longer running (killed, or the machine restarted) "
                                 f"{where}")
    quiet = quiet_s if quiet_s is not None else (status_age(status) or 0.0)
    remote = isinstance(host, str) and host != socket.gethostname()
    if quiet > silent_after(status, options):
        return RunHealth("silent", f"no news{f' from {host}' if remote else ''} for {format_duration(quiet)}, "
                                   f"{where}")
    if alive:
        return RunHealth("alive", f"process {pid} on this machine")
    return RunHealth("alive", f"on {host}" if remote else "")


def live_trainer(run_dir: str | os.PathLike) -> str | None:
    """Who still trains ``run_dir`` according to its live_status.json (another process of this
    machine whose pid is alive, or another machine whose status is younger than
    SILENT_AFTER_S), as words for an error message; None when nothing does."""
    st = read_status(run_dir)
    if st is None or st.get("state") not in LIVE_STATES:
        return None
    pid, host = st.get("pid"), st.get("host")
    alive = process_alive(pid, host)
    if alive is True and pid != os.getpid():
        return f"process {pid} on this machine"
    age = status_age(st)
    if alive is None and age is not None and age < SILENT_AFTER_S:
        return f"{host or 'another machine'}, whose last status update was {age:.0f} s ago"
    return None


def describe_options(options: dict[str, Any] | None) -> str:
    """One line on what a run trains, from its training_options.json, e.g. "stylegan2 on
    proc32.zip (5000 images, 32²), batch 32, 1000 kimg" ("" when there is nothing to say)."""
    if not isinstance(options, dict):
        return ""
    parts = [str(options.get("cfg") or "?")]
    ds = options.get("dataset") if isinstance(options.get("dataset"), dict) else {}
    data = ds.get("path") or options.get("data")
    if data:
        where = Path(str(data)).name or str(data)
        facts = [f"{ds['num_images']} images" if isinstance(ds.get("num_images"), int) else "",
                 f"{ds['resolution']}²" if isinstance(ds.get("resolution"), int) else ""]
        facts = ", ".join(f for f in facts if f)
        parts.append(f"on {where}" + (f" ({facts})" if facts else ""))
    elif options.get("teacher"):     # a distillation run: what it learns from
        parts.append(f"from {Path(str(options['teacher'])).name}")
    line = " ".join(parts)
    extras = []
    if isinstance(options.get("batch"), int):
        extras.append(f"batch {options['batch']}")
    if isinstance(options.get("kimg"), (int, float)):
        extras.append(f"{options['kimg']:g} kimg")
    if options.get("bf16") is True:
        extras.append("bfloat16")
    procs = options.get("world_size")
    if isinstance(procs, int) and procs > 1:
        extras.append(f"{procs} processes")
    return ", ".join([line] + extras)


def kimg_text(kimg: Any) -> str:
    """kimg with at most 3 decimals and no trailing zeros ("?" when missing)."""
    return f"{kimg:.3f}".rstrip("0").rstrip(".") if isinstance(kimg, (int, float)) else "?"


def format_duration(seconds: float) -> str:
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s} s"
    if s < 2 * 3600:
        return f"{s // 60} min"
    if s < 2 * 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} days"
