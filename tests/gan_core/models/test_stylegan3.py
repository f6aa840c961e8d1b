"""StyleGAN3 (T and R) against the official reference outputs, plus the generator interface."""
from __future__ import annotations

import copy
import json
import math
import re

import pytest
import torch

from cuda_ops import filtered_lrelu
from cuda_ops.bias_act import bias_act_ref
from cuda_ops.upfirdn2d import upfirdn2d_direct
from gan_core.models.base import capture_layers
from gan_core.models.registry import build_network
from gan_core.models.stylegan3 import Generator, input_transform_buffer, layer_schedule
from tests.conftest import load_fixture

CASES = ["sg3t_32.pt", "sg3r_32.pt"]
IMG_ATOL = 1e-4
TRANSFORM_KEY = "img_transformed_t0.1_-0.05_r12.5deg"


@pytest.fixture(scope="module", params=CASES)
def case(request):
    """(fixture dict, our generator with the official weights loaded, eval mode)."""
    data = load_fixture("official", request.param)
    G = Generator(**data["init_kwargs"])
    G.load_state_dict(data["G_state_dict"], strict=True)
    return data, G.eval()


def _max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def test_state_dict_keys_equal_official_and_load_strictly(case):
    data, G = case
    ours = list(Generator(**data["init_kwargs"]).state_dict().keys())
    assert ours == list(data["G_state_dict"].keys())
    for k, v in G.state_dict().items():
        assert v.shape == data["G_state_dict"][k].shape, k
        assert torch.equal(v, data["G_state_dict"][k]), k
    # Identity (1-tap) filters are None buffers and absent, as in official checkpoints.
    torgb = G.synthesis.layers()[-1]
    assert torgb.up_filter is None and torgb.down_filter is None


def test_registry_builds_from_official_kwargs(case):
    data, _ = case
    G = build_network("stylegan3", "G", data["init_kwargs"])
    assert isinstance(G, Generator) and G.num_ws == data["reference"]["ws_psi1"].shape[1]


def test_mapping_matches_official(case):
    data, G = case
    ref = data["reference"]
    with torch.no_grad():
        ws = G.mapping(ref["z"], ref["c"])
        ws_t = G.mapping(ref["z"], ref["c"], truncation_psi=0.7, truncation_cutoff=4)
    assert ws.shape == (4, G.num_ws, G.w_dim) and G.num_ws == len(G.synthesis.layer_names) + 1
    assert _rel_err(ws, ref["ws_psi1"]) < 1e-5
    assert _rel_err(ws_t, ref["ws_psi07_cutoff4"]) < 1e-5


@pytest.mark.parametrize("key", ["img_const_psi1", "img_const_psi07_cutoff4"])
def test_images_match_official(case, key):
    data, G = case
    ref = data["reference"]
    ws = ref["ws_psi1"] if key == "img_const_psi1" else ref["ws_psi07_cutoff4"]
    with torch.no_grad():
        img = G.synthesis(ws, noise_mode="const")
    assert img.dtype == torch.float32 and img.is_contiguous()
    assert img.shape == ref[key].shape
    assert _max_err(img, ref[key]) < IMG_ATOL


def test_full_forward_from_z_matches_official(case):
    data, G = case
    ref = data["reference"]
    with torch.no_grad():
        img = G(ref["z"], ref["c"], truncation_psi=0.7, truncation_cutoff=4)
    assert _max_err(img, ref["img_const_psi07_cutoff4"]) < IMG_ATOL


def test_single_sample_equals_batch(case):
    """Batch 1 folds the modulation into the weights; batches scale activations instead."""
    data, G = case
    ws = data["reference"]["ws_psi1"]
    with torch.no_grad():
        one = G.synthesis(ws[2:3])
    assert _max_err(one, data["reference"]["img_const_psi1"][2:3]) < IMG_ATOL


