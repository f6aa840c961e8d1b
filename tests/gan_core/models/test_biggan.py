"""BigGAN / BigGAN-deep models: ws layout, truncation, standing stats, orthogonal regularization,
layer capture and native save/load. (Parity with the reference implementations, through the
importers, is in tests/gan_core/io/test_biggan_import.py.)"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import gan_core
from gan_core.models import biggan, biggan_deep, capture_layers
from gan_core.models.biggan_layers import (orthogonal_regularization, ortho_weights, standing_stats,
                                           truncated_normal, truncated_z_from_seed, truncation_stats_index)

SMALL = dict(z_dim=16, c_dim=5, img_resolution=32, ch=4, shared_dim=8, attn_res=(16,))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _randomize(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Perturb every parameter so that a dropped tensor would change outputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=gen))
    return net


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    return _randomize(biggan.Generator(**SMALL)).eval()


@pytest.fixture(scope="module")
def G_deep():
    torch.manual_seed(1)
    return _randomize(biggan_deep.Generator(**SMALL, depth=2), 1).eval()


def test_ws_layout_hier(G):
    z = torch.randn(3, 16)
    c = G.make_c([0, 3, 4], 3)
    ws = G.mapping(z, c)
    assert G.num_ws == 4 and G.w_dim == 8 + 4 and ws.shape == (3, 4, 12)
    y = G.shared.weight[[0, 3, 4]]
    for i in range(4):
        torch.testing.assert_close(ws[:, i, :8], y)
        torch.testing.assert_close(ws[:, i, 8:], z[:, 4 * i: 4 * i + 4])
    assert G.ws_resolutions() == [4, 8, 16, 32]
    assert not G.has_noise and G.is_conditional and G.family == "biggan"


def test_ws_layout_deep(G_deep):
    z = torch.randn(2, 16)
    ws = G_deep.mapping(z, G_deep.make_c(2, 2))
    assert ws.shape == (2, 7, 8 + 16)
    for i in range(7):
        torch.testing.assert_close(ws[:, i, 8:], z)
    assert G_deep.ws_resolutions() == [4, 4, 8, 8, 16, 16, 32]
    assert G_deep.family == "biggan-deep"


@pytest.mark.parametrize("which", ["G", "G_deep"])
def test_truncation_psi_scales_only_z(which, request):
    G = request.getfixturevalue(which)
    z, c = torch.randn(2, 16), G.make_c(1, 2)
    ws = G.mapping(z, c)
    wt = G.mapping(z, c, truncation_psi=0.5)
    torch.testing.assert_close(wt[..., :G.shared_dim], ws[..., :G.shared_dim])
    torch.testing.assert_close(wt[..., G.shared_dim:], 0.5 * ws[..., G.shared_dim:])
    wc = G.mapping(z, c, truncation_psi=0.5, truncation_cutoff=2)
    torch.testing.assert_close(wc[:, :2], wt[:, :2])
    torch.testing.assert_close(wc[:, 2:], ws[:, 2:])
    with torch.no_grad():
        torch.testing.assert_close(G(z, c, truncation_psi=0.5), G(0.5 * z, c))


@pytest.mark.parametrize("which", ["G", "G_deep"])
def test_per_block_mixing(which, request):
    """Swapping all ws gives the other sample; swapping one block's w changes the image."""
    G = request.getfixturevalue(which)
    with torch.no_grad():
        a = G.mapping(torch.randn(1, 16), G.make_c(0, 1))
        b = G.mapping(torch.randn(1, 16), G.make_c(4, 1))
        img_b = G.synthesis(b)
        torch.testing.assert_close(G.synthesis(b.clone()), img_b)
        mixed = a.clone()
        mixed[:, -1] = b[:, -1]
        assert (G.synthesis(mixed) - G.synthesis(a)).abs().max() > 1e-4


def test_class_embedding_is_linear(G):
    c1, c2 = G.make_c(1, 2), G.make_c(3, 2)
    torch.testing.assert_close(G.class_embedding(0.3 * c1 + 0.7 * c2),
                               0.3 * G.class_embedding(c1) + 0.7 * G.class_embedding(c2))
    torch.testing.assert_close(G.class_embedding(torch.tensor([1, 3])), G.shared.weight[[1, 3]])
    with pytest.raises(ValueError, match="class-conditional"):
        G.mapping(torch.randn(1, 16), None)
    with pytest.raises(ValueError, match="out of range"):
        G.make_c(5, 1)


