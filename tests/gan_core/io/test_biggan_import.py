"""BigGAN importers: parity with the BigGAN-PyTorch and pytorch-pretrained-BigGAN reference
fixtures (../shared/fixtures/zoo), loaded THROUGH the importers from files written in each
project's own container layout, plus the refusals."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch

import gan_core
from gan_core.io import CheckpointError
from gan_core.io.biggan_import import load_biggan_hf, load_biggan_pytorch
from gan_core.models import biggan_layers
from tests.conftest import load_fixture

TOL = dict(atol=1e-4, rtol=1e-4)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _close(a: torch.Tensor, b: torch.Tensor) -> float:
    torch.testing.assert_close(a, b, **TOL)
    return float((a - b).abs().max())


def _state_dict_pth(path, config: dict, legacy: bool = False) -> None:
    """BigGAN-PyTorch's state_dict.pth: counters plus the run config, whose activations are
    torch.nn.ReLU objects (as train.py stores them)."""
    cfg = dict(config)
    cfg["G_activation"] = torch.nn.ReLU(inplace=True)
    cfg["D_activation"] = torch.nn.ReLU(inplace=False)
    obj = {"itr": 1234, "epoch": 3, "save_num": 0, "save_best_num": 0, "best_IS": np.float64(1.5),
           "best_FID": 999999, "config": cfg}
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)


def _bgp_config(fx: dict) -> dict:
    g, d = fx["constructor_kwargs"], fx["D_constructor_kwargs"]
    cfg = {**{k: v for k, v in g.items()}, **{k: v for k, v in d.items()}}
    cfg["model"] = fx["class_name"].split(".")[0]
    return cfg


def _write_experiment(folder, fx: dict, suffix: str = "", with_state: bool = True, legacy: bool = False) -> None:
    os.makedirs(folder, exist_ok=True)
    zipped = not legacy
    torch.save(fx["state_dict"], os.path.join(folder, f"G{suffix}.pth"), _use_new_zipfile_serialization=zipped)
    torch.save(fx["state_dict"], os.path.join(folder, f"G_ema{suffix}.pth"), _use_new_zipfile_serialization=zipped)
    torch.save(fx["D_state_dict"], os.path.join(folder, f"D{suffix}.pth"), _use_new_zipfile_serialization=zipped)
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))]).state_dict()
    torch.save(opt, os.path.join(folder, f"G_optim{suffix}.pth"))
    torch.save(opt, os.path.join(folder, f"D_optim{suffix}.pth"))
    if with_state:
        _state_dict_pth(os.path.join(folder, f"state_dict{suffix}.pth"), _bgp_config(fx), legacy=legacy)


def _check_bgp_parity(fx: dict, G: torch.nn.Module, D: torch.nn.Module | None) -> dict[str, float]:
    inp, ref = fx["inputs"], fx["reference"]
    c = G.make_c(inp["y"].tolist(), len(inp["y"]))
    c2 = G.make_c(inp["y2"].tolist(), len(inp["y2"]))
    diffs = {}
    with torch.no_grad():
        diffs["y_emb"] = _close(G.class_embedding(c), ref["y_emb"])
        diffs["img"] = _close(G(inp["z"], c), ref["img"])
        # z scaling: BigGAN-PyTorch's truncation is the z std, i.e. ψ
        diffs["img_trunc"] = _close(G(inp["z"], c, truncation_psi=inp["z_scale"]), ref["img_trunc"])
        diffs["img_interp"] = _close(G(inp["z"], 0.5 * c + 0.5 * c2), ref["img_interp"])
        if D is not None:
            diffs["d_img"] = _close(D(ref["img"], c), ref["d_img"])
            diffs["d_img_trunc"] = _close(D(ref["img_trunc"], inp["y"]), ref["d_img_trunc"])
    return diffs


BGP = ["biggan_pytorch_BigGAN.pt", "biggan_pytorch_BigGANdeep.pt"]


@pytest.fixture(scope="module", params=BGP)
def bgp(request):
    return load_fixture("zoo", request.param)


@pytest.fixture(scope="module")
def hf():
    return load_fixture("zoo", "biggan_hf_pretrained.pt")


# --------------------------------------------------------------------------------------------
# BigGAN-PyTorch
# --------------------------------------------------------------------------------------------


def test_bgp_experiment_folder_parity(tmp_path, bgp):
    """weights_root/<experiment>/ with G, G_ema, D, optimizers and state_dict.pth (ReLU objects)."""
    folder = tmp_path / "exp"
    _write_experiment(folder, bgp)
    ck = gan_core.load_checkpoint(folder)
    deep = "deep" in bgp["class_name"]
    assert ck.source_format == "biggan-pytorch" and ck.family == ("biggan-deep" if deep else "biggan")
    assert ck.G is not None and ck.G_ema is not None and ck.D is not None
    assert ck.metadata["itr"] == 1234 and ck.metadata["assumed"] == {}
    assert ck.G_ema.config()["bn_eps"] == bgp["constructor_kwargs"]["BN_eps"]
    _check_bgp_parity(bgp, ck.G_ema, ck.D)
    _check_bgp_parity(bgp, ck.G, None)


def test_bgp_single_files_without_config(tmp_path, bgp):
    """G_ema.pth alone (everything inferred from shapes), and D.pth alone."""
    folder = tmp_path / "w"
    _write_experiment(folder, bgp, with_state=False)
    G = gan_core.load_generator(folder / "G_ema.pth")
    ck_d = gan_core.load_checkpoint(folder / "D.pth")
    assert ck_d.D is not None and ck_d.G is None and ck_d.G_ema is None
    _check_bgp_parity(bgp, G, ck_d.D)
    ck = gan_core.load_checkpoint(folder / "G.pth")
    assert ck.G is not None and ck.G_ema is None
    assert gan_core.load_checkpoint(folder / "G_ema.pth").metadata["assumed"] == {"BN_eps": 1e-5, "SN_eps": 1e-6}


def test_bgp_numbered_copies_and_legacy_format(tmp_path, bgp):
    """_best0 suffix files (state_dict_best0.pth) in the pre-1.6 torch.save format."""
    folder = tmp_path / "exp"
    _write_experiment(folder, bgp, suffix="_best0", legacy=True)
    ck = gan_core.load_checkpoint(folder / "G_ema_best0.pth")
    assert ck.metadata["config_file"].endswith("state_dict_best0.pth")
    _check_bgp_parity(bgp, ck.G_ema, None)
    ck_dir = gan_core.load_checkpoint(folder)  # the only weight set in the folder
    assert ck_dir.D is not None


def test_bgp_native_round_trip(tmp_path):
    fx = load_fixture("zoo", BGP[1])
    _write_experiment(tmp_path / "exp", fx, with_state=False)
    ck = gan_core.load_checkpoint(tmp_path / "exp")
    gan_core.save(tmp_path / "native.pt", G_ema=ck.G_ema, D=ck.D)
    back = gan_core.load_checkpoint(tmp_path / "native.pt")
    assert back.source_format == "ganscope" and back.family == "biggan-deep"
    _check_bgp_parity(fx, back.G_ema, back.D)


def test_bgp_state_dict_with_disallowed_global_is_refused(tmp_path):
    fx = load_fixture("zoo", BGP[0])
    folder = tmp_path / "exp"
    _write_experiment(folder, fx, with_state=False)
    marker = tmp_path / "marker"
    marker.write_text("still here")

    class Payload:
        def __reduce__(self):
            return (os.remove, (str(marker),))

    cfg = _bgp_config(fx)
    cfg["evil"] = Payload()
    torch.save({"itr": 1, "config": cfg}, folder / "state_dict.pth")
    with pytest.raises(CheckpointError, match=r"state_dict\.pth.*(posix|os|nt)\.remove.*not on ganscope's list"):
        gan_core.load_generator(folder / "G_ema.pth")
    assert marker.read_text() == "still here"


def test_bgp_refusals(tmp_path):
    fx = load_fixture("zoo", BGP[1])
    folder = tmp_path / "exp"
    _write_experiment(folder, fx, with_state=False)
    with pytest.raises(CheckpointError, match="optimizer state"):
        gan_core.load_checkpoint(folder / "G_optim.pth")
    # explicit but wrong schedule: the error names what to pass
    with pytest.raises(CheckpointError, match="resolution=R, G_depth=D"):
        load_biggan_pytorch(folder / "G.pth", G_depth=3)
    G = load_biggan_pytorch(folder / "G.pth", resolution=32, G_depth=2)
    assert G.config()["img_resolution"] == 32
    # a non-ReLU activation in the config is refused rather than silently ignored
    cfg = _bgp_config(fx)
    _state_dict_pth(folder / "state_dict.pth", cfg)
    obj_cfg = dict(cfg, G_activation=torch.nn.ELU())
    torch.save({"itr": 1, "config": obj_cfg}, folder / "state_dict.pth")
    with pytest.raises(CheckpointError, match="ELU"):
        gan_core.load_generator(folder / "G.pth")
    # a tensor missing from G.pth
    sd = dict(fx["state_dict"])
    sd.pop("blocks.1.0.bn2.stored_var")
    torch.save(sd, tmp_path / "G_broken.pth")
    with pytest.raises(CheckpointError, match=r"G_broken\.pth.*blocks\.1\.0\.bn2\.stored_var"):
        gan_core.load_generator(tmp_path / "G_broken.pth")
    # two weight sets in one folder: say which to pick
    _write_experiment(folder, fx, suffix="_copy0", with_state=False)
    for name in ("G.pth", "G_ema.pth", "D.pth", "G_optim.pth", "D_optim.pth", "state_dict.pth"):
        os.remove(folder / name)
    _write_experiment(folder, fx, suffix="_copy1", with_state=False)
    with pytest.raises(CheckpointError, match="several BigGAN-PyTorch weight sets"):
        gan_core.load_checkpoint(folder)


@pytest.mark.parametrize("res", [32, 64, 128, 256, 512])
def test_bgp_shape_inference_standard_architectures(res):
    """Every standard BigGAN / BigGAN-deep layout is recovered from its state dict alone."""
    from gan_core.io.biggan_pytorch import build_from_state_dict, infer_d_config, infer_g_config
    from gan_core.models import biggan, biggan_deep

    torch.manual_seed(0)
    n = len(biggan.G_ARCH[res])
    G = biggan.Generator(z_dim=4 * (n + 1), c_dim=3, img_resolution=res, ch=8, shared_dim=8, attn_res=(64,))
    D = biggan.Discriminator(c_dim=3, img_resolution=res, ch=8, attn_res=(64,))
    for net, cfg in ((G, infer_g_config(G.state_dict(), False)), (D, infer_d_config(D.state_dict(), False))):
        want = net.config()
        assert {k: v for k, v in cfg.items() if k not in ("ch", "attn_res")} == \
            {k: v for k, v in want.items() if k in cfg and k not in ("ch", "attn_res")}
    if res in biggan_deep.DEEP_D_ARCH:
        for depth in (1, 2, 3):
            Gd = biggan_deep.Generator(z_dim=8, c_dim=3, img_resolution=res, ch=8, shared_dim=8, depth=depth)
            cfg = infer_g_config(Gd.state_dict(), True)
            assert (cfg["img_resolution"], cfg["depth"], cfg["blocks"]) == (res, depth, Gd.config()["blocks"])
            Dd = biggan_deep.Discriminator(c_dim=3, img_resolution=res, ch=8, depth=depth)
            rebuilt = build_from_state_dict(Dd.state_dict(), "D-deep")
            assert rebuilt.config()["stages"] == Dd.config()["stages"] and rebuilt.depth == depth


# --------------------------------------------------------------------------------------------
# pytorch-pretrained-BigGAN
# --------------------------------------------------------------------------------------------


def _write_hf(folder, fx: dict, legacy: bool = False) -> None:
    os.makedirs(folder, exist_ok=True)
    torch.save(fx["state_dict"], os.path.join(folder, "pytorch_model.bin"), _use_new_zipfile_serialization=not legacy)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(fx["constructor_kwargs"], f, indent=2)


def _check_hf_parity(fx: dict, G: torch.nn.Module) -> dict[str, float]:
    inp, ref = fx["inputs"], fx["reference"]
    diffs = {}
    with torch.no_grad():
        diffs["class_embedding"] = _close(G.class_embedding(inp["class_vector"]), ref["class_embedding"])
        for tag, t in inp["truncations"].items():
            z = inp[f"z_{tag}"]  # already t * truncnorm(-2, 2)
            ws = G.mapping(z, inp["class_vector"])
            diffs[tag] = _close(G.synthesis(ws, bn_truncation=t), ref[f"img_{tag}"])
            # the same through the uniform interface: ψ = t scales z and picks the statistics
            diffs[f"{tag}_psi"] = _close(G(z / t, inp["class_vector"], truncation_psi=t), ref[f"img_{tag}"])
        tag = inp["soft_class_truncation_tag"]
        t = inp["truncations"][tag]
        ws = G.mapping(inp[f"z_{tag}"], inp["class_vector_soft"])
        diffs["soft"] = _close(G.synthesis(ws, bn_truncation=t), ref[f"img_soft_class_{tag}"])
    return diffs


@pytest.mark.parametrize("entry", ["folder", "pytorch_model.bin", "config.json"])
def test_hf_parity(tmp_path, hf, entry):
    _write_hf(tmp_path / "m", hf)
    path = tmp_path / "m" if entry == "folder" else tmp_path / "m" / entry
    ck = gan_core.load_checkpoint(path)
    assert ck.source_format == "biggan-hf" and ck.family == "biggan-deep" and ck.G_ema is not None
    G = ck.G_ema
    assert G.has_truncation_stats and G.config()["n_stats"] == 51
    _check_hf_parity(hf, G)


def test_hf_legacy_weights_and_native_round_trip(tmp_path, hf):
    _write_hf(tmp_path / "m", hf, legacy=True)
    G = gan_core.load_generator(tmp_path / "m")
    gan_core.save(tmp_path / "native.pt", G_ema=G)
    _check_hf_parity(hf, gan_core.load_generator(tmp_path / "native.pt"))


def test_hf_swapped_interpolation_weights_are_pinned(tmp_path, hf, monkeypatch):
    """With an ordinary lerp between the two nearest statistics rows the t=0.605 image no
    longer matches (t=0.4 lies on a row and still does)."""
    _write_hf(tmp_path / "m", hf)
    G = gan_core.load_generator(tmp_path / "m")
    inp, ref = hf["inputs"], hf["reference"]

    original = biggan_layers.truncation_stats_index

    def ordinary_lerp(truncation, n_stats):
        rows = original(truncation, n_stats)
        if len(rows) == 2:
            (k0, f), (k1, _) = rows
            return [(k0, 1.0 - f), (k1, f)]
        return rows

    monkeypatch.setattr(biggan_layers, "truncation_stats_index", ordinary_lerp)
    with torch.no_grad():
        ws = G.mapping(inp["z_t0605"], inp["class_vector"])
        assert (G.synthesis(ws, bn_truncation=0.605) - ref["img_t0605"]).abs().max() > 1e-3
        ws = G.mapping(inp["z_t04"], inp["class_vector"])
        torch.testing.assert_close(G.synthesis(ws, bn_truncation=0.4), ref["img_t04"], **TOL)


def test_hf_refusals(tmp_path, hf):
    folder = tmp_path / "m"
    _write_hf(folder, hf)
    os.remove(folder / "config.json")
    with pytest.raises(CheckpointError, match="config.json"):
        gan_core.load_generator(folder / "pytorch_model.bin")
    # the weights alone with the config passed explicitly
    G = load_biggan_hf(folder / "pytorch_model.bin", config=hf["constructor_kwargs"])
    _check_hf_parity(hf, G)
    # a config that contradicts the weights
    bad = dict(hf["constructor_kwargs"], num_classes=7)
    with open(folder / "config.json", "w") as f:
        json.dump(bad, f)
    with pytest.raises(CheckpointError, match="7 classes"):
        gan_core.load_generator(folder)
    bad = dict(hf["constructor_kwargs"], attention_layer_position=2)
    with open(folder / "config.json", "w") as f:
        json.dump(bad, f)
    with pytest.raises(CheckpointError, match="attention"):
        gan_core.load_generator(folder)
    with open(folder / "config.json", "w") as f:
        f.write("{not json")
    with pytest.raises(CheckpointError, match="config"):
        gan_core.load_generator(folder)
    # an empty folder is still described as a directory
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="is a directory"):
        gan_core.load_generator(empty)
    shutil.rmtree(folder)
