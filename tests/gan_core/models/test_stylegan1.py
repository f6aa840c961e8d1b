"""StyleGAN (v1) generator and discriminator against rosinality/style-based-gan-pytorch's
reference outputs (../shared/fixtures/zoo/stylegan1_rosinality.pt), loaded through the same
importer that reads users' train_step-N.model files; plus the progressive state, noise
control, layer capture and the native save/load round trip."""
from __future__ import annotations

import pytest
import torch

import gan_core
from gan_core.models import capture_layers
from gan_core.models.registry import build_network
from gan_core.models.stylegan1 import Discriminator, Generator, conv3x3_down, upconv3x3

TOL = dict(atol=1e-4, rtol=1e-4)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    """(fixture dict, G_ema, D) loaded from a train_step-N.model written in rosinality's layout."""
    from tests.conftest import load_fixture
    d = load_fixture("zoo", "stylegan1_rosinality.pt")
    path = tmp_path_factory.mktemp("sg1") / "train_step-6.model"
    torch.save({"generator": d["state_dict"], "discriminator": d["D_state_dict"], "g_optimizer": {},
                "d_optimizer": {}, "g_running": d["state_dict"]}, path)
    ck = gan_core.load_checkpoint(path)
    assert ck.source_format == "rosinality-stylegan1" and ck.family == "stylegan1"
    return d, ck.G_ema, ck.D


def _noise(d, step):
    """rosinality passes one noise tensor per block, used by both of its layers."""
    return [n for n in d["inputs"]["noise"][:step + 1] for _ in range(2)]


def _ws(G, z, psi=1.0):
    return G.mapping(z, None, truncation_psi=psi)


def _mix(ws_a, ws_b, blocks):
    """Blocks r0..r1 (inclusive) from ws_b, the others from ws_a (2 ws per block)."""
    out = ws_a.clone()
    out[:, 2 * blocks[0]:2 * blocks[1] + 2] = ws_b[:, 2 * blocks[0]:2 * blocks[1] + 2]
    return out


def _render(d, G, name):
    I = d["inputs"]
    step, low = I["step"], I["step_low"]
    with torch.no_grad():
        if name == "w":
            return _ws(G, I["z"])[:, 0]
        G.mapping.w_avg.copy_(I["mean_style"][0])  # generate.py's get_mean_style
        ws, ws2 = _ws(G, I["z"]), _ws(G, I["z2"])
        wt, wt2 = _ws(G, I["z"], I["style_weight"]), _ws(G, I["z2"], I["style_weight"])
        calls = {
            "img": lambda: G.synthesis(ws, noise_inputs=_noise(d, step), step=step, alpha=I["alpha"]),
            "img_trunc": lambda: G.synthesis(wt, noise_inputs=_noise(d, step), step=step, alpha=I["alpha"]),
            "img_low": lambda: G.synthesis(ws, noise_inputs=_noise(d, low), step=low, alpha=I["alpha_low"]),
            "img_low_mix": lambda: G.synthesis(_mix(ws, ws2, I["mixing_range_low"]), noise_inputs=_noise(d, low),
                                               step=low, alpha=I["alpha_low"]),
            "img_low_mix_trunc": lambda: G.synthesis(_mix(wt, wt2, I["mixing_range"]), noise_inputs=_noise(d, low),
                                                     step=low, alpha=I["alpha_low"]),
        }
        for k in range(4):
            calls[f"img_step{k}_alpha05"] = (lambda k=k: G.synthesis(ws, noise_inputs=_noise(d, k), step=k, alpha=0.5))
        return calls[name]()


G_REFS = ["w", "img", "img_trunc", "img_low", "img_low_mix", "img_low_mix_trunc"] + \
    [f"img_step{k}_alpha05" for k in range(4)]
D_REFS = [("d_img", "img", 1.0), ("d_img_low", "img_low", 0.5)] + \
    [(f"d_img_step{k}_alpha05", f"img_step{k}_alpha05", 0.5) for k in range(4)]


def test_every_reference_is_covered(fx):
    d, _, _ = fx
    assert sorted(d["reference"]) == sorted(G_REFS + [r[0] for r in D_REFS])


