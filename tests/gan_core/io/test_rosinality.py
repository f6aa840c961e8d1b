"""rosinality checkpoints: every container layout of both projects, read without running
anything; stylegan2-pytorch parity with ../shared/fixtures/zoo/stylegan2_rosinality.pt
through the same importer (the StyleGAN1 parity lives in tests/gan_core/models/test_stylegan1.py)."""
from __future__ import annotations

import argparse
import json
import os
import types

import pytest
import torch

import gan_core
from gan_core.io import CheckpointError, load_checkpoint, load_generator_from_file
from gan_core.io.rosinality import load_rosinality
from gan_core.models import stylegan1, stylegan2

TOL = dict(atol=1e-4, rtol=1e-4)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sg2():
    from tests.conftest import load_fixture
    return load_fixture("zoo", "stylegan2_rosinality.pt")


@pytest.fixture(scope="module")
def sg1():
    from tests.conftest import load_fixture
    return load_fixture("zoo", "stylegan1_rosinality.pt")


def _args(**kw):
    a = argparse.Namespace(path="lmdb", arch="stylegan2", iter=800000, batch=16, size=32, latent=64, n_mlp=4,
                           channel_multiplier=2, r1=10.0, ckpt=None, lr=0.002, wandb=False, augment=False)
    for k, v in kw.items():
        setattr(a, k, v)
    return a


def _train_snapshot(d, path, **args_kw):
    """stylegan2-pytorch train.py layout, with a real argparse.Namespace."""
    torch.save({"args": _args(**args_kw), "g": d["state_dict"], "d": d["D_state_dict"], "g_ema": d["state_dict"],
                "g_optim": {"state": {}, "param_groups": []}, "d_optim": {"state": {}, "param_groups": []},
                "ada_aug_p": 0.25}, path)
    return path


@pytest.fixture(scope="module")
def sg2_loaded(sg2, tmp_path_factory):
    p = _train_snapshot(sg2, tmp_path_factory.mktemp("sg2") / "550000.pt")
    return load_checkpoint(p)


# ----------------------------------------------------------------------------------------
# stylegan2-pytorch parity


def _with_noise(G, noise):
    """Pass rosinality's explicit per-sample noise list (one tensor per noise layer)."""
    layers = [dict(G.named_modules())[n] for n in G.noise_layer_names()]
    assert len(layers) == len(noise)
    for layer, n in zip(layers, noise):
        def make_noise(self, x, mode, strength, gen, n=n):
            return n * (self.noise_strength * strength)
        layer.make_noise = types.MethodType(make_noise, layer)
    return layers


def _sg2_render(d, G, D, name):
    I, R = d["inputs"], d["reference"]
    G.mapping.w_avg.copy_(I["mean_latent"][0])
    k, t = I["inject_index"], I["truncation"]
    ws, ws2 = G.mapping(I["z"], None), G.mapping(I["z2"], None)
    if name == "w":
        return ws[:, 0]
    if name == "latent":
        return ws
    if name == "latent_mix":
        return torch.cat([ws[:, :k], ws2[:, k:]], dim=1)
    if name == "img_const_noise":
        return G.synthesis(ws, noise_mode="const")
    if name == "d_img":
        return D(R["img"])
    if name == "d_img_const_noise":
        return D(R["img_const_noise"])
    layers = _with_noise(G, I["noise"])
    try:
        if name == "img":
            return G.synthesis(ws)
        if name == "img_trunc":
            return G.synthesis(G.mapping(I["z"], None, truncation_psi=t))
        if name == "img_mix":
            return G.synthesis(torch.cat([ws[:, :k], ws2[:, k:]], dim=1))
        if name == "img_wplus":
            return G.synthesis(I["wplus"])
        if name == "img_w_trunc":  # truncation of a given w (input_is_latent=True)
            w = R["w"].unsqueeze(1).repeat(1, G.num_ws, 1)
            return G.synthesis(G.mapping.w_avg + t * (w - G.mapping.w_avg))
    finally:
        for layer in layers:
            del layer.make_noise
    raise KeyError(name)


