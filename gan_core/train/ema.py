"""Exponential moving average of the generator's weights (Karras et al. 2018, Yazıcı et al. 2019).

After every training step, ``G_ema ← beta · G_ema + (1 - beta) · G`` for parameters, and buffers
are copied, with ``beta = 0.5 ** (batch / ema_nimg)``: the EMA's half-life is ``ema_nimg``
images. With ramp-up, ``ema_nimg = min(ema_kimg · 1000, cur_nimg · ema_rampup)`` so the average
forgets the random initialisation quickly early in training.
"""
from __future__ import annotations

import torch
from torch import nn


def ema_beta(batch: int, ema_kimg: float, cur_nimg: int, ema_rampup: float | None = None) -> float:
    """The decay for one step of ``batch`` images when ``cur_nimg`` images have been seen."""
    ema_nimg = ema_kimg * 1000
    if ema_rampup is not None and ema_rampup > 0:
        ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)
    return 0.5 ** (batch / max(ema_nimg, 1e-8))


@torch.no_grad()
def ema_update(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    """In place: parameters lerp toward G's by (1 - beta); buffers copied from G."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b.detach())
