"""Presets panel: save and load RenderArgs as JSON files (a preset is just saved args)."""
from __future__ import annotations

from pathlib import Path

import dearpygui.dearpygui as dpg

from widgets.base import Panel
from widgets.preset_files import load_preset, save_preset
from widgets.render_args import ArgsError

class PresetsPanel(Panel):
    title = "Presets"
    default_open = False

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            with dpg.group(horizontal=True):
                dpg.add_input_text(tag="presets.name", hint="preset name", width=200)
                dpg.add_button(label="Save", tag="presets.save", callback=self.save)
            dpg.add_listbox([], tag="presets.list", num_items=6, width=-1)
            with dpg.group(horizontal=True):
                dpg.add_button(label="Load", tag="presets.load", callback=self.load)
                dpg.add_button(label="Delete", tag="presets.delete", callback=self.delete)
                dpg.add_button(label="Refresh", tag="presets.refresh", callback=self.refresh)
        self.refresh()

    @property
    def folder(self) -> Path:
        return Path(self.host.presets_dir)

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.json"))

    def refresh(self) -> None:
        dpg.configure_item("presets.list", items=self.names())

    def save(self) -> None:
        name = dpg.get_value("presets.name") or ""
        try:
            path = save_preset(self.folder, name, self.host.args)
        except (ArgsError, OSError) as e:
            self.host.status(str(e), error=True)
            return
        self.refresh()
        dpg.set_value("presets.list", path.stem)
        self.host.status(f"saved preset {path}")

    def load(self) -> None:
        name = dpg.get_value("presets.list")
        if not name:
            self.host.status("pick a preset in the list first", error=True)
            return
        try:
            args = load_preset(self.folder / f"{name}.json")
        except ArgsError as e:
            self.host.status(str(e), error=True)
            return
        self.host.set_args(args, source=f"preset {name}")

    def delete(self) -> None:
        name = dpg.get_value("presets.list")
        if name:
            try:
                (self.folder / f"{name}.json").unlink()
            except OSError as e:
                self.host.status(f"cannot delete preset {name}: {e}", error=True)
            self.refresh()
