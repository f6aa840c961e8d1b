"""Building the fused CUDA kernels on first use, and the on-disk cache they live in.

Each op is its own extension module made of ``cuda_ops/csrc/<op>*.cu`` (kernels and their
launchers; CUDA headers only, so nvcc compiles them in seconds) and ``cuda_ops/csrc/<op>*.cpp``
(the PyTorch bindings). ``load(op)`` compiles them with ``torch.utils.cpp_extension`` and ninja
into ``<cache>/<op>-<key>/``, where the key hashes the sources, every header in ``csrc/``, the
PyTorch and CUDA versions, the GPU architecture and the flags: a changed source or another GPU
builds anew, anything else loads the finished module straight from disk. Two processes that
build at once are serialised by a lock file; the second loads what the first built.

Nothing here raises on import, and a failed build never breaks ``import gan_core``:
``kernel_status(op)`` reports ``(False, reason)`` and the ops fall back to the reference
(``cuda_ops._dispatch``). Environment:

* ``GANSCOPE_OPS_IMPL=ref`` — never use (or build) the kernels;
* ``GANSCOPE_CUDA_CACHE=DIR`` — where builds go (default ``$XDG_CACHE_HOME/ganscope/cuda_ops``,
  i.e. ``~/.cache/ganscope/cuda_ops``);
* ``GANSCOPE_CUDA_VERBOSE=1`` — show the compiler's output.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path

import torch

OPS = ("upfirdn2d", "bias_act", "filtered_lrelu")
CSRC = Path(__file__).resolve().parent / "csrc"
CUDA_FLAGS = ["-O3", "--use_fast_math", "--expt-relaxed-constexpr", "-lineinfo"]
CXX_FLAGS = ["-O3"]
_modules: dict[str, object] = {}
_errors: dict[str, str] = {}
_lock = threading.Lock()


def sources(op: str) -> list[Path]:
    """The files compiled into ``op``'s extension (``.cu`` first)."""
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; expected one of {OPS}")
    return sorted(CSRC.glob(f"{op}*.cu")) + sorted(CSRC.glob(f"{op}*.cpp"))


def headers() -> list[Path]:
    return sorted(p for p in CSRC.glob("*") if p.suffix in (".h", ".cuh"))


