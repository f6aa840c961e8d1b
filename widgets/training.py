"""Training panel: start a run (dataset, config, resolution, batch, kimg, bfloat16) as a separate
process, or attach to any run directory; live sample grid, loss and regularizer curves, kimg,
img/s, ETA and a progress bar; pause, resume, stop; open the newest snapshot in the explorer.

Resume unpauses a paused run, and continues a run that nothing trains any more (stopped, failed,
finished, or whose process died without a word) from its newest snapshot as a new process, up
to the kimg box when that is more than the run's own total. A run whose
process is gone, or that has been silent for minutes, says so instead of showing "running"."""
from __future__ import annotations

import datetime
import os

import dearpygui.dearpygui as dpg
import numpy as np

from gan_core.train.rundir import QUALITY_NAMES
from widgets.base import Panel

CONFIGS = ("stylegan2", "stylegan3-t", "stylegan3-r", "stylegan1", "biggan", "biggan-deep", "mobilestylegan")
DISTILL = "mobilestylegan"    # distils a StyleGAN2 teacher: the dataset field names the teacher
BF16_CONFIGS = ("stylegan2", "stylegan3-t", "stylegan3-r")     # the configs `ganscope train --bf16` applies to
LOSSES = ("loss_G", "loss_D")
PENALTIES = ("loss_r1", "loss_pl")    # on their own axis: R1 grows to ~10 while the losses stay ~1
CURVES = LOSSES + PENALTIES
# The second plot shows the first of these a run logs: distillation's distance to the teacher,
# else ADA's p (hidden for runs with neither: StyleGAN1 / BigGAN without augmentation).
SECOND_PLOT = (("distance_eval", "|student - teacher| (16 fixed latents)"), ("augment_p", "augment p"))
# With ADA the p plot also shows what steers p: rt = E[sign D(real)] and its --target. rt creeping
# up to the target is D getting the better of G (overfitting, or a G that stalls); on the demo run
# it rose with R1 before each fall in quality (docs/notes/training.md).
ADA_LABEL = "augment p, and rt = E[sign D(reals)]"
RT_MEAN_TICKS = 10    # one tick's rt comes from a few dozen images: too noisy to show a trend alone
PREVIEW_WIDTH = 330


def trailing_mean(ys: list[float], n: int) -> list[float]:
    """Each value replaced by the mean of it and the up to n - 1 values before it."""
    return [float(np.mean(ys[max(0, i - n + 1):i + 1])) for i in range(len(ys))]


