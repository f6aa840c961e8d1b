"""The ``ganscope`` command: no arguments opens the app on the demo model; ``ganscope view FILE``
opens any checkpoint; ``ganscope render`` renders the app's view without a window
(visualizer/render_cmd.py); every other command is gan_core's."""
from __future__ import annotations

import os
import sys
from typing import Sequence


def add_parser(sub) -> None:
    p = sub.add_parser("view", help="open the app (the window) on a checkpoint",
                       description="Open the ganscope window on FILE (official .pkl, ganscope .pt) or the "
                                   "built-in demo model.")
    p.add_argument("file", nargs="?", default="demo", help="checkpoint to open (default: the demo model; demo-sg2: the trained StyleGAN2 demo)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument("--settings", default=None,
                   help="start from these settings: a PNG saved by ganscope or a preset .json")
    p.add_argument("--size", default=None, help="window size WxH, e.g. 1400x900")
    p.add_argument("--screenshot", default=None, metavar="PNG",
                   help="render, save a screenshot of the window to PNG and exit (for docs and checks)")


def run(args) -> int:
    from gan_core.cli.common import CliError

    size = None
    if args.size:
        try:
            w, h = (int(v) for v in args.size.lower().split("x"))
            if w < 320 or h < 240:
                raise ValueError
            size = (w, h)
        except ValueError:
            raise CliError(f"--size {args.size!r}: expected WIDTHxHEIGHT, at least 320x240, e.g. 1400x900") from None
    from gan_core.models.demo import is_demo_name
    model = args.file
    if not is_demo_name(model) and not os.path.isfile(model):
        raise CliError(f"{model}: no such file (give a checkpoint file, or leave it out for the demo model)")
    if args.device != "cpu" and not args.device.startswith("cuda"):
        raise CliError(f"unknown device {args.device!r}: use cpu or cuda")
    try:
        import dearpygui  # noqa: F401
    except ImportError:
        raise CliError("the app needs Dear PyGui: pip install 'ganscope[app]' (or pip install dearpygui)") from None
    from visualizer.app import App
    from visualizer.files import read_args_from_png
    from widgets.preset_files import load_preset
    from widgets.render_args import ArgsError

    start_args = None
    if args.settings:
        try:
            start_args = (load_preset(args.settings) if args.settings.lower().endswith(".json")
                          else read_args_from_png(args.settings))
        except ArgsError as e:
            raise CliError(str(e)) from None
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") and sys.platform.startswith("linux"):
        raise CliError("no display: run it on a desktop, or under a virtual screen (xvfb-run ganscope ...)")
    app = App(model=model if is_demo_name(model) else os.path.abspath(model), device=args.device, size=size)
    app.start()
    if start_args is not None:
        app.set_args(start_args, source=f"settings from {args.settings}")
    if args.screenshot:
        return _screenshot_and_exit(app, args.screenshot)
    app.run()
    return 0


def _screenshot_and_exit(app, path: str) -> int:
    import time

    import dearpygui.dearpygui as dpg
    try:
        app.wait_for_result(timeout=300)
        for _ in range(5):            # let the layout settle around the new image
            app.frame()
            time.sleep(0.02)
        dpg.output_frame_buffer(file=os.path.abspath(path))
        for _ in range(3):
            app.frame()
        ok = os.path.exists(path)
    finally:
        app.close()
    print(path if ok else f"ganscope view: could not write {path}")
    return 0 if ok else 2


def main(argv: Sequence[str] | None = None) -> int:
    from gan_core.cli import main as core_main
    from visualizer import cli as view_cmd, render_cmd

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["view"]
    return core_main(argv, extra_commands={"view": view_cmd, "render": render_cmd})


if __name__ == "__main__":
    sys.exit(main())
