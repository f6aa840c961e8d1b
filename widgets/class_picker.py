"""Class panel (conditional models: BigGAN, conditional StyleGAN2/3): the class by index or by
name from a label file, and class interpolation (the label vector blended between two classes,
animatable). Greyed out, with the reason, for unconditional models."""
from __future__ import annotations

import json
from pathlib import Path

import dearpygui.dearpygui as dpg

from widgets.base import Panel
from widgets.render_args import ModelInfo, RenderArgs

CONTROLS = ("class.idx", "class.name", "class.load_names", "class.idx2", "class.blend", "class.animate")


def read_label_names(path: str | Path) -> list[str]:
    """Class names from a text file (one per line), a JSON list, or a JSON object {index: name}
    (ImageNet-style files work: a name may be a list, whose first entry is used)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read label names from {path}: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        names = [line.strip() for line in text.splitlines() if line.strip()]
        if not names:
            raise ValueError(f"{path} holds no label names (expected one name per line)") from None
        return names
    if isinstance(data, list):
        return [_name(v) for v in data]
    if isinstance(data, dict):
        try:
            items = sorted((int(k), _name(v)) for k, v in data.items())
        except (TypeError, ValueError):
            raise ValueError(f"{path}: a JSON object of label names must map class indices to names") from None
        out = [f"class {i}" for i in range(items[-1][0] + 1)] if items else []
        for i, name in items:
            if i >= 0:
                out[i] = name
        return out
    raise ValueError(f"{path}: expected a list of names, an object {{index: name}} or one name per line")


def _name(v) -> str:
    if isinstance(v, list) and v:
        v = v[-1] if len(v) == 2 and not isinstance(v[0], str) else v[0]
    return str(v)


class ClassPanel(Panel):
    title = "Class"
    default_open = False

    def __init__(self, host) -> None:
        super().__init__(host)
        self.num_classes = 0
        self.names: list[str] = []
        self.animate = False
        self.speed = 0.25        # blend units per second (ping-pong)
        self._dir = 1.0

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            dpg.add_text("", tag="class.reason", color=(255, 190, 90), wrap=330)
            dpg.add_input_int(label="class", tag="class.idx", width=140, min_value=0, min_clamped=True,
                              callback=lambda s, a: self._set_class(a))
            dpg.add_combo([], label="name", tag="class.name", width=220, callback=self._on_name)
            dpg.add_button(label="Load label names...", tag="class.load_names",
                           callback=lambda: dpg.show_item("class.dialog"))
            dpg.add_separator()
            dpg.add_text("interpolate toward another class", color=(150, 150, 150))
            dpg.add_input_int(label="to class", tag="class.idx2", width=140, min_value=0, min_clamped=True,
                              default_value=1, callback=lambda s, a: self._set_target(a))
            dpg.add_slider_float(label="blend", tag="class.blend", min_value=0.0, max_value=1.0, width=180,
                                 format="%.3f", callback=lambda s, a: self._set_blend(a))
            dpg.add_checkbox(label="animate blend", tag="class.animate",
                             callback=lambda s, a: setattr(self, "animate", bool(a)))
        with dpg.file_dialog(directory_selector=False, show=False, tag="class.dialog", width=700, height=420,
                             modal=True, callback=self._on_dialog):
            dpg.add_file_extension("Label names (*.txt *.json){.txt,.json}")
            dpg.add_file_extension(".*")

    def _clamp(self, v: int) -> int:
        return max(0, min(int(v), max(0, self.num_classes - 1)))

    def _set_class(self, v: int) -> None:
        self.host.update(class_idx=self._clamp(v))
        self.sync(self.host.args)

    def _set_target(self, v: int) -> None:
        self.host.update(class_idx2=self._clamp(v))
        self.sync(self.host.args)

    def _set_blend(self, v: float) -> None:
        a = self.host.args
        self.host.update(class_blend=float(v), class_idx2=a.class_idx2 if a.class_idx2 is not None else
                         self._clamp(int(dpg.get_value("class.idx2"))))

    def _on_name(self, sender, name: str) -> None:
        if name in self.names:
            self._set_class(self.names.index(name))

    def _on_dialog(self, sender, app_data) -> None:
        path = (app_data or {}).get("file_path_name")
        if path:
            self.load_names(path)

    def load_names(self, path: str) -> None:
        try:
            names = read_label_names(path)
        except ValueError as e:
            self.host.status(str(e), error=True)
            return
        if self.num_classes and len(names) < self.num_classes:
            self.host.status(f"{path} names {len(names)} classes but the model has {self.num_classes}; "
                             "the rest are shown by number", error=True)
            names = names + [f"class {i}" for i in range(len(names), self.num_classes)]
        self.names = names[:self.num_classes] if self.num_classes else names
        dpg.configure_item("class.name", items=self.names)
        self.sync(self.host.args)

    def tick(self, dt: float) -> None:
        if not self.animate or self.host.animations_paused or not self.num_classes:
            return
        b = self.host.args.class_blend + self._dir * self.speed * dt
        if b >= 1.0 or b <= 0.0:
            self._dir = -self._dir
            b = min(1.0, max(0.0, b))
        self._set_blend(b)
        dpg.set_value("class.blend", b)

    def sync(self, args: RenderArgs) -> None:
        idx = args.class_idx if args.class_idx is not None else 0
        dpg.set_value("class.idx", idx)
        if args.class_idx2 is not None:
            dpg.set_value("class.idx2", args.class_idx2)
        dpg.set_value("class.blend", args.class_blend)
        if self.names and idx < len(self.names):
            dpg.set_value("class.name", self.names[idx])

    def on_model(self, info: ModelInfo) -> None:
        self.num_classes = info.c_dim
        on = info.c_dim > 0
        for tag in CONTROLS:
            dpg.configure_item(tag, enabled=on)
        dpg.configure_item("class.reason", show=not on)
        dpg.set_value("class.reason", "this model is not class-conditional")
        if on:
            for tag in ("class.idx", "class.idx2"):
                dpg.configure_item(tag, max_value=info.c_dim - 1, max_clamped=True)
            self.names = []
            dpg.configure_item("class.name", items=[])
        else:
            self.animate = False
        self.sync(self.host.args)
