"""Reading zip-format ``torch.save`` files that hold an ``argparse.Namespace`` without running anything.

``torch.load(weights_only=True)`` refuses such files (rosinality stylegan2-pytorch training
snapshots store their command-line ``args`` that way). Here the archive's ``data.pkl`` goes
through :class:`gan_core.io.official_pickle.RestrictedUnpickler` (the allow-list of plain data
types and validated tensor rebuilders) with exactly two additions:

* ``argparse.Namespace`` resolves to :class:`NamespaceRecord`, an inert stand-in that only
  accepts a dict of attribute values; after loading every record becomes a plain ``dict``;
* persistent ids (``('storage', storage_type, key, location, numel)``) are answered with the
  bytes of ``data/<key>`` in the archive, checked against the claimed size, as a tensor storage.

Everything else — any other class, any call outside the allow-list — is refused with a
CheckpointError naming what the file asked for.
"""
from __future__ import annotations

import os
import pickle
import warnings
import zipfile
from typing import Any

import torch

from gan_core.io.errors import CheckpointError
from gan_core.io.official_pickle import RestrictedUnpickler, _BoundedReader


class NamespaceRecord:
    """Inert stand-in for ``argparse.Namespace``: holds the attribute dict, nothing else."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def set_state(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slotstate)
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise CheckpointError("an argparse.Namespace in the file has invalid contents (not a dict of names)")
        self.values.update(state)


def _plain(obj: Any, depth: int = 0) -> Any:
    """The loaded object with every NamespaceRecord replaced by a plain dict."""
    if depth > 100:
        raise CheckpointError("its contents are nested too deeply to be a network checkpoint")
    if isinstance(obj, NamespaceRecord):
        return {k: _plain(v, depth + 1) for k, v in obj.values.items()}
    if isinstance(obj, dict):
        out = type(obj)() if type(obj) is not dict else {}
        for k, v in obj.items():
            out[k] = _plain(v, depth + 1)
        return out
    if isinstance(obj, list):
        return [_plain(v, depth + 1) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_plain(v, depth + 1) for v in obj)
    return obj


class _ZipUnpickler(RestrictedUnpickler):
    dispatch = dict(RestrictedUnpickler.dispatch)

    def __init__(self, file, size: int, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(file, size)
        self._archive, self._prefix = archive, prefix
        self._storages: dict[str, Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("argparse", "Namespace"):
            return NamespaceRecord
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] in ("storage", b"storage")):
            raise CheckpointError(f"the file refers to an unsupported persistent object {str(pid)[:80]!r}")
        _, storage_type, key, _location, numel = pid
        key = key.decode("ascii") if isinstance(key, bytes) else key
        if not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise CheckpointError("the file has an invalid tensor storage record; it is damaged")
        if storage_type is torch.UntypedStorage:
            dtype = torch.uint8
        else:
            dtype = getattr(storage_type, "dtype", None)
            if not (isinstance(storage_type, type) and storage_type.__module__ == "torch"
                    and isinstance(dtype, torch.dtype)):
                raise CheckpointError(f"the file stores tensors as {storage_type!r}, not a tensor storage type")
        if key in self._storages:
            return self._storages[key]
        name = f"{self._prefix}data/{key}"
        try:
            data = self._archive.read(name)
        except KeyError:
            raise CheckpointError(f"the archive lacks the tensor data {name}; the file is damaged") from None
        itemsize = torch.empty((), dtype=dtype).element_size()
        if len(data) != numel * itemsize:
            raise CheckpointError(f"tensor data {name} holds {len(data)} bytes but {numel} × {itemsize} were "
                                  f"expected; the file is damaged")
        raw = torch.frombuffer(bytearray(data), dtype=torch.uint8).clone() if data else \
            torch.empty(0, dtype=torch.uint8)
        storage = torch.storage.TypedStorage(wrap_storage=raw.untyped_storage(), dtype=dtype, _internal=True)
        self._storages[key] = storage
        return storage

    def load_newobj(self) -> None:
        if self.stack[-2] is NamespaceRecord:
            self.stack.pop()
            self.stack[-1] = NamespaceRecord()
            return
        super().load_newobj()

    def load_build(self) -> None:
        if isinstance(self.stack[-2], NamespaceRecord):
            state = self.stack.pop()
            self.stack[-1].set_state(state)
            return
        super().load_build()


_ZipUnpickler.dispatch[pickle.NEWOBJ[0]] = _ZipUnpickler.load_newobj
_ZipUnpickler.dispatch[pickle.BUILD[0]] = _ZipUnpickler.load_build


def load_zip_restricted(path: str | os.PathLike) -> Any:
    """The object in a zip-format torch file, argparse Namespaces as dicts; nothing executed.
    Raises CheckpointError (naming the file) for anything outside the allow-list."""
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as archive:
            pkls = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
            if len(pkls) != 1:
                raise CheckpointError("is a zip archive without exactly one data.pkl; not a PyTorch checkpoint", path)
            prefix = pkls[0][: -len("data.pkl")]
            order = f"{prefix}byteorder"
            if order in archive.namelist() and archive.read(order).strip() not in (b"little", b""):
                raise CheckpointError("stores big-endian tensors, which ganscope does not read", path)
            info = archive.getinfo(pkls[0])
            with archive.open(pkls[0]) as f, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TypedStorage deprecation notices
                obj = _ZipUnpickler(_BoundedReader(f, info.file_size), info.file_size, archive, prefix).load()
    except CheckpointError as e:
        if e.path is not None:
            raise
        raise CheckpointError(f"is a PyTorch file that could not be read safely: {e.detail}", path) from None
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise CheckpointError(f"is a damaged zip archive ({type(e).__name__}: {e})", path) from None
    except RecursionError:
        raise CheckpointError("its contents are nested too deeply to be a network checkpoint", path) from None
    except Exception as e:  # noqa: BLE001 - any other failure of the stream is damage
        raise CheckpointError(f"the pickle stream is damaged ({type(e).__name__}: {e})", path) from None
    return _plain(obj)
