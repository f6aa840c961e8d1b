"""Build cache, locking and fallback of the fused kernels — all testable without a GPU."""
import subprocess
import sys
import textwrap
import types
import warnings
from pathlib import Path

import pytest
import torch

from cuda_ops import _build, _dispatch, bias_act, upfirdn2d

REPO = Path(__file__).resolve().parents[2]


def test_every_op_has_sources():
    for op in _build.OPS:
        names = [p.name for p in _build.sources(op)]
        assert any(n.endswith(".cu") for n in names) and any(n.endswith(".cpp") for n in names), op
    with pytest.raises(ValueError, match="unknown op"):
        _build.sources("nonsense")


def test_build_key_follows_sources_headers_and_arch(tmp_path, monkeypatch):
    csrc = tmp_path / "csrc"
    csrc.mkdir()
    for p in _build.sources("bias_act") + _build.headers():
        (csrc / p.name).write_bytes(p.read_bytes())
    monkeypatch.setattr(_build, "CSRC", csrc)
    k = _build.build_key("bias_act", "9.0")
    assert k == _build.build_key("bias_act", "9.0")
    assert k != _build.build_key("bias_act", "8.0")
    (csrc / "bias_act.cu").write_text((csrc / "bias_act.cu").read_text() + "\n// changed\n")
    k2 = _build.build_key("bias_act", "9.0")
    assert k2 != k
    (csrc / "bias_act.h").write_text((csrc / "bias_act.h").read_text() + "\n// changed\n")
    assert _build.build_key("bias_act", "9.0") != k2


def test_cache_root_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GANSCOPE_CUDA_CACHE", str(tmp_path / "c"))
    assert _build.cache_root() == tmp_path / "c"
    monkeypatch.delenv("GANSCOPE_CUDA_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert _build.cache_root() == tmp_path / "x" / "ganscope" / "cuda_ops"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")
def test_without_cuda_the_reference_runs_and_cuda_is_refused_with_the_reason():
    ok, why = _build.kernel_status("upfirdn2d")
    assert not ok and "no CUDA device" in why
    x = torch.randn([1, 2, 6, 6])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # CPU tensors fall back silently
        y = upfirdn2d(x, torch.ones([2, 2]) / 4, up=2, padding=1)
        assert bias_act(x, act="lrelu").shape == x.shape
    assert y.shape == (1, 2, 13, 13)
    with pytest.raises(RuntimeError, match="impl='cuda' was asked for"):
        bias_act(x, impl="cuda")


class _FakeCudaTensor:
    device = types.SimpleNamespace(type="cuda")


def test_failed_build_falls_back_with_one_warning(monkeypatch):
    monkeypatch.setattr(_dispatch, "fused_kernels_status", lambda op: (False, "the fused x kernel could not be built"))
    monkeypatch.setattr(_dispatch, "_warned", set())
    with pytest.warns(RuntimeWarning, match="could not be built"):
        assert _dispatch.resolve_impl("upfirdn2d", "auto", _FakeCudaTensor()) == "ref"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only once per op
        assert _dispatch.resolve_impl("upfirdn2d", "auto", _FakeCudaTensor()) == "ref"
    with pytest.raises(RuntimeError, match="could not be built"):
        _dispatch.resolve_impl("upfirdn2d", "cuda", _FakeCudaTensor())


def test_environment_forces_the_reference(monkeypatch):
    monkeypatch.setenv("GANSCOPE_OPS_IMPL", "ref")
    monkeypatch.setattr(_dispatch, "fused_kernels_status", lambda op: (True, ""))
    assert _dispatch.resolve_impl("filtered_lrelu", "auto", _FakeCudaTensor()) == "ref"
    assert _dispatch.resolve_impl("filtered_lrelu", "cuda", _FakeCudaTensor()) == "ref"
    assert _build.kernel_status("bias_act") == (False, "GANSCOPE_OPS_IMPL=ref forces the reference")


def test_build_errors_are_remembered_and_reported(monkeypatch):
    monkeypatch.setattr(_build, "_modules", {})
    monkeypatch.setattr(_build, "_errors", {})
    calls = []

    def broken(op):
        calls.append(op)
        raise OSError("nvcc exploded\nerror: something on line 3")

    monkeypatch.setattr(_build, "_build", broken)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="could not be built or loaded .*something on line 3"):
            _build.load("bias_act")
    assert calls == ["bias_act"]  # not retried in the same process
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # past the no-device answer
    ok, why = _build.kernel_status("bias_act")
    assert not ok and "GANSCOPE_CUDA_VERBOSE" in why


_BUILDER = textwrap.dedent("""
    import sys, time, types
    from pathlib import Path
    import torch
    from torch.utils import cpp_extension
    from cuda_ops import _build
    log = Path(sys.argv[1])
    torch.cuda.is_available = lambda: True
    torch.version.cuda = torch.version.cuda or "13.0"
    _build.device_arch = lambda device=None: "9.0"
    cpp_extension.is_ninja_available = lambda: True
    cpp_extension.CUDA_HOME = cpp_extension.CUDA_HOME or "/usr/local/cuda"
    def fake_load(name, sources, build_directory, **kw):
        with open(log, "a") as f:
            f.write(f"start {time.time()}\\n")
        time.sleep(1.5)
        Path(build_directory, name + ".so").write_bytes(b"")  # what a real build leaves behind
        with open(log, "a") as f:
            f.write(f"end {time.time()}\\n")
        return types.SimpleNamespace(origin="built")
    cpp_extension.load = fake_load
    _build._import_built = lambda name, so: types.SimpleNamespace(origin="cache")
    print(_build.load("bias_act").origin)
""")


def test_two_processes_building_at_once_build_once(tmp_path):
    script = tmp_path / "builder.py"
    script.write_text(_BUILDER)
    log = tmp_path / "log.txt"
    env = {"GANSCOPE_CUDA_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([sys.executable, str(script), str(log)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sorted(o.strip() for o, _ in outs) == ["built", "cache"]
    assert log.read_text().count("start") == 1
    assert len(list((tmp_path / "cache").glob("bias_act-*/BUILT"))) == 1
    # a third process later loads from the cache without building
    r = subprocess.run([sys.executable, str(script), str(log)], env=env, capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "cache" and log.read_text().count("start") == 1


@pytest.mark.skipif(not Path("/usr/local/cuda/bin/nvcc").exists(), reason="nvcc is not installed")
def test_bias_act_sources_compile():
    assert _build.compile_check("bias_act") == []
