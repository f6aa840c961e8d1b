"""Reading official NVIDIA StyleGAN2-ADA / StyleGAN3 network pickles without running them.

An official ``network-snapshot-*.pkl`` is a plain Python pickle. Each network in it is
stored as a call ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` whose
``meta`` carries the Python source of the module that defined the class (``module_src``),
the class path (``class_name``) and the module's ``__dict__`` (``state``). The official
loader executes that source; we never do. Instead:

* ``RestrictedUnpickler`` resolves only an explicit list of globals (``ALLOWED_GLOBALS``);
  the persistence hook resolves to :func:`_reconstruct_persistent_obj` here, which returns a
  :class:`PersistentRecord` (class name, length of the source, state) and drops the source
  unread. Every opcode that calls or mutates an object (REDUCE, NEWOBJ, BUILD, INST, OBJ) is
  checked against the allow-list too, and persistent ids are refused.
* Tensors inside are ordinary torch pickles: storages are ``torch.storage._load_from_bytes``
  blobs (a legacy ``torch.save`` stream), read here with ``torch.load(weights_only=True)``.
* :func:`network_from_record` collects parameters and buffers by dotted path, maps the class
  path through ``gan_core.models.registry`` and builds our own network from the stored
  ``_init_kwargs``, then loads the tensors with a strict key check.
"""
from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import warnings
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np
import torch
from torch import nn

from gan_core.io.errors import CheckpointError, short_list

# --------------------------------------------------------------------------------------------
# Stand-ins for the official helper objects
# --------------------------------------------------------------------------------------------


class AttrDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict``: a dict whose items are also attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        del self[name]


@dataclass
class PersistentRecord:
    """What an official persistent object becomes: its class path and ``__dict__``.

    ``module_src_len`` is the length of the embedded source code, kept for information
    only; the source itself is discarded without being compiled or run.
    """

    class_name: str
    state: dict = field(repr=False)
    module_src_len: int = 0
    version: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {"class_name": self.class_name, "module_src_len": self.module_src_len, "state": self.state}


def _reconstruct_persistent_obj(meta: Any) -> PersistentRecord:
    """Our replacement for the official persistence hook: record, never execute."""
    if not isinstance(meta, dict):
        raise CheckpointError(f"a persistent object's description is a {type(meta).__name__}, "
                              f"not a dict; the pickle is damaged or not an official network pickle")
    if meta.get("type", "class") != "class":
        raise CheckpointError(f"unsupported persistent object type {meta.get('type')!r} "
                              f"(official network pickles store 'class' objects)")
    class_name = meta.get("class_name")
    if not isinstance(class_name, str):
        raise CheckpointError("a persistent object has no class name; the pickle is damaged")
    src = meta.get("module_src")
    state = meta.get("state")
    if state is None:
        state = {}
    if not isinstance(state, dict):
        raise CheckpointError(f"the state of {class_name} is a {type(state).__name__}, not a dict")
    return PersistentRecord(class_name=class_name, state=state,
                            module_src_len=len(src) if isinstance(src, (str, bytes)) else 0,
                            version=meta.get("version"))


# --------------------------------------------------------------------------------------------
# Tensor and array reconstruction (validated wrappers around torch / numpy)
# --------------------------------------------------------------------------------------------


def _is_one_of(obj: Any, options: tuple) -> bool:
    """Identity membership (``in`` would call ``__eq__`` of arbitrary unpickled objects)."""
    return any(obj is o for o in options)


