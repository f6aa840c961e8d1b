"""The filtered_lrelu CUDA kernels against filtered_lrelu_ref in float64 (on the GPU, or the same
sources emulated on the CPU: conftest.py).

Tolerances: float32 to rounding (rtol 1e-5, atol 1e-5 × the reference's largest magnitude);
float16 (the kernel reads/writes half, accumulates and keeps the intermediate in float32) to
atol 1e-2 × largest magnitude and a relative L2 error below 2e-3, against the float64
reference evaluated on the same half-rounded inputs. The backward compares at the same
points; a sample of the intermediate within rounding of a kink (0 or ±clamp) can flip its
derivative class, which is why inputs are kept moderate in size.
CPU checks of the index math (with the kernel emulated) are in test_cuda_filtered_lrelu_cpu.py.
"""
import math
import random

import pytest
import torch

pytestmark = pytest.mark.kernels

from cuda_ops.filtered_lrelu import filtered_lrelu_ref  # noqa: E402
from tests.cuda_ops.test_cuda_filtered_lrelu_cpu import _random_config, _stylegan3_configs  # noqa: E402

from tests.cuda_ops.conftest import DEV, kernel_device  # noqa: E402


def _cuda_fn():
    from cuda_ops._cuda_filtered_lrelu import filtered_lrelu_cuda
    return filtered_lrelu_cuda


def _kw_to(kw, dtype):
    kw = dict(kw)
    for k in ("fu", "fd"):
        if kw[k] is not None:
            kw[k] = kw[k].to(DEV, dtype)
    return kw


def _check(got, ref, dtype):
    scale = max(ref.abs().max().item(), 1e-6)
    if dtype == torch.float16:
        err = (got.double() - ref).abs().max().item()
        assert err <= 1e-2 * scale, f"max error {err} vs scale {scale}"
        rel = (got.double() - ref).norm().item() / max(ref.norm().item(), 1e-12)
        assert rel <= 2e-3, f"relative L2 error {rel}"
    elif dtype == torch.float32:
        torch.testing.assert_close(got.double(), ref, rtol=1e-5, atol=1e-5 * scale)
    else:
        torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10 * scale)


def _compare(shape, kw, dtype, seed, layout="contiguous", with_bias=True, scale=1.0):
    g = torch.Generator(device=DEV).manual_seed(seed)
    x = (torch.randn(shape, generator=g, device=DEV) * scale).to(dtype)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif layout == "strided":
        big = torch.randn([shape[0], shape[1], shape[2] * 2, shape[3] + 3], generator=g, device=DEV).to(dtype)
        big[:, :, ::2, 1:shape[3] + 1] = x
        x = big[:, :, ::2, 1:shape[3] + 1]
    b = torch.randn(shape[1], generator=g, device=DEV).to(dtype) if with_bias else None
    x1 = x.detach().requires_grad_(True)  # keeps the strides (channels-last / strided view)
    if layout == "strided":
        assert not x1.is_contiguous() and not x1.is_contiguous(memory_format=torch.channels_last)
    b1 = None if b is None else b.clone().requires_grad_(True)
    y = _cuda_fn()(x1, b=b1, **_kw_to(kw, torch.float64 if dtype == torch.float64 else torch.float32))
    x2 = x.detach().double().requires_grad_(True)
    b2 = None if b is None else b.double().requires_grad_(True)
    yr = filtered_lrelu_ref(x2, b=b2, **_kw_to(kw, torch.float64))
    assert y.shape == yr.shape and y.dtype == dtype
    if layout == "channels_last" and shape[1] > 1:
        assert y.is_contiguous(memory_format=torch.channels_last)
    _check(y, yr, dtype)
    dy = torch.randn(y.shape, generator=g, device=DEV).to(dtype)
    ins1 = [t for t in (x1, b1) if t is not None]
    ins2 = [t for t in (x2, b2) if t is not None]
    for a, r in zip(torch.autograd.grad(y, ins1, dy), torch.autograd.grad(yr, ins2, dy.double())):
        assert a.dtype == dtype
        _check(a, r, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
@pytest.mark.parametrize("seed", range(12))
def test_random_configs(seed, dtype):
    rng = random.Random(seed)
    shape, kw = _random_config(rng)
    shape = (rng.randint(1, 3), rng.randint(1, 5), shape[2] + rng.randint(0, 9), shape[3] + rng.randint(0, 9))
    layout = rng.choice(["contiguous", "channels_last", "strided"])
    _compare(shape, kw, dtype, seed, layout=layout, with_bias=rng.random() < 0.8)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("cfg", range(5))
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_stylegan3_layers(cfg, dtype, layout):
    shape, outs, kw = _stylegan3_configs()[cfg]
    shape = (2, 16) + shape[2:]
    _compare(shape, kw, dtype, cfg, layout=layout, scale=3.0)


def test_many_channels_and_large_clamp():
    shape, outs, kw = _stylegan3_configs()[1]
    kw = dict(kw, clamp=0.5)
    _compare((1, 512) + shape[2:], kw, torch.float32, 7)


@pytest.mark.parametrize("seed", range(4))
def test_gradcheck_gradgradcheck_float64(seed):
    rng = random.Random(100 + seed)
    shape, kw = _random_config(rng)
    kw = _kw_to(kw, torch.float64)
    fn = _cuda_fn()
    x = torch.randn(shape, device=DEV, dtype=torch.float64, requires_grad=True)
    b = torch.randn(shape[1], device=DEV, dtype=torch.float64, requires_grad=True)
    f = lambda x, b: fn(x, b=b, **kw)  # noqa: E731
    try:
        torch.autograd.gradcheck(f, (x, b), eps=1e-7, atol=1e-5)
        torch.autograd.gradgradcheck(f, (x, b), eps=1e-7, atol=1e-5)
    except RuntimeError as e:
        pytest.skip(f"finite differences crossed a kink: {str(e)[:80]}")


def test_double_backward_matches_reference():
    rng = random.Random(5)
    shape, kw = _random_config(rng)
    kw = _kw_to(kw, torch.float64)
    x = torch.randn(shape, device=DEV, dtype=torch.float64)
    outs = []
    for f in (_cuda_fn(), filtered_lrelu_ref):
        xx = x.clone().requires_grad_(True)
        y = f(xx, **kw)
        dy = torch.ones_like(y).requires_grad_(True)
        (dx,) = torch.autograd.grad(y, xx, dy, create_graph=True)
        (h,) = torch.autograd.grad((dx * torch.arange(dx.numel(), device=DEV).reshape(dx.shape)).sum(), dy)
        outs.append((dx.detach(), h))
    for a, r in zip(*outs):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-10)


