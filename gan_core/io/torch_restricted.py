"""Reading ``torch.save`` files that hold Python objects besides tensors, without running them.

``torch.load(weights_only=True)`` refuses a file as soon as it meets one global it does not
know (BigGAN-PyTorch's ``state_dict.pth`` stores its config with ``torch.nn.ReLU`` objects).
:func:`restricted_torch_load` reads such files with the allow-list unpickler of
:mod:`gan_core.io.official_pickle`, extended by:

* placeholders for a short list of harmless module classes (activation layers): the object
  becomes an :class:`ObjectRecord` (class path + its ``__dict__``) — torch's class is never
  instantiated, nothing is imported or called;
* tensor storages from the zip archive's ``data/<key>`` records (zip format). Legacy
  (pre-1.6) files are read too, but tensors in them are refused.

Any other global is refused with a CheckpointError naming it.
"""
from __future__ import annotations

import io
import os
import pickle
import warnings
import zipfile
from dataclasses import dataclass, field
from typing import Any

import torch

from gan_core.io.errors import CheckpointError
from gan_core.io.official_pickle import ALLOWED_GLOBALS, RestrictedUnpickler

# classes that may appear as plain configuration values; recorded, never instantiated
PLACEHOLDER_CLASSES = frozenset({
    ("torch.nn.modules.activation", "ReLU"),
    ("torch.nn.modules.activation", "LeakyReLU"),
    ("torch.nn.modules.activation", "ELU"),
    ("torch.nn.modules.activation", "Tanh"),
    ("torch.nn.modules.activation", "Sigmoid"),
    ("torch.nn.modules.activation", "GELU"),
    ("torch.nn.modules.activation", "SiLU"),
    ("argparse", "Namespace"),
})


@dataclass
class ObjectRecord:
    """An allow-listed object read as data: its class path and the state it was pickled with."""

    class_name: str
    state: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<{self.class_name}>"


def _placeholder_type(module: str, name: str) -> type:
    return type(name, (ObjectRecord,), {"__module__": "gan_core.io.torch_restricted._placeholder",
                                        "_class_path": f"{module}.{name}"})


_PLACEHOLDERS: dict[tuple[str, str], type] = {k: _placeholder_type(*k) for k in PLACEHOLDER_CLASSES}
_PLACEHOLDER_SET = tuple(_PLACEHOLDERS.values())
_EXTRA_PLACEHOLDERS: dict[tuple[str, str], type] = {}


def _extra_placeholder(module: str, name: str) -> type:
    """A placeholder for a class of a caller-named package (``placeholder_modules``), made on
    first use; like the fixed ones it is recorded, never imported or instantiated."""
    key = (module, name)
    if key not in _EXTRA_PLACEHOLDERS:
        global _PLACEHOLDER_SET
        _EXTRA_PLACEHOLDERS[key] = _placeholder_type(module, name)
        _PLACEHOLDER_SET = _PLACEHOLDER_SET + (_EXTRA_PLACEHOLDERS[key],)
    return _EXTRA_PLACEHOLDERS[key]


