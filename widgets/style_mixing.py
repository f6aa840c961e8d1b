"""Style mixing panel: a second seed, one checkbox per w index (labelled with the resolution
it drives), coarse/middle/fine presets, animation of the mixing seed. Works for every family:
swapping is per w index of the uniform interface."""
from __future__ import annotations

import math

import dearpygui.dearpygui as dpg

from gan_core.latents import mixing_groups

from widgets.base import Panel
from widgets.render_args import ModelInfo, RenderArgs


class StyleMixingPanel(Panel):
    title = "Style mixing"

    def __init__(self, host) -> None:
        super().__init__(host)
        self.animate = False
        self.speed = 0.5
        self.num_ws = 0
        self.groups: dict[str, list[int]] = {}

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            with dpg.group(horizontal=True):
                dpg.add_input_int(label="mix seed", tag="mix.seed", width=130, min_value=0, min_clamped=True,
                                  default_value=1, callback=lambda s, a: self.host.update(mix_seed=float(max(0, a))))
                dpg.add_drag_float(label="pos", tag="mix.pos", width=90, speed=0.01, default_value=1.0,
                                   format="%.2f", min_value=0.0, max_value=2.0**31,
                                   callback=lambda s, a: self.host.update(mix_seed=max(0.0, float(a))))
            with dpg.group(horizontal=True):
                dpg.add_checkbox(label="animate", tag="mix.animate", callback=lambda s, a: self.set_animate(a))
                dpg.add_slider_float(label="speed", tag="mix.speed", width=150, min_value=0.02, max_value=5.0,
                                     default_value=self.speed, format="%.2f seeds/s",
                                     callback=lambda s, a: setattr(self, "speed", float(a)))
            with dpg.group(horizontal=True):
                for name in ("coarse", "middle", "fine", "all", "none"):
                    dpg.add_button(label=name, tag=f"mix.{name}", callback=lambda s, a, u: self.preset(u),
                                   user_data=name)
            dpg.add_text("", tag="mix.summary", color=(150, 150, 150))
            dpg.add_group(tag="mix.layers")

    def set_animate(self, on: bool) -> None:
        self.animate = bool(on)
        dpg.set_value("mix.animate", self.animate)

    def preset(self, name: str) -> None:
        if name == "none":
            layers: list[int] = []
        elif name == "all":
            layers = list(range(self.num_ws))
        else:
            layers = self.groups.get(name, [])
        self.host.update(mix_layers=tuple(layers))
        self.sync(self.host.args)

    def _toggle(self, index: int, on: bool) -> None:
        cur = set(self.host.args.mix_layers)
        cur.add(index) if on else cur.discard(index)
        self.host.update(mix_layers=tuple(sorted(cur)))
        self._summary(self.host.args)

    def tick(self, dt: float) -> None:
        if self.animate and not self.host.animations_paused:
            self.host.update(mix_seed=self.host.args.mix_seed + self.speed * dt)
            dpg.set_value("mix.pos", self.host.args.mix_seed)
            dpg.set_value("mix.seed", int(math.floor(self.host.args.mix_seed)))

    def sync(self, args: RenderArgs) -> None:
        dpg.set_value("mix.seed", int(math.floor(args.mix_seed)))
        dpg.set_value("mix.pos", args.mix_seed)
        for i in range(self.num_ws):
            dpg.set_value(f"mix.layer.{i}", i in args.mix_layers)
        self._summary(args)

    def _summary(self, args: RenderArgs) -> None:
        n = len(args.mix_layers)
        dpg.set_value("mix.summary", "no layers mixed" if n == 0 else f"{n} of {self.num_ws} ws from the mixing seed")

    def on_model(self, info: ModelInfo) -> None:
        self.num_ws = info.num_ws
        self.groups = mixing_groups(info.ws_resolutions)
        dpg.delete_item("mix.layers", children_only=True)
        cols = 3
        rows = math.ceil(info.num_ws / cols)
        with dpg.table(parent="mix.layers", header_row=False, policy=dpg.mvTable_SizingStretchSame):
            for _ in range(cols):
                dpg.add_table_column()
            for r in range(rows):
                with dpg.table_row():
                    for c in range(cols):
                        i = r + c * rows   # column-major: reads top-to-bottom like a layer list
                        if i < info.num_ws:
                            dpg.add_checkbox(label=f"w{i} {info.ws_resolutions[i]}", tag=f"mix.layer.{i}",
                                             callback=lambda s, a, u: self._toggle(u, a), user_data=i)
                        else:
                            dpg.add_spacer()
        self.sync(self.host.args)
