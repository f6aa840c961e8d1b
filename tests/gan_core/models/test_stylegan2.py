"""StyleGAN2 generator and discriminator against the official reference outputs, plus the
behaviour the app and the trainers rely on (noise control, layer capture, double backward)."""
from __future__ import annotations

import json

import pytest
import torch

import cuda_ops
import gan_core.models.stylegan2 as sg2
from gan_core.models import capture_layers
from gan_core.models.conv_resample import (conv2d_resample, downsample_fir, fir_filter, modulated_conv2d,
                                           upsample_fir)
from gan_core.models.registry import build_network
from gan_core.models.stylegan2 import Discriminator, Generator

CASES = ["sg2_skip_32.pt", "sg2_resnet_cond5_32.pt"]
IMG_ATOL = 1e-4


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module", params=CASES)
def case(request):
    from tests.conftest import load_fixture
    d = load_fixture("official", request.param)
    G = Generator(**d["init_kwargs"]).eval()
    G.load_state_dict(d["G_state_dict"], strict=True)
    D = Discriminator(**d["D_init_kwargs"]).eval()
    D.load_state_dict(d["D_state_dict"], strict=True)
    return d, G, D


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def small_G(**kw) -> Generator:
    args = dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, channel_base=256, channel_max=16,
                num_fp16_res=0, mapping_kwargs=dict(num_layers=2))
    args.update(kw)
    torch.manual_seed(0)
    return Generator(**args).eval()


# ----------------------------------------------------------------------------------------
# official reference outputs


def test_state_dict_names_match_official(case):
    d, G, D = case
    assert list(G.state_dict()) == list(d["G_state_dict"])
    assert list(D.state_dict()) == list(d["D_state_dict"])
    assert G.num_ws == d["reference"]["ws_psi1"].shape[1]


def test_mapping_matches_official(case):
    d, G, _ = case
    r = d["reference"]
    with torch.no_grad():
        assert _rel(G.mapping(r["z"], r["c"]), r["ws_psi1"]) < 1e-5
        ws = G.mapping(r["z"], r["c"], truncation_psi=0.7, truncation_cutoff=4)
        assert _rel(ws, r["ws_psi07_cutoff4"]) < 1e-5


@pytest.mark.parametrize("fused", [None, True, False])
def test_images_match_official(case, fused):
    d, G, _ = case
    r = d["reference"]
    with torch.no_grad():
        for ws, mode, ref in [(r["ws_psi1"], "const", r["img_const_psi1"]),
                              (r["ws_psi07_cutoff4"], "const", r["img_const_psi07_cutoff4"]),
                              (r["ws_psi1"], "none", r["img_none_psi1"])]:
            img = G.synthesis(ws, noise_mode=mode, fused_modconv=fused)
            assert img.dtype == torch.float32 and img.shape == ref.shape and img.is_contiguous()
            torch.testing.assert_close(img, ref, atol=IMG_ATOL, rtol=0)


def test_training_path_matches_official(case):
    """With gradients flowing, layers take the out-of-place reference path: same numbers."""
    d, G, _ = case
    r = d["reference"]
    ws = r["ws_psi1"].clone().requires_grad_(True)
    img = G.synthesis(ws)
    assert img.requires_grad
    torch.testing.assert_close(img.detach(), r["img_const_psi1"], atol=IMG_ATOL, rtol=0)


def test_full_generator_forward(case):
    d, G, _ = case
    r = d["reference"]
    with torch.no_grad():
        img = G(r["z"], r["c"], truncation_psi=0.7, truncation_cutoff=4)
    torch.testing.assert_close(img, r["img_const_psi07_cutoff4"], atol=IMG_ATOL, rtol=0)


def test_discriminator_matches_official(case):
    d, _, D = case
    r = d["reference"]
    with torch.no_grad():
        logits = D(r["img_const_psi1"], r["c"])
    assert logits.shape == (4, 1)
    torch.testing.assert_close(logits, r["d_logits_on_img_const_psi1"], atol=1e-4, rtol=1e-5)


