"""``ganscope`` command line: one sub-command per module in this package."""
from __future__ import annotations

import argparse
import os
import select
import sys
from typing import Sequence

from gan_core.cli import convert, generate, info
from gan_core.cli.common import CliError

from gan_core.cli import dataset as dataset_cmd

COMMANDS = {"generate": generate, "info": info, "convert": convert}
COMMANDS["dataset"] = dataset_cmd
from gan_core.cli import train as train_cmd  # noqa: E402

COMMANDS["train"] = train_cmd

from gan_core.cli import equivariance as equivariance_cmd, spectrum as spectrum_cmd, video as video_cmd  # noqa: E402

COMMANDS["equivariance"] = equivariance_cmd
COMMANDS["spectrum"] = spectrum_cmd
COMMANDS["video"] = video_cmd

from gan_core.cli import distill as distill_cmd, export_onnx as export_onnx_cmd  # noqa: E402

COMMANDS["distill"] = distill_cmd
COMMANDS["export-onnx"] = export_onnx_cmd

from gan_core.cli import style_mix as style_mix_cmd  # noqa: E402

COMMANDS["style-mix"] = style_mix_cmd

from gan_core.cli import control as control_cmd, status as status_cmd  # noqa: E402

COMMANDS["status"] = status_cmd
COMMANDS["control"] = control_cmd

from gan_core.cli import swd as swd_cmd  # noqa: E402

COMMANDS["swd"] = swd_cmd

from gan_core.cli import fid as fid_cmd  # noqa: E402

COMMANDS["fid"] = fid_cmd


def build_parser(commands: dict | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganscope",
        description="Explore, inspect and train GANs. Every command reads official StyleGAN2/3 pickles "
                    "and ganscope's own .pt checkpoints; --network demo uses the built-in demo model.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in (commands or COMMANDS).items():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None, extra_commands: dict | None = None) -> int:
    """Run one command. ``extra_commands`` ({name: module with add_parser/run}) lets layers above
    gan_core (the app's ``view``) join the same command line without gan_core importing them."""
    commands = {**COMMANDS, **(extra_commands or {})}
    parser = build_parser(commands)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(commands[args.command].run(args) or 0)
    except CliError as e:
        print(f"ganscope {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ganscope {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        if not _stdout_closed():
            raise
        # The reader went away (`ganscope status | head`): stop quietly, as Unix tools do.
        # stdout is pointed at /dev/null so that the interpreter's final flush cannot fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by a closed pipe


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (a BrokenPipeError from anywhere else
    is a real error). POSIX pipes report that as POLLERR; where poll is missing, assume so."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return True
    if not hasattr(select, "poll"):
        return True
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))


if __name__ == "__main__":
    sys.exit(main())