class _TorchFileUnpickler(RestrictedUnpickler):
    dispatch = dict(RestrictedUnpickler.dispatch)

    def __init__(self, file, size: int | None, archive: zipfile.ZipFile | None, prefix: str,
                 placeholder_modules: tuple[str, ...] = ()) -> None:
        super().__init__(file, size)
        self._archive, self._prefix = archive, prefix
        self._placeholder_modules = tuple(placeholder_modules)
        self._storages: dict[str, Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        cls = _PLACEHOLDERS.get((module, name))
        if cls is not None:
            return cls
        if self._placeholder_modules and any(module == m or module.startswith(m + ".")
                                             for m in self._placeholder_modules):
            return _extra_placeholder(module, name)
        if (module, name) in ALLOWED_GLOBALS:
            return ALLOWED_GLOBALS[(module, name)]
        raise CheckpointError(f"it refers to {module}.{name}, which is not on ganscope's list of plain data "
                              f"types; it was not loaded (ganscope never runs code from checkpoint files)")

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) >= 2 and pid[0] == "module" \
                and any(pid[1] is p for p in _PLACEHOLDER_SET):
            return pid[1]  # legacy files name module classes with their source, which is ignored
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise CheckpointError("it uses an unknown kind of persistent id")
        if self._archive is None:
            raise CheckpointError("it is a legacy-format torch file with tensors inside a config; "
                                  "ganscope reads only the plain values of such files")
        if len(pid) != 5:
            raise CheckpointError("it has a damaged tensor record")
        _, stype, key, _location, numel = pid
        key = key.decode("ascii", "replace") if isinstance(key, bytes) else key
        if stype is torch.UntypedStorage:
            dtype = torch.uint8
        else:
            dtype = getattr(stype, "dtype", None) if isinstance(stype, type) and stype.__module__ == "torch" else None
        if not isinstance(dtype, torch.dtype) or not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise CheckpointError("it has a damaged tensor record")
        if key in self._storages:  # tensors that share a storage (views) share it here too
            return self._storages[key]
        try:
            data = self._archive.read(f"{self._prefix}data/{key}")
        except KeyError:
            raise CheckpointError(f"its tensor data record {key!r} is missing; the file is damaged") from None
        itemsize = torch.empty((), dtype=dtype).element_size()
        if len(data) != numel * itemsize:
            raise CheckpointError(f"its tensor data record {key!r} has the wrong size; the file is damaged")
        t = torch.frombuffer(bytearray(data), dtype=dtype) if data else torch.empty(0, dtype=dtype)
        storage = torch.storage.TypedStorage(wrap_storage=t.untyped_storage(), dtype=dtype, _internal=True)
        self._storages[key] = storage
        return storage

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        if any(cls is p for p in _PLACEHOLDER_SET):
            self.append(cls(cls._class_path))
            return
        self.stack.append(cls)
        self.stack.append(args)
        RestrictedUnpickler.load_newobj(self)

    def load_build(self) -> None:
        inst = self.stack[-2] if len(self.stack) >= 2 else None
        if isinstance(inst, ObjectRecord):
            state = self.stack.pop()
            if isinstance(state, tuple) and len(state) == 2:
                state = {**(state[0] or {}), **(state[1] or {})}
            if isinstance(state, dict):
                inst.state.update({str(k): v for k, v in state.items()})
            return
        RestrictedUnpickler.load_build(self)

    def _instantiate(self, klass: Any, args: list) -> None:
        if any(klass is p for p in _PLACEHOLDER_SET):
            self.append(klass(klass._class_path))
            return
        RestrictedUnpickler._instantiate(self, klass, args)


for _op, _name in ((pickle.NEWOBJ, "load_newobj"), (pickle.BUILD, "load_build")):
    _TorchFileUnpickler.dispatch[_op[0]] = getattr(_TorchFileUnpickler, _name)


def _unpickle(data: bytes, archive: zipfile.ZipFile | None, prefix: str,
              placeholder_modules: tuple[str, ...] = ()) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _TorchFileUnpickler(io.BytesIO(data), len(data), archive, prefix, placeholder_modules).load()
    except CheckpointError:
        raise
    except RecursionError:
        raise CheckpointError("it is nested too deeply to be a checkpoint") from None
    except Exception as e:  # noqa: BLE001 - any failure of the stream is damage
        raise CheckpointError(f"it is a damaged torch file ({type(e).__name__}: {e})") from None


def restricted_torch_load(path: str | os.PathLike, placeholder_modules: tuple[str, ...] = ()) -> Any:
    """The object a ``torch.save`` file holds, read through the allow-list (see module doc).

    ``placeholder_modules``: packages (e.g. ``('pytorch_lightning',)``) whose classes may appear
    as inert references (a Lightning checkpoint keys its callback states by callback class):
    they become placeholder records too, never imported."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4)
        if head.startswith(b"PK"):
            with zipfile.ZipFile(path) as zf:
                pkl = [n for n in zf.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
                if len(pkl) != 1:
                    raise CheckpointError("it is a zip archive but not a torch.save file (no single data.pkl)")
                prefix = pkl[0][: -len("data.pkl")]
                order = f"{prefix}byteorder"
                if order in zf.namelist() and zf.read(order).strip() not in (b"little", b""):
                    raise CheckpointError("it stores big-endian tensors, which ganscope does not read")
                return _unpickle(zf.read(pkl[0]), zf, prefix, tuple(placeholder_modules))
        with open(path, "rb") as f:
            data = f.read()
        stream = io.BytesIO(data)
        # legacy layout: magic number, protocol version, sys info, then the object
        for _ in range(3):
            _TorchFileUnpickler(stream, len(data), None, "").load()
        return _TorchFileUnpickler(stream, len(data), None, "").load()
    except CheckpointError as e:
        raise e.with_path(path) from None
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"cannot be read ({type(e).__name__}: {e})", path) from None
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"is a damaged torch file ({type(e).__name__}: {e})", path) from None
