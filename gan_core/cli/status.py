"""``ganscope status``: how training runs stand, from their run directories."""
from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from gan_core.cli.common import CliError


def add_parser(sub) -> None:
    p = sub.add_parser("status", help="how training runs stand (state, kimg, img/s, ETA, alive or not)",
                       description="Read run directories (made by `ganscope train`, here or on another machine "
                                   "through a shared folder) and say how each run stands: its state, what it "
                                   "trains, kimg, img/s, ETA, the newest snapshot, the last tick's losses, and "
                                   "whether anything still trains it — a run whose process died without a word "
                                   "says so instead of 'running'.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="run directories, or folders of them (e.g. ./training-runs: every run inside)")
    p.add_argument("--json", action="store_true", help="print JSON (a list, one object per run) instead of text")


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """Everything ``status`` says of one run, as plain data; raises CliError for a folder that
    is not a run directory."""
    from gan_core.train.run_state import describe_options, run_health, status_age
    from gan_core.train.rundir import best_measured, latest_snapshot, read_json_dict, read_stats, read_status

    d = Path(run_dir)
    if not d.is_dir():
        raise CliError(f"{d}: no such folder")
    status = read_status(d)
    options = read_json_dict(d / "training_options.json")
    if status is None and options is None:
        raise CliError(f"{d} is not a training run directory (no live_status.json or training_options.json)")
    status = status or {}
    rows, _ = read_stats(d)
    measured, _ = read_stats(d, name="metrics.jsonl")
    health = run_health(status, options)
    snap = status.get("latest_snapshot") or (latest_snapshot(d).name if latest_snapshot(d) else None)
    return {"run_dir": str(d), "state": status.get("state"), "health": health.kind, "health_text": health.text,
            "trains": describe_options(options), "kimg": status.get("kimg"), "total_kimg": status.get("total_kimg"),
            "img_per_s": status.get("img_per_s"), "eta_s": status.get("eta_s"), "updated_s_ago": status_age(status),
            "latest_snapshot": snap, "error": status.get("error"), "last_tick": rows[-1] if rows else None,
            "last_metrics": measured[-1] if measured else None, "best_metrics": best_measured(d) if measured else None}


def format_run(r: dict[str, Any]) -> str:
    from gan_core.train.run_state import format_duration, kimg_text
    from gan_core.train.rundir import QUALITY_NAMES, quality_key

    state, health = r["state"] or ("no live status (a copied run?)" if r["latest_snapshot"] else "not started"), r["health"]
    head = f"{r['run_dir']}  {state}"
    if health == "alive" and r["health_text"]:
        head += f" ({r['health_text']})"
    elif health in ("gone", "silent"):
        head += f"? {r['health_text']}"
    if r["error"]:
        head += f": {r['error']}"
    lines = [head]
    if r["trains"]:
        lines.append(f"  {r['trains']}")
    if isinstance(r["kimg"], (int, float)):
        line = f"  kimg {kimg_text(r['kimg'])}"
        total = r["total_kimg"]
        if isinstance(total, (int, float)) and total > 0:
            line += f" of {kimg_text(total)} ({100 * min(r['kimg'] / total, 1):.1f}%)"
        if isinstance(r["img_per_s"], (int, float)):
            line += f", {r['img_per_s']:.1f} img/s"
        if isinstance(r["eta_s"], (int, float)) and state in ("running", "paused") and health == "alive":
            line += f", ETA {datetime.timedelta(seconds=int(r['eta_s']))}"
        if isinstance(r["updated_s_ago"], (int, float)):
            line += f"; updated {format_duration(r['updated_s_ago'])} ago"
        lines.append(line)
    tick = r["last_tick"] or {}
    losses = ", ".join(f"{k} {tick[k]:.3g}" for k in ("loss_G", "loss_D", "loss_r1", "loss_pl", "augment_p")
                       if isinstance(tick.get(k), (int, float)))
    lines.append(f"  newest snapshot: {r['latest_snapshot'] or 'none yet'}" + (f"; last tick: {losses}" if losses else ""))
    m = r["last_metrics"] or {}
    key = quality_key([m])
    if key is not None:
        name = QUALITY_NAMES[key]
        lines.append(f"  quality at kimg {kimg_text(m.get('kimg'))}: {name} {m[key]:.2f} "
                     f"({m.get('num')} images; lower is better)")
        best = r.get("best_metrics") or {}
        if isinstance(best.get(key), (int, float)) and best.get("snapshot") and best != m:
            lines.append(f"  best so far: {best['snapshot']} (kimg {kimg_text(best.get('kimg'))}, {name} "
                         f"{best[key]:.2f}; kept while newer snapshots are pruned)")
    if health in ("ended", "gone", "unknown") and state != "finished" and r["latest_snapshot"]:
        lines.append(f"  continue it with: ganscope train --resume {r['run_dir']}")
    return "\n".join(lines)


def _is_run(d: Path) -> bool:
    return (d / "live_status.json").is_file() or (d / "training_options.json").is_file()


def _expand(paths: list[str]) -> list[str]:
    """Each path, or, for a folder that is not a run but holds runs, those runs (sorted)."""
    out = []
    for p in paths:
        d = Path(p)
        inner = sorted(c for c in d.iterdir() if c.is_dir() and _is_run(c)) if d.is_dir() and not _is_run(d) else []
        out.extend(str(c) for c in inner) if inner else out.append(p)
    return out


def run(args) -> int:
    import sys

    runs, failed = [], False
    for d in _expand(args.run_dirs):
        try:
            runs.append(read_run(d))
        except CliError as e:
            print(f"ganscope status: error: {e}", file=sys.stderr)
            failed = True
    if args.json:
        print(json.dumps(runs, indent=2))
    else:
        print("\n\n".join(format_run(r) for r in runs))
    return 2 if failed else 0
