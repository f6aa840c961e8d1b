"""Official NVIDIA pickles: the restricted unpickler and rebuilding our networks from them.

The pickles are built here without the official code (tests/gan_core/io/fake_official.py),
from the reference fixtures' weights, so loading them must reproduce the official images.
"""
from __future__ import annotations

import collections
import io
import pickle
import pickletools
import struct

import numpy as np
import pytest
import torch

from gan_core.io import CheckpointError, load_checkpoint, load_generator_from_file
from gan_core.io import official_pickle as op
from tests.gan_core.io import fake_official as fo


@pytest.fixture(autouse=True)
def _reset_calls():
    fo.CALLS.clear()
    yield
    assert fo.CALLS == [], f"official functions were called while loading: {fo.CALLS}"


def render(G, ref, psi=1, cutoff=None, noise_mode="const"):
    with torch.no_grad():
        ws = G.mapping(ref["z"], ref["c"], truncation_psi=psi, truncation_cutoff=cutoff)
        return ws, G.synthesis(ws, noise_mode=noise_mode)


def write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _needs(family_module: str):
    pytest.importorskip(family_module)


# --------------------------------------------------------------------------------------------
# Rebuilding networks from official-style pickles
# --------------------------------------------------------------------------------------------


def assert_same_state(net, state_dict):
    """The network holds exactly the fixture's tensors (cheaper than rendering)."""
    sd = net.state_dict()
    assert sorted(sd) == sorted(state_dict)
    for k, v in state_dict.items():
        assert torch.equal(sd[k], v), k


@pytest.mark.parametrize("case", ["sg3t_32.pt", "sg3r_32.pt"])
def test_stylegan3_pickle_reproduces_reference(official, tmp_path, case):
    _needs("gan_core.models.stylegan3")
    fx = official(case)
    marker = tmp_path / "marker"
    path = write(tmp_path, "network-snapshot-000100.pkl",
                 fo.official_pickle_bytes(fx, fo.evil_module_src(marker)))
    ck = load_checkpoint(path)
    assert ck.source_format == "nvidia-pickle" and ck.family == "stylegan3"
    assert ck.G is not None and ck.G_ema is not None and ck.D is None
    ref = fx["reference"]
    ws, img = render(ck.G_ema, ref)
    torch.testing.assert_close(ws, ref["ws_psi1"], rtol=1e-5, atol=1e-5)
    assert (img - ref["img_const_psi1"]).abs().max().item() < 1e-4
    assert_same_state(ck.G, fx["G_state_dict"])
    assert not ck.G_ema.training and not any(p.requires_grad for p in ck.G_ema.parameters())
    assert ck.metadata["classes"]["G_ema"] == fx["class_name"]
    assert ck.metadata["augment_pipe"] == "training.augment.AugmentPipe"
    assert ck.metadata["training_set_kwargs"]["resolution"] == 32
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 3, 5])
def test_other_pickle_protocols(official, tmp_path, protocol):
    _needs("gan_core.models.stylegan3")
    fx = official("sg3t_32.pt")
    marker = tmp_path / "marker"
    path = write(tmp_path, "snap.pkl", fo.official_pickle_bytes(fx, fo.evil_module_src(marker), protocol))
    ck = load_checkpoint(path)
    assert_same_state(ck.G_ema, fx["G_state_dict"])
    assert_same_state(ck.G, fx["G_state_dict"])
    with torch.no_grad():
        ws = ck.G_ema.mapping(fx["reference"]["z"], fx["reference"]["c"], truncation_psi=0.7, truncation_cutoff=4)
    torch.testing.assert_close(ws, fx["reference"]["ws_psi07_cutoff4"], rtol=1e-5, atol=1e-5)
    assert not marker.exists()


@pytest.mark.parametrize("case", ["sg2_skip_32.pt", "sg2_resnet_cond5_32.pt"])
def test_stylegan2_pickle_reproduces_reference_G_and_D(official, tmp_path, case):
    _needs("gan_core.models.stylegan2")
    fx = official(case)
    marker = tmp_path / "marker"
    path = write(tmp_path, "snap.pkl", fo.official_pickle_bytes(fx, fo.evil_module_src(marker)))
    ck = load_checkpoint(path)
    assert ck.family == "stylegan2" and ck.G is not None and ck.G_ema is not None and ck.D is not None
    ref = fx["reference"]
    _, img = render(ck.G_ema, ref)
    assert (img - ref["img_const_psi1"]).abs().max().item() < 1e-4
    assert_same_state(ck.G, fx["G_state_dict"])
    assert_same_state(ck.D, fx["D_state_dict"])
    with torch.no_grad():
        logits = ck.D(ref["img_const_psi1"], ref["c"])
    torch.testing.assert_close(logits, ref["d_logits_on_img_const_psi1"], rtol=1e-4, atol=1e-4)
    assert not marker.exists()