@pytest.mark.parametrize("threshold", [2.0, 0.5, 0.02])
def test_truncated_normal_never_exceeds_threshold(threshold):
    z = truncated_normal([4096, 32], threshold, generator=torch.Generator().manual_seed(3))
    assert z.shape == (4096, 32) and z.dtype == torch.float32
    assert z.abs().max() <= threshold
    # a truncated normal, not a clamp: hardly any values sit on the threshold
    assert (z.abs() == threshold).float().mean() < 1e-3
    expected_std = math.sqrt(1 - 2 * threshold * math.exp(-threshold ** 2 / 2) / math.sqrt(2 * math.pi)
                             / math.erf(threshold / math.sqrt(2)))
    assert abs(z.std().item() - expected_std) < 0.02 * max(expected_std, 0.05)
    assert abs(z.mean().item()) < 0.02


def test_truncated_normal_inverse_cdf_fallback():
    # max_rounds=0 forces the inverse-CDF path for every out-of-range value
    z = truncated_normal([20000], 1.0, generator=torch.Generator().manual_seed(0), max_rounds=0)
    assert z.abs().max() <= 1.0
    assert abs(z.std().item() - 0.5379) < 0.01  # std of N(0,1) truncated to [-1, 1]
    with pytest.raises(ValueError, match="positive"):
        truncated_normal([3], 0.0)
    torch.testing.assert_close(truncated_z_from_seed(5, 8), truncated_z_from_seed(5, 8))


def test_truncation_stats_index():
    assert truncation_stats_index(1.0, 51) == [(50, 1.0)]
    assert truncation_stats_index(0.4, 51) == [(20, 1.0)]
    (k0, w0), (k1, w1) = truncation_stats_index(0.605, 51)
    assert (k0, k1) == (30, 31) and w0 == pytest.approx(0.25) and w1 == pytest.approx(0.75)
    assert truncation_stats_index(0.3, 1) == [(0, 1.0)]
    with pytest.raises(ValueError):
        truncation_stats_index(0.0, 51)


def test_orthogonal_regularization_matches_formula():
    gen = torch.Generator().manual_seed(0)
    w1 = torch.randn(6, 4, 3, 3, generator=gen, requires_grad=True)
    w2 = torch.randn(5, 7, generator=gen, requires_grad=True)
    b = torch.randn(5, generator=gen, requires_grad=True)   # 1-D: skipped
    beta = 0.3
    r = orthogonal_regularization([w1, w2, b], beta)
    expected = 0.0
    for w in (w1, w2):
        W = w.detach().reshape(w.shape[0], -1)
        for i in range(W.shape[0]):
            for j in range(W.shape[0]):
                if i != j:
                    expected += float(W[i] @ W[j]) ** 2
    assert r.item() == pytest.approx(beta * expected, rel=1e-5)
    r.backward()
    for w in (w1, w2):
        W = w.detach().reshape(w.shape[0], -1)
        M = (W @ W.t()) * (1 - torch.eye(W.shape[0]))
        torch.testing.assert_close(w.grad.reshape(W.shape), 4 * beta * M @ W, rtol=1e-4, atol=1e-5)
    assert b.grad is None
    # orthonormal rows: no penalty
    q = torch.linalg.qr(torch.randn(8, 4))[0].t()
    assert orthogonal_regularization([q]).item() == pytest.approx(0.0, abs=1e-9)


def test_ortho_weights_skip_embeddings(G):
    names = {id(p): n for n, p in G.named_parameters()}
    picked = [names[id(p)] for p in ortho_weights(G)]
    assert picked and not any(n.startswith("shared") for n in picked)
    assert all(p.ndim >= 2 for p in ortho_weights(G))


