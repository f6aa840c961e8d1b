"""Where the kernel tests (marked ``kernels``) run: on the CUDA device when there is one, else
on the CPU with the very same kernel sources built for the emulator in
``cuda_ops/csrc/emulation/`` (``cuda_ops._build.emulated_kernels``). Tests put their tensors on
``DEV``; sizes that only a GPU runs quickly are scaled by ``EMULATED``."""
import shutil

import pytest
import torch

from cuda_ops import _build

CUDA = torch.cuda.is_available()
EMULATED = not CUDA
DEV = "cuda" if CUDA else "cpu"


def kernel_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if CUDA else torch.device("cpu")


def _emulator_missing() -> str | None:
    from torch.utils import cpp_extension
    if shutil.which("c++") is None and shutil.which("g++") is None:
        return "there is no C++ compiler"
    if not cpp_extension.is_ninja_available():
        return "ninja is not installed"
    return None


@pytest.fixture(autouse=True)
def _kernel_backend(request):
    if request.node.get_closest_marker("kernels") is None or CUDA:
        yield
        return
    why = _emulator_missing()
    if why:
        pytest.skip(f"no CUDA device, and the CPU emulation of the kernels cannot be built: {why}")
    with _build.emulated_kernels():
        yield
