"""The training loop: steps, ticks, live files, snapshots, pause/resume/stop.

``train(opts)`` runs a whole training session in this process (one rank under torchrun) and
returns its final state: ``'finished'`` (reached ``--kimg``) or ``'stopped'`` (control.json
"stop", SIGINT or SIGTERM — a snapshot is written first in every case).

A tick ends every ``tick`` kimg or ``tick_seconds`` seconds, whichever comes first (and after
the very first step, so a new run reports at once); each tick appends a line to stats.jsonl,
renders live_preview.png and updates live_status.json; every ``snap`` ticks a snapshot is
written. Between ticks the preview is refreshed every ``preview_interval`` seconds.

The loop drives any trainer that follows ``gan_core.train.protocol.LoopTrainer``:
``train(opts)`` picks it from ``opts.cfg`` (``families.make_trainer``).
"""
from __future__ import annotations

import signal
import threading
import time
import traceback
from contextlib import contextmanager
from typing import Iterator

import torch

from gan_core.progress import advance_to, kimg_bar
from gan_core.train import distributed as ddp
from gan_core.train.options import TrainOptions
from gan_core.train.rundir import cpu_mem_gb, dataset_grid
from gan_core.train.protocol import LoopTrainer

# Between two previews at least this many times the time one takes to render: a 32-image
# StyleGAN3-T grid takes ~0.8 s on a 2-core CPU, which every 10 s cost 7% of a run's speed.
PREVIEW_COST_RATIO = 20

PAUSE_POLL_S = 0.5


