"""ganscope's own checkpoint format: one ``.pt`` that ``torch.load(weights_only=True)`` reads.

Layout (format_version 1)::

    {
      'format': 'ganscope', 'format_version': 1, 'family': 'stylegan3',
      'G_ema': {'family': ..., 'kind': 'G', 'config': {constructor kwargs, JSON-able},
                'state_dict': {name: tensor}},
      'G': {...}, 'D': {... 'kind': 'D' ...},        # optional
      'training_state': {...},                         # optional: tensors, numbers, strings,
                                                       #   bools, None, lists, tuples, dicts
      'metadata': {'created_by', 'created_at', 'torch_version', 'source_file', ...},
    }

A discriminator entry records the family of the generator it belongs to and the
discriminator's own constructor arguments. Files are written atomically: a temporary file in
the same directory, flushed and fsynced, then renamed over the target; on any failure the
temporary file is removed and an existing target is left as it was.
"""
from __future__ import annotations

import datetime
import os
import tempfile
import threading
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from gan_core.io.errors import CheckpointError

FORMAT_NAME = "ganscope"
FORMAT_VERSION = 1
NETWORK_KEYS = ("G_ema", "G", "D")

_umask_lock = threading.Lock()


def _ganscope_version() -> str:
    try:
        from importlib.metadata import version

        return version("ganscope")
    except Exception:  # noqa: BLE001 - not installed: a source checkout
        return "unknown"


# --------------------------------------------------------------------------------------------
# Plain-data checks
# --------------------------------------------------------------------------------------------


def _exact(v: Any) -> Any:
    """Subclasses of the basic types (torch's TorchVersion is a str, enums are ints, …) as the
    basic types themselves: the weights-only loader accepts only those."""
    for t in (bool, int, float, str, bytes):
        if isinstance(v, t):
            return v if type(v) is t else t(v)
    return v


def _jsonable(v: Any, where: str) -> Any:
    """JSON-compatible copy of a constructor config (tuples become lists, numpy scalars numbers)."""
    if isinstance(v, Mapping):
        out = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise ValueError(f"{where}: key {k!r} is not a string; network configs must be JSON-compatible")
            out[str(k)] = _jsonable(x, f"{where}.{k}")
        return out
    if isinstance(v, (list, tuple)):
        return [_jsonable(x, f"{where}[{i}]") for i, x in enumerate(v)]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and not np.isfinite(v):
        raise ValueError(f"{where} is {v}, which JSON cannot store")
    if v is None or isinstance(v, (bool, int, float, str)):
        return _exact(v)
    raise ValueError(f"{where} is a {type(v).__name__}; network configs must be JSON-compatible "
                     f"(numbers, strings, lists, dicts)")


