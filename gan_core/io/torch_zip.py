"""Reading zip-format ``torch.save`` files that hold an ``argparse.Namespace`` without running anything.

``torch.load(weights_only=True)`` refuses such files (rosinality stylegan2-pytorch training
snapshots store their command-line ``args`` that way). They are read by the one allow-list
reader of torch files, :func:`gan_core.io.torch_restricted.restricted_torch_load`, in which a
Namespace is an inert record; here every such record becomes a plain ``dict``. Anything outside
the allow-list is refused with a CheckpointError naming what the file asked for.
"""
from __future__ import annotations

import os
from typing import Any

from gan_core.io.errors import CheckpointError
from gan_core.io.torch_restricted import ObjectRecord, restricted_torch_load


def _plain(obj: Any, depth: int = 0) -> Any:
    """The loaded object with every Namespace record replaced by a plain dict."""
    if depth > 100:
        raise CheckpointError("its contents are nested too deeply to be a network checkpoint")
    if isinstance(obj, ObjectRecord) and obj.class_name == "argparse.Namespace":
        return {k: _plain(v, depth + 1) for k, v in obj.state.items()}
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


def load_zip_restricted(path: str | os.PathLike) -> Any:
    """The object in a zip-format torch file, argparse Namespaces as dicts; nothing executed.
    Raises CheckpointError (naming the file) for anything outside the allow-list."""
    path = os.fspath(path)
    try:
        return _plain(restricted_torch_load(path))
    except CheckpointError as e:
        raise CheckpointError(f"is a PyTorch file that could not be read safely: {e.detail}", path) from None