def _load_from_bytes(b: Any) -> Any:
    """Replacement for ``torch.storage._load_from_bytes``: the bytes are a legacy
    ``torch.save`` stream of one storage, read with the weights-only loader."""
    if not isinstance(b, (bytes, bytearray)):
        raise CheckpointError(f"tensor data is a {type(b).__name__}, not bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            storage = torch.load(io.BytesIO(bytes(b)), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure means damaged or unsafe tensor data
        raise CheckpointError(f"tensor data inside the pickle could not be read safely "
                              f"({type(e).__name__}: {e})") from None
    if not isinstance(storage, (torch.storage.TypedStorage, torch.UntypedStorage)):
        raise CheckpointError(f"tensor data holds a {type(storage).__name__}, not a tensor storage")
    return storage


def _int_tuple(x: Any, what: str) -> tuple[int, ...]:
    if not isinstance(x, (tuple, list, torch.Size)) or not all(type(v) is int for v in x):
        raise CheckpointError(f"tensor {what} {x!r} is not a tuple of integers")
    return tuple(x)


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any, stride: Any,
                       requires_grad: Any = False, backward_hooks: Any = None, metadata: Any = None
                       ) -> torch.Tensor:
    """Validated ``torch._utils._rebuild_tensor_v2``. Backward hooks and metadata are
    dropped (they are never plain data worth keeping)."""
    if not isinstance(storage, torch.storage.TypedStorage):
        raise CheckpointError(f"a tensor's storage is a {type(storage).__name__}, not a tensor storage")
    size = _int_tuple(size, "size")
    stride = _int_tuple(stride, "stride")
    if type(storage_offset) is not int or storage_offset < 0 or len(size) != len(stride) \
            or any(v < 0 for v in size) or any(v < 0 for v in stride):
        raise CheckpointError(f"a tensor has an invalid layout (offset {storage_offset!r}, "
                              f"size {size}, stride {stride})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n = storage.size()
        if all(size):
            needed = storage_offset + sum((s - 1) * st for s, st in zip(size, stride)) + 1
            if needed > n:
                raise CheckpointError(f"a tensor of size {list(size)} needs {needed} elements but its "
                                      f"storage holds {n}; the pickle is damaged")
        t = torch.empty((0,), dtype=storage.dtype).set_(storage._untyped_storage, storage_offset, size, stride)
    if requires_grad is True and t.is_floating_point():
        t.requires_grad_(True)
    return t


def _rebuild_parameter(data: Any, requires_grad: Any = True, backward_hooks: Any = None) -> nn.Parameter:
    if not isinstance(data, torch.Tensor):
        raise CheckpointError(f"a parameter holds a {type(data).__name__}, not a tensor")
    return nn.Parameter(data.detach(), requires_grad=bool(requires_grad) and data.is_floating_point())


def _rebuild_parameter_with_state(data: Any, requires_grad: Any, backward_hooks: Any, state: Any
                                  ) -> nn.Parameter:
    return _rebuild_parameter(data, requires_grad)  # extra Python attributes are not kept


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> torch.Tensor:
    """Tensors with extra Python state: rebuild the plain tensor, drop the state."""
    if not _is_one_of(func, (_rebuild_tensor_v2, _rebuild_parameter, _rebuild_parameter_with_state)) \
            or not _is_one_of(new_type, (torch.Tensor, nn.Parameter)) or not isinstance(args, tuple):
        raise CheckpointError("a tensor is stored through an unsupported reconstruction")
    t = func(*args)
    return nn.Parameter(t.detach()) if new_type is nn.Parameter and not isinstance(t, nn.Parameter) else t


_NP_RECONSTRUCT = np.zeros(1).__reduce__()[0]   # numpy's multiarray._reconstruct (1.x and 2.x)
_NP_SCALAR = np.float64(0).__reduce__()[0]      # numpy's multiarray.scalar


def _np_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise CheckpointError(f"a numpy array of type {subtype!r} is not plain data")
    return _NP_RECONSTRUCT(np.ndarray, shape, dtype)


def _np_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype):
        raise CheckpointError("a numpy scalar has no valid dtype")
    if dtype.hasobject:
        raise CheckpointError("a numpy object scalar is not plain data")
    return _NP_SCALAR(dtype, data) if data is not None else _NP_SCALAR(dtype)


def _np_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """Protocol-5 pickles store arrays as ``numpy._core.numeric._frombuffer(buf, dtype, shape, order)``."""
    if not isinstance(buf, (bytes, bytearray, pickle.PickleBuffer)) or not isinstance(dtype, np.dtype) \
            or dtype.hasobject or order not in ("C", "F"):
        raise CheckpointError("a numpy array is stored in an unsupported form")
    shape = _int_tuple(shape, "shape")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order)


def _np_dtype(*args: Any) -> np.dtype:
    if not args or not isinstance(args[0], str):
        raise CheckpointError("a numpy dtype is stored in an unsupported form")
    return np.dtype(*args)


def _codecs_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """Protocol-2 pickles store bytes as ``_codecs.encode(text, 'latin1')``."""
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8", "ascii"):
        raise CheckpointError("bytes are stored in an unsupported form")
    return obj.encode(encoding, errors if errors == "strict" else "strict")


# --------------------------------------------------------------------------------------------
# The allow-list
# --------------------------------------------------------------------------------------------

