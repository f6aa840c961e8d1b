"""Layer inspector: every intermediate layer (name, resolution, channels, dtype); pick one to
view its channels (one channel or an RGB triplet, base-channel stepper, per-channel
normalisation, gain in dB), a mean/std/max table for all vs the selected channels, its
spectrum (log power, mean removed, Kaiser window with adjustable beta, dB range) and the
radially averaged spectrum."""
from __future__ import annotations

import dearpygui.dearpygui as dpg

from widgets.base import Panel
from widgets.render_args import ModelInfo, RenderArgs, RenderResult

VIEWS = {"image": "image", "layer channels": "layer", "layer spectrum": "spectrum"}


class LayersPanel(Panel):
    title = "Layers"
    default_open = False

    def __init__(self, host) -> None:
        super().__init__(host)
        self.items: list[str] = []
        self.names: list[str] = []
        self.channels: dict[str, int] = {}

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            dpg.add_listbox([], tag="layers.list", num_items=8, width=-1, callback=self._on_pick)
            dpg.add_radio_button(list(VIEWS), tag="layers.view", horizontal=True, default_value="image",
                                 callback=lambda s, a: self.host.update(canvas_view=VIEWS[a]))
            with dpg.group(horizontal=True):
                dpg.add_input_int(label="channel", tag="layers.channel", width=110, min_value=0, min_clamped=True,
                                  callback=lambda s, a: self._set_channel(a))
                dpg.add_checkbox(label="RGB", tag="layers.rgb", callback=lambda s, a: self.host.update(layer_rgb=a))
                dpg.add_checkbox(label="normalize", tag="layers.normalize", default_value=True,
                                 callback=lambda s, a: self.host.update(layer_normalize=bool(a)))
            dpg.add_slider_float(label="gain dB", tag="layers.gain", min_value=-40, max_value=40, width=180,
                                 format="%.1f", callback=lambda s, a: self.host.update(layer_gain_db=float(a)))
            dpg.add_slider_float(label="Kaiser beta", tag="layers.beta", min_value=0, max_value=16, width=180,
                                 default_value=8.0, format="%.1f",
                                 callback=lambda s, a: self.host.update(spectrum_beta=float(a)))
            dpg.add_slider_float(label="dB range", tag="layers.db_range", min_value=10, max_value=160, width=180,
                                 default_value=60.0, format="%.0f",
                                 callback=lambda s, a: self.host.update(spectrum_db_range=float(a)))
            with dpg.table(tag="layers.stats", header_row=True, policy=dpg.mvTable_SizingStretchSame):
                for col in ("", "mean", "std", "max"):
                    dpg.add_table_column(label=col)
                for row in ("all", "selected"):
                    with dpg.table_row():
                        dpg.add_text(row)
                        for k in ("mean", "std", "max"):
                            dpg.add_text("-", tag=f"layers.stat.{row}.{k}")
            with dpg.plot(label="radial spectrum (dB)", height=150, width=-1, tag="layers.radial_plot",
                          no_mouse_pos=True):
                dpg.add_plot_axis(dpg.mvXAxis, label="cycles / pixel", tag="layers.radial_x")
                with dpg.plot_axis(dpg.mvYAxis, tag="layers.radial_y"):
                    dpg.add_line_series([], [], tag="layers.radial_series")
            dpg.add_text("", tag="layers.shape", color=(150, 150, 150))

    def _on_pick(self, sender, item: str) -> None:
        if item in self.items:
            name = self.names[self.items.index(item)]
            ch = min(self.host.args.layer_channel, max(0, self.channels.get(name, 1) - 1))
            self.host.update(layer=name, layer_channel=ch)
            if self.host.args.canvas_view == "image":
                self.host.update(canvas_view="layer")
            self.sync(self.host.args)

    def _set_channel(self, value: int) -> None:
        n = self.channels.get(self.host.args.layer or "", 1)
        self.host.update(layer_channel=int(value) % max(1, n))
        self.sync(self.host.args)

    def sync(self, args: RenderArgs) -> None:
        if args.layer in self.names:
            dpg.set_value("layers.list", self.items[self.names.index(args.layer)])
        view = {v: k for k, v in VIEWS.items()}.get(args.canvas_view)
        if view:
            dpg.set_value("layers.view", view)
        dpg.set_value("layers.channel", args.layer_channel)
        dpg.set_value("layers.rgb", args.layer_rgb)
        dpg.set_value("layers.normalize", args.layer_normalize)
        dpg.set_value("layers.gain", args.layer_gain_db)
        dpg.set_value("layers.beta", args.spectrum_beta)
        dpg.set_value("layers.db_range", args.spectrum_db_range)

    def on_model(self, info: ModelInfo) -> None:
        self.names = [layer.name for layer in info.layers]
        self.channels = {layer.name: layer.shape[0] for layer in info.layers}
        self.items = [f"{layer.name.replace('synthesis.', '')}   "
                      f"{'x'.join(str(v) for v in layer.shape)}   {layer.dtype}" for layer in info.layers]
        dpg.configure_item("layers.list", items=self.items)
        self.sync(self.host.args)

    def on_result(self, result: RenderResult) -> None:
        stats = result.layer_stats
        for row in ("all", "selected"):
            for k in ("mean", "std", "max"):
                dpg.set_value(f"layers.stat.{row}.{k}", f"{stats[row][k]:.3g}" if stats else "-")
        if result.layer_shape:
            c, h, w = result.layer_shape
            dpg.set_value("layers.shape", f"{result.args.layer}: {c} channels, {h}x{w}")
        if result.layer_radial is not None:
            f, db = result.layer_radial
            dpg.set_value("layers.radial_series", [list(map(float, f)), list(map(float, db))])
            dpg.fit_axis_data("layers.radial_x")
            dpg.fit_axis_data("layers.radial_y")
