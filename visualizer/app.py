"""The app shell: window, layout, main loop, shortcuts, files; wires panels to the renderer.

One data flow (DESIGN.md): panels edit ``self.args`` (a frozen RenderArgs) through ``update``;
each frame the newest args go to the render worker (equal args are never re-rendered); the
newest finished result is shown on the canvas and handed to the panels. Nothing a panel or a
file does can stop the loop: errors end up in the status line and on the canvas.
"""
from __future__ import annotations

import os
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import dearpygui.dearpygui as dpg

from gan_core.models.demo import NAMED_DEMOS, is_demo_name
from visualizer.canvas import Canvas
from visualizer.files import PNG_ARGS_KEY, next_free, read_args_from_png, wrap_text
from visualizer.recorder import Recorder
from visualizer.renderer import Renderer, available_devices
from visualizer.settings import Settings, config_dir
from visualizer.training_bridge import RunRequest, TrainingSession, parse_extra_options
from visualizer.texture import TexturePool
from visualizer.worker import RenderWorker
from widgets.capture import CapturePanel
from widgets.class_picker import ClassPanel
from widgets.equivariance import EquivariancePanel
from widgets.layers import LayersPanel
from widgets.record import RecordPanel
from widgets.training import TrainingPanel
from widgets.transform import TransformPanel
from widgets.latent import LatentPanel
from widgets.model import ModelPanel
from widgets.noise import NoisePanel
from widgets.performance import PerformancePanel
from widgets.presets import PresetsPanel
from widgets.render_args import ArgsError, ModelInfo, RenderArgs, RenderResult
from widgets.style_mixing import StyleMixingPanel
from widgets.truncation import TruncationPanel

STATUS_HEIGHT = 26
ERROR_COLOR = (255, 110, 110)
INFO_COLOR = (190, 190, 190)
TEXT_INPUTS = ("latent.seed", "class.idx", "class.idx2", "mix.seed", "noise.seed", "capture.dir", "presets.name",
               "layers.channel", "rec.fps", "rec.frames", "train.data", "train.run_dir", "train.batch",
               "train.kimg")