SG2_REFS = ["w", "latent", "img", "img_const_noise", "img_trunc", "img_mix", "latent_mix", "img_wplus",
            "img_w_trunc", "d_img", "d_img_const_noise"]


def test_every_sg2_reference_is_covered(sg2):
    assert sorted(sg2["reference"]) == sorted(SG2_REFS)


@pytest.mark.parametrize("name", SG2_REFS)
def test_stylegan2_matches_reference(sg2, sg2_loaded, name):
    G, D = sg2_loaded.G_ema, sg2_loaded.D
    with torch.no_grad():
        out = _sg2_render(sg2, G, D, name)
    torch.testing.assert_close(out, sg2["reference"][name], **TOL)


def test_stylegan2_maps_into_our_stylegan2_classes(sg2_loaded):
    ck = sg2_loaded
    assert ck.source_format == "rosinality-stylegan2" and ck.family == "stylegan2"
    assert all(isinstance(n, stylegan2.Generator) for n in (ck.G, ck.G_ema))
    assert isinstance(ck.D, stylegan2.Discriminator)
    assert ck.G_ema.img_resolution == 32 and ck.G_ema.z_dim == 64 and ck.G_ema.mapping.num_layers == 4
    cfg = ck.G_ema.config()
    assert cfg["mapping_kwargs"]["lr_multiplier"] == 0.01 and cfg["conv_clamp"] is None
    assert cfg["resample_filter"] == [1, 3, 3, 1]
    meta = ck.metadata
    assert meta["inferred"]["args"]["channel_multiplier"] == 2 and "lr_mlp" in meta["assumed"]
    assert "w_avg" in meta["assumed"] and meta["ada_aug_p"] == 0.25
    assert not ck.G_ema.mapping.w_avg.eq(0).all()  # estimated, since the file has no latent_avg


def test_channel_table_of_the_real_project_is_channel_base_times_multiplier():
    from gan_core.io.rosinality_sg2 import channel_base_max
    for cm in (1, 2):
        table = {r: {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm}[r]
                 for r in (4, 8, 16, 32, 64, 128, 256)}
        assert channel_base_max(table, "t") == (16384 * cm, 512)
    with pytest.raises(CheckpointError, match="channel table"):
        channel_base_max({4: 512, 8: 512, 16: 512, 32: 512, 64: 1024}, "t")  # channel_multiplier 4


# ----------------------------------------------------------------------------------------
# stylegan2-pytorch container layouts


def test_convert_weight_layout_uses_latent_avg(sg2, tmp_path):
    p = tmp_path / "stylegan2-ffhq-config-f.pt"
    latent_avg = torch.randn(64)
    torch.save({"g_ema": sg2["state_dict"], "latent_avg": latent_avg}, p)
    ck = load_checkpoint(p)
    assert ck.G is None and ck.D is None and ck.source_format == "rosinality-stylegan2"
    assert torch.equal(ck.G_ema.mapping.w_avg, latent_avg)
    assert ck.metadata["inferred"]["w_avg"].startswith("latent_avg")
    with torch.no_grad():
        torch.testing.assert_close(ck.G_ema.synthesis(ck.G_ema.mapping(sg2["inputs"]["z"], None)),
                                   sg2["reference"]["img_const_noise"], **TOL)


def test_convert_weight_layout_with_g_and_d(sg2, tmp_path):
    p = tmp_path / "converted.pt"
    torch.save({"g_ema": sg2["state_dict"], "latent_avg": torch.zeros(64), "g": sg2["state_dict"],
                "d": sg2["D_state_dict"]}, p)
    ck = load_checkpoint(p)
    assert ck.G is not None and ck.D is not None
    with torch.no_grad():
        torch.testing.assert_close(ck.D(sg2["reference"]["img"]), sg2["reference"]["d_img"], **TOL)


def test_bare_g_ema_state_dict_and_module_prefix(sg2, tmp_path):
    p = tmp_path / "g_ema.pt"
    torch.save({f"module.{k}": v for k, v in sg2["state_dict"].items()}, p)
    G = gan_core.load_generator(p)
    assert isinstance(G, stylegan2.Generator) and not G.training
    with torch.no_grad():
        torch.testing.assert_close(G.synthesis(G.mapping(sg2["inputs"]["z"], None)),
                                   sg2["reference"]["img_const_noise"], **TOL)


