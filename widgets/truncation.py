"""Truncation panel: psi from -1 to 2 and the cutoff layer."""
from __future__ import annotations

import dearpygui.dearpygui as dpg

from widgets.base import Panel
from widgets.render_args import ModelInfo, RenderArgs


class TruncationPanel(Panel):
    title = "Truncation"

    def __init__(self, host) -> None:
        super().__init__(host)
        self.num_ws = 1

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            dpg.add_slider_float(label="psi", tag="trunc.psi", min_value=-1.0, max_value=2.0, default_value=1.0,
                                 width=220, format="%.3f", callback=lambda s, a: self.host.update(trunc_psi=float(a)))
            dpg.add_slider_int(label="cutoff", tag="trunc.cutoff", min_value=0, max_value=1, default_value=1,
                               width=220, callback=lambda s, a: self._set_cutoff(a))
            dpg.add_text("cutoff: truncate only ws below it (max = all)", color=(150, 150, 150))
            with dpg.group(horizontal=True):
                dpg.add_checkbox(label="truncated normal z", tag="trunc.z_on",
                                 callback=lambda s, a: self._set_threshold(a, dpg.get_value("trunc.z_threshold")))
                dpg.add_slider_float(label="threshold", tag="trunc.z_threshold", min_value=0.04, max_value=3.0,
                                     default_value=2.0, width=110, format="%.2f",
                                     callback=lambda s, a: self._set_threshold(dpg.get_value("trunc.z_on"), a))
            dpg.add_text("BigGAN's trick: z values beyond +-threshold are redrawn", color=(150, 150, 150),
                         wrap=330)
            dpg.add_button(label="reset", tag="trunc.reset",
                           callback=lambda: (self.host.update(trunc_psi=1.0, trunc_cutoff=None, z_threshold=None),
                                             self.sync(self.host.args)))

    def _set_threshold(self, on: bool, value: float) -> None:
        self.host.update(z_threshold=float(value) if on else None)

    def _set_cutoff(self, value: int) -> None:
        self.host.update(trunc_cutoff=None if value >= self.num_ws else int(value))

    def sync(self, args: RenderArgs) -> None:
        dpg.set_value("trunc.psi", args.trunc_psi)
        dpg.set_value("trunc.cutoff", self.num_ws if args.trunc_cutoff is None else args.trunc_cutoff)
        dpg.set_value("trunc.z_on", args.z_threshold is not None)
        if args.z_threshold is not None:
            dpg.set_value("trunc.z_threshold", args.z_threshold)

    def on_model(self, info: ModelInfo) -> None:
        self.num_ws = info.num_ws
        dpg.configure_item("trunc.cutoff", max_value=info.num_ws)
        self.sync(self.host.args)
