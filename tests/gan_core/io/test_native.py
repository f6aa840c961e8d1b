"""ganscope's native checkpoint: round trips, weights_only readability, atomic writes."""
from __future__ import annotations

import json
import os

import pytest
import torch

import gan_core.io.native as native
from gan_core.io import (FORMAT_VERSION, CheckpointError, load_checkpoint, load_generator_from_file,
                         save_checkpoint)
from gan_core.models import registry


def build_from_fixture(fx, kind="G"):
    family, _ = registry.family_of_official_class(fx["class_name"])
    if kind == "G":
        net = registry.build_network(family, "G", fx["init_kwargs"])
        net.load_state_dict(fx["G_state_dict"])
    else:
        net = registry.build_network(family, "D", fx["D_init_kwargs"])
        net.load_state_dict(fx["D_state_dict"])
    return net.eval()


def mapping_and_image(G, ref):
    with torch.no_grad():
        ws = G.mapping(ref["z"], ref["c"], truncation_psi=1)
        return ws, G.synthesis(ws, noise_mode="const")


def no_temp_files(directory):
    return [n for n in os.listdir(directory) if n.endswith(".tmp")] == []


def test_round_trip_stylegan3_identical_outputs(official, tmp_path):
    pytest.importorskip("gan_core.models.stylegan3")
    fx = official("sg3t_32.pt")
    G = build_from_fixture(fx)
    path = tmp_path / "model.pt"
    save_checkpoint(path, G, metadata={"source_file": "network-snapshot-000100.pkl", "kimg": 100})
    assert no_temp_files(tmp_path)

    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "ganscope" and raw["format_version"] == FORMAT_VERSION
    assert raw["family"] == "stylegan3" and set(raw) >= {"G_ema", "metadata"} and "G" not in raw
    json.dumps(raw["G_ema"]["config"])  # JSON-able constructor kwargs
    assert raw["metadata"]["source_file"] == "network-snapshot-000100.pkl"
    assert raw["metadata"]["created_by"].startswith("ganscope")

    ck = load_checkpoint(path)
    assert ck.source_format == "ganscope" and ck.family == "stylegan3"
    assert ck.G is None and ck.D is None and ck.training_state is None
    assert ck.metadata["kimg"] == 100
    G.requires_grad_(False)  # as loaded generators are (the float path may depend on it)
    ws0, img0 = mapping_and_image(G, fx["reference"])
    ws1, img1 = mapping_and_image(ck.G_ema, fx["reference"])
    assert torch.equal(ws0, ws1) and torch.equal(img0, img1)
    assert (img1 - fx["reference"]["img_const_psi1"]).abs().max().item() < 1e-4
    for k, v in G.state_dict().items():
        assert torch.equal(ck.G_ema.state_dict()[k], v), k

    G2 = load_generator_from_file(path)
    assert not G2.training and not any(p.requires_grad for p in G2.parameters())