def test_input_transform_via_buffer_and_per_call(case):
    data, G = case
    ref = data["reference"]
    want = ref[TRANSFORM_KEY]
    m = Generator.user_transform_matrix(translate=(0.1, -0.05), rotate_deg=12.5)
    a = math.radians(12.5)
    torch.testing.assert_close(m, torch.tensor([[math.cos(a), math.sin(a), 0.1], [-math.sin(a), math.cos(a), -0.05],
                                                [0, 0, 1]], dtype=torch.float64))
    G = copy.deepcopy(G)
    with torch.no_grad():
        # Per call: the stored buffer is untouched.
        img = G.synthesis(ref["ws_psi1"], input_transform=m)
        assert torch.equal(G.synthesis.input.transform, torch.eye(3))
        assert _max_err(img, want) < IMG_ATOL
        # numpy input and a per-sample batch of matrices work too
        img = G.synthesis(ref["ws_psi1"], input_transform=m.numpy())
        assert _max_err(img, want) < IMG_ATOL
        img = G.synthesis(ref["ws_psi1"], input_transform=m.expand(4, 3, 3))
        assert _max_err(img, want) < IMG_ATOL
        # Stored: the buffer holds the inverse of the user matrix.
        G.set_input_transform(translate=(0.1, -0.05), rotate_deg=12.5)
        torch.testing.assert_close(G.synthesis.input.transform, torch.linalg.inv(m).float())
        state = G.get_input_transform()
        assert state["translate"] == pytest.approx((0.1, -0.05), abs=1e-6)
        assert state["rotate_deg"] == pytest.approx(12.5, abs=1e-5)
        assert _max_err(G.synthesis(ref["ws_psi1"]), want) < IMG_ATOL
        G.set_input_transform()
        assert torch.allclose(G.synthesis.input.transform, torch.eye(3), atol=1e-7)
        assert _max_err(G.synthesis(ref["ws_psi1"]), ref["img_const_psi1"]) < IMG_ATOL


def test_layer_schedule_names_equal_official(case):
    data, G = case
    official = []
    for k in data["G_state_dict"]:
        m = re.match(r"synthesis\.(L\d+_\d+_\d+)\.", k)
        if m and m.group(1) not in official:
            official.append(m.group(1))
    assert G.synthesis.layer_names == official
    assert G.layer_names() == ["synthesis.input"] + [f"synthesis.{n}" for n in official]
    sizes = [int(n.split("_")[1]) for n in official]
    assert G.ws_resolutions() == [G.synthesis.input.size] + sizes
    assert len(G.ws_resolutions()) == G.num_ws


def test_capture_layers_shapes(case):
    data, G = case
    ws = data["reference"]["ws_psi1"][:2]
    with torch.no_grad(), capture_layers(G, G.layer_names()) as out:
        img = G.synthesis(ws)
    assert list(out) == G.layer_names()
    inp = G.synthesis.input
    assert out["synthesis.input"].shape == (2, inp.channels, inp.size, inp.size)
    for name in G.synthesis.layer_names:
        _, size, channels = name.split("_")
        assert out[f"synthesis.{name}"].shape == (2, int(channels), int(size), int(size)), name
    torch.testing.assert_close(out[f"synthesis.{G.synthesis.layer_names[-1]}"] * G.synthesis.output_scale, img)


def test_update_emas_updates_magnitude_ema_and_w_avg(case):
    data, G = case
    G = copy.deepcopy(G)
    ref = data["reference"]
    layer0 = G.synthesis.layers()[0]
    before = {n: l.magnitude_ema.clone() for n, l in zip(G.synthesis.layer_names, G.synthesis.layers())}
    w_avg = G.mapping.w_avg.clone()
    with torch.no_grad():
        with capture_layers(G, ["synthesis.input"]) as cap:
            G(ref["z"], ref["c"], update_emas=True)
    cur = cap["synthesis.input"].square().mean()
    torch.testing.assert_close(layer0.magnitude_ema, cur.lerp(before[G.synthesis.layer_names[0]],
                                                                layer0.magnitude_ema_beta))
    for n, l in zip(G.synthesis.layer_names, G.synthesis.layers()):
        assert not torch.equal(l.magnitude_ema, before[n]), n
    assert not torch.equal(G.mapping.w_avg, w_avg)
    # Without update_emas nothing moves.
    after = [l.magnitude_ema.clone() for l in G.synthesis.layers()]
    with torch.no_grad():
        G.synthesis(ref["ws_psi1"])
    assert all(torch.equal(a, l.magnitude_ema) for a, l in zip(after, G.synthesis.layers()))


