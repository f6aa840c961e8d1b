"""``--gpus N`` for ``ganscope train`` and ``ganscope distill``: start N local processes of one
process group (what ``torchrun --standalone --nproc_per_node N`` does), pass Ctrl+C / SIGTERM on
to them (each stops cleanly with a snapshot), and turn a process's failure into one line."""
from __future__ import annotations

import logging
import os
import socket
from typing import Any, Callable

from gan_core.cli.common import CliError

# Errors about the user's input (options, data, checkpoints), found by their class name in a
# spawned process's traceback: reported as one line, as in a one-process run.
USER_ERRORS = ("OptionError", "DatasetError", "CheckpointError", "FileNotFoundError")


class SpawnedProcessFailed(Exception):
    """A process started by ``--gpus N`` failed (its error in one line)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawned(rank: int, world: int, port: int, target: Callable[..., Any], opts: Any, progress: bool) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    target(opts, progress=progress and rank == 0)


def spawned_error(e, user_errors: tuple[str, ...] = USER_ERRORS) -> Exception:
    """A one-line error from a spawned process's ``ProcessRaisedException``, whose message is the
    process's whole traceback: its last line is ``module.Class: message``."""
    lines = [line for line in e.msg.strip().splitlines() if line.strip()]
    name, _, message = (lines[-1] if lines else "").partition(": ")
    short = name.rsplit(".", 1)[-1]
    if short in user_errors:
        return CliError(message)
    return SpawnedProcessFailed(f"process {e.error_index}: {short}: {message}")


def run_local_processes(target: Callable[..., Any], n: int, opts: Any, progress: bool,
                        user_errors: tuple[str, ...] = USER_ERRORS) -> None:
    """Run ``target(opts, progress=...)`` (a module-level function) in ``n`` processes that form one
    process group; the progress bar is process 0's. Raises CliError for a user error in any of
    them, SpawnedProcessFailed for any other failure."""
    import signal

    import torch.multiprocessing as mp

    # torch logs a warning for each peer it terminates after one failed; the error itself is reported
    logging.getLogger("torch.multiprocessing.spawn").setLevel(logging.ERROR)
    ctx = mp.start_processes(_spawned, args=(n, _free_port(), target, opts, progress), nprocs=n, join=False,
                             start_method="spawn")

    def forward(signum, _frame):
        for proc in ctx.processes:
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not ctx.join():
            pass
    except mp.ProcessRaisedException as e:
        raise spawned_error(e, user_errors) from None
    finally:
        for s, h in old.items():
            signal.signal(s, h)
