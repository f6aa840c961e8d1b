"""A training step issues (almost) no host↔device synchronisations or host→device copies.

On CUDA every ``tensor.item()``, ``float(tensor)``, ``bool(tensor)``, ``.cpu()``, ``.tolist()``,
``.numpy()`` waits for the device, and every ``torch.tensor(..., device=cuda)`` /
``.to(cuda)`` of a host tensor is a copy. On this CPU machine those calls cost nothing, so the
test counts them instead: it wraps the calls, runs a few StyleGAN2 and StyleGAN3-T training
steps (tiny configs, regularizers, style mixing, ADA and EMA all active) and records the
``file:line`` inside gan_core/ or cuda_ops/ that made each one.

    python -m tests.gan_core.train.test_no_host_syncs      # prints the per-step table

Bound (per step, after warm-up, ticks excluded): ``MAX_PER_STEP`` — see the constant.
"""
from __future__ import annotations

import collections
import contextlib
import os
import sys
import traceback

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
WATCHED = (os.path.join(ROOT, "gan_core") + os.sep, os.path.join(ROOT, "cuda_ops") + os.sep)

# What remains per step and why (see docs/notes/host_syncs.md):
# * the real batch and labels from the data loader are host tensors and must be copied to the
#   device once per step (2 copies: images and labels);
# * sampling conditioning labels for fake images indexes the dataset's label table on the host
#   (only with --cond; 1 copy per phase).
MAX_PER_STEP = 8


# Callers whose calls do not synchronise on CUDA: the optimizers read their step counters with
# .item(), but those are host tensors there (``capturable=False``), so no device is involved.
NOT_SYNCING = (os.sep + os.path.join("torch", "optim") + os.sep,)


def _site() -> str | None:
    stack = traceback.extract_stack()[:-2]  # without _site and record
    if len(stack) > 1 and any(s in stack[-2].filename for s in NOT_SYNCING):  # [-1]: the wrapper
        return None
    for fr in reversed(stack):
        if fr.filename.startswith(WATCHED):
            return f"{os.path.relpath(fr.filename, ROOT)}:{fr.lineno}"
    return None


def _is_host_obj(x) -> bool:
    return not isinstance(x, torch.Tensor) or x.device.type == "cpu"


def _device_arg(args, kw):
    dev = kw.get("device")
    if dev is None:
        for a in args:
            if isinstance(a, (torch.device, str)) and not isinstance(a, torch.dtype):
                try:
                    dev = torch.device(a)
                except (RuntimeError, TypeError):
                    continue
                break
            if isinstance(a, torch.Tensor):
                dev = a.device
                break
    return dev


@contextlib.contextmanager
def count_host_syncs(target: str = "cpu"):
    """Counts calls that would synchronise or copy on CUDA. ``target`` is the device the trainer
    runs on (cpu here): a transfer *to* it from a host object counts as a host→device copy."""
    counts: collections.Counter = collections.Counter()
    saved = []
    T = torch.Tensor
    active = [True]

    def record(kind):
        if not active[0]:
            return
        site = _site()
        if site is not None:
            counts[(kind, site)] += 1

    def wrap_method(name, kind):
        orig = getattr(T, name)

        def f(self, *a, **k):
            record(kind)
            return orig(self, *a, **k)
        saved.append((T, name, orig))
        setattr(T, name, f)

    for name in ("item", "__float__", "__int__", "__bool__", "__index__", "tolist", "cpu", "numpy"):
        wrap_method(name, name)

    orig_to = T.to

    def to(self, *a, **k):
        dev = _device_arg(a, k)
        if dev is not None and torch.device(dev).type == target and self.device.type == "cpu" and target == "cpu":
            # On CPU a .to(cpu) of a CPU tensor is a no-op; on CUDA it is only a copy when the
            # source is on the host. We count .to(device) on tensors created on the host each
            # call: all training tensors live on the device, so any .to(dev) is suspicious.
            record("to(device)")
        return orig_to(self, *a, **k)
    saved.append((T, "to", orig_to))
    T.to = to

    for name in ("tensor", "as_tensor"):
        orig = getattr(torch, name)

        def g(*a, __orig=orig, __name=name, **k):
            if k.get("device") is not None and (not a or _is_host_obj(a[0])):
                record(f"torch.{__name}(device=)")
            return __orig(*a, **k)
        saved.append((torch, name, orig))
        setattr(torch, name, g)
    try:
        yield counts, active
    finally:
        for obj, name, orig in reversed(saved):
            setattr(obj, name, orig)


