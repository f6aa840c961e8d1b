"""The render worker: renders the newest RenderArgs only, off the UI thread.

``submit`` replaces whatever is waiting (newest wins) and ignores args equal to the ones being
rendered or last rendered; ``poll`` returns the newest finished result, if any. A result the UI
never picked up is dropped (its texture buffer goes back to the pool) when a newer one lands.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

import torch

from visualizer.texture import TexturePool, to_texture
from widgets.render_args import RenderArgs, RenderResult


class RenderWorker:
    def __init__(self, render: Callable[[RenderArgs], RenderResult], pool: TexturePool | None = None,
                 torch_threads: int | None = None) -> None:
        self._render = render
        self.pool = pool or TexturePool()
        self._cond = threading.Condition()
        self._pending: RenderArgs | None = None
        self._active: RenderArgs | None = None
        self._last_done: RenderArgs | None = None
        self._result: RenderResult | None = None
        self._stop = False
        self.rendered = 0          # renders actually run
        self.dropped = 0           # finished results replaced before the UI took them
        self._torch_threads = torch_threads
        self.result_ready = threading.Event()   # set when a result lands; the UI may sleep on it
        self._thread = threading.Thread(target=self._loop, name="ganscope-render", daemon=True)
        self._thread.start()

    # -- UI side -------------------------------------------------------------------------------

    def submit(self, args: RenderArgs) -> bool:
        """Ask for ``args`` to be rendered; False if it is already being or was last rendered."""
        with self._cond:
            if args == self._pending or (self._pending is None and args in (self._active, self._last_done)):
                return False
            if args == self._active:
                self._pending = None        # the running render is already the newest
                return False
            self._pending = args
            self._cond.notify()
            return True

    def poll(self) -> RenderResult | None:
        with self._cond:
            r, self._result = self._result, None
            self.result_ready.clear()
            return r

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._pending is not None or self._active is not None

    def forget_last(self) -> None:
        """Allow the last args to be rendered again (e.g. after the model file changed on disk)."""
        with self._cond:
            self._last_done = None

    def wait_idle(self, timeout: float = 30.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.busy:
                return True
            time.sleep(0.005)
        return False

    def stop(self, timeout: float = 120.0) -> bool:
        """Finish the render in progress (torch cannot be interrupted mid-call) and end the
        thread; False if it is still running after ``timeout`` seconds."""
        with self._cond:
            self._stop = True
            self._pending = None
            self._cond.notify()
        self._thread.join(timeout=timeout)
        return not self._thread.is_alive()

    # -- worker side ---------------------------------------------------------------------------

    def _loop(self) -> None:
        if self._torch_threads:
            torch.set_num_threads(self._torch_threads)
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                args, self._pending = self._pending, None
                self._active = args
            result = self._render(args)
            shown = result.view if result.view is not None else result.image
            if shown is not None:
                t0 = time.perf_counter()
                h, w = shown.shape[:2]
                result.texture = to_texture(shown, self.pool.acquire(h, w))
                result.timings["texture_ms"] = (time.perf_counter() - t0) * 1e3
            with self._cond:
                self.rendered += 1
                if self._result is not None:
                    self.dropped += 1
                    self.pool.release(self._result.texture)
                self._result = result
                self._active = None
                self._last_done = args
                self.result_ready.set()