def test_standing_stats_store_batch_averages():
    torch.manual_seed(2)
    G = _randomize(biggan.Generator(**SMALL), 2).eval()
    bn = G.blocks[0][0].bn1
    seen = []
    handle = bn.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach()))
    standing_stats(G, num_batches=3, batch_size=8, generator=torch.Generator().manual_seed(0))
    handle.remove()
    assert len(seen) == 3 and not G.training
    means = torch.stack([x.mean(dim=(0, 2, 3)) for x in seen]).mean(0)
    vars_ = torch.stack([x.var(dim=(0, 2, 3)) for x in seen]).mean(0)
    torch.testing.assert_close(bn.stored_mean, means)
    torch.testing.assert_close(bn.stored_var, vars_)
    assert not bn.accumulating


def test_standing_stats_per_truncation_row():
    torch.manual_seed(3)
    G = biggan_deep.Generator(**SMALL, n_stats=51, sn_eval="stored").eval()
    bn = G.output_layer[0]
    before = bn.stored_mean.clone()
    standing_stats(G, num_batches=2, batch_size=4, truncation_psi=0.4, generator=torch.Generator().manual_seed(0))
    changed = [k for k in range(51) if not torch.equal(bn.stored_mean[k], before[k])]
    assert changed == [20]
    with pytest.raises(ValueError, match="between two rows"):
        standing_stats(G, num_batches=1, batch_size=2, truncation_psi=0.605)


def test_layer_capture(G, G_deep):
    for net in (G, G_deep):
        names = net.layer_names()
        with torch.no_grad(), capture_layers(net, names) as out:
            img = net(torch.randn(2, 16), net.make_c(0, 2))
        assert set(out) == set(names)
        assert img.shape == (2, 3, 32, 32) and img.abs().max() <= 1
        assert out["output_layer"].shape == (2, 3, 32, 32)
        assert any(n.endswith(".1") for n in names)  # attention is inspectable


def test_synthesis_interface(G):
    ws = G.mapping(torch.randn(1, 16), G.make_c(0, 1))
    with torch.no_grad():
        ref = G.synthesis(ws)
        torch.testing.assert_close(G.synthesis(ws, noise_mode="random", force_fp32=True), ref)
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(ws, noise_mode="loud")
    with pytest.raises(ValueError, match="ws must have shape"):
        G.synthesis(ws[:, :2])


def test_spectral_norm_training_updates_vectors():
    torch.manual_seed(4)
    G = biggan.Generator(**SMALL).train()
    u_before = G.linear.u0.clone()
    G(torch.randn(4, 16), G.make_c(1, 4))
    assert not torch.equal(G.linear.u0, u_before)
    W = G.linear.weight.detach()
    # after many iterations sv0 approaches the largest singular value
    for _ in range(100):
        G.linear.sn_weight()
    assert G.linear.sv0.item() == pytest.approx(torch.linalg.matrix_norm(W, 2).item(), rel=1e-3)


@pytest.mark.parametrize("deep", [False, True])
def test_native_round_trip(tmp_path, deep):
    torch.manual_seed(5)
    mod = biggan_deep if deep else biggan
    kw = dict(n_stats=51, sn_eval="stored", rgb_channels=4) if deep else {}
    G = _randomize(mod.Generator(**SMALL, **kw), 5).eval()
    D = _randomize(mod.Discriminator(c_dim=5, img_resolution=32, ch=4, attn_res=(16,)), 6).eval()
    path = tmp_path / "bg.pt"
    gan_core.save(path, G_ema=G, D=D)
    ck = gan_core.load_checkpoint(path)
    assert ck.family == G.family and ck.G_ema.config() == G.config() and ck.D.config() == D.config()
    z, c = torch.randn(2, 16), G.make_c([1, 2], 2)
    with torch.no_grad():
        img = G(z, c, truncation_psi=0.6)
        torch.testing.assert_close(ck.G_ema(z, c, truncation_psi=0.6), img, rtol=0, atol=0)
        torch.testing.assert_close(ck.D(img, c), D(img, c), rtol=0, atol=0)
    G2 = gan_core.load_generator(path)
    assert type(G2) is type(G)


def test_discriminator_accepts_indices_and_one_hot():
    torch.manual_seed(6)
    D = _randomize(biggan.Discriminator(c_dim=5, img_resolution=32, ch=4), 7).eval()
    img = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(D(img, torch.tensor([0, 2, 4])), D(img, F.one_hot(torch.tensor([0, 2, 4]), 5).float()))
    assert D(img, torch.tensor([0, 1, 2])).shape == (3, 1)