def test_through_dispatcher():
    from cuda_ops.filtered_lrelu import filtered_lrelu
    shape, outs, kw = _stylegan3_configs()[0]
    x = torch.randn((2, 4) + shape[2:], device=DEV)
    y = filtered_lrelu(x, **_kw_to(kw, torch.float32), impl="cuda")
    _check(y, filtered_lrelu_ref(x.double(), **_kw_to(kw, torch.float64)), torch.float32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
@pytest.mark.parametrize("cfg", range(4))
def test_fused_kernel_equals_the_chain(cfg, dtype):
    """The one-launch fused kernel against the chain of resample passes it replaces, in every
    direction (forward with signs, fixed-derivative forward, adjoint): the same taps in the
    same order, so results agree to rounding and the signs exactly (on the intermediate samples
    the outputs read, bar a sample within rounding of a kink), at several batch/channel counts."""
    from cuda_ops import _cuda_filtered_lrelu as cfl
    shape, outs, kw = _stylegan3_configs()[cfg]
    kw = _kw_to(kw, torch.float64)
    tol = 1e-3 if dtype == torch.float16 else 1e-5

    def close(got, want, what):
        torch.testing.assert_close(got.double(), want.double(), rtol=tol, atol=tol * want.abs().max().item(), msg=what)

    for n, c in [(1, 2), (3, 67)]:
        g = torch.Generator(device=DEV).manual_seed(cfg)
        x = (torch.randn([n, c, *shape[2:]], generator=g, device=DEV, dtype=torch.float64) * 3).to(dtype)
        b = torch.randn([c], generator=g, device=DEV, dtype=torch.float64)
        acc = torch.float64 if dtype == torch.float64 else torch.float32
        plan = cfl.make_plan(x, kw["fu"], kw["fd"], kw["up"], kw["down"], kw["padding"], kw["gain"], kw["slope"],
                             kw["clamp"], False)
        assert plan.fused is not None and plan.fused_adj is not None
        y_chain, s_chain = plan._run(x, plan.passes, plan.act, cfl.ACTIVATE, None, b.to(acc))
        y, s = cfl._fused_run(x, plan.fused, b.to(acc), None, cfl.ACTIVATE)
        close(y, y_chain, "forward")
        kdx, kdy = plan.fused.filter_sizes()[2:]
        rh, rw = (outs - 1) * plan.fused.down[1] + kdy, (outs - 1) * plan.fused.down[0] + kdx
        same = (s[..., :rh, :rw] == s_chain[..., :rh, :rw]).float().mean().item()
        assert same > 0.9999, f"signs agree on {same:.6f} of the samples"
        f_chain = plan._run(x, plan.passes, plan.act, cfl.FIXED, s_chain, None)[0]
        close(cfl._fused_run(x, plan.fused, None, s_chain, cfl.FIXED)[0], f_chain, "fixed")
        dy = torch.randn(y.shape, generator=g, device=DEV, dtype=torch.float64).to(dtype)
        close(cfl._fused_run(dy, plan.fused_adj, None, s_chain, cfl.FIXED)[0], plan._chain_adjoint(dy, s_chain),
              "adjoint")


def test_fused_self_check_passes_on_this_device():
    """The first-use self-check accepts the compiled fused kernel here (else it would be off)."""
    import warnings
    from cuda_ops import _cuda_filtered_lrelu as cfl
    cfl._fused_checked.pop(str(kernel_device()), None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        err = cfl._fused_self_check(kernel_device())
    assert err <= cfl.FUSED_CHECK_TOL, f"fused kernel vs chain: relative difference {err:.3g}"