def _plain(v: Any, where: str, depth: int = 0) -> Any:
    """Copy of training state / metadata restricted to what weights_only loading reads back."""
    if depth > 100:
        raise ValueError(f"{where} is nested too deeply")
    if isinstance(v, torch.Tensor):
        return v.detach().cpu()
    if isinstance(v, Mapping):
        out = {}
        for k, x in v.items():
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                raise ValueError(f"{where}: key {k!r} is a {type(k).__name__}; use strings or numbers")
            out[_exact(k)] = _plain(x, f"{where}[{k!r}]", depth + 1)
        return out
    if isinstance(v, list):
        return [_plain(x, f"{where}[{i}]", depth + 1) for i, x in enumerate(v)]
    if isinstance(v, tuple):
        return tuple(_plain(x, f"{where}[{i}]", depth + 1) for i, x in enumerate(v))
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(v))
    if v is None or isinstance(v, (bool, int, float, str, bytes)):
        return _exact(v)
    if isinstance(v, (torch.dtype, torch.device)):
        return v
    raise ValueError(f"{where} is a {type(v).__name__}; checkpoints store only tensors, numbers, "
                     f"strings, bools, None, lists, tuples and dicts (so they load without running code)")


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def network_config(net: nn.Module, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Constructor kwargs of ``net``: ``given`` if passed, else ``net.config()``, else the
    ``_init_kwargs`` / ``init_kwargs`` attribute a network may keep."""
    if given is not None:
        cfg = given
    elif callable(getattr(net, "config", None)):
        cfg = net.config()
    elif isinstance(getattr(net, "init_kwargs", None), Mapping):
        cfg = net.init_kwargs
    elif isinstance(getattr(net, "_init_kwargs", None), Mapping):
        cfg = net._init_kwargs
    else:
        raise ValueError(f"cannot save a {type(net).__name__}: it has no config() method returning its "
                         f"constructor arguments (pass them explicitly)")
    return _jsonable(dict(cfg), f"{type(net).__name__}.config()")


def network_entry(net: nn.Module, kind: str, family: str, config: Mapping[str, Any] | None = None
                  ) -> dict[str, Any]:
    if not isinstance(net, nn.Module):
        raise TypeError(f"{kind} must be a torch.nn.Module, got {type(net).__name__}")
    return {
        "family": family,
        "kind": kind,
        "class_name": f"{type(net).__module__}.{type(net).__qualname__}",
        "config": network_config(net, config),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
    }


def build_payload(G_ema: nn.Module, G: nn.Module | None = None, D: nn.Module | None = None,
                  training_state: Mapping[str, Any] | None = None, metadata: Mapping[str, Any] | None = None,
                  D_config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    family = getattr(G_ema, "family", None)
    if not isinstance(family, str) or family in ("", "unknown"):
        raise ValueError(f"cannot save a {type(G_ema).__name__}: it does not name its model family "
                         f"(attribute 'family')")
    payload: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "family": family,
        "G_ema": network_entry(G_ema, "G", family),
    }
    if G is not None:
        payload["G"] = network_entry(G, "G", getattr(G, "family", family))
    if D is not None:
        payload["D"] = network_entry(D, "D", family, D_config)
    if training_state is not None:
        payload["training_state"] = _plain(dict(training_state), "training_state")
    meta: dict[str, Any] = {
        "created_by": f"ganscope {_ganscope_version()}",
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch_version": str(torch.__version__),
    }
    if metadata:
        meta.update(_plain(dict(metadata), "metadata"))
    payload["metadata"] = meta
    return payload


def _new_file_mode(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        with _umask_lock:
            mask = os.umask(0)
            os.umask(mask)
        return 0o666 & ~mask


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temp file beside ``path``, fsync, then ``os.replace``."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):   # else the error would name the temp file, not what the user gave
        raise FileNotFoundError(f"cannot write {path}: the folder {directory} does not exist")
    mode = _new_file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename durable too (best effort; not possible on every platform)
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def save_checkpoint(path: str | os.PathLike, G_ema: nn.Module, G: nn.Module | None = None,
                    D: nn.Module | None = None, training_state: Mapping[str, Any] | None = None,
                    metadata: Mapping[str, Any] | None = None, *, D_config: Mapping[str, Any] | None = None
                    ) -> None:
    """Write a native ganscope checkpoint atomically.

    ``G_ema`` (and ``G``) must expose ``family`` and ``config()``; ``D`` its ``config()`` (or pass
    ``D_config``). ``training_state`` (optimizer states, step counters, …) and ``metadata`` may
    hold tensors, numbers, strings, bools, None, lists, tuples and dicts only.
    """
    atomic_torch_save(build_payload(G_ema, G, D, training_state, metadata, D_config), path)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def is_native(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT_NAME


def check_native(obj: dict) -> None:
    """Raise CheckpointError (without a file name) unless ``obj`` is a native checkpoint we read."""
    version = obj.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"it is marked as a ganscope checkpoint but its format version is "
                              f"{version!r}; the file is damaged")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"it was written by a newer ganscope (checkpoint format version {version}; "
                              f"this version reads up to {FORMAT_VERSION}): upgrade ganscope to read it")
    if not isinstance(obj.get("family"), str):
        raise CheckpointError("it is a ganscope checkpoint without a model family; the file is damaged")
    if not any(isinstance(obj.get(k), dict) for k in NETWORK_KEYS):
        raise CheckpointError("it is a ganscope checkpoint without any network (G_ema, G or D)")


def network_from_entry(entry: Any, key: str, default_family: str) -> nn.Module:
    from gan_core.io.official_pickle import build_checked, load_state_strict

    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict) \
            or not isinstance(entry.get("state_dict"), dict):
        raise CheckpointError(f"its {key} entry lacks a config or state_dict; the file is damaged")
    family = entry.get("family", default_family)
    kind = entry.get("kind", "D" if key == "D" else "G")
    if kind not in ("G", "D") or not isinstance(family, str):
        raise CheckpointError(f"its {key} entry names an invalid family/kind ({family!r}, {kind!r})")
    net = build_checked(family, kind, entry["config"], f"its {key} ({family})")
    load_state_strict(net, entry["state_dict"], what=f"its {key} ({family})")
    if not hasattr(net, "family"):
        net.family = family
    return net


def read_native(obj: dict, which: tuple[str, ...] = NETWORK_KEYS, device: str | torch.device = "cpu",
                first_only: bool = False) -> dict[str, Any]:
    """Networks, training state and metadata of an already (weights_only-)loaded native file.

    Only the networks in ``which`` are built; with ``first_only`` just the first one present."""
    check_native(obj)
    family = obj["family"]
    keys = [k for k in which if isinstance(obj.get(k), dict)][: 1 if first_only else None]
    nets = {k: network_from_entry(obj[k], k, family).to(device) for k in keys}
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    return {"networks": nets, "family": family, "metadata": dict(metadata),
            "training_state": obj.get("training_state")}

