"""Capture panel: save the image (PNG with the full RenderArgs inside) or a screenshot of the
whole window; reopen a saved PNG's settings."""
from __future__ import annotations

import dearpygui.dearpygui as dpg

from widgets.base import Panel


class CapturePanel(Panel):
    title = "Capture"

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            dpg.add_input_text(label="folder", tag="capture.dir", default_value=str(self.host.capture_dir),
                               width=250, on_enter=True, callback=lambda s, a: self.host.set_capture_dir(a))
            with dpg.group(horizontal=True):
                dpg.add_button(label="Save image (Ctrl+S)", tag="capture.save_image",
                               callback=lambda: self.host.save_image())
                dpg.add_button(label="Screenshot", tag="capture.screenshot",
                               callback=lambda: self.host.save_screenshot())
            dpg.add_button(label="Open settings from image...", tag="capture.open_settings",
                           callback=lambda: dpg.show_item("capture.dialog"))
            dpg.add_text("", tag="capture.last", color=(150, 150, 150), wrap=330)
        with dpg.file_dialog(directory_selector=False, show=False, tag="capture.dialog", width=700, height=420,
                             modal=True, callback=self._on_dialog):
            dpg.add_file_extension("PNG images (*.png){.png}")
            dpg.add_file_extension(".*")

    def _on_dialog(self, sender, app_data) -> None:
        path = (app_data or {}).get("file_path_name")
        if path:
            self.host.open_settings_from_image(path)

    def saved(self, what: str, path: str) -> None:
        dpg.set_value("capture.last", f"{what}: {path}")