def test_double_backward_path_length_style(case):
    data, G = case
    G = copy.deepcopy(G).train().requires_grad_(True)
    ws = data["reference"]["ws_psi1"][:2].clone().requires_grad_(True)
    img = G.synthesis(ws)
    noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
    (grad,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
    penalty = grad.square().sum(2).mean()
    penalty.backward()
    assert torch.isfinite(penalty)
    assert ws.grad is not None and torch.isfinite(ws.grad).all()
    grads = [p.grad for p in G.parameters() if p.grad is not None]
    assert len(grads) > 0 and all(torch.isfinite(g).all() for g in grads)
    assert G.synthesis.layers()[3].weight.grad.abs().sum() > 0


def test_bad_arguments_raise_value_errors(case):
    data, G = case
    ws = data["reference"]["ws_psi1"][:1]
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(ws, noise_mode="fancy")
    with pytest.raises(ValueError, match=r"ws of shape \[N, %d, %d\]" % (G.num_ws, G.w_dim)):
        G.synthesis(ws[:, :-1])
    with pytest.raises(ValueError, match="ws of shape"):
        G.synthesis(ws[0])
    with pytest.raises(ValueError, match="3×3"):
        G.synthesis(ws, input_transform=torch.eye(2))
    with pytest.raises(ValueError, match="not invertible"):
        G.synthesis(ws, input_transform=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="z of shape"):
        G.mapping(torch.zeros(1, G.z_dim + 1), None)
    # noise arguments of the uniform interface are accepted (StyleGAN3 has no noise)
    with torch.no_grad():
        a = G.synthesis(ws, noise_mode="random", noise_strength=0.3)
        b = G.synthesis(ws, noise_mode="none")
    torch.testing.assert_close(a, b)


def test_config_rebuilds_the_same_network(case):
    data, G = case
    cfg = G.config()
    json.dumps(cfg)
    G2 = Generator(**cfg)
    assert {k: v.shape for k, v in G2.state_dict().items()} == {k: v.shape for k, v in G.state_dict().items()}
    assert G.family == "stylegan3" and G.has_input_transform and not G.has_noise
    caps = G.capabilities()
    assert caps["num_ws"] == G.num_ws and caps["is_conditional"] is False


def test_filtered_lrelu_layers_equal_literal_definition(case):
    """Every layer's filtered_lrelu (polyphase, chunked, channels-last) against the literal
    definition: zero insertion, dense filtering at the full rate, subsampling."""
    data, G = case
    g = torch.Generator().manual_seed(5)
    for layer in G.synthesis.layers():
        n = layer.in_size + layer.conv_kernel - 1
        x = torch.randn([2, layer.out_channels, n, n], generator=g) * 2
        b = torch.randn([layer.out_channels], generator=g)
        gain, slope = (1.0, 1.0) if layer.is_torgb else (math.sqrt(2), 0.2)
        kw = dict(up=layer.up_factor, down=layer.down_factor, padding=layer.padding, gain=gain, slope=slope,
                  clamp=layer.conv_clamp)
        want = bias_act_ref(x, b)
        want = upfirdn2d_direct(want, layer.up_filter, up=layer.up_factor, padding=layer.padding,
                                gain=layer.up_factor ** 2)
        want = bias_act_ref(want, act="lrelu", alpha=slope, gain=gain, clamp=layer.conv_clamp)
        want = upfirdn2d_direct(want, layer.down_filter, down=layer.down_factor)
        for fmt in (torch.contiguous_format, torch.channels_last):
            xf = x.contiguous(memory_format=fmt)
            with torch.no_grad():
                got = filtered_lrelu(xf, layer.up_filter, layer.down_filter, b, **kw)
            assert got.shape == (2, layer.out_channels, layer.out_size, layer.out_size)
            assert got.is_contiguous(memory_format=fmt)
            torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-5)
            assert torch.equal(xf, x)  # the input is never modified in place
        got = filtered_lrelu(x.requires_grad_(True), layer.up_filter, layer.down_filter, b, **kw)
        torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-5)
        x.requires_grad_(False)


def test_layer_schedule_of_official_256_configs():
    t = layer_schedule(256, 3, channel_base=32768, channel_max=512)
    assert [s.size for s in t] == [36, 36, 36, 52, 52, 84, 84, 148, 148, 148, 276, 276, 276, 256, 256]
    assert [s.channels for s in t] == [512] * 9 + [362, 256, 181, 128, 128, 3]
    assert [s.sampling_rate for s in t][-4:] == [256] * 4
    r = layer_schedule(256, 3, channel_base=65536, channel_max=1024)
    assert [s.channels for s in r] == [1024] * 9 + [724, 512, 362, 256, 256, 3]


