"""Noise panel: mode, noise seed, global and per-layer strength; disabled, with the reason,
for families without noise inputs (StyleGAN3)."""
from __future__ import annotations

import dearpygui.dearpygui as dpg

from widgets.base import Panel
from widgets.render_args import NOISE_MODES, ModelInfo, RenderArgs

CONTROLS = ("noise.mode", "noise.seed", "noise.strength", "noise.reset")


class NoisePanel(Panel):
    title = "Noise"

    def __init__(self, host) -> None:
        super().__init__(host)
        self.layers: list[str] = []

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            dpg.add_text("", tag="noise.reason", color=(255, 190, 90), show=False, wrap=330)
            dpg.add_combo(list(NOISE_MODES), label="mode", tag="noise.mode", default_value="const", width=120,
                          callback=lambda s, a: self.host.update(noise_mode=a))
            dpg.add_input_int(label="noise seed", tag="noise.seed", width=130, min_value=0, min_clamped=True,
                              callback=lambda s, a: self.host.update(noise_seed=int(max(0, a))))
            dpg.add_slider_float(label="strength", tag="noise.strength", min_value=0.0, max_value=3.0,
                                 default_value=1.0, width=200, format="%.2f",
                                 callback=lambda s, a: self.host.update(noise_strength=float(a)))
            dpg.add_button(label="reset", tag="noise.reset", callback=self.reset)
            dpg.add_text("per layer (x global strength):", tag="noise.per_layer_label", color=(150, 150, 150))
            dpg.add_group(tag="noise.layers")

    def reset(self) -> None:
        self.host.update(noise_mode="const", noise_seed=0, noise_strength=1.0, noise_layer_strengths=None)
        self.sync(self.host.args)

    def _set_layer(self, index: int, value: float) -> None:
        cur = list(self.host.args.noise_layer_strengths or [1.0] * len(self.layers))
        cur[index] = float(value)
        self.host.update(noise_layer_strengths=None if all(v == 1.0 for v in cur) else tuple(cur))

    def sync(self, args: RenderArgs) -> None:
        dpg.set_value("noise.mode", args.noise_mode)
        dpg.set_value("noise.seed", args.noise_seed)
        dpg.set_value("noise.strength", args.noise_strength)
        vals = args.noise_layer_strengths or [1.0] * len(self.layers)
        for i, v in enumerate(vals[:len(self.layers)]):
            dpg.set_value(f"noise.layer.{i}", v)

    def on_model(self, info: ModelInfo) -> None:
        self.layers = list(info.noise_layers) if info.has_noise else []
        dpg.delete_item("noise.layers", children_only=True)
        enabled = bool(info.has_noise and self.layers)
        for tag in CONTROLS:
            dpg.configure_item(tag, enabled=enabled)
        dpg.configure_item("noise.reason", show=not enabled)
        dpg.configure_item("noise.per_layer_label", show=enabled)
        if not enabled:
            why = ("StyleGAN3 has no noise inputs: its detail comes from the Fourier-feature input and the "
                   "filtered nonlinearities" if info.family == "stylegan3"
                   else f"this {info.family} model has no noise inputs")
            dpg.set_value("noise.reason", why)
            return
        for i, name in enumerate(self.layers):
            short = name.replace("synthesis.", "")
            dpg.add_slider_float(label=short, tag=f"noise.layer.{i}", parent="noise.layers", min_value=0.0,
                                 max_value=3.0, default_value=1.0, width=160, format="%.2f",
                                 callback=lambda s, a, u: self._set_layer(u, a), user_data=i)
        self.sync(self.host.args)