def test_namespace_becomes_a_plain_dict_and_lr_mlp_comes_from_args(sg2, tmp_path):
    from gan_core.io.torch_zip import load_zip_restricted
    p = _train_snapshot(sg2, tmp_path / "lr.pt", lr_mlp=0.02)
    obj = load_zip_restricted(p)
    assert type(obj["args"]) is dict and obj["args"]["lr_mlp"] == 0.02 and obj["args"]["ckpt"] is None
    assert torch.equal(obj["g_ema"]["input.input"], sg2["state_dict"]["input.input"])
    ck = load_checkpoint(p)
    assert ck.G_ema.mapping.fc0.bias_gain == 0.02 and "lr_mlp" not in ck.metadata["assumed"]
    ck2 = load_rosinality(p, lr_mlp=0.05)
    assert ck2.G_ema.mapping.fc0.bias_gain == 0.05


def test_args_inconsistent_with_tensors(sg2, tmp_path):
    p = _train_snapshot(sg2, tmp_path / "bad.pt", size=256)
    with pytest.raises(CheckpointError, match=r"args\.size is 256 but the tensors say 32"):
        load_checkpoint(p)


class _Call:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def test_disallowed_global_next_to_a_namespace_is_refused(sg2, tmp_path):
    marker = tmp_path / "marker"
    p = tmp_path / "evil.pt"
    torch.save({"args": _args(), "g_ema": sg2["state_dict"], "extra": _Call(os.system, f"touch {marker}")}, p)
    for fn in (load_checkpoint, load_generator_from_file):
        with pytest.raises(CheckpointError) as info:
            fn(p)
        msg = str(info.value)
        assert str(p) in msg and "could not be read safely" in msg and "system" in msg and "\n" not in msg
    assert not marker.exists()
    # a Namespace that carries the object itself
    torch.save({"args": _args(hook=_Call(os.system, f"touch {marker}")), "g_ema": sg2["state_dict"]}, p)
    with pytest.raises(CheckpointError, match="system"):
        load_checkpoint(p)
    assert not marker.exists()


def test_rosinality_file_that_lacks_tensors(sg2, tmp_path):
    p = tmp_path / "partial.pt"
    sd = {k: v for k, v in sg2["state_dict"].items() if not k.startswith("to_rgbs.1.")}
    torch.save({"g_ema": sd}, p)
    with pytest.raises(CheckpointError, match="rosinality stylegan2-pytorch checkpoint, but") as info:
        load_checkpoint(p)
    assert "to_rgbs [0, 2], not 0 … N" in str(info.value)
    p2 = tmp_path / "d_only.pt"
    torch.save({"g": {}, "d": sg2["D_state_dict"], "args": _args()}, p2)
    with pytest.raises(CheckpointError, match="its g has no mapping layers"):
        load_checkpoint(p2)


# ----------------------------------------------------------------------------------------
# style-based-gan-pytorch (StyleGAN1) container layouts


def test_train_step_layout_gives_g_g_ema_and_d(sg1, tmp_path):
    p = tmp_path / "train_step-7.model"
    g_running = {k: v + 0.01 if k.startswith("style.") else v for k, v in sg1["state_dict"].items()}
    torch.save({"generator": sg1["state_dict"], "discriminator": sg1["D_state_dict"], "g_optimizer": {},
                "d_optimizer": {}, "g_running": g_running}, p)
    ck = load_checkpoint(p)
    assert ck.source_format == "rosinality-stylegan1" and ck.family == "stylegan1"
    assert all(isinstance(n, stylegan1.Generator) for n in (ck.G, ck.G_ema))
    assert isinstance(ck.D, stylegan1.Discriminator) and ck.D.config()["fromrgb_activation"] is True
    # G_ema is g_running, G is generator
    ref = sg1["state_dict"]["style.1.linear.weight_orig"]
    assert torch.equal(ck.G.mapping.fc0.weight, ref) and torch.equal(ck.G_ema.mapping.fc0.weight, ref + 0.01)
    assert ck.G_ema.img_resolution == 1024 and ck.G_ema.config()["channels"] == [16, 16, 16, 16, 16, 8, 8, 4, 4]
    assert ck.G_ema.config()["fused_resolution"] == 128 and ck.G_ema.mapping.num_layers == 2
    inferred = ck.metadata["inferred"]
    assert "step" in inferred and "mapping_layers" in inferred and "w_avg" in ck.metadata["assumed"]