_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")
_NUMPY_NUMERIC = ("numpy.core.numeric", "numpy._core.numeric")


def _allowed_globals() -> dict[tuple[str, str], Any]:
    g: dict[tuple[str, str], Any] = {
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
        ("dnnlib.util", "EasyDict"): AttrDict,
        ("dnnlib", "EasyDict"): AttrDict,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch.storage", "_load_from_bytes"): _load_from_bytes,
        ("torch", "Tensor"): torch.Tensor,
        ("torch.nn.parameter", "Parameter"): nn.Parameter,
        ("torch", "device"): torch.device,
        ("torch", "Size"): torch.Size,
        ("torch.storage", "TypedStorage"): torch.storage.TypedStorage,
        ("torch.storage", "UntypedStorage"): torch.UntypedStorage,
        ("torch", "UntypedStorage"): torch.UntypedStorage,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _np_dtype,
        ("_codecs", "encode"): _codecs_encode,
    }
    for mod in _NUMPY_CORE:
        g[(mod, "_reconstruct")] = _np_reconstruct
        g[(mod, "scalar")] = _np_scalar
    for mod in _NUMPY_NUMERIC:
        g[(mod, "_frombuffer")] = _np_frombuffer
    for mod in ("builtins", "__builtin__"):
        for name, obj in (("set", set), ("frozenset", frozenset), ("slice", slice),
                          ("complex", complex), ("bytearray", bytearray)):
            g[(mod, name)] = obj
    for name in dir(torch):
        obj = getattr(torch, name, None)
        if isinstance(obj, torch.dtype):
            g[("torch", name)] = obj
        elif name.endswith("Storage") and isinstance(obj, type) and name != "UntypedStorage":
            g[("torch", name)] = obj  # legacy typed storage classes, as data only
    return g


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = _allowed_globals()

# what REDUCE / INST / OBJ may call, and what NEWOBJ may instantiate
_CALLABLE_IDS = {id(f) for f in (
    _reconstruct_persistent_obj, AttrDict, collections.OrderedDict, _rebuild_tensor_v2,
    _rebuild_parameter, _rebuild_parameter_with_state, _rebuild_from_type_v2, _load_from_bytes,
    torch.device, torch.Size, _np_reconstruct, _np_scalar, _np_frombuffer, _np_dtype, _codecs_encode,
    set, frozenset, slice, complex, bytearray)}
_NEWOBJ_CLASSES = (AttrDict, collections.OrderedDict, set, frozenset, dict, list, tuple, complex)
# objects that BUILD may set state on (each defines its own validated __setstate__ or is a dict)
_BUILD_TYPES = (np.ndarray, np.dtype, AttrDict)


def _describe(obj: Any) -> str:
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    mod = getattr(obj, "__module__", None)
    return f"{mod}.{name}" if mod and name else type(obj).__name__


class _BoundedReader:
    """File wrapper that refuses reads past the end instead of allocating huge buffers."""

    MAX_LINE = 1 << 20

    def __init__(self, f: BinaryIO, size: int) -> None:
        self._f = f
        self.remaining = size

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.remaining
        if n > self.remaining:
            raise CheckpointError(f"the pickle is truncated: it asks for {n} more bytes but only "
                                  f"{self.remaining} remain; download or copy the file again")
        data = self._f.read(n)
        self.remaining -= len(data)
        return data

    def readline(self) -> bytes:
        line = self._f.readline(self.MAX_LINE)
        self.remaining -= len(line)
        if len(line) >= self.MAX_LINE and not line.endswith(b"\n"):
            raise CheckpointError("the pickle holds an over-long text line; it is not a network pickle")
        return line