@contextmanager
def _stop_on_signals(flag: dict) -> Iterator[None]:
    """SIGINT/SIGTERM set ``flag['stop']`` instead of killing the process (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        flag["stop"] = True
        flag["signal"] = signal.Signals(signum).name

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class TrainingLoop:
    def __init__(self, trainer: LoopTrainer, progress: bool = True) -> None:
        self.t = trainer
        self.flag = {"stop": False, "signal": None}
        self.paused = False
        self.paused_s = 0.0
        self.progress = progress and trainer.dist.is_main
        self.img_per_s: float | None = None
        self.eta_s: float | None = None
        self.last_preview = 0.0
        self.render_s = 0.0  # how long the last preview render took

    # -- control ---------------------------------------------------------------------------------

    def _control_flags(self) -> tuple[bool, bool]:
        """(stop, paused) agreed by all processes (rank 0 reads control.json)."""
        t = self.t
        if t.run is not None:
            cmd = t.run.poll_control()
            if cmd == "pause":
                self.paused = True
            elif cmd == "resume":
                self.paused = False
            elif cmd == "stop":
                self.flag["stop"] = True
        flags = torch.tensor([int(self.flag["stop"]), int(self.paused)], device=t.device)
        flags = ddp.all_reduce_max(flags, t.dist)
        return bool(flags[0]), bool(flags[1])

    def _wait_while_paused(self) -> bool:
        """Block while paused, keeping live_status fresh; returns True when a stop came. The time
        spent paused is left in ``self.paused_s`` (0 when there was no pause)."""
        t = self.t
        self.paused_s = 0.0
        stop, paused = self._control_flags()
        if not paused or stop:
            return stop
        pause_start = time.time()
        if t.run is not None:
            t.run.log(f"paused at kimg {t.cur_nimg / 1000:.3f}", echo=False)
            t.run.write_status(state="paused", kimg=t.cur_nimg / 1000, eta_s=None)
        while True:
            time.sleep(PAUSE_POLL_S)
            stop, paused = self._control_flags()
            if stop or not paused:
                break
            if t.run is not None:
                t.run.write_status(state="paused")
        self.paused_s = time.time() - pause_start
        if t.run is not None and not stop:
            t.run.log(f"resumed at kimg {t.cur_nimg / 1000:.3f}", echo=False)
            t.run.write_status(state="running")
        return stop

    # -- live files ------------------------------------------------------------------------------

    def _preview(self, state: str = "running") -> None:
        t = self.t
        if t.run is None:
            return
        t0 = time.time()
        grid = t.render_grid()
        self.render_s = max(self.render_s * 0.5, time.time() - t0) if self.render_s else time.time() - t0
        t.run.write_png("live_preview.png", grid)
        snap = t.run.latest_snapshot_path
        t.run.write_status(state=state, kimg=t.cur_nimg / 1000, img_per_s=self.img_per_s, eta_s=self.eta_s,
                           latest_snapshot=None if snap is None else snap.name)
        self.last_preview = time.time()

    def _end_tick(self, tick_nimg: int, tick_wall: float, step_time: float) -> None:
        t, o = self.t, self.t.o
        kimg = t.cur_nimg / 1000
        self.img_per_s = tick_nimg / step_time if step_time > 0 else None
        sec_per_kimg = tick_wall / (tick_nimg / 1000) if tick_nimg > 0 else None
        self.eta_s = max(o.kimg - kimg, 0) * sec_per_kimg if sec_per_kimg is not None else None
        family = t.tick_stats()
        gpu = (torch.cuda.max_memory_allocated(t.device) / 2 ** 30) if t.device.type == "cuda" else None
        if t.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(t.device)
        if t.run is not None:
            row = t.run.append_stats({
                "tick": t.tick, "kimg": round(kimg, 6), "total_kimg": o.kimg, "wall_s": round(t.wall_s(), 3),
                "img_per_s": self.img_per_s, "sec_per_kimg": sec_per_kimg, "eta_s": self.eta_s,
                "loss_G": None, "loss_D": None, "loss_r1": None, "loss_pl": None, "augment_p": None,
                "cpu_mem_gb": cpu_mem_gb(), "gpu_mem_gb": gpu, "timestamp": time.time(), "step": t.step_idx,
                **family})

            def fmt(v, spec):
                return "-" if v is None else format(v, spec)
            aug = "" if row["augment_p"] is None else f"augment {row['augment_p']:.3f} "
            t.run.log(f"tick {t.tick:<4d} kimg {kimg:<9.3f} img/s {fmt(row['img_per_s'], '.1f'):<7} "
                      f"loss_G {fmt(row['loss_G'], '.3f')} loss_D {fmt(row['loss_D'], '.3f')} "
                      f"r1 {fmt(row['loss_r1'], '.4f')} pl {fmt(row['loss_pl'], '.4f')} "
                      f"{aug}mem {fmt(row['cpu_mem_gb'], '.2f')} GB",
                      echo=not self.progress)
        t.tick += 1
        if o.snap > 0 and t.tick % o.snap == 0 and t.cur_nimg < o.kimg * 1000:
            t.save_snapshot()
        self._preview()

    # -- the loop --------------------------------------------------------------------------------

    def run(self) -> str:
        t, o = self.t, self.t.o
        total_nimg = int(round(o.kimg * 1000))
        if t.run is not None:
            if t.dataset is not None and not t.run.file("reals.png").exists():
                t.run.write_png("reals.png", dataset_grid(t.dataset, *o.grid))
            t.run.log(t.describe(), echo=not self.progress)
            self._preview(state="running")
        bar = kimg_bar("train", total_nimg, t.cur_nimg, enabled=self.progress)
        tick_start_nimg, tick_start_time, step_time = t.cur_nimg, time.time(), 0.0
        first_step = True
        state = "finished"
        with _stop_on_signals(self.flag), bar:
            while True:
                if self._wait_while_paused():
                    state = "stopped"
                    break
                # A pause is not training time: it must neither end the tick early nor count in
                # its seconds per kimg (and so in the ETA).
                tick_start_time += self.paused_s
                if t.cur_nimg >= total_nimg:
                    break
                t0 = time.time()
                t.step()
                step_time += time.time() - t0
                advance_to(bar, t.cur_nimg)
                now = time.time()
                done = t.cur_nimg >= total_nimg
                due = (first_step or done or t.cur_nimg >= tick_start_nimg + o.tick * 1000
                       or now - tick_start_time >= o.tick_seconds)
                if t.dist.enabled:  # rank 0's clock decides, so every process ticks (and snapshots) together
                    due = bool(ddp.all_reduce_max(torch.tensor([int(due and t.dist.is_main)], device=t.device),
                                                  t.dist)[0])
                if due:
                    self._end_tick(t.cur_nimg - tick_start_nimg, now - tick_start_time, step_time)
                    tick_start_nimg, tick_start_time, step_time = t.cur_nimg, time.time(), 0.0
                    first_step = False
                elif now - self.last_preview >= max(o.preview_interval, PREVIEW_COST_RATIO * self.render_s):
                    # (a preview that is slow to render, e.g. a big grid on a CPU, is refreshed less
                    # often so that it never takes more than about 5% of the training time)
                    self._preview()
        if t.dist.enabled:
            synced = t.ranks_in_sync()
            if t.run is not None:
                t.run.log(f"{t.dist.world_size} processes in sync: {'yes' if synced else 'NO (networks differ)'}",
                          echo=not synced)
        if t.last_snapshot_nimg != t.cur_nimg:
            t.save_snapshot()
        if t.run is not None:
            why = f" ({self.flag['signal']})" if self.flag["signal"] else ""
            t.run.log(f"{state}{why} at kimg {t.cur_nimg / 1000:.3f}")
            self._preview(state=state)
        return state


def train(opts: TrainOptions, progress: bool = True, dist_info: ddp.DistInfo | None = None) -> str:
    """Run (or continue) a training session; returns 'finished' or 'stopped'. On an error the run's
    live_status says 'failed' with the message, log.txt gets the traceback, and it re-raises."""
    from gan_core.train.families import make_trainer

    return run_session(make_trainer(opts, dist_info=dist_info), progress, own_process_group=dist_info is None)


def run_session(trainer: LoopTrainer, progress: bool = True, own_process_group: bool = True) -> str:
    """Drive ``trainer`` through TrainingLoop until it finishes or stops (``train`` and ``distill``
    share this): a failure is logged with its traceback and marked 'failed' in live_status before
    it re-raises; the trainer is always closed, and the process group too when this session made it."""
    from gan_core.train.host_memory import keep_freed_memory

    if trainer.device.type == "cpu":
        keep_freed_memory()
    finished_cleanly = False
    try:
        state = TrainingLoop(trainer, progress=progress).run()
        finished_cleanly = True
        return state
    except BaseException as e:
        if trainer.run is not None:
            trainer.run.log(traceback.format_exc().rstrip(), echo=False)
            trainer.run.write_status(state="failed", error=f"{type(e).__name__}: {e}")
        raise
    finally:
        trainer.close()
        if own_process_group:
            ddp.shutdown(trainer.dist, finished_cleanly)
