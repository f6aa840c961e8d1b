"""R1 and path-length penalties on toy models with known gradients; lazy-regularization Adam settings."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gan_core.train.loss import (StyleGANLoss, default_gamma, gaussian_blur, lazy_adam_params, mix_styles,
                                 path_lengths, r1_penalty)


class QuadraticD(nn.Module):
    """D(x) = sum(a · x²): ∇_x D = 2 a x, so ||∇_x D||² = 4 Σ a² x²."""

    def __init__(self, shape):
        super().__init__()
        self.a = nn.Parameter(torch.randn(shape, dtype=torch.float64))

    def forward(self, x, c=None, update_emas=False):
        return (self.a * x.square()).flatten(1).sum(1, keepdim=True)


def test_r1_penalty_value_and_gradient():
    torch.manual_seed(0)
    D = QuadraticD([1, 3, 4, 4])
    x = torch.randn([2, 3, 4, 4], dtype=torch.float64)
    penalty, _ = r1_penalty(D, x)
    expected = (4 * D.a.detach().square() * x.square()).flatten(1).sum(1)
    torch.testing.assert_close(penalty, expected)
    penalty.sum().backward()
    # d/da Σ 4 a² x² = 8 a x² (summed over the batch)
    torch.testing.assert_close(D.a.grad, (8 * D.a.detach() * x.square()).sum(0, keepdim=True))


def test_r1_phase_of_the_loss_uses_gamma_over_two_times_gain():
    torch.manual_seed(1)
    D = QuadraticD([1, 3, 4, 4])
    x = torch.randn([4, 3, 4, 4], dtype=torch.float64)
    loss = StyleGANLoss(G=None, D=D, r1_gamma=3.0)
    vals = loss.accumulate("Dreg", x, torch.zeros([4, 0]), None, None, gain=16, cur_nimg=0)
    grad_penalty = (8 * D.a.detach() * x.square()).sum(0, keepdim=True) / 4  # of the batch mean
    torch.testing.assert_close(D.a.grad, grad_penalty * (3.0 / 2) * 16)
    assert vals["loss_r1"] == pytest.approx(float((4 * D.a.detach().square() * x.square()).flatten(1).sum(1).mean()))


def test_path_length_toy_linear_synthesis():
    """img = (Σ_k ws[:, k]) M reshaped: J_w^T y = M y for each w, so the length is ||M y||."""
    torch.manual_seed(2)
    n, num_ws, w_dim, shape = 3, 4, 5, (2, 3, 3)
    M = torch.randn([w_dim, math.prod(shape)], dtype=torch.float64, requires_grad=True)

    def synthesis(ws):
        return (ws.sum(1) @ M).view(n, *shape)

    ws = torch.randn([n, num_ws, w_dim], dtype=torch.float64, requires_grad=True)
    y = torch.randn([n, *shape], dtype=torch.float64)
    lengths = path_lengths(synthesis, ws, noise=y)
    My = y.flatten(1) @ M.detach().t()  # [n, w_dim]
    torch.testing.assert_close(lengths, My.norm(dim=1))
    # Gradient of the penalty (L - a)² w.r.t. M: 2 (L - a) · (M y / L) ⊗ y, summed over the batch.
    a = 0.7
    ((lengths - a).square()).sum().backward()
    L = My.norm(dim=1, keepdim=True)
    expected = torch.einsum("ni,nj->ij", 2 * (L - a) * My / L, y.flatten(1))
    torch.testing.assert_close(M.grad, expected)


def test_path_length_default_noise_scale():
    torch.manual_seed(3)
    ws = torch.randn([64, 2, 8], requires_grad=True)
    lengths = path_lengths(lambda w: w.sum(1).view(64, 2, 2, 2).repeat(1, 1, 8, 8), ws)
    # y ~ N(0, 1/(16·16)); each w component sees 64 pixels' noise: E|J^T y|² = 8 · 64 / 256 = 2.
    assert lengths.square().mean().item() == pytest.approx(2.0, rel=0.25)


def test_blur_sigma_fades_linearly():
    loss = StyleGANLoss(G=None, D=None, blur_init_sigma=10, blur_fade_kimg=2)
    assert loss.blur_sigma(0) == 10 and loss.blur_sigma(1000) == pytest.approx(5) and loss.blur_sigma(5000) == 0
    x = torch.randn([1, 3, 16, 16])
    assert torch.equal(gaussian_blur(x, 0), x)
    y = gaussian_blur(x, 2.0)
    assert y.shape == x.shape and y.std() < x.std() and y.mean().item() == pytest.approx(x.mean().item(), abs=0.05)


def test_style_mixing_switches_to_second_latent_from_a_cutoff():
    torch.manual_seed(4)

    class Mapping:
        z_dim = 3

        def __call__(self, z, c, update_emas=False):
            return torch.full([z.shape[0], 6, 2], 7.0)

    ws = torch.zeros([200, 6, 2])
    out = mix_styles(Mapping(), ws, None, prob=1.0)
    assert (out[:, 0] == 0).all()  # the first w always stays
    for row in out:
        k = int((row[:, 0] == 0).sum())
        assert 1 <= k < 6 and (row[k:] == 7).all()
    assert torch.equal(mix_styles(Mapping(), ws, None, prob=0.0), ws)


def test_lazy_regularization_adam_and_gamma_heuristic():
    lr, betas = lazy_adam_params(0.0025, (0.0, 0.99), 16)
    assert lr == pytest.approx(0.0025 * 16 / 17) and betas[1] == pytest.approx(0.99 ** (16 / 17))
    assert lazy_adam_params(0.002, (0.0, 0.99), None) == (0.002, (0.0, 0.99))
    assert default_gamma(256, 64) == pytest.approx(0.2048)
