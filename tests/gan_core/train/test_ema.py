"""The G EMA follows its formula: p_ema ← β p_ema + (1 - β) p, β = 0.5^(batch / ema_nimg), with ramp-up."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_core.train.ema import ema_beta, ema_update


def test_ema_beta_formula_and_rampup():
    assert ema_beta(32, 10, 10**9) == pytest.approx(0.5 ** (32 / 10000))
    # ramp-up: the half-life is at most cur_nimg · rampup images
    assert ema_beta(32, 10, 1000, ema_rampup=0.05) == pytest.approx(0.5 ** (32 / 50))
    assert ema_beta(32, 10, 10**9, ema_rampup=0.05) == pytest.approx(0.5 ** (32 / 10000))
    assert ema_beta(32, 10, 0, ema_rampup=0.05) == 0.0  # the first step copies G


def test_ema_update_matches_formula():
    torch.manual_seed(0)
    G, G_ema = nn.Linear(4, 3), nn.Linear(4, 3)
    G.register_buffer("stat", torch.randn(2))
    G_ema.register_buffer("stat", torch.zeros(2))
    before = [p.detach().clone() for p in G_ema.parameters()]
    beta = 0.7
    ema_update(G_ema, G, beta)
    for b, p_ema, p in zip(before, G_ema.parameters(), G.parameters()):
        torch.testing.assert_close(p_ema, beta * b + (1 - beta) * p.detach())
    assert torch.equal(G_ema.stat, G.stat)