class RestrictedUnpickler(pickle._Unpickler):  # the pure-Python unpickler, so every opcode can be checked
    """Unpickler that resolves only ``ALLOWED_GLOBALS`` and checks every call it makes."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: BinaryIO, size: int | None = None) -> None:
        super().__init__(file, fix_imports=False, encoding="latin1")
        self._size = size

    def load_bytearray8(self) -> None:  # the stock version allocates the claimed length first
        (n,) = struct.unpack("<Q", self.read(8))
        if self._size is not None and n > self._size:
            raise CheckpointError(f"the pickle is truncated: it holds a {n}-byte array but the file has "
                                  f"only {self._size} bytes; download or copy the file again")
        b = bytearray(n)
        self.readinto(b)
        self.append(b)

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            pass
        if isinstance(module, str) and module.startswith("dnnlib.tflib"):
            raise CheckpointError(
                f"the pickle is a TensorFlow StyleGAN/StyleGAN2 network ({module}.{name}); ganscope reads "
                f"the PyTorch pickles of StyleGAN2-ADA/StyleGAN3: convert it with the official PyTorch "
                f"code's legacy converter first")
        raise CheckpointError(
            f"the pickle refers to {module}.{name}, which is not on ganscope's list of plain data "
            f"types; it is not an official network pickle (or it holds code that would run on "
            f"loading), so it was not loaded")

    def persistent_load(self, pid: Any) -> Any:
        raise CheckpointError("the pickle uses persistent ids (like a torch.save file, not an official "
                              "network pickle)")

    def _check_callable(self, func: Any) -> None:
        if id(func) not in _CALLABLE_IDS:
            raise CheckpointError(f"the pickle calls {_describe(func)}, which is not allowed")

    def load_reduce(self) -> None:
        stack = self.stack
        args = stack.pop()
        func = stack[-1]
        self._check_callable(func)
        if not isinstance(args, tuple):
            raise CheckpointError("the pickle is damaged (call arguments are not a tuple)")
        stack[-1] = func(*args)

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        if not _is_one_of(cls, _NEWOBJ_CLASSES):
            raise CheckpointError(f"the pickle creates a {_describe(cls)}, which is not allowed")
        self.append(cls.__new__(cls, *args))

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        if not _is_one_of(cls, _NEWOBJ_CLASSES) or not isinstance(kwargs, dict):
            raise CheckpointError(f"the pickle creates a {_describe(cls)}, which is not allowed")
        self.append(cls.__new__(cls, *args, **kwargs))

    def _instantiate(self, klass: Any, args: list) -> None:
        self._check_callable(klass)
        self.append(klass(*args))

    def load_build(self) -> None:
        stack = self.stack
        state = stack.pop()
        inst = stack[-1]
        if isinstance(inst, type) or not isinstance(inst, _BUILD_TYPES):
            raise CheckpointError(f"the pickle sets the state of a {_describe(type(inst))}, which is not allowed")
        if isinstance(inst, AttrDict):  # an EasyDict subclass with extra attributes: keep them as items
            if isinstance(state, tuple) and len(state) == 2:
                state = {**(state[0] or {}), **(state[1] or {})}
            if state:
                if not isinstance(state, dict):
                    raise CheckpointError("the pickle is damaged (invalid dict state)")
                inst.update(state)
            return
        inst.__setstate__(state)


for _op, _name in ((pickle.REDUCE, "load_reduce"), (pickle.NEWOBJ, "load_newobj"),
                   (pickle.NEWOBJ_EX, "load_newobj_ex"), (pickle.BUILD, "load_build"),
                   (pickle.BYTEARRAY8, "load_bytearray8")):
    RestrictedUnpickler.dispatch[_op[0]] = getattr(RestrictedUnpickler, _name)
# INST and OBJ go through _instantiate, GLOBAL / STACK_GLOBAL / EXT* through find_class and
# PERSID / BINPERSID through persistent_load, all overridden above.


def restricted_load(f: BinaryIO, size: int | None = None) -> Any:
    """Unpickle ``f`` with the allow-list. Errors are CheckpointErrors without a file name."""
    if size is None:
        pos = f.tell()
        f.seek(0, os.SEEK_END)
        size = f.tell() - pos
        f.seek(pos)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return RestrictedUnpickler(_BoundedReader(f, size), size).load()
    except CheckpointError:
        raise
    except RecursionError:
        raise CheckpointError("the pickle is nested too deeply to be a network pickle") from None
    except MemoryError:
        raise CheckpointError("the pickle asks for more memory than is available; it is damaged or "
                              "not a network pickle") from None
    except EOFError:
        raise CheckpointError("the pickle is truncated (it ends before its STOP mark); download or copy "
                              "the file again") from None
    except Exception as e:  # noqa: BLE001 - any other failure of the stream is damage
        raise CheckpointError(f"the pickle stream is damaged ({type(e).__name__}: {e}); download or "
                              f"copy the file again") from None


def restricted_loads(data: bytes) -> Any:
    return restricted_load(io.BytesIO(data), len(data))


# --------------------------------------------------------------------------------------------
# From records to our networks
# --------------------------------------------------------------------------------------------

NETWORK_KEYS = ("G_ema", "G", "D")
MAX_MODULE_DEPTH = 64

# positional constructor arguments of the official classes, for pickles whose _init_args is not empty
_POSITIONAL = {
    "G": ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"),
    "D": ("c_dim", "img_resolution", "img_channels"),
}


def collect_state_dict(record: PersistentRecord) -> dict[str, torch.Tensor]:
    """Parameters and persistent buffers of a module record, by dotted path (None skipped)."""
    out: dict[str, torch.Tensor] = {}
    todo: list[tuple[str, Any, int]] = [("", record, 0)]
    while todo:
        prefix, rec, depth = todo.pop()
        if depth > MAX_MODULE_DEPTH:
            raise CheckpointError(f"modules are nested more than {MAX_MODULE_DEPTH} deep")
        if isinstance(rec, PersistentRecord):
            state = rec.state
        elif isinstance(rec, dict):
            state = rec
        else:
            raise CheckpointError(f"submodule {prefix.rstrip('.') or '(top)'} is a {type(rec).__name__}, "
                                  f"not a network module")
        non_persistent = state.get("_non_persistent_buffers_set") or ()
        for group in ("_parameters", "_buffers"):
            tensors = state.get(group) or {}
            if not isinstance(tensors, dict):
                raise CheckpointError(f"{prefix}{group} is a {type(tensors).__name__}, not a dict")
            for name, t in tensors.items():
                if t is None or (group == "_buffers" and name in non_persistent):
                    continue
                if not isinstance(t, torch.Tensor):
                    raise CheckpointError(f"{prefix}{name} is a {type(t).__name__}, not a tensor")
                out[f"{prefix}{name}"] = t.detach()
        children = state.get("_modules") or {}
        if not isinstance(children, dict):
            raise CheckpointError(f"{prefix}_modules is a {type(children).__name__}, not a dict")
        for name, child in reversed(list(children.items())):
            if child is not None:
                todo.append((f"{prefix}{name}.", child, depth + 1))
    return out


def init_kwargs_of(record: PersistentRecord, kind: str) -> dict[str, Any]:
    """The constructor keyword arguments stored with a network record."""
    state = record.state
    kwargs = state.get("_init_kwargs")
    if kwargs is None:
        raise CheckpointError(f"the {record.class_name} has no stored constructor arguments "
                              f"(_init_kwargs); it was not saved by the official persistence code")
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"the constructor arguments of {record.class_name} are a "
                              f"{type(kwargs).__name__}, not a dict")
    kwargs = dict(kwargs)
    args = state.get("_init_args") or ()
    if args:
        names = _POSITIONAL.get(kind, ())
        if not isinstance(args, (tuple, list)) or len(args) > len(names):
            raise CheckpointError(f"the {record.class_name} was built with {len(args)} positional "
                                  f"arguments, which ganscope cannot map to names")
        for name, value in zip(names, args):
            kwargs.setdefault(name, value)
    return kwargs


def network_from_record(record: PersistentRecord, what: str = "network") -> nn.Module:
    """Build our network for an official record and load its tensors (strict)."""
    from gan_core.models import registry

    try:
        family, kind = registry.family_of_official_class(record.class_name)
    except registry.UnknownNetworkError as e:
        raise CheckpointError(f"{what} is a {record.class_name}, which ganscope cannot build ({e})") from None
    kwargs = init_kwargs_of(record, kind)
    net = build_checked(family, kind, kwargs, f"{what} ({record.class_name})")
    state_dict = collect_state_dict(record)
    load_state_strict(net, state_dict, what=f"{what} ({record.class_name})")
    if not hasattr(net, "family"):
        net.family = family  # discriminators: the family they belong to, for native saving
    return net


def build_checked(family: str, kind: str, kwargs: dict[str, Any], what: str) -> nn.Module:
    """``registry.build_network`` with every failure caused by the stored arguments (unknown or
    invalid values) as a CheckpointError; a missing model module still raises ImportError."""
    from gan_core.models import registry

    try:
        return registry.build_network(family, kind, kwargs)
    except registry.UnknownNetworkError as e:
        raise CheckpointError(f"{what}: {e}") from None
    except (ImportError, RecursionError, MemoryError):
        raise
    except Exception as e:  # noqa: BLE001 - the constructor rejected the stored values
        raise CheckpointError(f"{what} cannot be built from its stored arguments "
                              f"({type(e).__name__}: {e})") from e


def load_state_strict(net: nn.Module, state_dict: dict[str, torch.Tensor], what: str) -> None:
    """``load_state_dict(strict=True)`` with the key and shape differences as one CheckpointError."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing tensors: {short_list(missing)}")
        if unexpected:
            parts.append(f"unexpected tensors: {short_list(unexpected)}")
        raise CheckpointError(f"{what} does not match ganscope's network built from its stored "
                              f"arguments ({'; '.join(parts)}); the file is damaged or from an "
                              f"unsupported variant")
    wrong = [f"{k} {list(state_dict[k].shape)} (expected {list(v.shape)})"
             for k, v in expected.items() if tuple(state_dict[k].shape) != tuple(v.shape)]
    if wrong:
        raise CheckpointError(f"{what}: tensor shapes do not match its stored arguments: {short_list(wrong, 4)}")
    try:
        with torch.no_grad():
            net.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{what}: the stored tensors could not be loaded ({e})") from None