class TrainingPanel(Panel):
    title = "Training"
    default_open = False

    def __init__(self, host) -> None:
        super().__init__(host)
        self._tex = None
        self._tex_shape = None
        self.preview: np.ndarray | None = None
        self.state = ""
        self.health_text = ""     # why the run is not what its status says (gone, silent), or ""
        self._auto_dir = ""       # the run folder the panel suggested (a new one after each start)
        self._typed: dict[str, str] = {}   # the data field's text per kind ("dataset", "teacher")

    @staticmethod
    def _new_run_dir() -> str:
        return os.path.join(os.getcwd(), "training-runs", datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))

    def build(self, parent) -> None:
        default_dir = self._auto_dir = self._new_run_dir()
        with dpg.group(parent=parent):
            dpg.add_input_text(label="dataset", tag="train.data", default_value="procedural:2000", width=230,
                               hint="zip, folder, LMDB or procedural:COUNT")
            with dpg.group(horizontal=True):
                dpg.add_combo(list(CONFIGS), tag="train.cfg", default_value="stylegan3-t", width=120,
                              callback=lambda: self._config_changed())
                dpg.add_combo(["16", "32", "64", "128", "256"], tag="train.res", default_value="32", width=60)
                dpg.add_text("res (procedural)", tag="train.res_label")
            with dpg.group(horizontal=True):
                dpg.add_input_int(label="batch", tag="train.batch", default_value=16, width=90, min_value=1,
                                  min_clamped=True)
                dpg.add_input_float(label="kimg", tag="train.kimg", default_value=50.0, width=100, format="%.1f",
                                    min_value=0.1, min_clamped=True)
            with dpg.group(horizontal=True):
                dpg.add_checkbox(label="small network (fast on a CPU)", tag="train.small", default_value=True)
                dpg.add_checkbox(label="bfloat16", tag="train.bf16", default_value=False)
                with dpg.tooltip("train.bf16"):
                    dpg.add_text(self.host.training.bf16_hint(), wrap=300)
            dpg.add_input_text(label="options", tag="train.extra", default_value="", width=230,
                               hint="--gamma 0.5 --mirror true")
            dpg.add_input_text(label="run dir", tag="train.run_dir", default_value=default_dir, width=230)
            with dpg.group(horizontal=True):
                dpg.add_button(label="Start run", tag="train.start", callback=self.start)
                dpg.add_button(label="Attach to run dir", tag="train.attach",
                               callback=lambda: self.attach(dpg.get_value("train.run_dir")))
            dpg.add_combo([], label="recent runs", tag="train.recent", width=230,
                          callback=lambda s, a: a and (dpg.set_value("train.run_dir", a), self.attach(a)))
            dpg.add_separator()
            dpg.add_text("no run", tag="train.state", wrap=PREVIEW_WIDTH)
            dpg.add_text("", tag="train.run_info", wrap=PREVIEW_WIDTH)
            dpg.add_progress_bar(tag="train.progress", default_value=0.0, width=-1)
            dpg.add_text("", tag="train.numbers")
            dpg.add_text("", tag="train.broken", color=(255, 190, 90), wrap=PREVIEW_WIDTH, show=False)
            with dpg.group(horizontal=True):
                dpg.add_button(label="Pause", tag="train.pause", callback=lambda: self.command("pause"))
                dpg.add_button(label="Resume", tag="train.resume", callback=self.resume)
                dpg.add_button(label="Stop", tag="train.stop", callback=lambda: self.command("stop"))
                dpg.add_button(label="Open newest snapshot", tag="train.open", callback=self.open_snapshot)
            dpg.add_group(tag="train.preview_group")
            with dpg.plot(label="losses (left) and regularizers (right)", height=190, width=-1, tag="train.plot",
                          no_mouse_pos=True):
                dpg.add_plot_legend()
                dpg.add_plot_axis(dpg.mvXAxis, label="kimg", tag="train.x")
                with dpg.plot_axis(dpg.mvYAxis, tag="train.y"):
                    for key in LOSSES:
                        dpg.add_line_series([], [], label=key, tag=f"train.series.{key}")
                with dpg.plot_axis(dpg.mvYAxis2, tag="train.y2", opposite=True):
                    for key in PENALTIES:
                        dpg.add_line_series([], [], label=key, tag=f"train.series.{key}")
            with dpg.plot(label="augment p", height=165, width=-1, tag="train.plot_p", no_mouse_pos=True,
                          show=False):
                dpg.add_plot_legend(tag="train.legend_p", show=False, location=dpg.mvPlot_Location_South,
                                    outside=True, horizontal=True)
                dpg.add_plot_axis(dpg.mvXAxis, tag="train.px")
                with dpg.plot_axis(dpg.mvYAxis, tag="train.py"):
                    dpg.add_line_series([], [], label="p", tag="train.series.second")
                    dpg.add_line_series([], [], label=f"rt (mean of {RT_MEAN_TICKS} ticks)", tag="train.series.rt",
                                        show=False)
                    dpg.add_line_series([], [], label="target", tag="train.series.rt_target", show=False)
            # quality at each snapshot, for runs with --metrics swd|fid (hidden until there is any)
            with dpg.plot(label="SWD x1000 at snapshots (lower is better)", height=130, width=-1,
                          tag="train.plot_q", no_mouse_pos=True, show=False):
                dpg.add_plot_axis(dpg.mvXAxis, tag="train.qx")
                with dpg.plot_axis(dpg.mvYAxis, tag="train.qy"):
                    dpg.add_line_series([], [], label="swd_mean", tag="train.series.swd_mean")
                    dpg.add_scatter_series([], [], label="best (kept)", tag="train.series.swd_best")
            # quality swings during a run: the best measured snapshot is kept on disk (and opened here)
            dpg.add_button(label="Open best snapshot (lowest SWD)", tag="train.open_best", show=False,
                           callback=self.open_best_snapshot)

    # -- actions -------------------------------------------------------------------------------

    def _config_changed(self) -> None:
        """Distillation reads a teacher network instead of a dataset; its resolution and widths
        follow the teacher, so those fields are hidden."""
        distill = dpg.get_value("train.cfg") == DISTILL
        field = "teacher" if distill else "dataset"
        before = dpg.get_item_configuration("train.data")["label"]
        if before != field:    # each kind keeps what was typed for it
            self._typed[before] = dpg.get_value("train.data")
            dpg.set_value("train.data", self._typed.get(field, "demo-sg2" if distill else "procedural:2000"))
        dpg.configure_item("train.data", label=field,
                           hint="StyleGAN2 .pt/.pkl or demo-sg2" if distill else "zip, folder, LMDB or procedural:COUNT")
        for tag in ("train.res", "train.res_label", "train.small"):
            dpg.configure_item(tag, show=not distill)
        dpg.configure_item("train.bf16", show=dpg.get_value("train.cfg") in BF16_CONFIGS)

    def _bf16(self) -> bool:
        """The bfloat16 checkbox, where it applies to the chosen config."""
        return bool(dpg.get_value("train.bf16")) and dpg.get_value("train.cfg") in BF16_CONFIGS

    def start(self) -> None:
        run_dir = dpg.get_value("train.run_dir").strip()
        if run_dir == self._auto_dir and self.host.training.holds_run(run_dir):
            # the suggested folder got the previous run: suggest a new one instead of refusing
            run_dir = self._auto_dir = self._new_run_dir()
            if os.path.exists(run_dir):
                run_dir = self._auto_dir = run_dir + "-2"
            dpg.set_value("train.run_dir", run_dir)
        try:
            self.host.training_start(data=dpg.get_value("train.data").strip(), cfg=dpg.get_value("train.cfg"),
                                     resolution=int(dpg.get_value("train.res")),
                                     batch=int(dpg.get_value("train.batch")),
                                     kimg=float(dpg.get_value("train.kimg")),
                                     small_network=bool(dpg.get_value("train.small")), bf16=self._bf16(),
                                     extra_text=dpg.get_value("train.extra"), run_dir=run_dir)
        except (ValueError, OSError) as e:
            self.host.status(f"cannot start training: {e}", error=True)
            return
        self._reset_view("starting ...")
        self._remember(run_dir)

    def attach(self, run_dir: str) -> None:
        try:
            self.host.training.attach(run_dir.strip())
        except ValueError as e:
            self.host.status(str(e), error=True)
            return
        self._reset_view("attached")
        self._remember(run_dir)
        self.host.status(f"watching training run {run_dir}")

    def _remember(self, run_dir: str) -> None:
        if hasattr(self.host, "remember_run"):
            self.host.remember_run(run_dir.strip())

    def refresh_recent_runs(self, runs: list[str]) -> None:
        dpg.configure_item("train.recent", items=list(runs))

    def command(self, cmd: str) -> None:
        try:
            self.host.training.send(cmd)
        except (ValueError, OSError) as e:
            self.host.status(f"cannot {cmd} the run: {e}", error=True)
            return
        self.host.status(f"asked the run to {cmd}")

    def resume(self) -> None:
        """Unpause a paused run; continue one that nothing trains any more."""
        session = self.host.training
        health = session.health()
        if not health.can_continue:
            if self.state == "paused" and health.kind == "alive":
                self.command("resume")
                return
            if health.kind == "alive":
                self.host.status("the run is already training")
                return
        try:
            # the options box applies here too: a stopped run can go on with e.g. a lower --glr
            # so is the bfloat16 checkbox, which shows the run's own setting once it is read
            what = session.continue_run(kimg=float(dpg.get_value("train.kimg")),
                                        extra_text=dpg.get_value("train.extra"),
                                        bf16=bool(dpg.get_value("train.bf16")))
        except (ValueError, OSError) as e:
            self.host.status(f"cannot continue the run: {e}", error=True)
            return
        self.health_text = ""
        dpg.set_value("train.state", "continuing ...")
        self.host.status(what)

    def open_snapshot(self) -> None:
        self._open(self.host.training.latest_snapshot(), "this run has no snapshot yet")

    def open_best_snapshot(self) -> None:
        self._open(self.host.training.best_snapshot(), "no measured snapshot of this run is on disk")

    def _open(self, snap, missing: str) -> None:
        if snap is None:
            self.host.status(missing, error=True)
        else:
            self.host.open_model(str(snap))

    # -- live view -----------------------------------------------------------------------------

    def _reset_view(self, state: str) -> None:
        self.state = state
        dpg.set_value("train.state", state)
        dpg.set_value("train.progress", 0.0)
        dpg.set_value("train.run_info", "")
        dpg.configure_item("train.broken", show=False)
        for key in CURVES + ("second", "rt", "rt_target", "swd_mean", "swd_best"):
            dpg.set_value(f"train.series.{key}", [[], []])
        self._show_rt(False)
        dpg.configure_item("train.plot_p", show=False)
        dpg.configure_item("train.plot_q", show=False)
        dpg.configure_item("train.open_best", show=False)

    def tick(self, dt: float) -> None:
        up = self.host.training.poll()
        if up is None:
            return
        if up.problem:
            dpg.set_value("train.state", up.problem)
        if up.options is not None:
            dpg.set_value("train.run_info", self.host.training.describe())
            if up.options.get("cfg") in BF16_CONFIGS:    # Resume keeps the run's setting unless it is changed
                dpg.set_value("train.bf16", bool(up.options.get("bf16")))
        if up.status:
            self._show_status(up.status)
        if up.process_exit not in (None, 0):
            said = f": {up.process_said}" if up.process_said else ""
            self.host.status(f"the training process exited with code {up.process_exit}{said} (see "
                             f"{self.host.training.run_dir}/log.txt and process_output.txt)", error=True)
        if up.new_stats:
            w = self.host.training.watcher
            for key in CURVES:
                xs, ys = w.series(key)
                dpg.set_value(f"train.series.{key}", [xs, ys])
            for key, label in SECOND_PLOT:
                xs, ys = w.series(key)
                if xs:
                    dpg.set_value("train.series.second", [xs, ys])
                    ada = key == "augment_p" and (w.options or {}).get("aug") == "ada"
                    dpg.configure_item("train.plot_p", label=ADA_LABEL if ada else label)
                    self._show_rt(ada)
                    if ada:
                        rx, ry = w.series("ada_rt")
                        dpg.set_value("train.series.rt", [rx, trailing_mean(ry, RT_MEAN_TICKS)])
                        target = (w.options or {}).get("target")
                        dpg.set_value("train.series.rt_target", [[xs[0], xs[-1]], [float(target)] * 2]
                                      if target is not None else [[], []])
                    break
            dpg.configure_item("train.plot_p", show=bool(xs))
            for axis in ("train.x", "train.y", "train.y2", "train.px", "train.py"):
                dpg.fit_axis_data(axis)
        if up.new_metrics:
            key = self.host.training.quality_key() or "swd_mean"
            name = QUALITY_NAMES.get(key, key).replace("×10³", " x1000")   # the app's font is ASCII
            xs, ys = self.host.training.watcher.series(key)
            dpg.set_value("train.series.swd_mean", [xs, ys])
            dpg.configure_item("train.series.swd_mean", label=key)
            dpg.configure_item("train.plot_q", label=f"{name} at snapshots (lower is better)")
            dpg.configure_item("train.open_best", label=f"Open best snapshot (lowest {name.split()[0]})")
            best = self.host.training.best_measured()     # the point Open best snapshot opens
            dpg.set_value("train.series.swd_best", [[float(best["kimg"])], [float(best[key])]]
                          if best and key in best else [[], []])
            dpg.configure_item("train.plot_q", show=bool(xs))
            dpg.configure_item("train.open_best", show=bool(xs))
            for axis in ("train.qx", "train.qy"):
                dpg.fit_axis_data(axis)
        if up.preview is not None:
            self._show_preview(up.preview)
        if up.broken_images is not None:
            n = up.broken_images
            dpg.set_value("train.broken", f"{n} unreadable dataset image{'s' if n != 1 else ''} skipped "
                                          f"(names in broken_images.txt)")
            dpg.configure_item("train.broken", show=n > 0)
        self._show_health()

    @staticmethod
    def _show_rt(show: bool) -> None:
        for tag in ("train.series.rt", "train.series.rt_target", "train.legend_p"):
            dpg.configure_item(tag, show=show)

    def _show_health(self) -> None:
        health = self.host.training.health()
        text = ""
        if health.kind == "gone":
            text = f"not training: {health.text}. Resume continues it from its newest snapshot."
        elif health.kind == "silent":
            text = f"{self.state}? {health.text}"
        if text == self.health_text:
            return
        self.health_text = text
        if text:
            dpg.set_value("train.state", text)
            dpg.configure_item("train.state", color=(255, 190, 90))
            if health.kind == "gone":   # no ETA for a run nothing trains
                dpg.set_value("train.numbers", self._numbers(self.host.training.watcher.status, live=False))
        elif self.host.training.watcher is not None:
            self._show_status(self.host.training.watcher.status)

    def _show_status(self, st: dict) -> None:
        self.health_text = ""     # the state line is redrawn; _show_health adds a warning again
        self.state = str(st.get("state", ""))
        kimg, total = st.get("kimg") or 0.0, st.get("total_kimg") or 0.0
        err = st.get("error")
        dpg.set_value("train.state", f"{self.state}" + (f": {err}" if err else ""))
        dpg.configure_item("train.state", color=(255, 110, 110) if self.state == "failed" else (220, 220, 220))
        frac = min(1.0, kimg / total) if total else 0.0
        dpg.set_value("train.progress", frac)
        dpg.configure_item("train.progress", overlay=f"{kimg:.2f} / {total:g} kimg")
        dpg.set_value("train.numbers", self._numbers(st, live=self.state not in ("stopped", "finished", "failed")))

    @staticmethod
    def _numbers(st: dict, live: bool) -> str:
        ips, eta = st.get("img_per_s"), st.get("eta_s")
        eta_txt = "-" if eta is None or not live else str(datetime.timedelta(seconds=int(eta)))
        snap = st.get("latest_snapshot") or "none yet"
        return f"{ips or 0:.1f} img/s   ETA {eta_txt}\nsnapshot: {snap}"

    def _show_preview(self, px: np.ndarray) -> None:
        self.preview = px
        h, w = px.shape[:2]
        data = np.concatenate([px.astype(np.float32) / 255.0, np.ones((h, w, 1), np.float32)], axis=2).ravel()
        if self._tex is None or self._tex_shape != (h, w):
            if self._tex is not None:
                dpg.delete_item("train.preview_group", children_only=True)
                dpg.delete_item(self._tex)
            with dpg.texture_registry():
                self._tex = dpg.add_dynamic_texture(w, h, data)
            self._tex_shape = (h, w)
            # fill the pane: small grids (16², 32² samples) are enlarged, large ones shrunk
            scale = PREVIEW_WIDTH / w if w else 1.0
            dpg.add_image(self._tex, parent="train.preview_group", width=int(w * scale), height=int(h * scale),
                          tag="train.preview")
        else:
            dpg.set_value(self._tex, data)
