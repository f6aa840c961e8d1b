"""Model panel: open a checkpoint, recent files, device, fp16, what the model is."""
from __future__ import annotations

import os

import dearpygui.dearpygui as dpg

from widgets.base import Panel
from widgets.render_args import ModelInfo, RenderArgs

CHECKPOINT_EXTENSIONS = (".pkl", ".pt", ".pth", ".model", ".ckpt")


class ModelPanel(Panel):
    title = "Model"

    def build(self, parent) -> None:
        with dpg.group(parent=parent):
            dpg.add_text("", tag="model.label", wrap=0)
            with dpg.group(horizontal=True):
                dpg.add_button(label="Open...", tag="model.open", callback=lambda: dpg.show_item("model.dialog"))
                dpg.add_button(label="Demo", tag="model.demo", callback=lambda: self.host.open_model("demo"))
                if "demo-sg2" in getattr(self.host, "builtin_models", ()):
                    dpg.add_button(label="Demo SG2", tag="model.demo_sg2",
                                   callback=lambda: self.host.open_model("demo-sg2"))
            dpg.add_combo([], label="Recent", tag="model.recent", width=-70,
                          callback=lambda s, a: a and self.host.open_model(a))
            dpg.add_combo(self.host.devices, label="Device", tag="model.device", default_value="cpu", width=120,
                          callback=lambda s, a: self.host.update(device=a))
            dpg.add_checkbox(label="fp16", tag="model.fp16", callback=lambda s, a: self.host.update(fp16=bool(a)))
            dpg.add_text("fp16 needs a CUDA device", tag="model.fp16_reason", color=(150, 150, 150))
            with dpg.group(tag="model.progressive", show=False):
                dpg.add_slider_int(label="progressive step", tag="model.step", min_value=0, max_value=1, width=150,
                                   callback=lambda s, a: (self.host.update(progressive_step=int(a)),
                                                          self.sync(self.host.args)))
                dpg.add_slider_float(label="fade-in alpha", tag="model.alpha", min_value=0.0, max_value=1.0,
                                     default_value=1.0, width=150, format="%.3f",
                                     callback=lambda s, a: self.host.update(progressive_alpha=float(a)))
                dpg.add_text("", tag="model.step_res", color=(150, 150, 150))
            dpg.add_text("", tag="model.info")
        with dpg.file_dialog(directory_selector=False, show=False, tag="model.dialog", width=700, height=420,
                             callback=self._on_dialog, modal=True):
            dpg.add_file_extension("Checkpoints (*.pkl *.pt *.pth *.model *.ckpt){.pkl,.pt,.pth,.model,.ckpt}")
            dpg.add_file_extension(".*")

    def _on_dialog(self, sender, app_data) -> None:
        path = (app_data or {}).get("file_path_name")
        if path:
            self.host.open_model(path)

    def refresh_recent(self, recent: list[str]) -> None:
        dpg.configure_item("model.recent", items=list(recent))

    def sync(self, args: RenderArgs) -> None:
        dpg.set_value("model.device", args.device)
        dpg.set_value("model.fp16", args.fp16)
        info = self.host.model_info
        if info is not None and info.progressive_steps:
            step = info.progressive_step if args.progressive_step is None else args.progressive_step
            dpg.set_value("model.step", step)
            dpg.set_value("model.alpha", args.progressive_alpha)
            dpg.set_value("model.step_res", f"renders {4 * 2 ** step}x{4 * 2 ** step} of "
                                            f"{info.img_resolution}x{info.img_resolution}")

    def on_model(self, info: ModelInfo) -> None:
        dpg.set_value("model.label", info.label)
        dpg.configure_item("model.progressive", show=info.progressive_steps > 0)
        if info.progressive_steps:
            dpg.configure_item("model.step", max_value=info.progressive_steps - 1)
            self.sync(self.host.args)
        dpg.configure_item("model.label", color=(255, 190, 90) if info.untrained else (220, 220, 220))
        fp16_ok = info.fp16_available
        dpg.configure_item("model.fp16", enabled=fp16_ok)
        dpg.configure_item("model.fp16_reason", show=not fp16_ok)
        lines = [
            f"family {info.family}   {info.img_resolution}x{info.img_resolution}x{info.img_channels}",
            f"z {info.z_dim}   w {info.w_dim}   ws {info.num_ws}   classes {info.c_dim or '-'}",
            f"noise inputs {len(info.noise_layers) if info.has_noise else 'none'}   "
            f"input transform {'yes' if info.has_input_transform else 'no'}",
            f"{info.num_params / 1e6:.2f} M parameters   {len(info.layers)} layers   on {info.device}",
        ]
        if info.untrained:
            lines.append("UNTRAINED: random weights, for trying the controls")
        if info.path not in ("demo", "demo-sg2"):
            lines.append(os.path.basename(info.path))
        dpg.set_value("model.info", "\n".join(lines))
