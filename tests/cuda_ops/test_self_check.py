"""The first-use check of the fused kernels (cuda_ops._self_check), exercised on the CPU with
the reference standing in for the kernel, and with faulty and crashing stand-ins."""
import warnings

import pytest
import torch

from cuda_ops import _self_check
from cuda_ops.bias_act import bias_act_ref
from cuda_ops.filtered_lrelu import filtered_lrelu_ref
from cuda_ops.upfirdn2d import upfirdn2d_ref

CPU = torch.device("cpu")
REFS = {"upfirdn2d": upfirdn2d_ref, "bias_act": bias_act_ref, "filtered_lrelu": filtered_lrelu_ref}


@pytest.mark.parametrize("op", list(REFS))
def test_a_correct_kernel_passes_and_a_wrong_one_is_caught(op):
    ref = REFS[op]
    assert _self_check.relative_error(op, CPU, candidate=ref) == 0.0
    # off by 0.1 % in the output only, or in the gradient only: both are caught
    assert _self_check.relative_error(op, CPU, candidate=lambda x, **kw: ref(x, **kw) * 1.001) > _self_check.CHECK_TOL

    def wrong_gradient(x, **kw):
        y = ref(x, **kw)
        return y + 1e-2 * (y.square() - y.square().detach())  # same value, gradient off by 2 % of y

    assert _self_check.relative_error(op, CPU, candidate=wrong_gradient) > _self_check.CHECK_TOL


def test_kernel_ok_caches_warns_once_and_survives_a_crash(monkeypatch):
    monkeypatch.setattr(_self_check, "_results", {})
    monkeypatch.setattr(_self_check, "relative_error", lambda op, device: 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _self_check.kernel_ok("bias_act", CPU)

    monkeypatch.setattr(_self_check, "relative_error", lambda op, device: 0.5)
    with pytest.warns(RuntimeWarning, match="upfirdn2d: the fused CUDA kernel failed its self-check on cpu"):
        assert not _self_check.kernel_ok("upfirdn2d", CPU)

    def crash(op, device):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(_self_check, "relative_error", crash)
    with pytest.warns(RuntimeWarning, match="illegal memory access"):
        assert not _self_check.kernel_ok("filtered_lrelu", CPU)
    with warnings.catch_warnings():  # decided once per op and device
        warnings.simplefilter("error")
        assert not _self_check.kernel_ok("filtered_lrelu", CPU) and _self_check.kernel_ok("bias_act", CPU)


@pytest.mark.kernels
@pytest.mark.parametrize("op", list(REFS))
def test_the_built_kernels_pass_their_check(op):
    """The compiled kernels pass their own first-use check on the GPU (else impl='auto' would not
    use them), or, without one, the same sources emulated on the CPU do."""
    from tests.cuda_ops.conftest import kernel_device
    dev = kernel_device()
    err = _self_check.relative_error(op, dev)
    assert err <= _self_check.CHECK_TOL, f"{op}: fused kernel vs reference, relative difference {err:.3g}"


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_the_check_runs_with_autograd_whatever_the_first_caller_runs_under(monkeypatch, mode):
    """Rendering calls the ops under no_grad (the app) or inference_mode: the first-use check,
    which compares gradients, must not fail there and leave the kernel off for the process."""
    monkeypatch.setattr(_self_check, "_results", {})
    real = _self_check.relative_error
    monkeypatch.setattr(_self_check, "relative_error", lambda op, device: real(op, device, candidate=REFS[op]))
    for op in REFS:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with getattr(torch, mode)():
                assert _self_check.kernel_ok(op, CPU)
