"""MobileStyleGAN generator: Haar transform, demodulation fusion, the uniform interface, native
round trip and ONNX export. (Parity with the reference implementation goes through the importer:
tests/gan_core/io/test_mobile_import.py.)"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import gan_core
from gan_core.models import haar
from gan_core.models.base import capture_layers
from gan_core.models.mobile_stylegan import Generator
from gan_core.models.registry import build_network


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(seed: int = 0, **kw) -> Generator:
    """A small generator with every tensor randomized (style_inv, noise weights, biases too)."""
    torch.manual_seed(seed)
    cfg = dict(z_dim=16, w_dim=16, channels=[32, 32, 16], mapping_kwargs={"num_layers": 2})
    cfg.update(kw)
    G = Generator(**cfg).eval()
    with torch.no_grad():
        for name, t in G.state_dict().items():
            if t.is_floating_point() and "noise_const" not in name:
                t.add_(0.3 * torch.randn_like(t))
    return G


# ---------------------------------------------------------------------------------------------
# Haar transform


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 5, 16, 4), (3, 1, 2, 2)])
def test_idwt_inverts_dwt(shape):
    x = torch.randn(shape, dtype=torch.float64)
    low, high = haar.dwt(x)
    assert low.shape == (shape[0], shape[1], shape[2] // 2, shape[3] // 2)
    assert high.shape == (shape[0], shape[1], 3, shape[2] // 2, shape[3] // 2)
    torch.testing.assert_close(haar.idwt(low, high), x, atol=1e-12, rtol=0)
    # and the other way round (the transform is orthonormal: energy is kept)
    low2, high2 = haar.dwt(haar.idwt(low, high))
    torch.testing.assert_close(low2, low, atol=1e-12, rtol=0)
    torch.testing.assert_close(high2, high, atol=1e-12, rtol=0)
    assert math.isclose(float(low.square().sum() + high.square().sum()), float(x.square().sum()), rel_tol=1e-12)
    torch.testing.assert_close(haar.wavelets_to_image(haar.image_to_wavelets(x), shape[1]), x, atol=1e-12, rtol=0)


def test_idwt_matches_separable_db1_synthesis_filters():
    """Band convention: the separable synthesis with g0 = [1, 1]/√2, g1 = [1, -1]/√2 along the
    height (LL with band 0, bands 1 with 2) then along the width."""
    c = 1 / math.sqrt(2)
    g0, g1 = torch.tensor([c, c], dtype=torch.float64), torch.tensor([c, -c], dtype=torch.float64)
    low = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    high = torch.randn(2, 3, 3, 4, 5, dtype=torch.float64)

    def up(a, b, dim):  # a ⊗ g0 + b ⊗ g1 along dim (transposed conv, stride 2)
        k0 = g0.view(1, 1, 2, 1) if dim == 2 else g0.view(1, 1, 1, 2)
        k1 = g1.view(1, 1, 2, 1) if dim == 2 else g1.view(1, 1, 1, 2)
        s = (2, 1) if dim == 2 else (1, 2)
        n, ch = a.shape[:2]
        a, b = a.reshape(n * ch, 1, *a.shape[2:]), b.reshape(n * ch, 1, *b.shape[2:])
        y = F.conv_transpose2d(a, k0, stride=s) + F.conv_transpose2d(b, k1, stride=s)
        return y.reshape(n, ch, *y.shape[2:])

    lo = up(low, high[:, :, 0], 2)
    hi = up(high[:, :, 1], high[:, :, 2], 2)
    torch.testing.assert_close(haar.idwt(low, high), up(lo, hi, 3), atol=1e-12, rtol=0)


def test_dwt_of_a_constant_image_has_no_detail():
    low, high = haar.dwt(torch.full((1, 2, 6, 6), 3.0))
    assert torch.all(high == 0) and torch.allclose(low, torch.full_like(low, 6.0))


def test_haar_shape_errors():
    with pytest.raises(ValueError, match="even"):
        haar.dwt(torch.zeros(1, 1, 3, 4))
    with pytest.raises(ValueError, match="high"):
        haar.idwt(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 2, 4, 4))


# ---------------------------------------------------------------------------------------------
# Demodulation fusion


def test_demodulation_fusion_leaves_images_unchanged():
    G = tiny()
    Fz = G.fuse_demodulation()
    assert Fz.is_fused and not G.is_fused
    assert not any(k.endswith("style_inv") for k in Fz.state_dict())
    assert any(k.endswith("style_inv") for k in G.state_dict())
    z = torch.randn(3, G.z_dim)
    with torch.no_grad():
        for mode in ("const", "none"):
            ws = G.mapping(z, None, truncation_psi=0.7)
            a, fa = G.synthesis(ws, noise_mode=mode, return_wavelets=True)
            b, fb = Fz.synthesis(Fz.mapping(z, None, truncation_psi=0.7), noise_mode=mode, return_wavelets=True)
            torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
            for x, y in zip(fa, fb):
                torch.testing.assert_close(y, x, atol=1e-5, rtol=1e-5)
        gen = [torch.Generator().manual_seed(5) for _ in range(2)]
        torch.testing.assert_close(Fz.synthesis(ws, noise_mode="random", noise_generator=gen[1]),
                                   G.synthesis(ws, noise_mode="random", noise_generator=gen[0]), atol=1e-5, rtol=1e-5)
    # the demodulation is really in the pointwise weights: fused layers only scale and convolve
    pw = Fz.synthesis.layers[0].conv1.conv
    assert not pw.demodulate and pw.scale == 1.0
    torch.testing.assert_close(pw.weight_permute, G.synthesis.layers[0].conv1.conv.weight_permute
                               * G.synthesis.layers[0].conv1.conv.demodulation().view(-1, 1, 1, 1))
    # fusing a fused model is a copy
    torch.testing.assert_close(Fz.fuse_demodulation().synthesis.conv1.conv.weight, Fz.synthesis.conv1.conv.weight)


def test_demodulation_is_style_independent_and_unit_norm():
    """With style_inv = the actual per-channel style, each output channel of the equivalent
    kernel has unit norm: what demodulation means."""
    G = tiny()
    conv = G.synthesis.layers[1].conv2.conv
    d = conv.demodulation()
    k = conv.weight_permute[:, :, 0, 0, None, None] * conv.weight_dw[:, 0][None]  # [O, I, 3, 3]
    k = k * conv.scale * conv.style_inv.view(1, -1, 1, 1) * d.view(-1, 1, 1, 1)
    torch.testing.assert_close(k.square().sum(dim=[1, 2, 3]), torch.ones(conv.out_channels), atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------------------------------------
# Interface


def test_uniform_interface():
    G = tiny()
    assert G.family == "mobilestylegan" and G.has_noise and not G.is_conditional
    assert (G.num_ws, G.img_resolution) == (8, 32)
    assert len(G.ws_resolutions()) == G.num_ws and G.ws_resolutions()[0] == 4
    modules = dict(G.named_modules())
    assert all(n in modules for n in G.layer_names() + G.noise_layer_names() + G.wavelet_layer_names())
    assert G.noise_layer_names() == ["synthesis.conv1", "synthesis.layers.0.conv1", "synthesis.layers.0.conv2",
                                     "synthesis.layers.1.conv1", "synthesis.layers.1.conv2"]
    z = torch.randn(2, G.z_dim)
    with torch.no_grad(), capture_layers(G, G.layer_names()) as out:
        img = G(z, None, truncation_psi=0.5, noise_mode="const")
    assert img.shape == (2, 3, 32, 32)
    assert out["synthesis.layers.0.up"].shape == (2, 8, 8, 8)
    assert out["synthesis.layers.1.to_img"].shape == (2, 12, 16, 16)
    torch.testing.assert_close(out["synthesis.idwt"], img)
    caps = G.capabilities()
    assert caps["family"] == "mobilestylegan" and caps["num_params"] > 0


def test_truncation_toward_style_mean_and_cutoff():
    G = tiny()
    with torch.no_grad():
        G.mapping.style_mean.copy_(torch.randn(G.num_ws, G.w_dim))
        z = torch.randn(3, G.z_dim)
        ws = G.mapping(z, None)
        torch.testing.assert_close(G.mapping(z, None, truncation_psi=0), G.mapping.style_mean.expand(3, -1, -1))
        cut = G.mapping(z, None, truncation_psi=0.5, truncation_cutoff=3)
        torch.testing.assert_close(cut[:, 3:], ws[:, 3:])
        torch.testing.assert_close(cut[:, :3], G.mapping.style_mean[:3] + 0.5 * (ws[:, :3] - G.mapping.style_mean[:3]))
        mean = G.mapping.update_style_mean(samples=256, seed=1)
    assert torch.allclose(mean[0], mean[-1])


def test_noise_modes_and_inputs():
    G = tiny()
    ws = G.mapping(torch.randn(2, G.z_dim), None)
    with torch.no_grad():
        const = G.synthesis(ws)
        torch.testing.assert_close(G.synthesis(ws), const)
        none = G.synthesis(ws, noise_mode="none")
        assert not torch.allclose(none, const)
        torch.testing.assert_close(G.synthesis(ws, noise_strength=0.0), none)
        r1 = G.synthesis(ws, noise_mode="random", noise_generator=torch.Generator().manual_seed(3))
        r2 = G.synthesis(ws, noise_mode="random", noise_generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(r1, r2)
        zeros = [torch.zeros(2, 1, r, r) for r in (4, 8, 8, 16, 16)]
        torch.testing.assert_close(G.synthesis(ws, noise_inputs=zeros), none)
    with pytest.raises(ValueError, match="one per noise layer"):
        G.synthesis(ws, noise_inputs=zeros[:2])
    with pytest.raises(ValueError, match=r"expected ws of shape \[N, 8, 16\]"):
        G.synthesis(ws[:, :3])
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(ws, noise_mode="fixed")


def test_const_noise_is_the_same_for_every_construction():
    a, b = tiny(seed=1), tiny(seed=2)
    for (n1, t1), (n2, t2) in zip(a.state_dict().items(), b.state_dict().items()):
        if n1.endswith("noise_const"):
            assert torch.equal(t1, t2)


def test_public_ffhq_configuration():
    G = Generator()
    assert (G.img_resolution, G.num_ws, G.w_dim) == (1024, 23, 512)
    assert G.synthesis.layers[-1].to_img.conv.weight.shape == (12, 64, 1, 1)


def test_bad_configs():
    with pytest.raises(ValueError, match="divisible by 4"):
        Generator(z_dim=8, w_dim=8, channels=[30, 16])
    with pytest.raises(ValueError, match="unconditional"):
        Generator(z_dim=8, w_dim=8, channels=[16, 16], c_dim=3)


def test_native_round_trip_through_registry(tmp_path):
    G = tiny()
    assert isinstance(build_network("mobilestylegan", "G", G.config()), Generator)
    gan_core.save(tmp_path / "m.pt", G_ema=G)
    G2 = gan_core.load_generator(tmp_path / "m.pt")
    assert G2.config() == G.config()
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        torch.testing.assert_close(G2(z, None, truncation_psi=0.6), G(z, None, truncation_psi=0.6))


def test_onnx_export_matches_torch(tmp_path):
    pytest.importorskip("onnx")
    from gan_core.io.onnx_export import export_onnx

    G = tiny()
    paths = export_onnx(G, tmp_path)
    assert paths["mapping"].stat().st_size > 0 and paths["synthesis"].stat().st_size > 0
    ort = pytest.importorskip("onnxruntime")
    z = torch.randn(3, G.z_dim)
    with torch.no_grad():
        ws = G.mapping(z, None, truncation_psi=0.7)
        img = G.synthesis(ws)
    m = ort.InferenceSession(str(paths["mapping"]))
    s = ort.InferenceSession(str(paths["synthesis"]))
    ws_onnx = m.run(None, {"z": z.numpy(), "psi": torch.tensor([0.7]).numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(ws_onnx), ws, atol=1e-5, rtol=1e-5)
    img_onnx = s.run(None, {"ws": ws.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(img_onnx), img, atol=1e-4, rtol=1e-4)


def test_onnx_export_refuses_other_families(tmp_path):
    from gan_core.io.onnx_export import export_onnx
    from gan_core.models.stylegan2 import Generator as SG2

    with pytest.raises(ValueError, match="mobilestylegan family only"):
        export_onnx(SG2(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3, channel_base=64,
                        channel_max=8), tmp_path)


def test_export_onnx_command(tmp_path, capsys):
    pytest.importorskip("onnx")
    from gan_core.cli import main as cli_main

    gan_core.save(tmp_path / "m.pt", G_ema=tiny())
    assert cli_main(["export-onnx", "--network", str(tmp_path / "m.pt"), "--outdir", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "mapping.onnx").is_file() and (tmp_path / "o" / "synthesis.onnx").is_file()
    assert cli_main(["export-onnx", "--network", str(tmp_path / "nope.pt"), "--outdir", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