def cache_root() -> Path:
    env = os.environ.get("GANSCOPE_CUDA_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ganscope" / "cuda_ops"


def device_arch(device: int | None = None) -> str:
    """The current GPU's architecture as ``"9.0"`` (the form TORCH_CUDA_ARCH_LIST takes)."""
    major, minor = torch.cuda.get_device_capability(device)
    return f"{major}.{minor}"


def build_key(op: str, arch: str) -> str:
    h = hashlib.sha256()
    for p in sources(op) + headers():
        h.update(p.name.encode())
        h.update(p.read_bytes())
    h.update(" ".join([torch.__version__, str(torch.version.cuda), arch, sys.version.split()[0],
                       *CUDA_FLAGS, *CXX_FLAGS]).encode())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def _file_lock(path: Path):
    """An exclusive lock held across processes (released when the holder dies, too)."""
    import fcntl
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _import_built(name: str, so: Path):
    loader = importlib.machinery.ExtensionFileLoader(name, str(so))
    spec = importlib.util.spec_from_file_location(name, so, loader=loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def _build(op: str):
    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device is available")
    if torch.version.cuda is None:
        raise RuntimeError(f"this PyTorch ({torch.__version__}) was built without CUDA")
    srcs = sources(op)
    if not srcs:
        raise RuntimeError(f"no sources for {op} in {CSRC}")
    arch = device_arch()
    key = build_key(op, arch)
    name = f"ganscope_{op}_{key}"
    build_dir = cache_root() / f"{op}-{key}"
    done = build_dir / "BUILT"
    with _file_lock(cache_root() / f"{op}-{key}.lock"):
        if not done.exists():
            from torch.utils import cpp_extension
            if not cpp_extension.is_ninja_available():
                raise RuntimeError("ninja is not installed (pip install ninja), so the kernels cannot be compiled")
            if cpp_extension.CUDA_HOME is None:
                raise RuntimeError("no CUDA toolkit (nvcc) was found; set CUDA_HOME")
            build_dir.mkdir(parents=True, exist_ok=True)
            old_arch = os.environ.get("TORCH_CUDA_ARCH_LIST")
            os.environ["TORCH_CUDA_ARCH_LIST"] = arch
            try:
                mod = cpp_extension.load(name=name, sources=[str(p) for p in srcs], build_directory=str(build_dir),
                                         extra_cflags=CXX_FLAGS, extra_cuda_cflags=CUDA_FLAGS,
                                         verbose=os.environ.get("GANSCOPE_CUDA_VERBOSE") == "1")
            finally:
                if old_arch is None:
                    os.environ.pop("TORCH_CUDA_ARCH_LIST", None)
                else:
                    os.environ["TORCH_CUDA_ARCH_LIST"] = old_arch
            done.write_text(f"{name}\n")
            return mod
    if name in sys.modules:
        return sys.modules[name]
    found = sorted(build_dir.glob(f"{name}*.so")) + sorted(build_dir.glob(f"{name}*.pyd"))
    if not found:  # the marker without the module: build again next time
        done.unlink(missing_ok=True)
        raise RuntimeError(f"the cached build in {build_dir} has no module; it will be rebuilt on the next start")
    mod = _import_built(name, found[0])
    sys.modules[name] = mod
    return mod


def load(op: str):
    """The compiled extension of ``op``, building it on first use; RuntimeError if it cannot be.
    Inside ``emulated_kernels()``, the CPU emulation build of the same sources."""
    if _emulating:
        return load_emulated(op)
    with _lock:
        if op in _modules:
            return _modules[op]
        if op in _errors:
            raise RuntimeError(_errors[op])
        try:
            _modules[op] = _build(op)
        except Exception as e:  # noqa: BLE001 — any failure means "use the reference", with the reason
            msg = str(e).strip().splitlines()
            reason = msg[-1] if msg else type(e).__name__
            _errors[op] = (f"the fused {op} kernel could not be built or loaded ({type(e).__name__}: {reason[:300]}); "
                           f"set GANSCOPE_CUDA_VERBOSE=1 to see the compiler output")
            raise RuntimeError(_errors[op]) from None
        return _modules[op]


def kernel_status(op: str) -> tuple[bool, str]:
    """(available, reason): whether ``op``'s kernel is built and loaded (building it if needed)."""
    if os.environ.get("GANSCOPE_OPS_IMPL", "").strip().lower() == "ref":
        return False, "GANSCOPE_OPS_IMPL=ref forces the reference"
    if not _emulating and not torch.cuda.is_available():
        return False, "no CUDA device is available"
    try:
        load(op)
    except RuntimeError as e:
        return False, str(e)
    return True, ""


# -- the same kernel sources on the CPU (tests without a GPU) -------------------------------------

EMULATION = CSRC / "emulation"
_emulating = False


@contextlib.contextmanager
def emulated_kernels():
    """Within this block the ops' kernels are the CPU emulation builds (``load_emulated``) and
    run on CPU tensors: ``impl='cuda'`` and ``'auto'`` use them for tensors on the CPU, exactly
    as they use the real kernels for CUDA tensors. For tests; not thread-safe."""
    global _emulating
    before = _emulating
    _emulating = True
    try:
        yield
    finally:
        _emulating = before


def kernel_device_type() -> str:
    """The device type whose tensors the kernels take: "cuda", or "cpu" while emulated."""
    return "cpu" if _emulating else "cuda"


EMU_FLAGS = ["-O2", "-DGANSCOPE_CUDA_EMULATION", "-Wno-attributes"]
_emulated: dict[str, object] = {}


def emulation_headers() -> list[Path]:
    return sorted(p for p in EMULATION.rglob("*.h"))


def load_emulated(op: str):
    """``op``'s extension built from the same sources for the CPU emulator in
    ``csrc/emulation/`` (kernels run on CPU tensors, one block after another, each thread a
    fiber; see emulator.h). For tests on machines without a GPU; never used by the ops
    themselves. Cached like the real build (key: the sources, the emulator, PyTorch)."""
    with _lock:
        if op in _emulated:
            return _emulated[op]
        from torch.utils import cpp_extension
        h = hashlib.sha256()
        for p in sources(op) + headers() + emulation_headers():
            h.update(p.name.encode())
            h.update(p.read_bytes())
        h.update(" ".join([torch.__version__, sys.version.split()[0], *EMU_FLAGS]).encode())
        key = h.hexdigest()[:16]
        name = f"ganscope_{op}_emulated_{key}"
        build_dir = cache_root() / f"{op}-emulated-{key}"
        with _file_lock(cache_root() / f"{op}-emulated-{key}.lock"):
            build_dir.mkdir(parents=True, exist_ok=True)
            srcs = []
            for src in sources(op):
                if src.suffix == ".cu":  # the C++ compiler reads .cu through a .cpp that includes it
                    wrapper = build_dir / f"emulated_{src.stem}.cpp"
                    text = f'#include "{src}"\n'
                    if not wrapper.exists() or wrapper.read_text() != text:
                        wrapper.write_text(text)
                    srcs.append(str(wrapper))
                else:
                    srcs.append(str(src))
            mod = cpp_extension.load(name=name, sources=srcs, build_directory=str(build_dir),
                                     extra_cflags=EMU_FLAGS, extra_include_paths=[str(EMULATION), str(CSRC)],
                                     verbose=os.environ.get("GANSCOPE_CUDA_VERBOSE") == "1")
        _emulated[op] = mod
        return mod


# -- the ops' CUDA entry points (autograd wrappers live in cuda_ops/_cuda_<op>.py) ----------------

def upfirdn2d_cuda(*args, **kwargs):
    from cuda_ops._cuda_upfirdn2d import upfirdn2d_cuda as fn
    return fn(*args, **kwargs)


def bias_act_cuda(*args, **kwargs):
    from cuda_ops._cuda_bias_act import bias_act_cuda as fn
    return fn(*args, **kwargs)


def filtered_lrelu_cuda(*args, **kwargs):
    from cuda_ops._cuda_filtered_lrelu import filtered_lrelu_cuda as fn
    return fn(*args, **kwargs)


# -- compile check without a GPU ----------------------------------------------------------------

def compile_check(op: str, arch: str = "sm_90", nvcc: str = "nvcc", cxx: str = "g++") -> list[str]:
    """Compile ``op``'s sources without linking or a GPU (nvcc for .cu, the C++ compiler in
    syntax-only mode for .cpp). Returns the problems found (empty: it compiles). A CPU-only
    PyTorch lacks one generated CUDA header; a stand-in is supplied for the check."""
    from torch.utils import cpp_extension
    includes = cpp_extension.include_paths() + [sysconfig.get_paths()["include"]]
    cuda_home = cpp_extension.CUDA_HOME or "/usr/local/cuda"
    includes.append(str(Path(cuda_home) / "include"))
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        shim = Path(tmp) / "shim" / "c10" / "cuda" / "impl"
        shim.mkdir(parents=True)
        (shim / "cuda_cmake_macros.h").write_text("#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n")
        flags = [f"-I{Path(tmp) / 'shim'}"] + [f"-I{p}" for p in includes] + [
            f"-DTORCH_EXTENSION_NAME=ganscope_{op}", "-DTORCH_API_INCLUDE_EXTENSION_H", "-std=c++17"]
        for src in sources(op):
            if src.suffix == ".cu":
                cmd = [nvcc, "-c", str(src), "-o", str(Path(tmp) / (src.stem + ".o")), f"-arch={arch}",
                       "-std=c++17", *CUDA_FLAGS, "-Xcompiler", "-fPIC", f"-I{CSRC}"]
            else:
                cmd = [cxx, "-fsyntax-only", str(src), *flags, f"-I{CSRC}", "-w"]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                problems.append(f"{src.name}: {' '.join(cmd[:2])} failed:\n{(r.stderr or r.stdout)[-4000:]}")
    return problems


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="Compile-check (no GPU needed) or build the fused kernels.")
    ap.add_argument("ops", nargs="*", default=list(OPS))
    ap.add_argument("--check", action="store_true", help="compile without linking or a GPU")
    ap.add_argument("--arch", default="sm_90")
    a = ap.parse_args()
    bad = 0
    for o in a.ops:
        if a.check:
            probs = compile_check(o, a.arch)
            print(f"{o}: {'compiles' if not probs else 'FAILED'}")
            for pr in probs:
                print(pr)
            bad += bool(probs)
        else:
            ok, why = kernel_status(o)
            print(f"{o}: {'built and loaded' if ok else why}")
            bad += not ok
    sys.exit(1 if bad else 0)
