"""MobileStyleGAN importer: parity with the reference fixture (../shared/fixtures/zoo/
mobilestylegan.pt) loaded THROUGH gan_core.load_generator from files written in the project's
PyTorch Lightning container layout (with a Lightning callback class in it, as real files
have), the other layouts, and the refusals."""
from __future__ import annotations

import collections
import os
import sys
import types

import pytest
import torch

import gan_core
from gan_core.io import CheckpointError
from gan_core.io.mobile_import import load_mobile_stylegan
from gan_core.io.sniff import sniff
from gan_core.models.base import capture_layers
from tests.conftest import load_fixture

TOL = dict(atol=1e-4, rtol=1e-4)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def fx():
    return load_fixture("zoo", "mobilestylegan.pt")


def _distiller_state_dict(fx: dict, teacher: bool = True) -> dict:
    """The Distiller's state dict as the project saves it: style_mean, device_info,
    mapping_net.*, synthesis_net.* (teacher), student.*, loss.*, inception.*."""
    sd = collections.OrderedDict()
    sd["style_mean"] = fx["inputs"]["style_mean"].clone()
    sd["device_info"] = fx["state_dict"]["device_info"].clone()
    for k, v in fx["mapping_state_dict"].items():
        sd[f"mapping_net.{k}"] = v.clone()
    if teacher:  # stand-ins for the training-only networks: must be skipped, not loaded
        sd["synthesis_net.input.input"] = torch.randn(1, 8, 4, 4)
        sd["synthesis_net.conv1.conv.weight"] = torch.randn(1, 8, 8, 3, 3)
        sd["loss.perceptual_loss.vgg.0.weight"] = torch.randn(4, 3, 3, 3)
        sd["loss.gan_loss.m_disc.convs.0.0.weight"] = torch.randn(4, 3, 1, 1)
        sd["inception.blocks.0.0.conv.weight"] = torch.randn(4, 3, 3, 3)
    for k, v in fx["state_dict"].items():
        sd[f"student.{k}"] = v.clone()
    return sd