def test_load_generator_from_file_builds_only_the_generator(official, tmp_path, monkeypatch):
    _needs("gan_core.models.stylegan3")
    fx = official("sg3t_32.pt")
    path = write(tmp_path, "snap.pkl", fo.official_pickle_bytes(fx, fo.evil_module_src(tmp_path / "m")))
    built = []
    real = op.network_from_record
    monkeypatch.setattr(op, "network_from_record", lambda rec, what="": built.append(what) or real(rec, what))
    G = load_generator_from_file(path)
    assert built == ["its G_ema"]
    assert not G.training and not any(p.requires_grad for p in G.parameters())
    assert_same_state(G, fx["G_state_dict"])


def test_top_level_single_record_and_G_ema_only(official, tmp_path):
    _needs("gan_core.models.stylegan3")
    fx = official("sg3t_32.pt")
    src = fo.evil_module_src(tmp_path / "m")
    rec = fo.nest_state_dict(fx["G_state_dict"], fx["class_name"], fx["init_kwargs"], src)
    for name, obj in (("single.pkl", rec), ("only_ema.pkl", {"G_ema": rec})):
        path = write(tmp_path, name, fo.dumps(obj))
        ck = load_checkpoint(path)
        assert ck.G_ema is not None and ck.G is None and ck.D is None
        assert_same_state(ck.G_ema, fx["G_state_dict"])
    # a generator stored only as G is used by load_generator_from_file
    path = write(tmp_path, "only_G.pkl", fo.dumps({"G": rec, "G_ema": None, "D": None}))
    assert_same_state(load_generator_from_file(path), fx["G_state_dict"])
    assert not (tmp_path / "m").exists()


def test_discriminator_only_pickle_has_no_generator(official, tmp_path):
    _needs("gan_core.models.stylegan2")
    fx = official("sg2_skip_32.pt")
    rec = fo.nest_state_dict(fx["D_state_dict"], "training.networks_stylegan2.Discriminator",
                             fx["D_init_kwargs"], "raise SystemExit")
    path = write(tmp_path, "d_only.pkl", fo.dumps(rec))
    ck = load_checkpoint(path)
    assert ck.D is not None and ck.G is None and ck.G_ema is None and ck.family == "stylegan2"
    with pytest.raises(CheckpointError, match="d_only.pkl.*no generator"):
        load_generator_from_file(path)


def test_collect_state_dict_dotted_paths_skips_none_and_non_persistent():
    t = torch.ones(2)
    child = op.PersistentRecord("x.Child", {"_parameters": {"weight": t, "bias": None},
                                            "_buffers": {"buf": t, "tmp": t, "none": None},
                                            "_non_persistent_buffers_set": {"tmp"}, "_modules": {}})
    top = op.PersistentRecord("x.Top", {"_parameters": collections.OrderedDict(w=t),
                                        "_buffers": {}, "_modules": {"a": child, "b": None,
                                                                     "c": {"_parameters": {"p": t}}}})
    assert sorted(op.collect_state_dict(top)) == ["a.buf", "a.weight", "c.p", "w"]


def test_init_kwargs_with_positional_args():
    rec = op.PersistentRecord("training.networks_stylegan3.Generator",
                              {"_init_args": (64, 0), "_init_kwargs": op.AttrDict(w_dim=64, z_dim=1)})
    assert op.init_kwargs_of(rec, "G") == {"w_dim": 64, "z_dim": 1, "c_dim": 0}
    with pytest.raises(CheckpointError, match="constructor arguments"):
        op.init_kwargs_of(op.PersistentRecord("a.B", {}), "G")


# --------------------------------------------------------------------------------------------
# The restricted unpickler on its own
# --------------------------------------------------------------------------------------------