@pytest.mark.parametrize("name", G_REFS)
def test_generator_matches_reference(fx, name):
    d, G, _ = fx
    out = _render(d, G, name)
    ref = d["reference"][name]
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, **TOL)


@pytest.mark.parametrize("name,image,alpha", D_REFS)
def test_discriminator_matches_reference(fx, name, image, alpha):
    d, _, D = fx
    with torch.no_grad():
        out = D(d["reference"][image], alpha=alpha)
    torch.testing.assert_close(out, d["reference"][name], **TOL)


def test_discriminator_uses_stored_alpha_at_its_step(fx):
    d, _, D = fx
    img = d["reference"]["img_low"]
    D.set_progressive(4, 0.5)
    try:
        with torch.no_grad():
            torch.testing.assert_close(D(img), d["reference"]["d_img_low"], **TOL)
            assert not torch.allclose(D(img, alpha=1.0), d["reference"]["d_img_low"], **TOL)
    finally:
        D.set_progressive(None, 1.0)


def test_progressive_state_on_the_model(fx):
    d, G, _ = fx
    I = d["inputs"]
    G.set_progressive(I["step_low"], 0.5)
    try:
        assert (G.step, G.alpha, G.output_resolution, G.img_resolution) == (4, 0.5, 64, 1024)
        cfg = G.config()
        assert cfg["step"] == 4 and cfg["alpha"] == 0.5
        with torch.no_grad():
            out = G.synthesis(_ws(G, I["z"]), noise_inputs=_noise(d, 4))
        torch.testing.assert_close(out, d["reference"]["img_low"], **TOL)
        caps = G.capabilities()
        assert caps["output_resolution"] == 64 and caps["progressive_step"] == 4
    finally:
        G.set_progressive(None, 1.0)
    for bad in (-1, 9, 1.5, True):
        with pytest.raises(ValueError, match="progressive step"):
            G.set_progressive(bad, 1.0)
    with pytest.raises(ValueError, match="alpha"):
        G.set_progressive(2, 1.5)


# ----------------------------------------------------------------------------------------
# building blocks and behaviour


def small(step=None, alpha=1.0, **kw):
    args = dict(z_dim=16, w_dim=16, img_resolution=32, channels=[16, 16, 8, 8], mapping_layers=2,
                fused_resolution=16, step=step, alpha=alpha)
    args.update(kw)
    torch.manual_seed(0)
    G = Generator(**args).eval()
    with torch.no_grad():  # non-zero noise weights and biases so every tensor matters
        for p in G.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return G


def test_fused_and_plain_resampling_agree():
    torch.manual_seed(1)
    x, w, b = torch.randn(2, 5, 6, 6), torch.randn(7, 5, 3, 3), torch.randn(7)
    torch.testing.assert_close(upconv3x3(x, w, b, True), upconv3x3(x, w, b, False), atol=1e-5, rtol=1e-5)
    x = torch.randn(2, 5, 8, 8)
    torch.testing.assert_close(conv3x3_down(x, w, b, True), conv3x3_down(x, w, b, False), atol=1e-5, rtol=1e-5)


def test_fused_resolution_does_not_change_the_image():
    G1, G2 = small(fused_resolution=8), small(fused_resolution=1024)
    G2.load_state_dict(G1.state_dict())
    z = torch.randn(2, 16)
    with torch.no_grad():
        # the fused and plain paths sum in different orders through 4 resolutions: float32 rounding
        # reaches ~1.4e-5 on an AVX2-only CPU; a wrong resampling would differ by ~1e-1
        torch.testing.assert_close(G1(z), G2(z), atol=1e-4, rtol=1e-4)


def test_uniform_interface():
    G = small()
    assert G.family == "stylegan1" and G.has_noise and not G.is_conditional
    assert G.num_ws == 8 and G.ws_resolutions() == [4, 4, 8, 8, 16, 16, 32, 32]
    assert G.noise_layer_names()[:3] == ["synthesis.b4.conv0", "synthesis.b4.conv1", "synthesis.b8.conv0"]
    assert len(G.noise_layer_names()) == 8
    z = torch.randn(3, 16)
    with torch.no_grad():
        assert G(z).shape == (3, 3, 32, 32)
        G.set_progressive(1, 0.3)
        assert G(z).shape == (3, 3, 8, 8)
        with capture_layers(G, ["synthesis.b8.conv1", "synthesis.b4"]) as got:
            G(z)
        assert got["synthesis.b8.conv1"].shape == (3, 16, 8, 8) and got["synthesis.b4"].shape == (3, 16, 4, 4)
    assert set(G.layer_names()) <= set(dict(G.named_modules()))
    with pytest.raises(ValueError, match="ws of shape"):
        G.synthesis(torch.zeros(1, 7, 16))