def test_registry_builds_from_official_kwargs(case):
    d, _, _ = case
    G = build_network("stylegan2", "G", d["init_kwargs"])
    G.load_state_dict(d["G_state_dict"], strict=True)
    D = build_network("stylegan2", "D", d["D_init_kwargs"])
    D.load_state_dict(d["D_state_dict"], strict=True)


# ----------------------------------------------------------------------------------------
# interface


def test_config_round_trip_and_interface():
    G = small_G(architecture="resnet")
    cfg = G.config()
    json.dumps(cfg)
    G2 = Generator(**cfg)
    assert list(G2.state_dict()) == list(G.state_dict())
    assert G.family == "stylegan2" and G.has_noise and not G.has_input_transform and not G.is_conditional
    assert G.num_ws == 1 + 2 + 2 + 1  # b4: 1 conv; b8, b16: 2 convs each; + the last toRGB
    assert G.ws_resolutions() == [4, 8, 8, 16, 16, 16]
    assert G.noise_layer_names() == ["synthesis.b4.conv1", "synthesis.b8.conv0", "synthesis.b8.conv1",
                                     "synthesis.b16.conv0", "synthesis.b16.conv1"]
    assert G.layer_names()[:5] == ["synthesis.b4.conv1", "synthesis.b4", "synthesis.b8.skip",
                                   "synthesis.b8.conv0", "synthesis.b8.conv1"]
    D = Discriminator(c_dim=3, img_resolution=16, img_channels=3, channel_base=256, channel_max=16)
    json.dumps(D.config())
    assert list(Discriminator(**D.config()).state_dict()) == list(D.state_dict())


@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
def test_architectures_build_and_run(architecture):
    G = small_G(architecture=architecture)
    keys = G.state_dict().keys()
    has_torgb = {res: f"synthesis.b{res}.torgb.weight" in keys for res in (4, 8, 16)}
    assert has_torgb == {4: architecture == "skip", 8: architecture == "skip", 16: True}
    assert ("synthesis.b8.skip.weight" in keys) == (architecture == "resnet")
    with torch.no_grad():
        img = G(torch.randn(2, 16))
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()
    D = Discriminator(c_dim=0, img_resolution=16, img_channels=3, architecture=architecture, channel_base=256,
                      channel_max=16, num_fp16_res=0).eval()
    with torch.no_grad():
        out = D(img)
    assert out.shape == (2, 1) and torch.isfinite(out).all()


def test_noise_modes_and_generator():
    G = small_G()
    ws = G.mapping(torch.randn(2, 16), None)
    with torch.no_grad():
        const = G.synthesis(ws, noise_mode="const")
        none = G.synthesis(ws, noise_mode="none")
        for name in G.noise_layer_names():  # make the learned strengths non-zero
            G.get_submodule(name).noise_strength.fill_(0.5)
        const = G.synthesis(ws, noise_mode="const")
        assert not torch.allclose(const, none)
        r1 = G.synthesis(ws, noise_mode="random", noise_generator=torch.Generator().manual_seed(1))
        r2 = G.synthesis(ws, noise_mode="random", noise_generator=torch.Generator().manual_seed(1))
        r3 = G.synthesis(ws, noise_mode="random", noise_generator=torch.Generator().manual_seed(2))
        assert not torch.allclose(r1, const)
        torch.testing.assert_close(r1, r2, atol=0, rtol=0)
        assert not torch.allclose(r1, r3)
        # per-layer strengths: zeros == 'none', ones == the default, one layer changes the image
        n = len(G.noise_layer_names())
        torch.testing.assert_close(G.synthesis(ws, noise_strength=[0.0] * n), none, atol=0, rtol=0)
        torch.testing.assert_close(G.synthesis(ws, noise_strength=[1.0] * n), const, atol=1e-6, rtol=0)
        torch.testing.assert_close(G.synthesis(ws, noise_strength=torch.ones(n)), const, atol=1e-6, rtol=0)
        torch.testing.assert_close(G.synthesis(ws, noise_strength=0), none, atol=0, rtol=0)
        only_last = G.synthesis(ws, noise_strength=[0.0] * (n - 1) + [2.0])
        assert not torch.allclose(only_last, none) and not torch.allclose(only_last, const)
        with pytest.raises(ValueError, match="one per noise layer"):
            G.synthesis(ws, noise_strength=[1.0] * (n + 1))