def test_plain_data_round_trips():
    obj = {
        "od": collections.OrderedDict(a=1), "set": {1, 2}, "fs": frozenset({3}), "sl": slice(1, 5, 2),
        "c": 1 + 2j, "ba": bytearray(b"xy"), "arr": np.arange(6, dtype=np.float32).reshape(2, 3),
        "bcast": np.broadcast_to(np.asarray(7), [2]), "f64": np.float64(0.5), "i64": np.int64(3),
        "bool": np.bool_(True), "t": torch.arange(5.0)[1:4], "p": torch.nn.Parameter(torch.ones(2, 2)),
        "half": torch.ones(3, dtype=torch.float16), "dtype": torch.float16, "dev": torch.device("cpu"),
        "size": torch.Size([2, 3]),
    }
    for protocol in (2, 3, 4, 5):
        out = op.restricted_loads(pickle.dumps(obj, protocol=protocol))
        assert out["od"] == obj["od"] and isinstance(out["od"], collections.OrderedDict)
        assert out["set"] == {1, 2} and out["fs"] == frozenset({3}) and out["sl"] == slice(1, 5, 2)
        assert out["c"] == 1 + 2j and out["ba"] == bytearray(b"xy")
        np.testing.assert_array_equal(out["arr"], obj["arr"])
        np.testing.assert_array_equal(out["bcast"], [7, 7])
        assert out["f64"] == 0.5 and out["f64"].dtype == np.float64 and out["i64"] == 3 and out["bool"]
        assert torch.equal(out["t"], torch.tensor([1.0, 2.0, 3.0]))
        assert isinstance(out["p"], torch.nn.Parameter) and torch.equal(out["p"], torch.ones(2, 2))
        assert out["half"].dtype == torch.float16
        assert out["dtype"] is torch.float16 and out["dev"] == torch.device("cpu")
        assert out["size"] == torch.Size([2, 3])


def test_easydict_becomes_attrdict():
    out = op.restricted_loads(fo.dumps({"k": fo.EasyDict(a=1, nested=fo.EasyDict(b=np.float32(2)))}))
    assert isinstance(out["k"], op.AttrDict) and out["k"].a == 1 and out["k"].nested.b == 2


def test_persistent_record_keeps_no_source():
    rec = op.restricted_loads(fo.dumps(fo.Persistent("a.B", {"x": 1}, "print('hi')\n" * 10)))
    assert isinstance(rec, op.PersistentRecord)
    assert rec.as_dict() == {"class_name": "a.B", "module_src_len": 120, "state": {"x": 1}}
    assert not any(isinstance(v, str) and "print" in v for v in vars(rec).values())


@pytest.mark.parametrize("module, name", [("numpy.core.multiarray", "_reconstruct"),
                                          ("numpy._core.multiarray", "_reconstruct"),
                                          ("numpy.core.multiarray", "scalar"),
                                          ("numpy._core.multiarray", "scalar"),
                                          ("numpy", "ndarray"), ("numpy", "dtype"),
                                          ("builtins", "set"), ("__builtin__", "frozenset"),
                                          ("torch", "float32"), ("torch", "FloatStorage")])
def test_allowed_globals(module, name):
    op.RestrictedUnpickler(io.BytesIO(b"")).find_class(module, name)


def _global_pickle(module: str, name: str, args: tuple) -> bytes:
    """Protocol-2 pickle calling module.name(*args), written by hand (nothing imported)."""
    return (b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n" + pickle.dumps(args, 2)[2:-1]
            + b"R.")


@pytest.mark.parametrize("module, name", [("os", "system"), ("posix", "system"), ("builtins", "eval"),
                                          ("builtins", "exec"), ("builtins", "getattr"),
                                          ("subprocess", "Popen"), ("torch", "load"),
                                          ("numpy", "load"), ("torch.storage", "TypedStorage.__new__"),
                                          ("collections", "OrderedDict.fromkeys")])
def test_forbidden_globals(module, name):
    with pytest.raises(CheckpointError, match=f"refers to {module}.{name}"):
        op.restricted_loads(_global_pickle(module, name, ("x",)))


def test_allowed_data_class_cannot_be_called_or_built():
    # torch.FloatStorage is allowed as data only: calling it (a huge allocation) is refused
    with pytest.raises(CheckpointError, match="calls"):
        op.restricted_loads(_global_pickle("torch", "FloatStorage", (10 ** 12,)))
    # NEWOBJ of an ndarray is refused
    data = b"\x80\x02cnumpy\nndarray\n" + pickle.dumps((10 ** 12,), 2)[2:-1] + b"\x81."
    with pytest.raises(CheckpointError, match="creates"):
        op.restricted_loads(data)
    # BUILD on a class object (setattr on our own classes) is refused
    data = b"\x80\x02cdnnlib.util\nEasyDict\n" + pickle.dumps((None, {"__getattr__": 1}), 2)[2:-1] + b"b."
    with pytest.raises(CheckpointError, match="sets the state"):
        op.restricted_loads(data)
    assert callable(op.AttrDict.__getattr__)


