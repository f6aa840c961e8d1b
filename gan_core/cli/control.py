"""``ganscope control``: pause, resume or stop a training run through its control.json."""
from __future__ import annotations

import time

from gan_core.cli.common import CliError, finite_float

# The state a trainer reports once it has obeyed each command.
REACHED = {"pause": ("paused",), "resume": ("running",), "stop": ("stopped", "finished")}


def add_parser(sub) -> None:
    p = sub.add_parser("control", help="pause, resume or stop a training run",
                       description="Ask the trainer of RUN_DIR to pause, resume (unpause) or stop, as the app's "
                                   "Training panel does: the command goes into RUN_DIR/control.json, which the "
                                   "trainer reads every step (every 0.5 s while paused), also from another "
                                   "machine through a shared folder. A stop finishes the current step and "
                                   "writes a snapshot. To continue a stopped or killed run: "
                                   "ganscope train --resume RUN_DIR.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory")
    p.add_argument("action", metavar="pause|resume|stop", choices=sorted(REACHED), help="what to ask")
    p.add_argument("--wait", type=finite_float, default=0, metavar="SECONDS",
                   help="wait up to this long until the run reports that it obeyed (exit code 1 if it did not)")


def run(args) -> int:
    from pathlib import Path

    from gan_core.cli.status import read_run
    from gan_core.train.rundir import read_status, send_command

    r = read_run(args.run_dir)
    if r["health"] == "unknown":
        raise CliError(f"{args.run_dir} has no live_status.json yet: nothing to send the command to")
    if r["health"] in ("ended", "gone"):
        hint = f"; to continue it: ganscope train --resume {args.run_dir}" if args.action != "pause" else ""
        raise CliError(f"nothing trains {args.run_dir} now ({r['health_text']}): nobody would read the command{hint}")
    if r["health"] == "silent":
        print(f"note: {r['health_text']}; the command waits in control.json for the trainer")
    send_command(Path(args.run_dir), args.action)
    if args.wait <= 0:
        print(f"asked {args.run_dir} to {args.action}")
        return 0
    deadline = time.monotonic() + args.wait
    while True:
        state = (read_status(args.run_dir) or {}).get("state")
        if state in REACHED[args.action]:
            print(f"{args.run_dir}: {state}")
            return 0
        if time.monotonic() >= deadline:
            print(f"{args.run_dir}: still {state} after {args.wait:g} s (the command stays in control.json)")
            return 1
        time.sleep(0.25)
