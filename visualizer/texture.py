"""Render results -> display buffers for Dear PyGui raw textures.

A raw texture keeps a pointer to our buffer and uploads it every frame, so a new image costs
the UI thread only a pointer swap (``dpg.set_value``). The conversion itself (uint8 -> float
RGB in [0, 1]) runs in torch on the render worker, into a buffer from a small pool, so no
memory is allocated per frame. RGB (not RGBA) buffers: one contiguous pass, no alpha to fill,
and a quarter less to upload.
"""
from __future__ import annotations

import threading

import numpy as np
import torch


class TexturePool:
    """Reusable ``[H, W, 3]`` float32 buffers, per size. Thread-safe.

    ``acquire`` hands out a free buffer (allocating only when none is free); ``release`` gives it
    back once nothing displays it any more.
    """

    def __init__(self, max_free_per_size: int = 3) -> None:
        self._free: dict[tuple[int, int], list[np.ndarray]] = {}
        self._lock = threading.Lock()
        self.max_free_per_size = max_free_per_size
        self.allocations = 0

    def acquire(self, height: int, width: int) -> np.ndarray:
        with self._lock:
            free = self._free.get((height, width))
            if free:
                return free.pop()
            self.allocations += 1
        return np.zeros((height, width, 3), dtype=np.float32)

    def release(self, buf: np.ndarray | None) -> None:
        if buf is None:
            return
        key = (buf.shape[0], buf.shape[1])
        with self._lock:
            free = self._free.setdefault(key, [])
            if len(free) < self.max_free_per_size and not any(b is buf for b in free):
                free.append(buf)

    def drop_other_sizes(self, keep: tuple[int, int]) -> None:
        with self._lock:
            self._free = {k: v for k, v in self._free.items() if k == keep}


def to_texture(pixels: np.ndarray | torch.Tensor, out: np.ndarray) -> np.ndarray:
    """Write ``[H, W, 3]`` uint8 pixels into ``out`` (``[H, W, 3]`` float32) as values in [0, 1]."""
    src = torch.from_numpy(pixels) if isinstance(pixels, np.ndarray) else pixels
    if tuple(src.shape) != tuple(out.shape):
        raise ValueError(f"texture buffer {tuple(out.shape)} does not match the image {tuple(src.shape)}")
    dst = torch.from_numpy(out)
    dst.copy_(src).mul_(1.0 / 255.0)
    return out


def magnify_nearest(pixels: np.ndarray, x0: int, y0: int, x1: int, y1: int, factor: int,
                    out: np.ndarray | None = None) -> np.ndarray:
    """The crop ``pixels[y0:y1, x0:x1]`` (uint8 [H, W, 3]) magnified ``factor``× by pixel
    replication, as float32 in [0, 1] — what the canvas shows in nearest-neighbour mode."""
    crop = torch.from_numpy(pixels[y0:y1, x0:x1])
    big = crop.repeat_interleave(factor, dim=0).repeat_interleave(factor, dim=1)
    h, w = big.shape[0], big.shape[1]
    if out is None or out.shape != (h, w, 3):
        out = np.empty((h, w, 3), dtype=np.float32)
    torch.from_numpy(out).copy_(big).mul_(1.0 / 255.0)
    return out