def test_round_trip_stylegan2_with_G_D_and_training_state(official, tmp_path):
    pytest.importorskip("gan_core.models.stylegan2")
    fx = official("sg2_resnet_cond5_32.pt")
    G_ema, G, D = build_from_fixture(fx), build_from_fixture(fx), build_from_fixture(fx, "D")
    opt = torch.optim.Adam(G.parameters(), lr=0.002, betas=(0.0, 0.99))
    G.train()
    loss = G(fx["reference"]["z"], fx["reference"]["c"]).square().mean()
    loss.backward()
    opt.step()
    training_state = {"G_opt": opt.state_dict(), "cur_nimg": 12345, "augment_p": torch.tensor(0.1),
                      "stats": {"loss": [0.5, 0.25]}, "note": "resume me"}
    path = tmp_path / "snapshot.pt"
    save_checkpoint(path, G_ema, G=G, D=D, training_state=training_state)
    torch.load(path, weights_only=True)  # readable without running anything

    ck = load_checkpoint(path)
    assert ck.family == "stylegan2" and ck.G is not None and ck.D is not None
    for a, b in ((G_ema, ck.G_ema), (G, ck.G), (D, ck.D)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sorted(sa) == sorted(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not ck.G_ema.training and not any(p.requires_grad for p in ck.G_ema.parameters())
    assert all(p.requires_grad for p in ck.G.parameters())  # G and D stay trainable for resuming
    ref = fx["reference"]
    with torch.no_grad():
        torch.testing.assert_close(ck.D(ref["img_const_psi1"], ref["c"]), ref["d_logits_on_img_const_psi1"],
                                   rtol=1e-4, atol=1e-4)
    _, img0 = mapping_and_image(G_ema.requires_grad_(False), ref)
    _, img1 = mapping_and_image(ck.G_ema, ref)
    assert torch.equal(img0, img1)
    ts = ck.training_state
    assert ts["cur_nimg"] == 12345 and ts["note"] == "resume me" and ts["stats"]["loss"] == [0.5, 0.25]
    opt2 = torch.optim.Adam(ck.G.parameters(), lr=0.002, betas=(0.0, 0.99))
    opt2.load_state_dict(ts["G_opt"])
    assert opt2.state_dict()["param_groups"][0]["betas"] == (0.0, 0.99)
    assert load_generator_from_file(path).__class__ is G_ema.__class__


def test_atomic_write_replaces_and_leaves_no_temp(official, tmp_path):
    pytest.importorskip("gan_core.models.stylegan3")
    G = build_from_fixture(official("sg3t_32.pt"))
    path = tmp_path / "model.pt"
    path.write_bytes(b"old content")
    os.chmod(path, 0o640)
    save_checkpoint(path, G)
    assert no_temp_files(tmp_path)
    assert (os.stat(path).st_mode & 0o777) == 0o640  # an existing file keeps its permissions
    assert torch.load(path, weights_only=True)["format"] == "ganscope"


def test_interrupted_write_keeps_the_previous_file(official, tmp_path, monkeypatch):
    pytest.importorskip("gan_core.models.stylegan3")
    G = build_from_fixture(official("sg3t_32.pt"))
    path = tmp_path / "model.pt"
    save_checkpoint(path, G, metadata={"version": "first"})
    before = path.read_bytes()

    real_save = torch.save

    def failing_save(obj, f, *a, **kw):
        real_save({"partial": torch.ones(1000)}, f)  # some bytes reach the temp file first
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(native.torch, "save", failing_save)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, G, metadata={"version": "second"})
    monkeypatch.setattr(native.torch, "save", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, G, metadata={"version": "third"})
    monkeypatch.undo()

    assert path.read_bytes() == before and no_temp_files(tmp_path)
    assert load_checkpoint(path).metadata["version"] == "first"


def test_non_plain_training_state_is_refused_before_writing(official, tmp_path):
    pytest.importorskip("gan_core.models.stylegan3")
    G = build_from_fixture(official("sg3t_32.pt"))
    path = tmp_path / "model.pt"
    with pytest.raises(ValueError, match=r"training_state\['opt'\] is a Adam"):
        save_checkpoint(path, G, training_state={"opt": torch.optim.Adam(G.parameters())})
    with pytest.raises(ValueError, match="metadata"):
        save_checkpoint(path, G, metadata={"fn": print})
    assert not path.exists() and no_temp_files(tmp_path)


def test_network_without_family_or_config_is_refused(tmp_path):
    with pytest.raises(ValueError, match="family"):
        save_checkpoint(tmp_path / "x.pt", torch.nn.Linear(2, 2))

    class Fam(torch.nn.Linear):
        family = "stylegan3"

    with pytest.raises(ValueError, match="config"):
        save_checkpoint(tmp_path / "x.pt", Fam(2, 2))
    assert not (tmp_path / "x.pt").exists() and no_temp_files(tmp_path)


def test_legacy_torch_save_stream_of_native_payload(official, tmp_path):
    """A native payload written with the old (non-zip) torch.save still sniffs and loads."""
    pytest.importorskip("gan_core.models.stylegan3")
    fx = official("sg3t_32.pt")
    G = build_from_fixture(fx)
    path = tmp_path / "legacy.pt"
    torch.save(native.build_payload(G), path, _use_new_zipfile_serialization=False)
    assert path.read_bytes()[:1] == b"\x80"
    G2 = load_generator_from_file(path)
    for k, v in G.state_dict().items():
        assert torch.equal(G2.state_dict()[k], v)


def test_device_argument(official, tmp_path):
    pytest.importorskip("gan_core.models.stylegan3")
    G = build_from_fixture(official("sg3t_32.pt"))
    path = tmp_path / "m.pt"
    save_checkpoint(path, G)
    G2 = load_generator_from_file(path, device=torch.device("cpu"))
    assert all(p.device.type == "cpu" for p in G2.parameters())
    if torch.cuda.is_available():
        assert all(p.is_cuda for p in load_checkpoint(path, device="cuda").G_ema.parameters())


def test_missing_tensor_in_native_file(official, tmp_path):
    pytest.importorskip("gan_core.models.stylegan3")
    G = build_from_fixture(official("sg3t_32.pt"))
    payload = native.build_payload(G)
    del payload["G_ema"]["state_dict"]["mapping.w_avg"]
    path = tmp_path / "m.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"m\.pt.*missing tensors: mapping\.w_avg"):
        load_checkpoint(path)
