"""Where images come from: a folder, a zip archive or an LMDB database, behind one interface.

A source lists image names (sorted, stable) and returns their encoded bytes; it also reads
labels from a ``dataset.json`` (``{"labels": [[name, label], ...]}``, the official dataset
layout) at the root of a folder or zip. Sources are cheap to open and safe to use from
DataLoader worker processes (handles are reopened per process).
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

from gan_core.data.images import is_image_name


class DatasetError(ValueError):
    """A dataset that cannot be used at all (missing, empty, unreadable index)."""


class ImageSource:
    """Base class: ``names`` (sorted list of image names), ``read(name) -> bytes``, ``labels_json()``."""

    path: str
    names: list[str]

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def labels_json(self) -> dict[str, Any] | None:
        return None

    def close(self) -> None:
        pass

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_handle"] = None
        state["_pid"] = None
        return state


def _parse_labels(text: bytes, where: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise DatasetError(f"{where} is not valid JSON ({e})") from None
    labels = obj.get("labels") if isinstance(obj, dict) else None
    if labels is None:
        return None
    if not isinstance(labels, list) or not all(isinstance(x, list) and len(x) == 2 and isinstance(x[0], str)
                                               for x in labels):
        raise DatasetError(f"{where}: 'labels' must be a list of [file name, label] pairs")
    return {name.replace("\\", "/"): label for name, label in labels}


class FolderSource(ImageSource):
    """Every image file below a folder (recursively); names are POSIX paths relative to it."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        root = Path(self.path)
        self.names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                            if p.is_file() and is_image_name(p.name))

    def read(self, name: str) -> bytes:
        return (Path(self.path) / name).read_bytes()

    def labels_json(self):
        p = Path(self.path) / "dataset.json"
        return _parse_labels(p.read_bytes(), str(p)) if p.is_file() else None


class ZipSource(ImageSource):
    """Images inside a zip archive (any folder depth); ``dataset.json`` at its root."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self._handle: zipfile.ZipFile | None = None
        self._pid: int | None = None
        try:
            with zipfile.ZipFile(self.path) as zf:
                members = zf.namelist()
        except (zipfile.BadZipFile, OSError) as e:
            raise DatasetError(f"{self.path}: not a readable zip archive ({e})") from None
        self._members = set(members)
        self.names = sorted(n for n in members if not n.endswith("/") and is_image_name(n))

    def _zip(self) -> zipfile.ZipFile:
        if self._handle is None or self._pid != os.getpid():
            self._handle = zipfile.ZipFile(self.path)
            self._pid = os.getpid()
        return self._handle

    def read(self, name: str) -> bytes:
        return self._zip().read(name)

    def labels_json(self):
        if "dataset.json" not in self._members:
            return None
        return _parse_labels(self._zip().read("dataset.json"), f"{self.path}:dataset.json")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class LmdbSource(ImageSource):
    """An LMDB environment whose values are encoded images (e.g. the LSUN layout); names are
    the keys decoded as UTF-8 (or hex when they are not text)."""

    def __init__(self, path: str | os.PathLike) -> None:
        import lmdb

        self.path = os.fspath(path)
        self._handle = None
        self._pid: int | None = None
        try:
            env = lmdb.open(self.path, readonly=True, lock=False, readahead=False, meminit=False,
                            subdir=os.path.isdir(self.path), max_readers=64)
        except lmdb.Error as e:
            raise DatasetError(f"{self.path}: not a readable LMDB database ({e})") from None
        with env.begin(write=False) as txn:
            keys = [bytes(k) for k, _ in txn.cursor()]
        env.close()
        self._keys = {self._key_name(k): k for k in keys}
        self.names = sorted(self._keys)

    @staticmethod
    def _key_name(key: bytes) -> str:
        try:
            return key.decode("utf-8")
        except UnicodeDecodeError:
            return key.hex()

    def _env(self):
        import lmdb

        if self._handle is None or self._pid != os.getpid():
            self._handle = lmdb.open(self.path, readonly=True, lock=False, readahead=False, meminit=False,
                                     subdir=os.path.isdir(self.path), max_readers=64)
            self._pid = os.getpid()
        return self._handle

    def read(self, name: str) -> bytes:
        with self._env().begin(write=False) as txn:
            data = txn.get(self._keys[name])
        if data is None:
            raise KeyError(name)
        return bytes(data)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def is_lmdb(path: str | os.PathLike) -> bool:
    p = Path(path)
    return (p.is_dir() and (p / "data.mdb").is_file()) or (p.is_file() and p.suffix == ".mdb")


def open_source(path: str | os.PathLike) -> ImageSource:
    """The right source for ``path`` (an LMDB folder has ``data.mdb``); DatasetError if unusable."""
    p = Path(path)
    if not p.exists():
        raise DatasetError(f"dataset {p} does not exist")
    if is_lmdb(p):
        src: ImageSource = LmdbSource(p)
    elif p.is_dir():
        src = FolderSource(p)
    elif zipfile.is_zipfile(p):
        src = ZipSource(p)
    else:
        raise DatasetError(f"dataset {p} is neither a folder, a zip archive nor an LMDB database")
    if not src.names:
        raise DatasetError(f"dataset {p} holds no images (looked for {', '.join(('png', 'jpg', 'webp', '...'))})")
    return src