def test_noise_modes():
    G = small()
    ws = G.mapping(torch.randn(2, 16), None)
    with torch.no_grad():
        const1, const2 = G.synthesis(ws), G.synthesis(ws, noise_mode="const")
        assert torch.equal(const1, const2)
        gen = torch.Generator().manual_seed(5)
        rand = G.synthesis(ws, noise_mode="random", noise_generator=gen)
        assert not torch.allclose(rand, const1)
        none = G.synthesis(ws, noise_mode="none")
        torch.testing.assert_close(G.synthesis(ws, noise_strength=0.0), none)
        torch.testing.assert_close(G.synthesis(ws, noise_strength=[0.0] * 8), none)
        zeros = [torch.zeros(1, 1, r, r) for r in (4, 4, 8, 8, 16, 16, 32, 32)]
        torch.testing.assert_close(G.synthesis(ws, noise_inputs=zeros), none)
    with pytest.raises(ValueError, match="noise_strength"):
        G.synthesis(ws, noise_strength=[1.0] * 3)


def test_truncation_and_w_avg_tracking():
    G = small()
    z = torch.randn(4, 16)
    with torch.no_grad():
        G.mapping.w_avg.normal_()
        ws = G.mapping(z, None)
        wt = G.mapping(z, None, truncation_psi=0.5, truncation_cutoff=4)
        torch.testing.assert_close(wt[:, :4], G.mapping.w_avg + 0.5 * (ws[:, :4] - G.mapping.w_avg))
        torch.testing.assert_close(wt[:, 4:], ws[:, 4:])
        before = G.mapping.w_avg.clone()
        G.mapping(z, None, update_emas=True)
        torch.testing.assert_close(G.mapping.w_avg, ws[:, 0].mean(0).lerp(before, G.mapping.w_avg_beta))


def test_gradients_flow_through_g_and_d_during_fade_in():
    G = small(step=2, alpha=0.5).train()
    D = Discriminator(img_resolution=32, channels=[16, 16, 8, 8], fused_resolution=16, step=2, alpha=0.5)
    img = G(torch.randn(4, 16), noise_mode="random")
    assert img.shape == (4, 3, 16, 16)
    D(img).sum().backward()
    assert G.synthesis.b16.conv0.weight.grad is not None and G.synthesis.b8.torgb.weight.grad is not None
    assert G.synthesis.b32.conv0.weight.grad is None  # above the current step: unused
    assert D.b16.fromrgb.conv.weight.grad is not None and D.b8.fromrgb.conv.weight.grad is not None
    assert D.b32.fromrgb.conv.weight.grad is None


def test_native_round_trip_at_a_lower_step(tmp_path):
    G = small(step=2, alpha=0.25)
    D = Discriminator(img_resolution=32, channels=[16, 16, 8, 8], step=2, alpha=0.25, fromrgb_activation=False)
    p = tmp_path / "sg1.pt"
    gan_core.save(p, G_ema=G, D=D)
    ck = gan_core.load_checkpoint(p)
    G2, D2 = ck.G_ema, ck.D
    assert isinstance(G2, Generator) and (G2.step, G2.alpha, G2.output_resolution) == (2, 0.25, 16)
    assert isinstance(D2, Discriminator) and (D2.step, D2.alpha) == (2, 0.25)
    z = torch.randn(2, 16)
    with torch.no_grad():
        img = G(z)
        torch.testing.assert_close(G2(z), img, atol=0, rtol=0)
        torch.testing.assert_close(D2(img), D(img), atol=0, rtol=0)
    G3 = gan_core.load_generator(p)
    assert G3.step == 2 and torch.equal(G3.mapping.w_avg, G.mapping.w_avg)
    assert build_network("stylegan1", "G", G.config()).config() == G.config()
