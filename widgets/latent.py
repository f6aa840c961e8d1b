"""Latent panel: seed, a continuous position on the seed grid (drag it), animation, z/w."""
from __future__ import annotations

import math

import dearpygui.dearpygui as dpg
import numpy as np

from widgets.base import Panel
from widgets.render_args import RenderArgs, RenderResult

PAD_SENSITIVITY = 0.01   # grid units per pixel of drag


class LatentPanel(Panel):
    title = "Latent"

    def __init__(self, host) -> None:
        super().__init__(host)
        self.animate = False
        self.speed = 0.5           # grid units per second, along x

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            with dpg.group(horizontal=True):
                dpg.add_input_int(label="seed", tag="latent.seed", width=140, min_value=0, min_clamped=True,
                                  callback=lambda s, a: self.host.update(latent_x=float(max(0, a)), latent_y=0.0))
                dpg.add_button(label="-1", tag="latent.prev", callback=lambda: self.step(-1, 0))
                dpg.add_button(label="+1", tag="latent.next", callback=lambda: self.step(1, 0))
                dpg.add_button(label="snap", tag="latent.snap", callback=self.snap)
            with dpg.group(horizontal=True):
                dpg.add_drag_float(label="x", tag="latent.x", width=110, speed=0.01, format="%.3f",
                                   callback=lambda s, a: self.host.update(latent_x=float(a)))
                dpg.add_drag_float(label="y", tag="latent.y", width=110, speed=0.01, format="%.3f",
                                   callback=lambda s, a: self.host.update(latent_y=float(a)))
            with dpg.drawlist(width=330, height=56, tag="latent.pad"):
                dpg.draw_rectangle((0, 0), (330, 56), fill=(40, 44, 52, 255), color=(90, 90, 100, 255))
                dpg.draw_text((10, 8), "drag here to walk the seed grid", size=14, color=(200, 200, 200))
                dpg.draw_text((10, 30), "", size=13, color=(150, 180, 220), tag="latent.pad_text")
            self.host.add_drag_target("latent.pad", self._on_pad_drag)
            with dpg.group(horizontal=True):
                dpg.add_checkbox(label="animate", tag="latent.animate", callback=lambda s, a: self.set_animate(a))
                dpg.add_slider_float(label="speed", tag="latent.speed", width=150, min_value=0.02, max_value=5.0,
                                     default_value=self.speed, format="%.2f seeds/s",
                                     callback=lambda s, a: setattr(self, "speed", float(a)))
            dpg.add_text("", tag="latent.zw", color=(170, 170, 170))

    def set_animate(self, on: bool) -> None:
        self.animate = bool(on)
        dpg.set_value("latent.animate", self.animate)

    def step(self, dx: int, dy: int) -> None:
        a = self.host.args
        self.host.update(latent_x=float(math.floor(a.latent_x) + dx), latent_y=float(math.floor(a.latent_y) + dy))
        self.sync(self.host.args)

    def snap(self) -> None:
        a = self.host.args
        self.host.update(latent_x=float(round(a.latent_x)), latent_y=float(round(a.latent_y)))
        self.sync(self.host.args)

    def _on_pad_drag(self, dx: float, dy: float) -> None:
        a = self.host.args
        self.host.update(latent_x=max(0.0, a.latent_x + dx * PAD_SENSITIVITY),
                         latent_y=max(0.0, a.latent_y + dy * PAD_SENSITIVITY))
        self.sync(self.host.args)

    def tick(self, dt: float) -> None:
        if self.animate and not self.host.animations_paused:
            self.host.update(latent_x=self.host.args.latent_x + self.speed * dt)
            self.sync(self.host.args)

    def sync(self, args: RenderArgs) -> None:
        dpg.set_value("latent.seed", min(args.seed, 2**31 - 1))
        dpg.set_value("latent.x", args.latent_x)
        dpg.set_value("latent.y", args.latent_y)
        dpg.set_value("latent.pad_text", f"x {args.latent_x:.2f}   y {args.latent_y:.2f}   seed {args.seed}")

    def on_result(self, result: RenderResult) -> None:
        if result.z_preview is None:
            return
        z = " ".join(f"{v:+.2f}" for v in np.asarray(result.z_preview)[:6])
        w = " ".join(f"{v:+.2f}" for v in np.asarray(result.w_preview)[:6])
        dpg.set_value("latent.zw", f"z[:6] {z}\nw[:6] {w}")