def test_bare_g_running_legacy_stream_and_step_inference(sg1, tmp_path):
    """NNNNNN.model = g_running.state_dict(); blocks above the trained step keep zero noise weights."""
    sd = dict(sg1["state_dict"])
    for i in (6, 7, 8):
        for n in (1, 2):
            sd[f"generator.progression.{i}.noise{n}.weight_orig"] = torch.zeros_like(
                sd[f"generator.progression.{i}.noise{n}.weight_orig"])
    p = tmp_path / "010000.model"
    torch.save(sd, p, _use_new_zipfile_serialization=False)  # the 2019 project wrote legacy streams
    G = gan_core.load_generator(p)
    assert isinstance(G, stylegan1.Generator) and (G.step, G.alpha, G.output_resolution) == (5, 1.0, 128)
    ck = load_rosinality(p, step=4, alpha=0.5)
    assert ck.G_ema.step == 4 and ck.G_ema.alpha == 0.5 and ck.D is None
    d = sg1
    with torch.no_grad():
        G = ck.G_ema
        out = G.synthesis(G.mapping(d["inputs"]["z"], None),
                          noise_inputs=[n for n in d["inputs"]["noise"][:5] for _ in range(2)])
    torch.testing.assert_close(out, d["reference"]["img_low"], **TOL)
    with pytest.raises(CheckpointError, match="StyleGAN1 only"):
        load_rosinality(_sg2_bare(tmp_path), step=3)


def _sg2_bare(tmp_path):
    from tests.conftest import load_fixture
    p = tmp_path / "sg2_bare.pt"
    torch.save(load_fixture("zoo", "stylegan2_rosinality.pt")["state_dict"], p)
    return p


def test_stylegan1_native_round_trip_keeps_the_import(sg1, tmp_path):
    p = tmp_path / "train_step-6.model"
    torch.save({"g_running": sg1["state_dict"], "generator": sg1["state_dict"],
                "discriminator": sg1["D_state_dict"]}, p)
    ck = load_rosinality(p, step=3, alpha=0.5)
    out = tmp_path / "native.pt"
    gan_core.save(out, G_ema=ck.G_ema, D=ck.D)
    ck2 = load_checkpoint(out)
    assert ck2.source_format == "ganscope" and ck2.G_ema.step == 3 and ck2.G_ema.alpha == 0.5
    z = sg1["inputs"]["z"]
    with torch.no_grad():
        torch.testing.assert_close(ck2.G_ema(z), ck.G_ema(z), atol=0, rtol=0)
        assert ck2.G_ema(z).shape == (4, 3, 32, 32)


def test_nonstandard_blur_kernel_is_refused(sg1, tmp_path):
    sd = dict(sg1["state_dict"])
    sd["generator.progression.1.conv1.2.weight"] = sd["generator.progression.1.conv1.2.weight"] * 2
    p = tmp_path / "blur.model"
    torch.save({"g_running": sd}, p)
    with pytest.raises(CheckpointError, match="blur kernel"):
        load_checkpoint(p)


def test_info_reports_what_was_inferred(sg2, tmp_path, capsys):
    from gan_core.cli import main
    p = _train_snapshot(sg2, tmp_path / "info.pt")
    assert main(["info", str(p), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["format"] == "rosinality-stylegan2" and "channels" in d["inferred"] and "lr_mlp" in d["assumed"]


def test_convert_keeps_what_was_inferred(sg2, tmp_path, capsys):
    from gan_core.cli import main
    p = _train_snapshot(sg2, tmp_path / "in.pt")
    out = tmp_path / "native.pt"
    assert main(["convert", str(p), str(out)]) == 0
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["format"] == "ganscope" and "channels" in d["inferred"] and "lr_mlp" in d["assumed"]
