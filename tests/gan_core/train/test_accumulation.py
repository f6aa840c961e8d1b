"""Gradient accumulation (batch_gpu < batch) gives the gradients of the whole batch."""
from __future__ import annotations

import torch

from gan_core.train import Trainer
from gan_core.train import trainer as trainer_module

from .conftest import tiny_options


REAL_AVERAGE = trainer_module.ddp.average_gradients


def _gradients_of_first_step(tiny_zip, run, batch_gpu, monkeypatch):
    captured = []
    real = REAL_AVERAGE

    def capture(params, info):
        real(params, info)
        captured.append([p.grad.detach().clone() if p.grad is not None else None for p in params])

    monkeypatch.setattr(trainer_module.ddp, "average_gradients", capture)
    # StyleGAN3-T has no noise inputs; no augmentation or style mixing; minibatch-stddev groups of
    # 1 (larger groups are formed within each pass, so they differ by construction): each image's
    # loss is then independent of how the batch is split.
    t = Trainer(tiny_options(tiny_zip, run, cfg="stylegan3-t", batch=4, batch_gpu=batch_gpu, mbstd_group=1,
                             aug="noaug", style_mixing=0.0, pl_weight=0.0, gamma=1.0))
    try:
        t.step()
    finally:
        t.close()
    return captured


def test_accumulated_gradients_match_full_batch(tiny_zip, tmp_path, monkeypatch):
    full = _gradients_of_first_step(tiny_zip, tmp_path / "full", 4, monkeypatch)
    accum = _gradients_of_first_step(tiny_zip, tmp_path / "accum", 2, monkeypatch)
    assert len(full) == len(accum) == 3  # phases Gmain, Dmain, Dreg (R1 at step 0)
    # Dmain is left out: generating its fakes updates StyleGAN3's magnitude EMAs once per pass, so
    # the second pass's fakes legitimately differ.
    for phase_full, phase_accum in [(full[0], accum[0]), (full[2], accum[2])]:
        n = 0
        for a, b in zip(phase_full, phase_accum):
            if a is None:
                assert b is None
                continue
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
            n += int(a.abs().sum() > 0)
        assert n > 0