def test_fp16_layers_only_on_cuda():
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=32, img_channels=3, channel_base=256,
                  channel_max=16, num_layers=4, num_critical=1, num_fp16_res=1)
    flags = [l.use_fp16 for l in G.synthesis.layers()]
    assert flags == [l.out_sampling_rate * 2 > 32 for l in G.synthesis.layers()]
    assert any(flags) and not all(flags)
    ws = G.mapping(torch.randn(2, 8), None)
    with torch.no_grad(), capture_layers(G, G.layer_names()) as out:
        img = G.synthesis(ws)
    assert img.dtype == torch.float32 and all(v.dtype == torch.float32 for v in out.values())


def test_input_transform_buffer_helper():
    m = Generator.user_transform_matrix((0.25, 0.5), 30)
    inv = input_transform_buffer(m)
    torch.testing.assert_close(inv.double() @ m, torch.eye(3, dtype=torch.float64), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="N = 2"):
        input_transform_buffer(m.expand(3, 3, 3), batch=2)


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("padding,size,batch,demodulate", [(2, 13, 1, True), (1, 12, 3, True), (0, 9, 2, False)])
def test_winograd_modulated_conv_equals_direct(monkeypatch, tile, padding, size, batch, demodulate):
    """The CPU Winograd F(m×m, 3×3) path equals the direct modulated convolution."""
    import gan_core.models.stylegan3_conv as conv
    monkeypatch.setattr(conv, "WINOGRAD_TILE", tile)
    monkeypatch.setattr(conv, "WINOGRAD_MIN_PIXELS", 1)
    monkeypatch.setattr(conv, "WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(conv, "WINOGRAD_CHUNK_ELEMENTS", 4096)  # several chunks
    g = torch.Generator().manual_seed(size)
    x = torch.randn([batch, 24, size, size + 1], generator=g).contiguous(memory_format=torch.channels_last)
    weight = torch.randn([20, 24, 3, 3], generator=g)
    styles = torch.randn([batch, 24], generator=g)
    gain = torch.tensor(0.7)
    helper = conv.ModulatedConv2d()
    with torch.no_grad():
        want = conv.modulated_conv2d(x, weight, styles, padding, demodulate, gain)
        got = helper(x, weight, styles, padding, demodulate, gain)
        assert helper._u is not None  # the Winograd path ran
        assert got.shape == want.shape and got.stride(1) == 1  # channels innermost
        assert _max_err(got, want) <= 1e-5 * float(want.abs().max())
        weight.mul_(-0.5)  # an in-place update invalidates the cached transform
        got = helper(x, weight, styles, padding, demodulate, gain)
        want = conv.modulated_conv2d(x, weight, styles, padding, demodulate, gain)
        assert _max_err(got, want) <= 1e-5 * float(want.abs().max())
    # With autograd the direct (any-order differentiable) convolution is used.
    helper = conv.ModulatedConv2d()
    helper(x, weight.requires_grad_(True), styles, padding, demodulate, gain)
    assert helper._u is None


def test_winograd_matrices_satisfy_the_identity():
    """Toom-Cook matrices: Aᵀ[(G g) ⊙ (Bᵀ d)] is the 1-D correlation of d with g."""
    import numpy as np
    from gan_core.models.stylegan3_conv import winograd_matrices
    rng = np.random.default_rng(0)
    for m in (2, 4):
        at, g, bt = winograd_matrices(m)
        k, d = rng.standard_normal(3), rng.standard_normal(m + 2)
        want = np.array([k @ d[i:i + 3] for i in range(m)])
        np.testing.assert_allclose(at @ ((g @ k) * (bt @ d)), want, atol=1e-12)


@pytest.mark.parametrize("tile", [2, 4])
def test_fixture_images_with_winograd_everywhere(monkeypatch, tile):
    """With the fast path forced on for every 3×3 layer, the official images are still matched."""
    import gan_core.models.stylegan3_conv as conv
    monkeypatch.setattr(conv, "WINOGRAD_TILE", tile)
    monkeypatch.setattr(conv, "WINOGRAD_MIN_PIXELS", 1)
    monkeypatch.setattr(conv, "WINOGRAD_MIN_CHANNELS", 1)
    data = load_fixture("official", "sg3t_32.pt")
    G = Generator(**data["init_kwargs"])
    G.load_state_dict(data["G_state_dict"])
    ref = data["reference"]
    with torch.no_grad():
        img = G.synthesis(ref["ws_psi1"][:2])
    assert G.synthesis.layers()[0]._conv._u is not None
    assert _max_err(img, ref["img_const_psi1"][:2]) < 2e-5
