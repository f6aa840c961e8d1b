"""Files that are not (readable) checkpoints: one CheckpointError naming the file, nothing run."""
from __future__ import annotations

import os
import pickle
import subprocess
import zipfile

import pytest
import torch

from gan_core.io import CheckpointError, load_checkpoint, load_generator_from_file
from tests.gan_core.io import fake_official as fo


@pytest.fixture(autouse=True)
def _no_official_calls():
    fo.CALLS.clear()
    yield
    assert fo.CALLS == []


def expect_error(path, *patterns):
    """Both entry points fail with a one-line CheckpointError naming the file."""
    for fn in (load_checkpoint, load_generator_from_file):
        with pytest.raises(CheckpointError) as info:
            fn(path)
        msg = str(info.value)
        assert os.fspath(path) in msg and "\n" not in msg
        assert info.value.path == os.fspath(path)
        for p in patterns:
            assert p.lower() in msg.lower(), (p, msg)
    return msg


def test_missing_path(tmp_path):
    expect_error(tmp_path / "nope.pkl", "no such file")


def test_directory(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "network-snapshot-000000.pkl").write_bytes(b"")
    expect_error(tmp_path / "run", "is a directory", "network-snapshot-000000.pkl")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.pkl"
    p.write_bytes(b"")
    expect_error(p, "empty")


