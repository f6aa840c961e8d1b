"""Build official-style network pickles without the official code.

The stream has the same shape as an official ``network-snapshot-*.pkl``: each network is a
call of ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` with the module source
embedded, and constructor arguments in ``dnnlib.util.EasyDict``. The modules those names live
in are faked in ``sys.modules`` only while pickling (``fake_official_modules``); their
functions record any call, so a test can check that loading never called them, and the
embedded ``module_src`` creates a marker file and raises if anyone executes it.
"""
from __future__ import annotations

import contextlib
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

BUFFER_NAMES = {"w_avg", "resample_filter", "noise_const", "transform", "freqs", "phases",
                "magnitude_ema", "up_filter", "down_filter"}

CALLS: list[str] = []  # every call of a faked official function


def _reconstruct_persistent_obj(meta):  # stands in for the official hook; must never run on load
    CALLS.append("_reconstruct_persistent_obj")
    raise AssertionError("the official persistence hook was called")


class EasyDict(dict):
    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value

    def __setstate__(self, state):  # noqa: D401 - a trap: our loader must never call this
        CALLS.append("EasyDict.__setstate__")


_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
EasyDict.__module__ = "dnnlib.util"
EasyDict.__qualname__ = "EasyDict"


@contextlib.contextmanager
def fake_official_modules() -> Iterator[None]:
    """Register torch_utils.persistence and dnnlib.util for pickling; remove them after."""
    names = ["torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util"]
    saved = {n: sys.modules.get(n) for n in names}
    tu, pers, dn, util = (types.ModuleType(n) for n in names)
    pers._reconstruct_persistent_obj = _reconstruct_persistent_obj
    tu.persistence = pers
    util.EasyDict = EasyDict
    dn.util = util
    sys.modules.update({"torch_utils": tu, "torch_utils.persistence": pers, "dnnlib": dn, "dnnlib.util": util})
    try:
        yield
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def evil_module_src(marker: Path) -> str:
    return (f"open({str(marker)!r}, 'w').write('module_src was executed')\n"
            f"raise RuntimeError('module_src must never be executed')\n")


class Persistent:
    """Pickles as the official persistence hook does."""

    def __init__(self, class_name: str, state: dict, module_src: str) -> None:
        self.meta = dict(type="class", version=6, module_src=module_src, class_name=class_name, state=state)

    def __reduce__(self):
        return (_reconstruct_persistent_obj, (self.meta,))


def _module_dict(training: bool = False) -> dict[str, Any]:
    """A fresh nn.Module __dict__ (hooks as OrderedDicts, the non-persistent set, …)."""
    d = dict(torch.nn.Module().__dict__)
    d["training"] = training
    d["_parameters"] = {}
    d["_buffers"] = {}
    d["_modules"] = {}
    return d


def _easy(v: Any) -> Any:
    if isinstance(v, dict):
        return EasyDict({k: _easy(x) for k, x in v.items()})
    return v


def nest_state_dict(flat: dict[str, torch.Tensor], class_name: str, init_kwargs: dict, module_src: str,
                    extra_top: dict | None = None) -> Persistent:
    """Turn a flat dotted state dict into nested module records like an official pickle."""
    tree: dict = {"tensors": {}, "children": {}}
    for key, t in flat.items():
        *path, leaf = key.split(".")
        node = tree
        for p in path:
            node = node["children"].setdefault(p, {"tensors": {}, "children": {}})
        node["tensors"][leaf] = t

    module_prefix = class_name.rsplit(".", 1)[0]

    def build(node: dict, name: str, is_top: bool) -> Persistent:
        state = _module_dict()
        for leaf, t in node["tensors"].items():
            if leaf in BUFFER_NAMES:
                state["_buffers"][leaf] = t.clone()
            else:
                state["_parameters"][leaf] = torch.nn.Parameter(t.clone(), requires_grad=False)
        for child_name, child in node["children"].items():
            state["_modules"][child_name] = build(child, child_name, False)
        # attributes the official modules keep: numpy arrays and scalars, plain numbers
        state["in_size"] = np.broadcast_to(np.asarray(32), [2])
        state["sampling_rate"] = np.float64(16.5)
        state["layer_index"] = np.int64(3)
        state["_buffers"]["optional_none"] = None  # registered-as-None buffers are skipped
        state["_parameters"]["bias_none"] = None
        if is_top:
            state["_init_args"] = ()
            kw = _easy(init_kwargs)
            if "img_resolution" in kw:
                kw["img_resolution"] = np.int64(kw["img_resolution"])  # numpy scalars happen
            state["_init_kwargs"] = kw
            state.update(extra_top or {})
        else:
            state["_init_args"] = ()
            state["_init_kwargs"] = EasyDict(name=name)
        cls = class_name if is_top else f"{module_prefix}.Sub_{name}"
        return Persistent(cls, state, module_src)

    return build(tree, "", True)


def official_snapshot(G=None, G_ema=None, D=None, augment_pipe=None, training_set_kwargs="default") -> dict:
    if training_set_kwargs == "default":
        training_set_kwargs = EasyDict(class_name="training.dataset.ImageFolderDataset", path="/data/x.zip",
                                       use_labels=False, max_size=100, xflip=False, resolution=32)
    return dict(G=G, D=D, G_ema=G_ema, augment_pipe=augment_pipe, training_set_kwargs=training_set_kwargs)


def dumps(obj: Any, protocol: int = 4) -> bytes:
    with fake_official_modules():
        return pickle.dumps(obj, protocol=protocol)


def official_pickle_bytes(fixture: dict, module_src: str, protocol: int = 4, with_D: bool = True,
                          drop_key: str | None = None, class_name: str | None = None) -> bytes:
    """A whole official-style snapshot (G, G_ema, D when the fixture has one)."""
    sd = dict(fixture["G_state_dict"])
    if drop_key:
        del sd[drop_key]
    cls = class_name or fixture["class_name"]
    G = nest_state_dict(sd, cls, fixture["init_kwargs"], module_src)
    G_ema = nest_state_dict(sd, cls, fixture["init_kwargs"], module_src)
    D = None
    if with_D and "D_state_dict" in fixture:
        D = nest_state_dict(fixture["D_state_dict"], "training.networks_stylegan2.Discriminator",
                            fixture["D_init_kwargs"], module_src)
    aug = Persistent("training.augment.AugmentPipe",
                     dict(_module_dict(), _init_args=(), _init_kwargs=EasyDict(xflip=1, p=OrderedDict())),
                     module_src)
    return dumps(official_snapshot(G=G, G_ema=G_ema, D=D, augment_pipe=aug), protocol)
