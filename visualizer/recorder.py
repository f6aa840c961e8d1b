"""Recording what the canvas shows to MP4 / GIF while animations run.

Recording runs in lockstep with rendering: animations advance by exactly 1/fps per recorded
frame, and the next step waits until the frame for the current settings is on screen, so a
video plays at its nominal speed whatever the render speed and drops no frame.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


class Recorder:
    def __init__(self) -> None:
        self.writer = None
        self.path: Path | None = None
        self.fps = 30.0
        self.target = 0
        self.written = 0
        self.waiting_for = None     # the RenderArgs whose frame is recorded next

    @property
    def active(self) -> bool:
        return self.writer is not None

    @property
    def progress(self) -> float:
        return self.written / self.target if self.target else 0.0

    def start(self, path: Path, fps: float, frames: int) -> None:
        from gan_core.video import VideoWriter
        if frames < 1:
            raise ValueError(f"the number of frames must be at least 1, got {frames}")
        if not 1 <= fps <= 240:
            raise ValueError(f"fps must be between 1 and 240, got {fps}")
        self.writer = VideoWriter(path, fps=fps)    # raises VideoError when MP4 has no ffmpeg
        self.path, self.fps, self.target, self.written = Path(path), float(fps), int(frames), 0
        self.waiting_for = None

    def add(self, frame: np.ndarray) -> bool:
        """Write one frame; True when the target count is reached (the file is then complete)."""
        self.writer.write(frame)
        self.written += 1
        if self.written >= self.target:
            self.finish()
            return True
        return False

    def finish(self) -> Path | None:
        w, self.writer = self.writer, None
        if w is None:
            return None
        w.close()
        return self.path

    def abort(self) -> None:
        w, self.writer = self.writer, None
        if w is not None:
            w.abort()