def find_network_records(obj: Any) -> dict[str, PersistentRecord]:
    """The network records of an unpickled official file: {'G_ema'|'G'|'D': record}.

    Accepts the usual snapshot dict (keys G, D, G_ema, augment_pipe, training_set_kwargs;
    any may be None), a dict with only some of the networks, or a bare network record
    (a generator is taken as G_ema, a discriminator as D).
    """
    from gan_core.models import registry

    if isinstance(obj, PersistentRecord):
        kind = registry.OFFICIAL_CLASSES.get(obj.class_name, (None, "G"))[1]
        return {"D" if kind == "D" else "G_ema": obj}
    if not isinstance(obj, dict):
        raise CheckpointError(f"the pickle holds a {type(obj).__name__}, not an official network "
                              f"snapshot (a dict with G, D and G_ema)")
    found = {k: obj[k] for k in NETWORK_KEYS if obj.get(k) is not None}
    for k, v in found.items():
        if not isinstance(v, PersistentRecord):
            raise CheckpointError(f"the pickle's {k} is a {type(v).__name__}, not a network")
    if not found:
        keys = short_list(repr(k) for k in obj)
        raise CheckpointError(f"the pickle holds no network (found keys {keys or 'none'}; expected "
                              f"G_ema, G or D as in an official network-snapshot-*.pkl)")
    return found