def _trainer(data, tmp, cfg):
    from gan_core.train import Trainer

    from .conftest import tiny_options
    o = tiny_options(data, tmp / cfg, cfg=cfg, kimg=1, aug="ada", ada_interval=2, ada_kimg=0.05, target=-1.0,
                     pl_interval=2, r1_interval=2, pl_weight=2.0, style_mixing=0.9, mirror=True, cond=True,
                     **({"blur_sigma": 2, "blur_fade_kimg": 1} if cfg != "stylegan2" else {}))
    return Trainer(o)


def measure(data, tmp, cfg, steps=4, warmup=2):
    t = _trainer(data, tmp, cfg)
    try:
        for _ in range(warmup):
            t.step()
        with count_host_syncs() as (counts, _):
            for _ in range(steps):
                t.step()
        return counts, steps
    finally:
        t.close()


def _report(counts, steps) -> str:
    lines = [f"{n / steps:6.2f}/step  {kind:22s} {site}" for (kind, site), n in counts.most_common()]
    return "\n".join(lines)


def test_training_step_has_few_host_syncs(tiny_zip, tmp_path):
    for cfg in ("stylegan2", "stylegan3-t"):
        counts, steps = measure(tiny_zip, tmp_path, cfg)
        per_step = sum(counts.values()) / steps
        assert per_step <= MAX_PER_STEP, f"{cfg}: {per_step:.1f} host syncs/copies per step:\n{_report(counts, steps)}"


def test_counter_sees_syncs():
    with count_host_syncs() as (counts, _):
        x = torch.ones(3)
        from gan_core.train import ema  # noqa: F401  (a watched module must be on the stack)
        exec(compile("float(x.sum())", os.path.join(ROOT, "gan_core", "fake.py"), "exec"), {"x": x})
    assert sum(counts.values()) == 1


if __name__ == "__main__":  # python -m tests.gan_core.train.test_no_host_syncs
    import pathlib
    import tempfile

    from gan_core.data import write_procedural_zip
    with tempfile.TemporaryDirectory() as d:
        d = pathlib.Path(d)
        z = d / "p.zip"
        write_procedural_zip(z, count=32, resolution=16, labels=True)
        for cfg in sys.argv[1:] or ("stylegan2", "stylegan3-t"):
            counts, steps = measure(z, d, cfg)
            print(f"## {cfg}: {sum(counts.values()) / steps:.2f} per step")
            print(_report(counts, steps))


def test_upfirdn2d_reads_a_constant_filter_once():
    """On CUDA the models run the reference upfirdn2d with their 2-D filter buffers; deciding
    whether a filter is separable reads it on the host, so that is done once per filter."""
    import importlib

    from cuda_ops import setup_filter, upfirdn2d
    mod = importlib.import_module("cuda_ops.upfirdn2d")
    f = setup_filter([1, 3, 3, 1])
    x = torch.randn([2, 3, 8, 8])
    mod._SPLIT_CACHE.clear()
    with count_host_syncs() as (first, _):
        a = upfirdn2d(x, f, up=2, padding=[2, 1, 2, 1], impl="ref")
    with count_host_syncs() as (later, _):
        for _ in range(3):
            b = upfirdn2d(x, f, up=2, padding=[2, 1, 2, 1], impl="ref")
    assert sum(first.values()) > 0 and sum(later.values()) == 0, (first, later)
    assert torch.equal(a, b)
    with torch.no_grad():
        f.mul_(2)  # a changed filter is read again
    with count_host_syncs() as (changed, _):
        c = upfirdn2d(x, f, up=2, padding=[2, 1, 2, 1], impl="ref")
    assert sum(changed.values()) > 0 and torch.allclose(c, 2 * a)
