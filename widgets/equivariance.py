"""Equivariance inspector (StyleGAN3): for the current latent, EQ-T (integer or fractional) or
EQ-R as PSNR for a chosen or random shift / angle, and the error map |g(t(z)) - t(g(z))| over the
valid region on the canvas."""
from __future__ import annotations

import random

import dearpygui.dearpygui as dpg

from widgets.base import Panel
from widgets.render_args import ModelInfo, RenderArgs, RenderResult

METRICS = {"off": None, "EQ-T": "eqt", "EQ-T frac": "eqt_frac", "EQ-R": "eqr"}
CONTROLS = ("eq.metric", "eq.tx", "eq.ty", "eq.angle", "eq.random", "eq.show_error")


class EquivariancePanel(Panel):
    title = "Equivariance"
    default_open = False

    def __init__(self, host) -> None:
        super().__init__(host)
        self.rng = random.Random(0)
        self.resolution = 1

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            dpg.add_text("", tag="eq.reason", color=(255, 190, 90), wrap=330, show=False)
            dpg.add_radio_button(list(METRICS), tag="eq.metric", horizontal=True, default_value="off",
                                 callback=lambda s, a: self.host.update(eq_metric=METRICS[a]))
            with dpg.group(horizontal=True):
                dpg.add_drag_float(label="dx", tag="eq.tx", width=90, speed=0.001, format="%.4f", default_value=0.0625,
                                   callback=lambda s, a: self.host.update(eq_translate=(float(a),
                                                                                       self.host.args.eq_translate[1])))
                dpg.add_drag_float(label="dy", tag="eq.ty", width=90, speed=0.001, format="%.4f",
                                   callback=lambda s, a: self.host.update(eq_translate=(self.host.args.eq_translate[0],
                                                                                       float(a))))
            dpg.add_drag_float(label="angle (deg)", tag="eq.angle", width=110, speed=0.5, default_value=30.0,
                               format="%.2f", callback=lambda s, a: self.host.update(eq_angle=float(a)))
            with dpg.group(horizontal=True):
                dpg.add_button(label="random", tag="eq.random", callback=self.randomize)
                dpg.add_checkbox(label="show error map", tag="eq.show_error", callback=self._on_show)
            dpg.add_text("", tag="eq.result")
            dpg.add_text("shifts: uniform in +-1/8 image; angles: uniform in +-180 deg (the paper's)",
                         color=(150, 150, 150), wrap=330)

    def randomize(self) -> None:
        """A shift / angle drawn like the metrics draw them."""
        tx, ty = (self.rng.uniform(-0.125, 0.125) for _ in range(2))
        self.host.update(eq_translate=(tx, ty), eq_angle=self.rng.uniform(-180.0, 180.0))
        if self.host.args.eq_metric is None:
            self.host.update(eq_metric="eqt_frac")
        self.sync(self.host.args)

    def _on_show(self, sender, on) -> None:
        if on and self.host.args.eq_metric is None:
            self.host.update(eq_metric="eqt_frac")
        self.host.update(canvas_view="eq_error" if on else "image")
        self.sync(self.host.args)

    def sync(self, args: RenderArgs) -> None:
        dpg.set_value("eq.metric", {v: k for k, v in METRICS.items()}[args.eq_metric])
        dpg.set_value("eq.tx", args.eq_translate[0])
        dpg.set_value("eq.ty", args.eq_translate[1])
        dpg.set_value("eq.angle", args.eq_angle)
        dpg.set_value("eq.show_error", args.canvas_view == "eq_error")

    def on_model(self, info: ModelInfo) -> None:
        self.resolution = info.img_resolution
        on = info.has_input_transform
        for tag in CONTROLS:
            dpg.configure_item(tag, enabled=on)
        dpg.configure_item("eq.reason", show=not on)
        dpg.set_value("eq.reason", f"equivariance is measured by moving StyleGAN3's input; this is a "
                                   f"{info.family} model")
        if not on and (self.host.args.eq_metric or self.host.args.canvas_view == "eq_error"):
            self.host.update(eq_metric=None, canvas_view="image")
        self.sync(self.host.args)

    def on_result(self, result: RenderResult) -> None:
        eq = result.eq
        if not eq:
            dpg.set_value("eq.result", "")
            return
        name = {v: k for k, v in METRICS.items()}[eq["metric"]]
        what = (f"angle {eq['angle_deg']:+.2f} deg" if eq["metric"] == "eqr" else
                f"shift ({eq['translate'][0]:+.4f}, {eq['translate'][1]:+.4f}) = "
                f"({eq['translate'][0] * self.resolution:+.2f}, {eq['translate'][1] * self.resolution:+.2f}) px")
        dpg.set_value("eq.result", f"{name}: {eq['psnr_db']:.2f} dB\n{what}")