def _fake_lightning(monkeypatch) -> type:
    """Install a stand-in ``pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint`` so
    torch.save can reference it by name (as Lightning 1.0 keys callback states by class)."""
    class ModelCheckpoint:
        def __init__(self):
            self.monitor, self.save_top_k = "loss", 1
    ModelCheckpoint.__module__ = "pytorch_lightning.callbacks.model_checkpoint"
    ModelCheckpoint.__qualname__ = "ModelCheckpoint"
    for name in ("pytorch_lightning", "pytorch_lightning.callbacks", "pytorch_lightning.callbacks.model_checkpoint"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    sys.modules["pytorch_lightning.callbacks.model_checkpoint"].ModelCheckpoint = ModelCheckpoint
    return ModelCheckpoint


def write_lightning_ckpt(path, fx: dict, monkeypatch, state_dict: dict | None = None, extra: dict | None = None):
    """A PyTorch Lightning 1.0.2 checkpoint of the MobileStyleGAN Distiller."""
    with monkeypatch.context() as m:
        callback = _fake_lightning(m)
        ckpt = {"epoch": 7, "global_step": 12345, "pytorch-lightning_version": "1.0.2",
                "callbacks": {callback: {"best_model_score": torch.tensor(0.25), "best_model_path": "/x/last.ckpt"}},
                "optimizer_states": [{"state": {0: {"step": 3, "exp_avg": torch.zeros(2)}},
                                      "param_groups": [{"lr": 5e-4, "betas": (0.9, 0.999), "params": [0]}]}],
                "lr_schedulers": [],
                "state_dict": _distiller_state_dict(fx) if state_dict is None else state_dict}
        ckpt.update(extra or {})
        torch.save(ckpt, path)
    assert "pytorch_lightning" not in sys.modules  # the reader below cannot import it
    return path


@pytest.fixture(scope="module")
def imported(fx, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    try:
        p = write_lightning_ckpt(tmp_path_factory.mktemp("msg") / "mobilestylegan_ffhq.ckpt", fx, mp)
    finally:
        mp.undo()
    return gan_core.load_generator(p), p


def _noise(fx: dict) -> list[torch.Tensor]:
    n = fx["inputs"]["noise"]
    return [n[0]] + [t for pair in n[1:] for t in pair]


def _check(a, b) -> float:
    torch.testing.assert_close(a, b, **TOL)
    return float((a - b).abs().max())


# ---------------------------------------------------------------------------------------------
# Parity through the importer


def test_lightning_file_is_sniffed_and_config_inferred(imported):
    G, path = imported
    assert sniff(path).kind == "mobilestylegan"
    assert G.family == "mobilestylegan"
    assert (G.z_dim, G.w_dim, G.num_ws, G.img_resolution) == (64, 64, 8, 32)
    assert G.config()["channels"] == [64, 64, 32] and G.mapping.num_layers == 4
    ck = gan_core.load_checkpoint(path)
    assert ck.source_format == "mobilestylegan" and ck.G_ema is not None and ck.D is None
    meta = ck.metadata
    assert meta["source_layout"] == "lightning checkpoint" and meta["global_step"] == 12345
    assert any("lr multiplier" in a for a in meta["assumed"]) and any("channels" in i for i in meta["inferred"])
    assert "teacher" in meta["skipped"]


def test_parity_w(imported, fx):
    G, _ = imported
    with torch.no_grad():
        ws = G.mapping(fx["inputs"]["z"], None)
    _check(ws[:, 0], fx["reference"]["w"])
    assert torch.equal(ws[:, 0], ws[:, -1])


def test_parity_image_and_wavelets_per_block(imported, fx):
    G, _ = imported
    ref = fx["reference"]
    with torch.no_grad():
        img, freq = G.synthesis(G.mapping(fx["inputs"]["z"], None), noise_inputs=_noise(fx), return_wavelets=True)
    _check(img, ref["img"])
    assert len(freq) == len(ref["freq"]) == 3
    for f, r in zip(freq, ref["freq"]):
        _check(f, r)
    # the same wavelet images through the inspector's hooks
    with torch.no_grad(), capture_layers(G, G.wavelet_layer_names()) as out:
        G.synthesis(G.mapping(fx["inputs"]["z"], None), noise_inputs=_noise(fx))
    for name, r in zip(G.wavelet_layer_names(), ref["freq"]):
        _check(out[name], r)


def test_parity_wplus(imported, fx):
    G, _ = imported
    with torch.no_grad():
        img = G.synthesis(fx["inputs"]["wplus"], noise_inputs=_noise(fx))
    _check(img, fx["reference"]["img_wplus"])


def test_parity_truncation_toward_style_mean(imported, fx):
    G, _ = imported
    _check(G.mapping.style_mean, fx["inputs"]["style_mean"][0])
    with torch.no_grad():
        ws = G.mapping(fx["inputs"]["z"], None, truncation_psi=fx["inputs"]["truncation"])
        img = G.synthesis(ws, noise_inputs=_noise(fx))
    _check(img, fx["reference"]["img_trunc"])


def test_parity_style_mixing(imported, fx):
    G, _ = imported
    k = fx["inputs"]["inject_index"]
    with torch.no_grad():
        w1 = G.mapping(fx["inputs"]["z"], None)
        w2 = G.mapping(fx["inputs"]["z2"], None)
        img = G.synthesis(torch.cat([w1[:, :k], w2[:, k:]], dim=1), noise_inputs=_noise(fx))
    _check(img, fx["reference"]["img_mix"])


def test_native_round_trip_and_fused_model_keep_parity(imported, fx, tmp_path):
    G, _ = imported
    gan_core.save(tmp_path / "msg.pt", G_ema=G)
    G2 = gan_core.load_generator(tmp_path / "msg.pt")
    F = G2.fuse_demodulation()
    gan_core.save(tmp_path / "fused.pt", G_ema=F)
    F2 = gan_core.load_generator(tmp_path / "fused.pt")
    assert F2.is_fused and not any(k.endswith("style_inv") for k in F2.state_dict())
    with torch.no_grad():
        for net in (G2, F2):
            img = net.synthesis(net.mapping(fx["inputs"]["z"], None), noise_inputs=_noise(fx))
            _check(img, fx["reference"]["img"])


# ---------------------------------------------------------------------------------------------
# Other layouts and refusals


def test_distiller_state_dict_without_lightning(fx, tmp_path):
    p = tmp_path / "distiller.pt"
    torch.save(_distiller_state_dict(fx, teacher=False), p)
    G = gan_core.load_generator(p)
    with torch.no_grad():
        img = G.synthesis(G.mapping(fx["inputs"]["z"], None), noise_inputs=_noise(fx))
    _check(img, fx["reference"]["img"])


def test_missing_style_mean_is_estimated_and_said(fx, tmp_path):
    sd = _distiller_state_dict(fx, teacher=False)
    del sd["style_mean"]
    p = tmp_path / "no_mean.pt"
    torch.save({"state_dict": sd, "pytorch-lightning_version": "1.0.2"}, p)
    ck = gan_core.load_checkpoint(p)
    assert any("style_mean" in s for s in ck.metadata["inferred"])
    w = ck.G_ema.mapping(torch.randn(2048, 64), None)[:, 0].mean(0)
    assert (ck.G_ema.mapping.style_mean[0] - w).abs().max() < 0.15 * w.abs().max()


def test_lr_mlp_can_be_given(fx, tmp_path):
    p = tmp_path / "d.pt"
    torch.save(_distiller_state_dict(fx, teacher=False), p)
    G = load_mobile_stylegan(p, lr_mlp=0.02)
    assert G.mapping.fc0.weight_gain == pytest.approx(0.02 / 8)
    with torch.no_grad():
        assert not torch.allclose(G.mapping(fx["inputs"]["z"], None)[:, 0], fx["reference"]["w"], **TOL)


def test_only_the_generator_tensors_are_read(fx, tmp_path, monkeypatch):
    """Teacher, loss, Inception and optimizer tensors of a Lightning file are never loaded."""
    import zipfile

    p = write_lightning_ckpt(tmp_path / "big.ckpt", fx, monkeypatch)
    reads = []
    orig = zipfile.ZipFile.read

    def read(self, name, *a, **k):
        reads.append(name)
        return orig(self, name, *a, **k)
    monkeypatch.setattr(zipfile.ZipFile, "read", read)
    G = gan_core.load_generator(p)
    data_reads = [n for n in reads if "/data/" in n]
    wanted = [k for k in _distiller_state_dict(fx) if k.startswith(("student.", "mapping_net.")) or k == "style_mean"]
    assert len(data_reads) == len(set(data_reads)) == len(wanted)
    total = sum(1 for n in zipfile.ZipFile(p).namelist() if "/data/" in n and not n.endswith("serialization_id"))
    assert total >= len(wanted) + 8  # 5 stand-in teacher/loss tensors, the callback score, optimizer state
    assert G.family == "mobilestylegan"


def test_other_globals_in_a_lightning_file_are_refused(fx, tmp_path, monkeypatch):
    marker = tmp_path / "marker"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    p = write_lightning_ckpt(tmp_path / "evil.ckpt", fx, monkeypatch, extra={"hyper_parameters": {"x": Evil()}})
    with pytest.raises(CheckpointError, match=r"os\.system|posix\.system|not on ganscope's list"):
        gan_core.load_generator(p)
    assert not marker.exists()


def test_instantiated_lightning_object_stays_inert(fx, tmp_path, monkeypatch):
    """A Lightning object (not just its class) in the file becomes an inert record: nothing is
    imported or instantiated."""
    with monkeypatch.context() as m:
        cls = _fake_lightning(m)
        p = tmp_path / "obj.ckpt"
        torch.save({"pytorch-lightning_version": "1.0.2", "callbacks": {cls: cls()},
                    "state_dict": _distiller_state_dict(fx, teacher=False)}, p)
    G = gan_core.load_generator(p)
    assert G.family == "mobilestylegan" and "pytorch_lightning" not in sys.modules


def test_lightning_file_without_student(tmp_path, monkeypatch, fx):
    p = write_lightning_ckpt(tmp_path / "other.ckpt", fx, monkeypatch, state_dict={"model.weight": torch.ones(2)})
    with pytest.raises(CheckpointError, match="Lightning checkpoint without a MobileStyleGAN generator"):
        gan_core.load_generator(p)


def test_bare_student_needs_the_mapping(fx, tmp_path):
    p = tmp_path / "student.pt"
    torch.save(dict(fx["state_dict"]), p)
    assert sniff(p).kind == "mobilestylegan"  # not mistaken for a rosinality StyleGAN2 file
    with pytest.raises(CheckpointError, match="no mapping network"):
        gan_core.load_generator(p)


def test_missing_and_misshapen_tensors(fx, tmp_path):
    sd = _distiller_state_dict(fx, teacher=False)
    del sd["student.layers.1.conv2.noise.weight"]
    torch.save(sd, tmp_path / "a.pt")
    with pytest.raises(CheckpointError, match=r"MobileStyleGAN checkpoint, but .*lacks tensors .*layers\.1\.conv2"):
        gan_core.load_generator(tmp_path / "a.pt")
    sd = _distiller_state_dict(fx, teacher=False)
    sd["mapping_net.layers.2.weight"] = torch.randn(64, 32)
    torch.save(sd, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match="mapping layer 1 has shape"):
        gan_core.load_generator(tmp_path / "b.pt")
    sd = _distiller_state_dict(fx, teacher=False)
    sd["student.idwt.g1_row"] = torch.tensor([0.48, 0.83, 0.22, -0.13]).view(1, 1, 1, 4)
    torch.save(sd, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="not the Haar"):
        gan_core.load_generator(tmp_path / "c.pt")
