"""Record panel: record what the canvas shows while animations run (latent walk, style mixing,
translate / rotate), to MP4 (H.264) or GIF, with a progress bar."""
from __future__ import annotations

import dearpygui.dearpygui as dpg

from widgets.base import Panel


class RecordPanel(Panel):
    title = "Record video"
    default_open = False

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            with dpg.group(horizontal=True):
                dpg.add_combo(["mp4", "gif"], tag="rec.format", default_value="mp4", width=70)
                dpg.add_input_int(label="fps", tag="rec.fps", default_value=30, width=90, min_value=1,
                                  max_value=240, min_clamped=True, max_clamped=True)
                dpg.add_input_int(label="frames", tag="rec.frames", default_value=120, width=100, min_value=1,
                                  min_clamped=True)
            with dpg.group(horizontal=True):
                dpg.add_button(label="Record", tag="rec.start", callback=self.start)
                dpg.add_button(label="Stop", tag="rec.stop", callback=lambda: self.host.stop_recording())
            dpg.add_progress_bar(tag="rec.progress", default_value=0.0, width=-1)
            dpg.add_text("turn on an animation (Latent, Style mixing, Translate / rotate) first; "
                         "animations advance 1/fps per recorded frame", color=(150, 150, 150), wrap=330)
            dpg.add_text("", tag="rec.status", wrap=330)

    def start(self) -> None:
        self.host.start_recording(dpg.get_value("rec.format"), int(dpg.get_value("rec.fps")),
                                  int(dpg.get_value("rec.frames")))

    def show_progress(self, fraction: float, text: str) -> None:
        dpg.set_value("rec.progress", float(fraction))
        dpg.configure_item("rec.progress", overlay=f"{fraction * 100:.0f}%")
        dpg.set_value("rec.status", text)
