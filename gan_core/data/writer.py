"""Writing clean dataset zips (official layout) atomically, and converting any source into one.

Layout: ``00000/img00000000.png``, ``00000/img00000001.png`` … (1000 per folder) and, when any
image has a label, ``dataset.json`` = ``{"labels": [["00000/img00000000.png", label], ...]}``.
The archive is written to a temporary file beside the destination and renamed over it only
when complete, so an interrupted conversion never leaves a half-written dataset.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from typing import Any, Callable

from gan_core.data.images import BrokenImageError, decode_image, encode_png, transform_image
from gan_core.data.sources import DatasetError, open_source


class DatasetZipWriter:
    """``with DatasetZipWriter(dest) as w: w.add(png_bytes, label)`` — atomic on success,
    the temporary file removed on any failure (the destination is left as it was)."""

    def __init__(self, dest: str | os.PathLike) -> None:
        self.dest = os.fspath(dest)
        self.labels: list[list[Any]] = []
        self.count = 0
        self.extra: dict[str, Any] = {}
        self._tmp: str | None = None
        self._zip: zipfile.ZipFile | None = None

    def __enter__(self) -> "DatasetZipWriter":
        directory = os.path.dirname(os.path.abspath(self.dest))
        os.makedirs(directory, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{os.path.basename(self.dest)}.", suffix=".tmp", dir=directory)
        os.close(fd)
        self._zip = zipfile.ZipFile(self._tmp, "w", compression=zipfile.ZIP_STORED)
        return self

    def add(self, png: bytes, label: Any = None) -> str:
        name = f"{self.count // 1000:05d}/img{self.count:08d}.png"
        self._zip.writestr(name, png)
        if label is not None:
            self.labels.append([name, label])
        self.count += 1
        return name

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                meta: dict[str, Any] = {"labels": self.labels if self.labels else None}
                meta.update(self.extra)
                self._zip.writestr("dataset.json", json.dumps(meta))
            self._zip.close()
            if exc_type is None:
                with open(self._tmp, "rb") as f:
                    os.fsync(f.fileno())
                os.replace(self._tmp, self.dest)
                self._tmp = None
        finally:
            if self._tmp is not None and os.path.exists(self._tmp):
                os.unlink(self._tmp)


@dataclass
class ConvertReport:
    written: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    dest: str = ""


def convert_dataset(source: str | os.PathLike, dest: str | os.PathLike, resolution: int,
                    transform: str = "center-crop", strict: bool = False, max_images: int | None = None,
                    channels: int | None = None, progress: Callable[[int], None] | None = None,
                    report_broken: Callable[[str, str], None] | None = None) -> ConvertReport:
    """Read every image of ``source`` (folder, zip, LMDB), make it ``resolution``² with
    ``transform`` and write a clean dataset zip at ``dest``.

    Broken images are reported (``report_broken(name, reason)``, default: a line on stderr) and
    skipped; with ``strict`` the first one raises BrokenImageError and nothing is written.
    Labels from the source's ``dataset.json`` are carried over. ``channels`` (1 or 3) forces
    grayscale or RGB; by default the first image decides and the others are converted to it.
    """
    if resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"--resolution must be a power of two >= 4, got {resolution}")
    src = open_source(source)
    labels = src.labels_json()
    names = src.names[:max_images] if max_images else src.names
    report = ConvertReport(dest=os.fspath(dest))

    def broken(name: str, reason: str) -> None:
        report.skipped.append((name, reason))
        if report_broken is not None:
            report_broken(name, reason)
        else:
            print(f"dataset: skipping broken image {name}: {reason}", file=sys.stderr)

    try:
        with DatasetZipWriter(dest) as w:
            for name in names:
                if progress is not None:
                    progress(1)
                try:
                    try:
                        data = src.read(name)
                    except (OSError, KeyError) as e:
                        raise BrokenImageError(name, f"cannot read ({e})") from None
                    arr = decode_image(data, name)
                    if channels is None:
                        channels = arr.shape[2]
                    if arr.shape[2] != channels:
                        arr = arr.repeat(3, axis=2) if channels == 3 else \
                            (arr.astype("float32") @ [0.299, 0.587, 0.114]).round().clip(0, 255).astype("uint8")[..., None]
                    try:
                        arr = transform_image(arr, resolution, transform)
                    except ValueError as e:
                        raise BrokenImageError(name, str(e)) from None
                except BrokenImageError as e:
                    if strict:
                        raise
                    broken(e.name, e.reason)
                    continue
                w.add(encode_png(arr), None if labels is None else labels.get(name))
                report.written += 1
            if report.written == 0:
                raise DatasetError(f"no image of {os.fspath(source)} could be converted; nothing written")
    finally:
        src.close()
    return report
