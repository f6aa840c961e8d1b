"""The training dataset: ``[C, H, W] uint8`` images (+ labels) from a folder, zip or LMDB.

    ds = ImageDataset("data.zip", xflip=True, use_labels=True)
    img, c = ds[0]          # img: [C, H, W] uint8 numpy, c: [c_dim] float32 (one-hot for int labels)

Index ``i >= len(images)`` (with ``xflip``) is image ``i - len(images)`` mirrored left-right,
so the sample stream is a pure function of the index (needed for exact resume).

Broken or unreadable images never stop a run: each is reported once by name (to stderr and,
when ``broken_log`` is set, appended to that file) and replaced by the next readable image.
With ``strict=True`` the first broken image raises :class:`BrokenImageError` instead.
"""
from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import torch

from gan_core.data.images import BrokenImageError, decode_image, hwc_to_chw
from gan_core.data.sources import DatasetError, ImageSource, open_source


def labels_to_array(names: list[str], labels: dict[str, Any] | None, where: str) -> np.ndarray:
    """Per-image labels as float32 ``[N, c_dim]``: integer class labels become one-hot vectors,
    lists of numbers are used as they are."""
    if labels is None:
        raise DatasetError(f"{where} has no labels (a dataset.json with {{\"labels\": [[name, label], ...]}}); "
                           f"leave out --cond or add labels")
    missing = [n for n in names if n not in labels]
    if missing:
        raise DatasetError(f"{where}: dataset.json has no label for {missing[0]}"
                           f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}")
    values = [labels[n] for n in names]
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        if min(values) < 0:
            raise DatasetError(f"{where}: class labels must be >= 0")
        out = np.zeros([len(values), max(values) + 1], dtype=np.float32)
        out[np.arange(len(values)), values] = 1
        return out
    try:
        arr = np.asarray(values, dtype=np.float32)
    except (ValueError, TypeError):
        raise DatasetError(f"{where}: labels must be class indices or equal-length lists of numbers") from None
    if arr.ndim != 2:
        raise DatasetError(f"{where}: labels must be class indices or equal-length lists of numbers")
    return arr


class ImageDataset(torch.utils.data.Dataset):
    """See the module docstring. ``resolution`` (optional) is checked against the images."""

    def __init__(self, path: str | os.PathLike, resolution: int | None = None, xflip: bool = False,
                 use_labels: bool = False, strict: bool = False, max_size: int | None = None,
                 broken_log: str | os.PathLike | None = None) -> None:
        self.path = os.fspath(path)
        self.source: ImageSource = open_source(self.path)
        self.names = self.source.names[:max_size] if max_size else list(self.source.names)
        self.xflip = bool(xflip)
        self.strict = bool(strict)
        self.broken_log = None if broken_log is None else os.fspath(broken_log)
        self.broken: dict[str, str] = {}
        self.labels = (labels_to_array(self.names, self.source.labels_json(), self.path) if use_labels
                       else np.zeros([len(self.names), 0], dtype=np.float32))
        # The first readable image fixes the shape; broken ones before it are reported.
        first = None
        for i in range(len(self.names)):
            try:
                first = self._load(i)
                break
            except BrokenImageError as e:
                self._report(e)
        if first is None:
            raise DatasetError(f"dataset {self.path}: none of its {len(self.names)} images can be read")
        self.image_shape = tuple(int(s) for s in first.shape)  # [C, H, W]
        c, h, w = self.image_shape
        if h != w or h < 4 or h & (h - 1):
            raise DatasetError(f"dataset {self.path}: images are {w}×{h}; training needs square images with a "
                               f"power-of-two size: convert with `ganscope dataset --resolution N`")
        if c not in (1, 3):
            raise DatasetError(f"dataset {self.path}: images have {c} channels; expected 1 or 3")
        if resolution is not None and h != resolution:
            raise DatasetError(f"dataset {self.path}: images are {h}×{h}, not {resolution}×{resolution}")

    # -- properties --------------------------------------------------------------------------

    @property
    def resolution(self) -> int:
        return self.image_shape[1]

    @property
    def num_channels(self) -> int:
        return self.image_shape[0]

    @property
    def label_dim(self) -> int:
        return int(self.labels.shape[1])

    @property
    def has_labels(self) -> bool:
        return self.label_dim > 0

    @property
    def num_images(self) -> int:
        return len(self.names)

    def __len__(self) -> int:
        return len(self.names) * (2 if self.xflip else 1)

    # -- reading -----------------------------------------------------------------------------

    def _load(self, i: int) -> np.ndarray:
        name = self.names[i]
        try:
            data = self.source.read(name)
        except (OSError, KeyError) as e:
            raise BrokenImageError(name, f"cannot read ({e})") from None
        img = hwc_to_chw(decode_image(data, name))
        shape = getattr(self, "image_shape", None)
        if shape is not None and tuple(img.shape) != shape:
            raise BrokenImageError(name, f"has shape {list(img.shape)} but the dataset's images are {list(shape)} "
                                         f"(convert the dataset with `ganscope dataset`)")
        return img

    def _report(self, e: BrokenImageError) -> None:
        if self.strict:
            raise e
        if e.name in self.broken:
            return
        self.broken[e.name] = e.reason
        line = f"dataset: skipping broken image {e.name}: {e.reason}"
        print(line, file=sys.stderr, flush=True)
        if self.broken_log:
            try:
                with open(self.broken_log, "a", encoding="utf-8") as f:
                    f.write(line + "\n")
            except OSError:
                pass

    def get_image(self, idx: int) -> np.ndarray:
        """``[C, H, W]`` uint8 for dataset index ``idx`` (mirrored for the xflip half)."""
        n = len(self.names)
        base, flip = idx % n, idx >= n
        for k in range(n):
            j = (base + k) % n
            try:
                img = self._load(j)
                break
            except BrokenImageError as e:
                self._report(e)
        else:
            raise DatasetError(f"dataset {self.path}: no image can be read any more")
        if flip:
            img = np.ascontiguousarray(img[:, :, ::-1])
        return img

    def get_label(self, idx: int) -> np.ndarray:
        return self.labels[idx % len(self.names)].copy()

    def __getitem__(self, idx: int) -> tuple[np.ndarray, np.ndarray]:
        return self.get_image(int(idx)), self.get_label(int(idx))

    def close(self) -> None:
        self.source.close()


def ignore_stop_signals(_worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: Ctrl+C in a terminal (or SIGTERM to the process group) must
    reach only the trainer, which finishes its step and writes a snapshot; a data worker that died
    of the same signal first would fail the step and the run. Workers still exit with the trainer."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def open_dataset(path: str | os.PathLike, **kwargs: Any) -> ImageDataset:
    """``ImageDataset(path, **kwargs)``."""
    return ImageDataset(path, **kwargs)