@pytest.mark.parametrize("content, words", [
    (b"hello, this is not a network\n", "text file"),
    ("Gr\u00fc\u00dfe, keine Gewichte\n".encode(), "text file"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n", "git lfs"),
    (b"<!DOCTYPE html><html><body>Not found</body></html>", "html"),
    (b'{"G": "nope"}', "json"),
    (b"\x1f\x8b\x08\x00junk", "gzip"),
    (bytes(range(256)) * 4, "not a recognised"),
])
def test_not_a_checkpoint(tmp_path, content, words):
    p = tmp_path / "weights.pkl"
    p.write_bytes(content)
    expect_error(p, words)


def test_truncated_pickle(official, tmp_path):
    data = fo.official_pickle_bytes(official("sg3t_32.pt"), fo.evil_module_src(tmp_path / "marker"))
    for cut in (len(data) // 2, len(data) - 1, 40):
        p = tmp_path / f"cut{cut}.pkl"
        p.write_bytes(data[:cut])
        expect_error(p, "truncated")
    assert not (tmp_path / "marker").exists()


def test_damaged_pickle(official, tmp_path):
    data = bytearray(fo.official_pickle_bytes(official("sg3t_32.pt"), "x = 1"))
    data[12:76] = b"\xff" * 64  # inside the opcode stream (damage inside raw tensor bytes is undetectable)
    p = tmp_path / "damaged.pkl"
    p.write_bytes(bytes(data))
    expect_error(p, "damaged")


class _Call:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


@pytest.mark.parametrize("fn, name", [(os.system, "system"), (eval, "builtins.eval"),
                                      (exec, "builtins.exec"), (subprocess.Popen, "subprocess.Popen")])
def test_forbidden_global_runs_nothing(tmp_path, fn, name):
    marker = tmp_path / "marker"
    if fn is os.system or fn is subprocess.Popen:
        args = (f"touch {marker}",) if fn is os.system else (["touch", str(marker)],)
    else:
        args = (f"open({str(marker)!r}, 'w').write('ran')",)
    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps({"G_ema": _Call(fn, *args)}, protocol=4))
    expect_error(p, name, "not loaded")
    assert not marker.exists()


def test_forbidden_global_inside_a_network_record(official, tmp_path):
    fx = official("sg3t_32.pt")
    marker = tmp_path / "marker"
    kwargs = dict(fx["init_kwargs"], evil=_Call(os.system, f"touch {marker}"))
    rec = fo.nest_state_dict(fx["G_state_dict"], fx["class_name"], kwargs, fo.evil_module_src(marker))
    p = tmp_path / "evil.pkl"
    p.write_bytes(fo.dumps({"G_ema": rec}))
    expect_error(p, "system")
    assert not marker.exists()


def test_tensorflow_pickle_is_named(tmp_path):
    p = tmp_path / "stylegan2-ffhq-config-f.pkl"
    p.write_bytes(b"\x80\x02cdnnlib.tflib.network\nNetwork\nq\x00)\x81q\x01.")
    expect_error(p, "TensorFlow")


def test_unknown_class_name(official, tmp_path):
    data = fo.official_pickle_bytes(official("sg3t_32.pt"), "x = 1",
                                    class_name="training.networks_stylegan9.Generator")
    p = tmp_path / "sg9.pkl"
    p.write_bytes(data)
    expect_error(p, "training.networks_stylegan9.Generator")


def test_missing_tensor_strict_load(official, tmp_path):
    pytest.importorskip("gan_core.models.stylegan3")
    data = fo.official_pickle_bytes(official("sg3t_32.pt"), "x = 1", drop_key="synthesis.L2_36_64.affine.bias")
    p = tmp_path / "missing.pkl"
    p.write_bytes(data)
    expect_error(p, "missing tensors", "synthesis.L2_36_64.affine.bias")


def test_unexpected_tensor_strict_load(official, tmp_path):
    pytest.importorskip("gan_core.models.stylegan3")
    fx = official("sg3t_32.pt")
    sd = dict(fx["G_state_dict"], **{"synthesis.extra_layer.weight": torch.ones(2)})
    rec = fo.nest_state_dict(sd, fx["class_name"], fx["init_kwargs"], "x = 1")
    p = tmp_path / "extra.pkl"
    p.write_bytes(fo.dumps({"G_ema": rec}))
    expect_error(p, "unexpected tensors", "synthesis.extra_layer.weight")


def test_wrong_constructor_arguments(official, tmp_path):
    pytest.importorskip("gan_core.models.stylegan3")
    fx = official("sg3t_32.pt")
    rec = fo.nest_state_dict(fx["G_state_dict"], fx["class_name"], dict(fx["init_kwargs"], bogus_arg=1), "x = 1")
    p = tmp_path / "args.pkl"
    p.write_bytes(fo.dumps({"G_ema": rec}))
    expect_error(p, "bogus_arg")


def test_pickle_without_networks(tmp_path):
    p = tmp_path / "dict.pkl"
    p.write_bytes(pickle.dumps({"weights": [1, 2, 3]}, protocol=4))
    expect_error(p, "no network", "'weights'")
    p.write_bytes(pickle.dumps({"G_ema": [1, 2]}, protocol=4))
    expect_error(p, "G_ema is a list")


def test_zip_that_is_not_a_torch_file(tmp_path):
    p = tmp_path / "archive.pt"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("readme.txt", "hello")
    expect_error(p, "zip archive but not a readable PyTorch checkpoint")


def test_rosinality_checkpoint(tmp_path):
    p = tmp_path / "550000.pt"
    torch.save({"g": {"style.1.weight": torch.ones(2)}, "d": {}, "g_ema": {"style.1.weight": torch.ones(2)},
                "g_optim": {}, "d_optim": {}}, p)
    expect_error(p, "rosinality", "not supported yet")


def test_lightning_checkpoint(tmp_path):
    p = tmp_path / "mobilestylegan.ckpt"
    torch.save({"state_dict": {"a": torch.ones(1)}, "pytorch-lightning_version": "1.0.0"}, p)
    expect_error(p, "Lightning")


def test_bare_state_dict(official, tmp_path):
    p = tmp_path / "state.pt"
    torch.save(official("sg3t_32.pt")["G_state_dict"], p)
    expect_error(p, "bare state dict", "constructor arguments")


def test_torch_file_with_python_objects_is_not_executed(tmp_path):
    marker = tmp_path / "marker"
    p = tmp_path / "objects.pt"
    torch.save({"G_ema": _Call(os.system, f"touch {marker}")}, p)
    expect_error(p, "stores Python objects", "cannot be read safely")
    assert not marker.exists()
    # the legacy (non-zip) torch.save stream too
    p2 = tmp_path / "legacy.pt"
    torch.save({"G_ema": _Call(os.system, f"touch {marker}")}, p2, _use_new_zipfile_serialization=False)
    expect_error(p2, "stores Python objects")
    assert not marker.exists()


def test_newer_native_format_version(tmp_path):
    p = tmp_path / "future.pt"
    torch.save({"format": "ganscope", "format_version": 99, "family": "stylegan3",
                "G_ema": {"config": {}, "state_dict": {}}}, p)
    expect_error(p, "newer ganscope", "format version 99", "upgrade")


def test_damaged_native_file(tmp_path):
    p = tmp_path / "bad.pt"
    torch.save({"format": "ganscope", "format_version": 1, "family": "stylegan3", "G_ema": {"config": {}}}, p)
    expect_error(p, "G_ema", "damaged")
    torch.save({"format": "ganscope", "format_version": 1, "family": "stylegan99",
                "G_ema": {"config": {}, "state_dict": {}}}, p)
    expect_error(p, "stylegan99")


def test_error_without_path_is_one_line():
    e = CheckpointError("first line\nsecond line")
    assert str(e) == "first line second line" and e.path is None
    assert str(e.with_path("x.pkl")) == "x.pkl: first line second line"
    assert isinstance(CheckpointError("x"), Exception)


@pytest.mark.parametrize("bad", [{"architecture": "nonsense"}, {"img_resolution": 33}])
def test_constructor_rejects_stored_values(official, tmp_path, bad):
    pytest.importorskip("gan_core.models.stylegan2")
    fx = official("sg2_skip_32.pt")
    rec = fo.nest_state_dict(fx["G_state_dict"], fx["class_name"], dict(fx["init_kwargs"], **bad), "x = 1")
    p = tmp_path / "bad_args.pkl"
    p.write_bytes(fo.dumps({"G_ema": rec}))
    expect_error(p, "cannot be built from its stored arguments", str(next(iter(bad.values()))))
