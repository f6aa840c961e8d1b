"""Resume continues exactly: the step after a resume is bit-for-bit the step an uninterrupted run takes."""
from __future__ import annotations

import json

import torch

from gan_core.io import load_checkpoint
from gan_core.train import train

from .conftest import tiny_options

# Regularizers every 2 steps and a fast ADA controller, so the resumed step (index 2) runs R1,
# path length and an augment-p update (target -1 makes p rise, so augmentation is active).
COMMON = dict(aug="ada", ada_interval=2, ada_kimg=0.05, target=-1.0, pl_interval=2, r1_interval=2, pl_weight=2.0,
              style_mixing=0.9, mirror=True, cond=True)


def _assert_same_state(a: dict, b: dict, where: str = "") -> None:
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _assert_same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_state(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), where
    else:
        assert a == b, where


def _snapshot(run):
    ck = load_checkpoint(run / "network-snapshot-000000.pt")
    return ck


def test_resume_reproduces_next_step(tiny_zip, tmp_path):
    # Uninterrupted: 3 steps of 4 images.
    full = tmp_path / "full"
    assert train(tiny_options(tiny_zip, full, kimg=0.012, **COMMON), progress=False) == "finished"
    # Interrupted after 2 steps, then resumed in place for the third.
    part = tmp_path / "part"
    assert train(tiny_options(tiny_zip, part, kimg=0.008, **COMMON), progress=False) == "finished"
    after_two = _snapshot(part)
    assert after_two.training_state["step"] == 2
    assert train(tiny_options(tiny_zip, None, kimg=0.012, resume=str(part), **COMMON), progress=False) == "finished"

    a, b = _snapshot(full), _snapshot(part)
    for key in ("G", "D", "G_ema"):
        sa, sb = getattr(a, key).state_dict(), getattr(b, key).state_dict()
        _assert_same_state(sa, sb, key)
        # and the step actually changed the networks
    assert not all(torch.equal(x, y) for x, y in zip(after_two.G.state_dict().values(), b.G.state_dict().values()))
    ta, tb = a.training_state, b.training_state
    for key in ("G_opt", "D_opt", "augment", "pl_mean", "rng", "cur_nimg", "step"):
        _assert_same_state(ta[key], tb[key], key)
    assert ta["augment"]["p"] > 0  # the controller moved p, and identically in both runs
    # The resumed run kept writing into the same run directory.
    rows = [json.loads(x) for x in (part / "stats.jsonl").read_text().splitlines()]
    assert rows[-1]["kimg"] == 0.012 and rows[-1]["step"] == 3


def test_learning_rates_given_on_resume_are_used(tiny_zip, tmp_path):
    """`--resume RUN --glr X` trains on at X; the optimizer's moments and step counts still come
    from the snapshot (torch's load_state_dict alone would bring the old learning rate back)."""
    from gan_core.train.loss import lazy_adam_params

    run = tmp_path / "run"
    opts = dict(COMMON, pl_weight=0.0)        # no lazy path-length: G's lr is glr as given
    assert train(tiny_options(tiny_zip, run, kimg=0.008, **opts), progress=False) == "finished"
    before = _snapshot(run).training_state
    assert before["G_opt"]["param_groups"][0]["lr"] == 0.0025
    assert train(tiny_options(tiny_zip, None, kimg=0.012, resume=str(run), glr=0.001, dlr=0.0004, **opts),
                 progress=False) == "finished"
    after = _snapshot(run).training_state
    d_lr, d_betas = lazy_adam_params(0.0004, (0.0, 0.99), opts["r1_interval"])
    assert [g["lr"] for g in after["G_opt"]["param_groups"]] == [0.001]
    assert [(g["lr"], tuple(g["betas"])) for g in after["D_opt"]["param_groups"]] == [(d_lr, d_betas)]
    assert json.loads((run / "training_options.json").read_text())["glr"] == 0.001
    # and the log says what the resume changed
    line = [x for x in (run / "log.txt").read_text().splitlines() if "starting at kimg 0.008" in x][0]
    assert line.endswith("; options changed on resume: kimg 0.008 → 0.012, glr 0.0025 → 0.001, dlr 0.0025 → 0.0004"), line
    steps = {float(s["step"]) for s in after["G_opt"]["state"].values()}
    assert steps == {3.0}                     # 2 steps before the resume, one after: moments carried on


def test_load_optimizer_state_keeps_the_settings_it_was_built_with():
    from gan_core.train.snapshot import load_optimizer_state

    w = torch.nn.Parameter(torch.ones(3))
    old = torch.optim.Adam([w], lr=0.1, betas=(0.5, 0.9), eps=1e-3)
    w.grad = torch.full((3,), 2.0)
    old.step()
    new = torch.optim.Adam([w], lr=0.01, betas=(0.0, 0.99), eps=1e-8)
    load_optimizer_state(new, old.state_dict())
    g = new.param_groups[0]
    assert (g["lr"], g["betas"], g["eps"]) == (0.01, (0.0, 0.99), 1e-8) and g["params"] == [w]
    assert torch.equal(new.state[w]["exp_avg"], old.state[w]["exp_avg"]) and float(new.state[w]["step"]) == 1