class App:
    """The ganscope window. ``App(...).run()`` for people; tests call ``start`` and ``frame``."""

    def __init__(self, model: str = "demo", device: str = "cpu", settings_path: Path | None = None,
                 size: tuple[int, int] | None = None, torch_threads: int | None = None) -> None:
        self.settings_path = settings_path or config_dir() / "settings.json"
        self.settings, warning = Settings.load(self.settings_path)
        if size:
            self.settings.window = [int(size[0]), int(size[1])]
        self.args = RenderArgs(model=model, device=device)
        self.model_info: ModelInfo | None = None
        self.last_result: RenderResult | None = None
        self.animations_paused = False
        self.devices = available_devices()
        self.builtin_models = ["demo"] + [n for n, f in NAMED_DEMOS.items() if f.exists()]
        self.fps_cap = int(self.settings.fps_cap)
        self.vsync = bool(self.settings.vsync)
        self.capture_dir = Path(self.settings.capture_dir or Path.cwd() / "ganscope-captures")
        self.presets_dir = self.settings_path.parent / "presets"
        self.pool = TexturePool()
        self.renderer = Renderer()
        threads = torch_threads or max(1, (os.cpu_count() or 2) - 1)
        self.worker = RenderWorker(self.renderer.render, self.pool, torch_threads=threads)
        self.last_status = ""
        self.last_error: str | None = None
        self._pending_warning = warning
        self._good: tuple[str, str] | None = None       # last (model, device) that rendered
        self._drag_targets: dict[str, Callable[[float, float], None]] = {}
        self._drag_active: str | None = None
        self._drag_last = (0.0, 0.0)
        self._last_frame = time.perf_counter()
        self.frame_count = 0
        self.frame_work_ms = 0.0
        self.running = False
        self.panels: list[Any] = []
        self.recorder = Recorder()
        self.training = TrainingSession()

    # -- host interface used by the panels -------------------------------------------------------

    def update(self, **changes: Any) -> None:
        try:
            self.args = self.args.replace(**changes)
        except (ArgsError, TypeError, ValueError) as e:
            self.status(f"ignored a setting: {e}", error=True)

    def set_args(self, args: RenderArgs, source: str = "settings") -> None:
        """Replace all settings (a preset, an image's settings) and show them in every panel."""
        if args.model != self.args.model and not is_demo_name(args.model) and not os.path.exists(args.model):
            self.status(f"{source}: its model {args.model} is not on this machine; the settings were applied "
                        f"to the current model", error=True)
            args = args.replace(model=self.args.model, device=self.args.device)
        elif args.device not in self.devices:
            args = args.replace(device="cpu")
        self.args = args
        self._sync_panels()
        if self.last_error is None or not self.last_status.startswith(source):
            self.status(f"loaded {source}")

    def status(self, text: str, error: bool = False) -> None:
        self.last_status = text
        self.last_error = text if error else None
        if dpg.does_item_exist("status"):
            dpg.set_value("status", text)
            dpg.configure_item("status", color=ERROR_COLOR if error else INFO_COLOR)

    def add_drag_target(self, item: str, callback: Callable[[float, float], None]) -> None:
        self._drag_targets[item] = callback

    def open_model(self, path: str) -> None:
        if not is_demo_name(path):
            path = os.path.abspath(os.path.expanduser(path))
            if not os.path.isfile(path):
                self.status(f"cannot open {path}: no such file", error=True)
                return
        self.status(f"opening {'the built-in model ' + path if is_demo_name(path) else path} ...")
        self.update(model=path, mix_layers=(), noise_layer_strengths=None, trunc_cutoff=None, class_idx=None,
                    class_idx2=None, class_blend=0.0, progressive_step=None, progressive_alpha=1.0,
                    translate=(0.0, 0.0), rotate=0.0, untransform=False, fp16=False, layer=None, layer_channel=0,
                    canvas_view="image", eq_metric=None)
        self._sync_panels()

    def set_fps_cap(self, fps: int) -> None:
        self.fps_cap = max(0, int(fps))
        self.settings.fps_cap = self.fps_cap

    def set_vsync(self, on: bool) -> None:
        self.vsync = bool(on)
        self.settings.vsync = self.vsync
        if self.running:
            dpg.set_viewport_vsync(self.vsync)

    def set_capture_dir(self, path: str) -> None:
        self.capture_dir = Path(os.path.expanduser(path or "."))
        self.settings.capture_dir = str(self.capture_dir)

    def save_image(self) -> Path | None:
        """What the canvas shows (the image, or an inspector view) as PNG, auto-numbered, with the
        RenderArgs that made it inside."""
        r = self.last_result
        if r is None or r.image is None:
            self.status("nothing to save yet", error=True)
            return None
        from gan_core.media import save_png
        try:
            path = next_free(self.capture_dir, "ganscope", ".png")
            save_png(r.view if r.view is not None else r.image, path,
                     text={PNG_ARGS_KEY: r.args.to_json(), "Software": "ganscope"})
        except OSError as e:
            self.status(f"cannot save the image in {self.capture_dir}: {e}", error=True)
            return None
        self.capture.saved("image", str(path))
        self.status(f"saved {path}")
        return path

    def save_screenshot(self) -> Path | None:
        """The whole window as PNG (written at the end of the next frame)."""
        try:
            path = next_free(self.capture_dir, "screenshot", ".png")
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            self.status(f"cannot save a screenshot in {self.capture_dir}: {e}", error=True)
            return None
        dpg.output_frame_buffer(file=str(path))
        self.capture.saved("screenshot", str(path))
        self.status(f"saved screenshot {path}")
        return path

    def start_recording(self, fmt: str, fps: int, frames: int) -> Path | None:
        """Record the next ``frames`` frames the canvas shows (animations in lockstep)."""
        from gan_core.video import VideoError
        if self.recorder.active:
            self.status("already recording; stop it first", error=True)
            return None
        try:
            path = next_free(self.capture_dir, "recording", f".{fmt}")
            self.recorder.start(path, fps, frames)
        except (VideoError, ValueError, OSError) as e:
            self.status(f"cannot record: {e}", error=True)
            return None
        self.recorder.waiting_for = self.args
        self.record_panel.show_progress(0.0, f"recording to {path}")
        self.status(f"recording {frames} frames to {path}")
        return path

    def stop_recording(self) -> Path | None:
        if not self.recorder.active:
            return None
        n = self.recorder.written
        try:
            path = self.recorder.finish() if n else (self.recorder.abort() or None)
        except Exception as e:  # noqa: BLE001 - the encoder failed: say so, keep running
            self.status(f"recording failed: {e}", error=True)
            return None
        if path:
            self.record_panel.show_progress(1.0, f"stopped: {n} frames in {path}")
            self.status(f"saved video {path} ({n} frames)")
        else:
            self.record_panel.show_progress(0.0, "stopped before the first frame: nothing written")
        return path

    def _record_step(self) -> float | None:
        """While recording: write the frame for the awaited settings once it is on screen and
        return the animation step (1/fps); None means hold the animations still."""
        r = self.last_result
        want = self.recorder.waiting_for
        if r is None or r.args != want or r.error:
            return None
        try:
            done = self.recorder.add(r.view if r.view is not None else r.image)
        except Exception as e:  # noqa: BLE001
            self.recorder.abort()
            self.status(f"recording failed: {e}", error=True)
            return None
        n, total = self.recorder.written, self.recorder.target
        if done:
            self.record_panel.show_progress(1.0, f"done: {n} frames in {self.recorder.path}")
            self.status(f"saved video {self.recorder.path} ({n} frames)")
            return None
        self.record_panel.show_progress(n / total, f"{n} / {total} frames")
        return 1.0 / self.recorder.fps

    def remember_run(self, run_dir: str) -> None:
        """A run folder the Training panel started or attached to joins its recent runs."""
        self.settings.add_recent_run(run_dir)
        self.training_panel.refresh_recent_runs(self.settings.recent_runs)

    def training_start(self, extra_text: str = "", **request: Any) -> None:
        """Start ``ganscope train`` as its own process and follow it in the Training panel
        (``extra_text``: more train options, as typed)."""
        req = RunRequest(extra=parse_extra_options(extra_text), **request)
        self.training.start(req)
        self.status(f"training started in {req.run_dir}")

    def open_settings_from_image(self, path: str) -> RenderArgs | None:
        try:
            args = read_args_from_png(path)
        except ArgsError as e:
            self.status(str(e), error=True)
            return None
        self.set_args(args, source=f"settings from {os.path.basename(path)}")
        return self.args

    # -- window ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Create the window and the panels (no frames are drawn yet)."""
        dpg.create_context()
        self.latent, self.truncation = LatentPanel(self), TruncationPanel(self)
        self.mixing, self.noise = StyleMixingPanel(self), NoisePanel(self)
        self.model_panel, self.perf = ModelPanel(self), PerformancePanel(self)
        self.capture, self.presets = CapturePanel(self), PresetsPanel(self)
        self.transform, self.layers = TransformPanel(self), LayersPanel(self)
        self.equivariance, self.record_panel = EquivariancePanel(self), RecordPanel(self)
        self.training_panel, self.class_panel = TrainingPanel(self), ClassPanel(self)
        self.panels = [self.model_panel, self.latent, self.class_panel, self.truncation, self.mixing, self.noise,
                       self.transform,
                       self.layers, self.equivariance, self.capture, self.record_panel, self.training_panel,
                       self.presets, self.perf]
        with dpg.window(tag="main", no_scrollbar=True):
            self._build_menu()
            with dpg.group(horizontal=True, tag="body"):
                with dpg.child_window(tag="pane", width=int(self.settings.pane_width), resizable_x=True,
                                      height=-STATUS_HEIGHT):
                    for p in self.panels:
                        tag = f"section.{p.title}"
                        open_ = self.settings.open_sections.get(p.title, p.default_open)
                        with dpg.collapsing_header(label=p.title, tag=tag, default_open=open_):
                            p.build(tag)
                with dpg.group(tag="canvas_area"):
                    self.canvas = Canvas("canvas_area", self.pool)
            dpg.add_text("", tag="status")
        self.canvas.filter = self.settings.filter if self.settings.filter in ("nearest", "linear") else "linear"
        dpg.set_value("view.filter", self.canvas.filter)
        self.model_panel.refresh_recent(self.settings.recent_files)
        self.training_panel.refresh_recent_runs(self.settings.recent_runs)
        self._build_handlers()
        w, h = self.settings.window
        dpg.create_viewport(title="ganscope", width=max(640, int(w)), height=max(480, int(h)),
                            x_pos=int(self.settings.window_pos[0]), y_pos=int(self.settings.window_pos[1]),
                            vsync=self.vsync)
        dpg.setup_dearpygui()
        dpg.show_viewport()
        dpg.set_primary_window("main", True)
        self.running = True
        self._sync_panels()
        self.status(self._pending_warning or "loading the model ...", error=self._pending_warning is not None)
        self._last_frame = time.perf_counter()

    def _build_menu(self) -> None:
        with dpg.menu_bar():
            with dpg.menu(label="File"):
                dpg.add_menu_item(label="Open model...", callback=lambda: dpg.show_item("model.dialog"))
                dpg.add_menu_item(label="Open demo model", callback=lambda: self.open_model("demo"))
                if NAMED_DEMOS["demo-sg2"].exists():
                    dpg.add_menu_item(label="Open StyleGAN2 demo model (trained)",
                                      callback=lambda: self.open_model("demo-sg2"))
                dpg.add_menu_item(label="Open settings from image...",
                                  callback=lambda: dpg.show_item("capture.dialog"))
                dpg.add_separator()
                dpg.add_menu_item(label="Save image", shortcut="Ctrl+S", callback=lambda: self.save_image())
                dpg.add_menu_item(label="Save screenshot", callback=lambda: self.save_screenshot())
                dpg.add_separator()
                dpg.add_menu_item(label="Quit", callback=lambda: dpg.stop_dearpygui())
            with dpg.menu(label="View"):
                dpg.add_menu_item(label="Fit to window", callback=lambda: self.canvas.set_fit())
                for z in (1, 2, 4, 8):
                    dpg.add_menu_item(label=f"Zoom {z}x", callback=lambda s, a, u: self.canvas.set_zoom(u),
                                      user_data=z)
                dpg.add_radio_button(["linear", "nearest"], tag="view.filter", horizontal=True,
                                     callback=lambda s, a: self.set_filter(a))
            with dpg.menu(label="Help"):
                dpg.add_text("space: pause/resume animations\nleft/right: seed -1/+1\nup/down: grid row -1/+1\n"
                             "ctrl+S: save image\nwheel over image: zoom, drag: pan, double-click: fit")

    def set_filter(self, mode: str) -> None:
        self.canvas.set_filter(mode)
        self.settings.filter = mode
        dpg.set_value("view.filter", mode)

    def _build_handlers(self) -> None:
        with dpg.handler_registry():
            dpg.add_key_press_handler(key=dpg.mvKey_Spacebar, callback=lambda: self.on_key("space"))
            dpg.add_key_press_handler(key=dpg.mvKey_Left, callback=lambda: self.on_key("left"))
            dpg.add_key_press_handler(key=dpg.mvKey_Right, callback=lambda: self.on_key("right"))
            dpg.add_key_press_handler(key=dpg.mvKey_Up, callback=lambda: self.on_key("up"))
            dpg.add_key_press_handler(key=dpg.mvKey_Down, callback=lambda: self.on_key("down"))
            dpg.add_key_press_handler(key=dpg.mvKey_S, callback=self._on_s)
            dpg.add_mouse_wheel_handler(callback=lambda s, a: self.on_wheel(a))
            dpg.add_mouse_click_handler(button=dpg.mvMouseButton_Left, callback=lambda: self._drag_begin())
            dpg.add_mouse_double_click_handler(button=dpg.mvMouseButton_Left, callback=self._on_double_click)
        self.add_drag_target("canvas_window", lambda dx, dy: self.canvas.pan_by(dx, dy))

    def _typing(self) -> bool:
        return any(dpg.does_item_exist(t) and dpg.is_item_active(t) for t in TEXT_INPUTS)

    def _on_s(self) -> None:
        if dpg.is_key_down(dpg.mvKey_LControl) or dpg.is_key_down(dpg.mvKey_RControl):
            self.on_key("ctrl+s")

    def on_key(self, key: str) -> None:
        """Keyboard shortcuts (also called directly by tests)."""
        if key != "ctrl+s" and self._typing():
            return
        if key == "space":
            self.animations_paused = not self.animations_paused
            self.status("animations paused (space to resume)" if self.animations_paused else "animations resumed")
        elif key in ("left", "right"):
            self.latent.step(-1 if key == "left" else 1, 0)
        elif key in ("up", "down"):
            self.latent.step(0, -1 if key == "up" else 1)
            self.args = self.args.replace(latent_y=max(0.0, self.args.latent_y))
            self.latent.sync(self.args)
        elif key == "ctrl+s":
            self.save_image()

    def on_wheel(self, delta: float) -> None:
        if delta and dpg.is_item_hovered("canvas_window"):
            self.canvas.zoom_step(1 if delta > 0 else -1, anchor=self._canvas_mouse())

    def _on_double_click(self) -> None:
        if dpg.is_item_hovered("canvas_window"):
            self.canvas.set_fit()

    def _canvas_mouse(self) -> tuple[float, float]:
        mx, my = dpg.get_mouse_pos(local=False)
        ox, oy = dpg.get_item_rect_min("canvas_drawlist")
        return mx - ox, my - oy

    def _drag_begin(self) -> None:
        for tag in self._drag_targets:
            if dpg.does_item_exist(tag) and dpg.is_item_hovered(tag):
                self._drag_active = tag
                self._drag_last = tuple(dpg.get_mouse_pos(local=False))
                return

    def _drag_poll(self) -> None:
        if self._drag_active is None:
            return
        if not dpg.is_mouse_button_down(dpg.mvMouseButton_Left):
            self._drag_active = None
            return
        x, y = dpg.get_mouse_pos(local=False)
        dx, dy = x - self._drag_last[0], y - self._drag_last[1]
        if dx or dy:
            self._drag_last = (x, y)
            self._drag_targets[self._drag_active](dx, dy)

    # -- main loop -------------------------------------------------------------------------------

    def frame(self) -> None:
        """One UI frame: animations, submit the newest args, show the newest result, draw."""
        t0 = time.perf_counter()
        dt = t0 - self._last_frame
        self._last_frame = t0
        try:
            self._drag_poll()
            if self.recorder.active:
                step = self._record_step()
                if step is not None:   # (if nothing animates, the same frame is written again)
                    for p in self.panels:
                        p.tick(step)
                    self.recorder.waiting_for = self.args
            else:
                for p in self.panels:
                    p.tick(dt)
            self.worker.submit(self.args)
            result = self.worker.poll()
            if result is not None:
                self._on_result(result)
            self._layout()
        except Exception as e:  # noqa: BLE001 - a bug in a panel must not take the window down
            if os.environ.get("GANSCOPE_DEBUG"):
                traceback.print_exc()
            self.status(f"internal error (the app keeps running): {type(e).__name__}: {e}", error=True)
        dpg.render_dearpygui_frame()
        self.frame_work_ms = (time.perf_counter() - t0) * 1e3
        self.perf.record_frame(dt * 1e3)
        self.frame_count += 1

    def step(self) -> None:
        """One turn of the main loop: a frame, then the rest of the fps cap's frame time — cut
        short when a render result lands, so a new image is shown one frame after it is ready."""
        t0 = time.perf_counter()
        self.frame()
        if self.fps_cap > 0:
            rest = 1.0 / self.fps_cap - (time.perf_counter() - t0)
            if rest > 0:
                self.worker.result_ready.wait(rest)

    def run(self) -> None:
        if not self.running:
            self.start()
        try:
            while dpg.is_dearpygui_running():
                self.step()
        finally:
            self.close()

    def close(self) -> None:
        if not self.running:
            return
        self._store_layout()
        try:
            self.settings.save(self.settings_path)
        except OSError as e:
            print(f"ganscope: could not save settings to {self.settings_path}: {e}")
        if not self.worker.stop():
            print("ganscope: a render was still running when the window closed")
        if self.recorder.active:
            self.stop_recording()
        self.running = False
        dpg.destroy_context()

    def wait_for_result(self, predicate: Callable[[RenderResult], bool] | None = None, timeout: float = 60.0
                        ) -> RenderResult:
        """Run frames until a result for the current args (or one matching ``predicate``) is shown."""
        end = time.monotonic() + timeout
        want = self.args
        while time.monotonic() < end:
            self.step()
            r = self._just_shown
            if r is not None and (predicate(r) if predicate else r.args == want):
                return r
        raise TimeoutError(f"no matching render result within {timeout} s (last status: {self.last_status})")

    _just_shown: RenderResult | None = None

    def _on_result(self, r: RenderResult) -> None:
        self._just_shown = r
        if r.error:
            self.status(r.error, error=True)
            self.canvas.set_overlay(wrap_text(r.error, 70), dim=True)
            if r.error_kind == "model" and (r.args.model, r.args.device) == (self.args.model, self.args.device) \
                    and self._good is not None and self._good != (r.args.model, r.args.device):
                # could not open it: go back to the model that worked (the message stays up)
                self.args = self.args.replace(model=self._good[0], device=self._good[1])
                self._sync_panels()
            for p in self.panels:
                p.on_result(r)
            return
        new_model = self.model_info is None or (r.model.path, r.model.device, r.model.label) != \
            (self.model_info.path, self.model_info.device, self.model_info.label)
        self.canvas.show(r.view if r.view is not None else r.image, r.texture)
        r.texture = None   # the canvas owns it now
        self.canvas.set_overlay(r.view_note)
        self.last_result = r
        if new_model:
            self.model_info = r.model
            for p in self.panels:
                p.on_model(r.model)
            if not is_demo_name(r.model.path):
                self.settings.add_recent(r.model.path)
                self.model_panel.refresh_recent(self.settings.recent_files)
            self.canvas.set_hint("UNTRAINED demo model: random weights" if r.model.untrained else "")
            dpg.set_viewport_title(f"ganscope - {r.model.label}")
            self.status(f"opened {r.model.label}")
        elif self.last_error and self.last_error.startswith("render failed"):
            self.status("")   # a render error is over once a render succeeds; open errors stay up
        self._good = (r.args.model, r.args.device)
        for p in self.panels:
            p.on_result(r)

    def _sync_panels(self) -> None:
        for p in self.panels:
            p.sync(self.args)

    def _layout(self) -> None:
        w, h = dpg.get_item_rect_size("canvas_window")
        if w > 0 and h > 0:
            vw = dpg.get_viewport_client_width()
            pane_w = dpg.get_item_rect_size("pane")[0]
            width = max(1, vw - pane_w - 24)
            dpg.configure_item("canvas_window", width=width, height=-STATUS_HEIGHT)
            self.canvas.resize(width, dpg.get_item_rect_size("canvas_window")[1])

    def _store_layout(self) -> None:
        try:
            self.settings.window = [dpg.get_viewport_client_width(), dpg.get_viewport_client_height()]
            self.settings.window_pos = [int(v) for v in dpg.get_viewport_pos()]
            self.settings.pane_width = int(dpg.get_item_rect_size("pane")[0]) or self.settings.pane_width
            self.settings.open_sections = {p.title: bool(dpg.get_value(f"section.{p.title}")) for p in self.panels}
        except Exception:  # noqa: BLE001 - layout is a nicety; never block closing
            pass
