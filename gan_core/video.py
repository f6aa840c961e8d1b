"""Writing (and, for tests and checks, reading) videos of uint8 frames: MP4 and GIF.

    with VideoWriter("walk.mp4", fps=30) as vw:      # or "walk.gif"
        for frame in frames:                         # [H, W, 3] uint8 (or [H, W] grey)
            vw.write(frame)

MP4 is H.264 in yuv420p (plays everywhere) encoded by the ffmpeg executable that the
``imageio-ffmpeg`` package bundles (or ``$GANSCOPE_FFMPEG`` / an ``ffmpeg`` on PATH), fed raw RGB
frames through a pipe. yuv420p needs even sizes: odd widths/heights are padded by one black
pixel. GIF is written with Pillow (looping forever; Pillow merges identical consecutive frames
into one longer frame). Both are written to a temporary file
beside the target and renamed into place when ``close()`` succeeds, so a crash or an error never
leaves a half-written video under the final name.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

VIDEO_FORMATS = (".mp4", ".gif")


class VideoError(RuntimeError):
    """Video writing or reading failed (no ffmpeg, the encoder failed, an unreadable file)."""


def find_ffmpeg() -> str:
    """Path of an ffmpeg executable: ``$GANSCOPE_FFMPEG``, the one bundled with imageio-ffmpeg,
    or ``ffmpeg`` on PATH. Raises VideoError saying how to get one."""
    env = os.environ.get("GANSCOPE_FFMPEG")
    if env:
        if Path(env).is_file() and os.access(env, os.X_OK):
            return env
        raise VideoError(f"GANSCOPE_FFMPEG={env} is not an executable file")
    try:
        import imageio_ffmpeg
        exe = imageio_ffmpeg.get_ffmpeg_exe()
        if exe and Path(exe).is_file():
            return exe
    except Exception:   # noqa: BLE001 - imageio_ffmpeg raises RuntimeError or ImportError; any means "none"
        pass
    exe = shutil.which("ffmpeg")
    if exe:
        return exe
    raise VideoError("MP4 export needs ffmpeg, and none was found: `pip install imageio-ffmpeg` (it bundles "
                     "one), put ffmpeg on PATH, set GANSCOPE_FFMPEG, or write a .gif instead")


def _as_rgb_frame(frame) -> np.ndarray:
    a = np.asarray(frame)
    if a.dtype != np.uint8:
        raise ValueError(f"video frames must be uint8, got {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"video frames must be [H, W, 3] (or [H, W]) uint8, got shape {a.shape}")
    return np.ascontiguousarray(a)


class VideoWriter:
    """Write ``[H, W, 3]`` uint8 frames (all the same size) to ``path`` (.mp4 or .gif).

    ``fps``: frames per second; ``crf``: H.264 quality (0 lossless .. 51, default 18, visually
    lossless). Use as a context manager; on an exception inside the ``with`` block the
    temporary file is removed and nothing appears at ``path``."""

    def __init__(self, path: str | Path, fps: float = 30.0, crf: int = 18):
        self.path = Path(path)
        self.kind = self.path.suffix.lower()
        if self.kind not in VIDEO_FORMATS:
            raise ValueError(f"unsupported video file {self.path}: the name must end in .mp4 or .gif")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps, self.crf = float(fps), int(crf)
        self.ffmpeg = find_ffmpeg() if self.kind == ".mp4" else None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=f".tmp{self.kind}", dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        self._size: tuple[int, int] | None = None
        self._proc: subprocess.Popen | None = None
        self._stderr = None
        self._gif_frames: list = []
        self.frames_written = 0
        self._closed = False

    # -- writing ---------------------------------------------------------------------------------
    def _start_ffmpeg(self, h: int, w: int) -> None:
        self._stderr = tempfile.TemporaryFile()
        cmd = [self.ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{self.fps:g}", "-i", "-",
               "-an", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
               "-crf", str(self.crf), "-movflags", "+faststart", "-f", "mp4", str(self._tmp)]
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr)
        except OSError as e:
            raise VideoError(f"cannot start ffmpeg ({self.ffmpeg}): {e}") from None

    def _ffmpeg_message(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace").strip()
        return text.splitlines()[-1] if text else ""

    def write(self, frame) -> None:
        """Append one frame ``[H, W, 3]`` (or ``[H, W]``) uint8."""
        if self._closed:
            raise ValueError(f"video {self.path} is already closed")
        a = _as_rgb_frame(frame)
        if self._size is None:
            self._size = a.shape[:2]
            if self.kind == ".mp4":
                self._start_ffmpeg(*self._size)
        elif a.shape[:2] != self._size:
            raise ValueError(f"frame {self.frames_written} is {a.shape[1]}x{a.shape[0]} but the video is "
                             f"{self._size[1]}x{self._size[0]}")
        if self.kind == ".gif":
            from PIL import Image
            self._gif_frames.append(Image.fromarray(a))
        else:
            try:
                self._proc.stdin.write(a.tobytes())
            except (BrokenPipeError, OSError):
                self._proc.wait()
                raise VideoError(f"ffmpeg stopped while writing {self.path}: {self._ffmpeg_message()}") from None
        self.frames_written += 1

    def close(self) -> Path:
        """Finish the file and move it into place; returns the final path."""
        if self._closed:
            return self.path
        self._closed = True
        try:
            if self.frames_written == 0:
                raise ValueError(f"no frames were written to {self.path}")
            if self.kind == ".gif":
                first, rest = self._gif_frames[0], self._gif_frames[1:]
                first.save(self._tmp, format="GIF", save_all=True, append_images=rest,
                           duration=max(int(round(1000 / self.fps)), 10), loop=0, optimize=False)
            else:
                self._proc.stdin.close()
                rc = self._proc.wait()
                if rc != 0:
                    raise VideoError(f"ffmpeg failed (exit {rc}) writing {self.path}: {self._ffmpeg_message()}")
            os.chmod(self._tmp, 0o644)          # mkstemp makes 0600; a video is meant to be shared
            os.replace(self._tmp, self.path)
            return self.path
        finally:
            self._cleanup()

    def abort(self) -> None:
        """Stop and delete the temporary file; nothing is written at ``path``."""
        self._closed = True
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
            self._proc.kill()
            self._proc.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        self._gif_frames = []
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(path: str | Path, frames, fps: float = 30.0, crf: int = 18) -> Path:
    """Write an iterable of ``[H, W, 3]`` uint8 frames (or a ``[T, H, W, 3]`` array) in one call."""
    with VideoWriter(path, fps=fps, crf=crf) as vw:
        for f in frames:
            vw.write(f)
    return Path(path)


def read_video(path: str | Path) -> np.ndarray:
    """Decode a video to ``[T, H, W, 3]`` uint8 (MP4 through ffmpeg to raw RGB over a pipe; GIF
    with Pillow). Meant for tests and checks, so it holds every frame in memory."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video {path} does not exist")
    if path.suffix.lower() == ".gif":
        from PIL import Image, ImageSequence
        with Image.open(path) as im:
            return np.stack([np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)])
    exe = find_ffmpeg()
    proc = subprocess.run([exe, "-hide_banner", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                          capture_output=True)
    info = proc.stderr.decode(errors="replace")
    m = re.search(r"Stream #\S+.*?Video:.*?(\d{2,6})x(\d{2,6})", info)
    if proc.returncode != 0 or m is None:
        last = info.strip().splitlines()[-1] if info.strip() else "no output"
        raise VideoError(f"ffmpeg cannot decode {path}: {last}")
    w, h = int(m.group(1)), int(m.group(2))
    data = np.frombuffer(proc.stdout, dtype=np.uint8)
    if data.size % (w * h * 3):
        raise VideoError(f"decoded size of {path} is not a whole number of {w}x{h} frames")
    return data.reshape(-1, h, w, 3)


# --------------------------------------------------------------------------------------------
# Paths for animations
# --------------------------------------------------------------------------------------------

def catmull_rom_loop(points, num_frames: int):
    """A closed, smooth (C¹) curve through ``points`` [K, ...] (uniform Catmull-Rom, the last
    keyframe leading back to the first), sampled at ``num_frames`` evenly spaced times; frame 0
    is ``points[0]`` and the path does not repeat it at the end, so the result loops seamlessly.
    Works on numpy arrays and torch tensors alike."""
    K = len(points)
    if K < 1 or num_frames < 1:
        raise ValueError(f"need at least one keyframe and one frame, got {K} and {num_frames}")
    out = []
    for f in range(num_frames):
        u = f * K / num_frames
        i = int(u)
        t = u - i
        p0, p1, p2, p3 = (points[(i + d) % K] for d in (-1, 0, 1, 2))
        t2, t3 = t * t, t * t * t
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t3))
    return out