def test_bad_arguments_give_clear_errors():
    G = small_G()
    ws = G.mapping(torch.randn(2, 16), None)
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(ws, noise_mode="bogus")
    with pytest.raises(ValueError, match=r"ws of shape \[N, 6, 16\]"):
        G.synthesis(ws[:, :-1])
    with pytest.raises(ValueError, match="ws of shape"):
        G.synthesis(ws[0])
    with pytest.raises(ValueError, match="architecture"):
        small_G(architecture="unet")
    with pytest.raises(ValueError, match="power of two"):
        small_G(img_resolution=24)
    D = Discriminator(c_dim=0, img_resolution=16, img_channels=3, channel_base=256, channel_max=16)
    with pytest.raises(ValueError, match="images of shape"):
        D(torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match="group size"):
        D(torch.zeros(6, 3, 16, 16))


def test_capture_every_layer(case):
    d, G, _ = case
    r = d["reference"]
    names = G.layer_names()
    with torch.no_grad(), capture_layers(G, names) as out:
        G.synthesis(r["ws_psi1"])
    assert set(out) == set(names)
    channels = {res: min(2048 // res, 64) for res in (4, 8, 16, 32)}
    for name in names:
        parts = name.split(".")
        res = int(parts[1][1:])
        c = 3 if parts[-1] == "torgb" else channels[res]
        assert tuple(out[name].shape) == (4, c, res, res), name
    assert names[-1] == "synthesis.b32"  # a block's output is the feature map it hands on


@pytest.fixture
def train_mode(case):
    _, G, D = case
    G.train(), D.train()
    yield
    G.eval(), D.eval()
    G.zero_grad(set_to_none=True), D.zero_grad(set_to_none=True)


def test_double_backward_r1_and_path_length(case, train_mode):
    d, G, D = case
    r = d["reference"]
    # R1: gradient penalty on real images.
    img = r["img_const_psi1"].clone().requires_grad_(True)
    logits = D(img, r["c"])
    torch.testing.assert_close(logits.detach(), r["d_logits_on_img_const_psi1"], atol=1e-4, rtol=1e-5)
    (grad,) = torch.autograd.grad(logits.sum(), img, create_graph=True)
    grad.square().sum().backward()
    # (biases feeding only piecewise-linear activations have no second-order path: None)
    weights = {n: p.grad for n, p in D.named_parameters() if n.endswith("weight") and not n.startswith("b4.out")}
    assert all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in weights.values())
    assert all(torch.isfinite(p.grad).all() for p in D.parameters() if p.grad is not None)
    # Path length: gradient of a random projection of the image w.r.t. ws.
    ws = r["ws_psi1"].clone().requires_grad_(True)
    out = G.synthesis(ws, noise_mode="const")
    noise = torch.randn_like(out) / out.shape[2]
    (gw,) = torch.autograd.grad((out * noise).sum(), ws, create_graph=True)
    gw.square().sum(2).mean(1).sqrt().mean().backward()
    weights = {n: p.grad for n, p in G.synthesis.named_parameters() if n.endswith("weight")}
    assert all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in weights.values())
    assert all(torch.isfinite(p.grad).all() for p in G.parameters() if p.grad is not None)


