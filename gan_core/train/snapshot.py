"""Training snapshots: networks + everything needed to continue a run exactly.

A snapshot is a native ganscope checkpoint (``gan_core.io.native``, written atomically,
readable with ``torch.load(weights_only=True)``) holding G, D, G_ema and a ``training_state``:

    {'version': 1, 'options': {...}, 'cur_nimg', 'step', 'tick', 'wall_s',
     'G_opt', 'D_opt' (optimizer state dicts), 'augment' (p and the ADA accumulators),
     'pl_mean', 'rng': {'torch', 'numpy', 'python', 'cuda'}, 'world_size',
     'ranks': [{'rng', 'augment', 'pl_mean'} per process]   # only with several processes
    }
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_core.io.native import save_checkpoint

STATE_VERSION = 1


def rng_state() -> dict[str, Any]:
    """The torch, numpy, python (and CUDA) generator states as plain data."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": int(py_version), "internal": list(py_internal), "gauss": py_gauss},
        "cuda": None,
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].to(torch.uint8))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    if state.get("cuda") and torch.cuda.is_available():
        cuda = list(state["cuda"])[: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all([s.to(torch.uint8) for s in cuda])


def load_optimizer_state(opt: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load an optimizer's moments and step counts from a snapshot, but keep the settings it was
    built with (lr, betas, eps: the resumed run's options). ``Optimizer.load_state_dict`` would
    bring back the saved ones too, silently ignoring e.g. ``--resume RUN --glr 0.001``; with the
    options unchanged both are the same, so an exact resume stays exact."""
    settings = [{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups]
    opt.load_state_dict(state)
    for group, kept in zip(opt.param_groups, settings):
        group.update(kept)


def save_snapshot(path: str | os.PathLike, G: torch.nn.Module, D: torch.nn.Module, G_ema: torch.nn.Module,
                  training_state: dict[str, Any]) -> Path:
    """Write the snapshot atomically (a crash mid-write leaves any earlier file untouched)."""
    save_checkpoint(path, G_ema=G_ema, G=G, D=D, training_state={"version": STATE_VERSION, **training_state},
                    metadata={"source": "ganscope train"})
    return Path(path)


def resolve_resume(path: str | os.PathLike) -> Path:
    """A snapshot file for ``--resume``: the file itself, or the newest snapshot of a run directory."""
    from gan_core.train.rundir import latest_snapshot

    p = Path(path)
    if p.is_dir():
        snap = latest_snapshot(p)
        if snap is None:
            raise FileNotFoundError(f"--resume {p}: the folder holds no network-snapshot-*.pt")
        return snap
    if not p.exists():
        raise FileNotFoundError(f"--resume {p}: no such file or folder")
    return p
