"""Make the README screenshots with the app itself (run under a display or Xvfb):

    xvfb-run -s "-screen 0 1600x1000x24" python docs/make_screenshots.py [--attach RUN_DIR] [--only NAME ...]

With --attach the Training picture watches that run (e.g. a long demo run); without it, a short
run started from the panel. --only makes just the named pictures (main, layers, spectrum,
equivariance, training), e.g. to leave a watched run's img/s undisturbed by the other renders.

Each picture is the real window (Dear PyGui's frame buffer) in a state set through the same
panel API a person uses.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "docs" / "images"


PICTURES = ("main", "layers", "spectrum", "equivariance", "training")


def main(attach: str | None = None, only: tuple[str, ...] = PICTURES) -> None:
    import dearpygui.dearpygui as dpg

    from visualizer.app import App
    tmp = Path(tempfile.mkdtemp())
    app = App(model="demo", settings_path=tmp / "settings.json", size=(1400, 900))
    app.start()

    def shot(name: str, **changes) -> None:
        if name.removeprefix("app_").removesuffix(".png") not in only:
            return
        if changes:
            app.update(**changes)
            app._sync_panels()
        app.wait_for_result(timeout=300)
        for _ in range(6):
            app.frame()
            time.sleep(0.02)
        dpg.output_frame_buffer(file=str(OUT / name))
        for _ in range(3):
            app.frame()
        print(OUT / name)

    def open_only(*titles: str) -> None:
        for p in app.panels:
            dpg.set_value(f"section.{p.title}", p.title in titles)

    try:
        app.wait_for_result(timeout=300)
        open_only("Model", "Latent", "Truncation", "Style mixing")
        shot("app_main.png", latent_x=3.0, trunc_psi=0.8, mix_seed=11.0, mix_layers=(0, 1, 2, 3, 4))
        open_only("Layers", "Translate / rotate")
        layer = app.model_info.layers[6].name
        shot("app_layers.png", mix_layers=(), layer=layer, canvas_view="layer", layer_rgb=True, layer_channel=4)
        shot("app_spectrum.png", canvas_view="spectrum")
        open_only("Equivariance", "Translate / rotate")
        shot("app_equivariance.png", layer=None, canvas_view="eq_error", eq_metric="eqt_frac",
             eq_translate=(0.07, -0.03))
        if "training" not in only:
            return
        # a training run, watched live: attached to a run directory given on the command line
        # (a long run shows real curves), else a short run started from the panel
        open_only("Training")
        app.update(canvas_view="image", eq_metric=None)
        if attach:
            app.training_panel.attach(attach)
        else:
            for tag, value in (("train.data", "procedural:1000"), ("train.cfg", "stylegan2"), ("train.res", "32"),
                               ("train.batch", 16), ("train.kimg", 3.0), ("train.run_dir", str(tmp / "run"))):
                dpg.set_value(tag, value)
            app.training_panel.start()
        end = time.monotonic() + 600
        while time.monotonic() < end:
            app.frame()
            w = app.training.watcher
            if app.training_panel.preview is not None and w is not None and len(w.stats) >= 6:
                break
            time.sleep(0.05)
        # scrolled to the panel's end: the sample grid and the curves (and, for a run with
        # --metrics, the quality plot and Open best snapshot) rather than the start form
        for _ in range(3):
            app.frame()
        dpg.set_y_scroll("pane", dpg.get_y_scroll_max("pane"))
        shot("app_training.png")
        if not attach:
            app.training.send("stop")
    finally:
        app.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Make the README screenshots with the app itself.")
    ap.add_argument("--attach", metavar="RUN_DIR", help="watch this run in the Training picture")
    ap.add_argument("--only", nargs="+", choices=PICTURES, default=list(PICTURES), help="pictures to make")
    args = ap.parse_args()
    main(args.attach, tuple(args.only))