def test_float16_blocks_stay_close(case, monkeypatch):
    """The float16 path (CUDA only in use) keeps images close to float32; run it on the CPU."""
    d, _, _ = case
    kwargs = dict(d["init_kwargs"], num_fp16_res=2)
    G = Generator(**kwargs).eval()
    G.load_state_dict(d["G_state_dict"])
    monkeypatch.setattr(sg2, "_block_dtype", lambda use_fp16, force_fp32, device:
                        torch.float16 if use_fp16 and not force_fp32 else torch.float32)
    r = d["reference"]
    with torch.no_grad():
        img = G.synthesis(r["ws_psi1"])
        ref32 = G.synthesis(r["ws_psi1"], force_fp32=True)
    assert img.dtype == torch.float32
    torch.testing.assert_close(ref32, r["img_const_psi1"], atol=IMG_ATOL, rtol=0)
    assert float((img - ref32).abs().max()) < 0.01


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_official(case):
    d, _, _ = case
    r = d["reference"]
    G = Generator(**d["init_kwargs"]).eval().cuda()
    G.load_state_dict(d["G_state_dict"])
    D = Discriminator(**d["D_init_kwargs"]).eval().cuda()
    D.load_state_dict(d["D_state_dict"])
    G16 = Generator(**dict(d["init_kwargs"], num_fp16_res=2)).eval().cuda()
    G16.load_state_dict(d["G_state_dict"])
    ws, c = r["ws_psi1"].cuda(), r["c"].cuda()
    with torch.no_grad(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        img = G.synthesis(ws).cpu()
        img16 = G16.synthesis(ws)
        logits = D(r["img_const_psi1"].cuda(), c).cpu()
        gen = torch.Generator(device="cuda").manual_seed(0)
        rnd = G.synthesis(ws, noise_mode="random", noise_generator=gen)
    torch.testing.assert_close(img, r["img_const_psi1"], atol=2e-4, rtol=0)
    torch.testing.assert_close(logits, r["d_logits_on_img_const_psi1"], atol=2e-4, rtol=1e-4)
    assert img16.dtype == torch.float32 and float((img16.cpu() - img).abs().max()) < 0.01
    assert rnd.is_cuda and torch.isfinite(rnd).all()


# ----------------------------------------------------------------------------------------
# ops of conv_resample against the shared reference ops


@pytest.mark.parametrize("taps", [[1, 3, 3, 1], [1, 1], [1, 2, 1], [1, 5, 10, 10, 5, 1]])
def test_fast_filters_equal_reference_ops(taps):
    g = torch.Generator().manual_seed(0)
    f = cuda_ops.setup_filter(taps)
    for fmt in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(2, 5, 9, 9, generator=g).contiguous(memory_format=fmt)
        torch.testing.assert_close(upsample_fir(x, f), cuda_ops.upsample2d(x, f), atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(downsample_fir(x[..., :8, :8], f), cuda_ops.downsample2d(x[..., :8, :8], f),
                                   atol=1e-6, rtol=1e-5)
        for pad in [(1, 1, 1, 1), (2, 1, 0, 3)]:
            torch.testing.assert_close(fir_filter(x, f, pad, gain=4), cuda_ops.upfirdn2d(x, f, padding=list(pad), gain=4),
                                       atol=1e-6, rtol=1e-5)


def test_modulated_conv_forms_agree():
    g = torch.Generator().manual_seed(0)
    f = cuda_ops.setup_filter([1, 3, 3, 1])
    x = torch.randn(3, 6, 8, 8, generator=g)
    weight = torch.randn(5, 6, 3, 3, generator=g)
    styles = torch.randn(3, 6, generator=g)
    bias = torch.randn(5, generator=g)
    for up in (1, 2):
        noise = torch.randn(3, 1, 8 * up, 8 * up, generator=g)
        ref = modulated_conv2d(x, weight, styles, up=up, resample_filter=f, noise=noise, fused=False)
        # definition: per-sample demodulated kernel, one sample at a time
        for n in range(3):
            w = weight * styles[n].reshape(1, -1, 1, 1)
            w = w / (w.square().sum([1, 2, 3], keepdim=True) + 1e-8).sqrt()
            y = conv2d_resample(x[n:n + 1], w, f, up=up) + noise[n:n + 1]
            torch.testing.assert_close(ref[n:n + 1], y, atol=1e-5, rtol=1e-5)
        fused = modulated_conv2d(x, weight, styles, up=up, resample_filter=f, noise=noise, fused=True)
        torch.testing.assert_close(fused, ref, atol=1e-5, rtol=1e-5)
        folded = modulated_conv2d(x.contiguous(memory_format=torch.channels_last), weight, styles, up=up,
                                  resample_filter=f, noise=noise, bias=bias, gain=2.0, inplace=True)
        torch.testing.assert_close(folded, 2 * (ref + bias.reshape(1, -1, 1, 1)), atol=1e-5, rtol=1e-5)