def test_persistent_ids_refused():
    data = b"\x80\x02X\x01\x00\x00\x00aQ."  # BINUNICODE 'a', BINPERSID
    with pytest.raises(CheckpointError, match="persistent ids"):
        op.restricted_loads(data)


def test_huge_length_is_an_error_not_an_allocation():
    data = b"\x80\x04\x8e" + struct.pack("<Q", 1 << 50) + b"abc"  # BINBYTES8 of 2**50 bytes
    with pytest.raises(CheckpointError, match="truncated"):
        op.restricted_loads(data)
    data = b"\x80\x05\x96" + struct.pack("<Q", 1 << 50) + b"abc"  # BYTEARRAY8 of 2**50 bytes
    with pytest.raises(CheckpointError, match="truncated"):
        op.restricted_loads(data)
    data = b"\x80\x04\x95" + struct.pack("<Q", 1 << 50) + b"abc"  # FRAME of 2**50 bytes
    with pytest.raises(CheckpointError, match="truncated"):
        op.restricted_loads(data)


def _key(s: str) -> bytes:
    return b"X" + struct.pack("<I", len(s.encode())) + s.encode()


def test_deep_nesting(tmp_path):
    n = 100_000
    # a list nested 100k deep unpickles (the unpickler keeps its own stack) and is then refused
    path = write(tmp_path, "lists.pkl", b"\x80\x02" + b"]" * n + b"a" * (n - 1) + b".")
    with pytest.raises(CheckpointError, match="lists.pkl.*holds a list"):
        load_checkpoint(path)
    # a network whose constructor arguments nest 100k deep: an error, not a crash
    deep = b"}" + (_key("a") + b"}") * n + b"s" * n
    meta = (b"}" + _key("type") + _key("class") + b"s" + _key("class_name")
            + _key("training.networks_stylegan3.Generator") + b"s"
            + _key("state") + b"}" + _key("_init_kwargs") + deep + b"s" + b"s")
    data = b"\x80\x02ctorch_utils.persistence\n_reconstruct_persistent_obj\n" + meta + b"\x85R."
    path = write(tmp_path, "deep.pkl", data)
    with pytest.raises(CheckpointError, match="deep.pkl"):
        load_checkpoint(path)
    # modules nested deeper than any real network
    rec = op.PersistentRecord("a.B", {"_modules": {}})
    node = rec
    for _ in range(200):
        child = op.PersistentRecord("a.B", {"_modules": {}})
        node.state["_modules"]["m"] = child
        node = child
    with pytest.raises(CheckpointError, match="nested"):
        op.collect_state_dict(rec)


def test_tensor_layout_is_checked():
    storage = torch.arange(4.0).storage()
    with pytest.raises(CheckpointError, match="needs 10 elements"):
        op._rebuild_tensor_v2(storage, 0, (10,), (1,), False, collections.OrderedDict())
    with pytest.raises(CheckpointError, match="invalid layout"):
        op._rebuild_tensor_v2(storage, -1, (2,), (1,), False, None)
    with pytest.raises(CheckpointError, match="not a tensor storage"):
        op._rebuild_tensor_v2("nope", 0, (2,), (1,), False, None)
    t = op._rebuild_tensor_v2(storage, 1, (2,), (2,), False, collections.OrderedDict(hook=print))
    assert t.tolist() == [1.0, 3.0] and not t._backward_hooks


def test_unsafe_tensor_bytes_are_refused():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    buf = io.BytesIO()
    torch.save(Evil(), buf, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="could not be read safely"):
        op._load_from_bytes(buf.getvalue())


def test_fake_stream_uses_the_official_globals(official):
    fx = official("sg3t_32.pt")
    data = fo.official_pickle_bytes(fx, "x = 1")
    strings = {a for o, a, _ in pickletools.genops(data) if isinstance(a, str)}
    assert {"torch_utils.persistence", "_reconstruct_persistent_obj", "dnnlib.util", "EasyDict",
            "torch._utils", "_rebuild_tensor_v2", "torch.storage", "_load_from_bytes"} <= strings
    import sys
    assert "torch_utils.persistence" not in sys.modules and "dnnlib.util" not in sys.modules
