"""Fourier-feature translate / rotate (StyleGAN3): x, y in image units and an angle, coarse and
fine dragging, round to whole pixels, animation (a circle for translation, constant speed for
rotation), and "untransform" (warp the output back so an equivariant model stands still).
Disabled, with the reason, for families without an input transform."""
from __future__ import annotations

import math

import dearpygui.dearpygui as dpg

from widgets.base import Panel
from widgets.render_args import ModelInfo, RenderArgs

COARSE = 0.002    # image units per pixel of drag
FINE = 0.0001
CONTROLS = ("xf.x", "xf.y", "xf.angle", "xf.fine", "xf.round", "xf.untransform", "xf.anim_translate",
            "xf.anim_rotate", "xf.radius", "xf.speed", "xf.reset")


class TransformPanel(Panel):
    title = "Translate / rotate"
    default_open = False

    def __init__(self, host) -> None:
        super().__init__(host)
        self.fine = False
        self.round_to_pixel = False
        self.anim_translate = False
        self.anim_rotate = False
        self.radius = 0.1          # image units
        self.speed = 0.25          # turns per second (circle) / degrees per second / 90 (rotation)
        self.phase = 0.0
        self.resolution = 1
        self.enabled = False

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            dpg.add_text("", tag="xf.reason", color=(255, 190, 90), wrap=330, show=False)
            with dpg.group(horizontal=True):
                dpg.add_drag_float(label="x", tag="xf.x", width=100, speed=COARSE, format="%.4f",
                                   callback=lambda s, a: self.set_translate(a, self.host.args.translate[1]))
                dpg.add_drag_float(label="y", tag="xf.y", width=100, speed=COARSE, format="%.4f",
                                   callback=lambda s, a: self.set_translate(self.host.args.translate[0], a))
            dpg.add_drag_float(label="angle (deg)", tag="xf.angle", width=120, speed=0.25, format="%.2f",
                               callback=lambda s, a: self.set_rotate(a))
            with dpg.drawlist(width=330, height=50, tag="xf.pad"):
                dpg.draw_rectangle((0, 0), (330, 50), fill=(40, 44, 52, 255), color=(90, 90, 100, 255))
                dpg.draw_text((10, 8), "drag here to move the Fourier features", size=14, color=(200, 200, 200))
                dpg.draw_text((10, 28), "", size=13, color=(150, 180, 220), tag="xf.pad_text")
            self.host.add_drag_target("xf.pad", self._on_pad_drag)
            with dpg.group(horizontal=True):
                dpg.add_checkbox(label="fine", tag="xf.fine", callback=lambda s, a: self._set("fine", a))
                dpg.add_checkbox(label="round to pixel", tag="xf.round", callback=self._on_round)
                dpg.add_checkbox(label="untransform", tag="xf.untransform",
                                 callback=lambda s, a: self.host.update(untransform=bool(a)))
            with dpg.group(horizontal=True):
                dpg.add_checkbox(label="animate circle", tag="xf.anim_translate",
                                 callback=lambda s, a: self._set("anim_translate", a))
                dpg.add_checkbox(label="animate rotation", tag="xf.anim_rotate",
                                 callback=lambda s, a: self._set("anim_rotate", a))
            dpg.add_slider_float(label="radius", tag="xf.radius", min_value=0.0, max_value=0.5, width=150,
                                 default_value=self.radius, format="%.3f", callback=lambda s, a: self._set("radius", a))
            dpg.add_slider_float(label="speed", tag="xf.speed", min_value=0.01, max_value=2.0, width=150,
                                 default_value=self.speed, format="%.2f turns/s",
                                 callback=lambda s, a: self._set("speed", a))
            dpg.add_button(label="reset", tag="xf.reset", callback=self.reset)

    def _set(self, name: str, value) -> None:
        setattr(self, name, type(getattr(self, name))(value))

    def _round(self, v: float) -> float:
        return round(v * self.resolution) / self.resolution if self.round_to_pixel else float(v)

    def set_translate(self, x: float, y: float) -> None:
        self.host.update(translate=(self._round(x), self._round(y)))
        self.sync(self.host.args)

    def set_rotate(self, deg: float) -> None:
        self.host.update(rotate=(float(deg) + 180.0) % 360.0 - 180.0)
        self.sync(self.host.args)

    def _on_round(self, sender, on) -> None:
        self.round_to_pixel = bool(on)
        x, y = self.host.args.translate
        self.set_translate(x, y)

    def _on_pad_drag(self, dx: float, dy: float) -> None:
        if not self.enabled:
            return
        k = FINE if self.fine else COARSE
        x, y = self.host.args.translate
        self.set_translate(x + dx * k, y + dy * k)

    def reset(self) -> None:
        self.anim_translate = self.anim_rotate = False
        self.phase = 0.0
        self.host.update(translate=(0.0, 0.0), rotate=0.0, untransform=False)
        self.sync(self.host.args)

    def tick(self, dt: float) -> None:
        if not self.enabled or self.host.animations_paused:
            return
        if self.anim_translate:
            self.phase = (self.phase + self.speed * dt) % 1.0
            a = 2 * math.pi * self.phase
            self.set_translate(self.radius * math.cos(a), self.radius * math.sin(a))
        if self.anim_rotate:
            self.set_rotate(self.host.args.rotate + 360.0 * self.speed * dt / 4)

    def sync(self, args: RenderArgs) -> None:
        dpg.set_value("xf.x", args.translate[0])
        dpg.set_value("xf.y", args.translate[1])
        dpg.set_value("xf.angle", args.rotate)
        dpg.set_value("xf.untransform", args.untransform)
        dpg.set_value("xf.anim_translate", self.anim_translate)
        dpg.set_value("xf.anim_rotate", self.anim_rotate)
        px = "" if self.resolution <= 1 else \
            f"  ({args.translate[0] * self.resolution:+.2f}, {args.translate[1] * self.resolution:+.2f} px)"
        dpg.set_value("xf.pad_text", f"x {args.translate[0]:+.4f}  y {args.translate[1]:+.4f}{px}  "
                                     f"angle {args.rotate:+.1f}")

    def on_model(self, info: ModelInfo) -> None:
        self.enabled = info.has_input_transform
        self.resolution = info.img_resolution
        if not self.enabled:
            self.anim_translate = self.anim_rotate = False
        for tag in CONTROLS:
            dpg.configure_item(tag, enabled=self.enabled)
        dpg.configure_item("xf.reason", show=not self.enabled)
        dpg.set_value("xf.reason", f"only StyleGAN3 models can move their Fourier-feature input; this is a "
                                   f"{info.family} model")
        self.sync(self.host.args)
