"""Performance panel: UI frame time and render time plots (ImPlot), fps cap, vsync."""
from __future__ import annotations

import collections

import dearpygui.dearpygui as dpg
import numpy as np

from widgets.base import Panel
from widgets.render_args import RenderResult

HISTORY = 240


class PerformancePanel(Panel):
    title = "Performance"
    default_open = False

    def __init__(self, host) -> None:
        super().__init__(host)
        self.frame_ms: collections.deque = collections.deque(maxlen=HISTORY)
        self.render_ms: collections.deque = collections.deque(maxlen=HISTORY)
        self._frames = 0

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            dpg.add_text("", tag="perf.text")
            with dpg.plot(label="UI frame time (ms)", height=130, width=-1, tag="perf.frame_plot", no_mouse_pos=True):
                dpg.add_plot_axis(dpg.mvXAxis, no_tick_labels=True, tag="perf.frame_x")
                with dpg.plot_axis(dpg.mvYAxis, tag="perf.frame_y"):
                    dpg.add_line_series([], [], tag="perf.frame_series")
            with dpg.plot(label="render time (ms)", height=130, width=-1, tag="perf.render_plot", no_mouse_pos=True):
                dpg.add_plot_axis(dpg.mvXAxis, no_tick_labels=True, tag="perf.render_x")
                with dpg.plot_axis(dpg.mvYAxis, tag="perf.render_y"):
                    dpg.add_line_series([], [], tag="perf.render_series")
            dpg.add_slider_int(label="fps cap", tag="perf.fps", min_value=0, max_value=240,
                               default_value=self.host.fps_cap, width=180,
                               callback=lambda s, a: self.host.set_fps_cap(int(a)))
            dpg.add_text("0 = uncapped", color=(150, 150, 150))
            dpg.add_checkbox(label="vsync", tag="perf.vsync", default_value=self.host.vsync,
                             callback=lambda s, a: self.host.set_vsync(bool(a)))

    def record_frame(self, ms: float) -> None:
        self.frame_ms.append(ms)
        self._frames += 1
        if self._frames % 6 == 0 and dpg.is_item_visible("perf.frame_plot"):
            self._draw()

    def on_result(self, result: RenderResult) -> None:
        if "render_ms" in result.timings:
            self.render_ms.append(result.timings["render_ms"])

    def _draw(self) -> None:
        for name, data in (("frame", self.frame_ms), ("render", self.render_ms)):
            ys = list(data)
            dpg.set_value(f"perf.{name}_series", [list(range(len(ys))), ys])
            if ys:
                dpg.set_axis_limits(f"perf.{name}_x", 0, max(HISTORY, len(ys)))
                dpg.set_axis_limits(f"perf.{name}_y", 0, max(5.0, float(np.percentile(ys, 98)) * 1.2))
        f = np.median(self.frame_ms) if self.frame_ms else 0.0
        r = np.median(self.render_ms) if self.render_ms else 0.0
        dpg.set_value("perf.text", f"UI {f:.1f} ms/frame ({1000 / max(f, 1e-3):.0f} fps)   render {r:.1f} ms")