def _plain_info(v: Any, depth: int = 0) -> Any:
    """Plain data (for metadata) from unpickled values: dicts, lists, numbers, strings."""
    if depth > 20:
        return None
    if isinstance(v, dict):
        return {str(k): _plain_info(x, depth + 1) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain_info(x, depth + 1) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return repr(v)[:200]


def _family_of_class(class_name: str) -> str | None:
    from gan_core.models import registry

    return registry.OFFICIAL_CLASSES.get(class_name, (None, None))[0]


def read_official_pickle(path: str | os.PathLike, which: tuple[str, ...] = NETWORK_KEYS,
                         device: str | torch.device = "cpu", first_only: bool = False) -> dict[str, Any]:
    """Read an official pickle at ``path``: {'networks': {key: nn.Module}, 'records', 'family',
    'metadata'}.

    Only the networks named in ``which`` are built (all are unpickled); with ``first_only`` just
    the first of them that the file holds. Every failure is a CheckpointError naming the file.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            obj = restricted_load(f, os.fstat(f.fileno()).st_size)
        records = find_network_records(obj)
        nets: dict[str, nn.Module] = {}
        for key in [k for k in which if k in records][: 1 if first_only else None]:
            nets[key] = network_from_record(records[key], what=f"its {key}").to(device)
        families = [_family_of_class(records[k].class_name) for k in NETWORK_KEYS if k in records]
        metadata: dict[str, Any] = {
            "source_file": path,
            "source_format": "nvidia-pickle",
            "classes": {k: r.class_name for k, r in records.items()},
        }
        if isinstance(obj, dict):
            if obj.get("training_set_kwargs") is not None:
                metadata["training_set_kwargs"] = _plain_info(obj["training_set_kwargs"])
            aug = obj.get("augment_pipe")
            if isinstance(aug, PersistentRecord):
                metadata["augment_pipe"] = aug.class_name
        return {"networks": nets, "records": records, "family": next((f for f in families if f), None),
                "metadata": metadata}
    except CheckpointError as e:
        raise e.with_path(path) from None
    except RecursionError:
        raise CheckpointError("the pickle is nested too deeply to be a network pickle", path) from None
