"""The fused upfirdn2d kernel against the reference (on the GPU, or the same sources emulated on the CPU: conftest.py).

CPU checks of the kernel's index math (an emulation) and of the adjoint live in
test_cuda_upfirdn2d_cpu.py.
"""
import random

import pytest
import torch

from cuda_ops import _cuda_upfirdn2d as cu
from cuda_ops.upfirdn2d import upfirdn2d, upfirdn2d_ref
from tests.cuda_ops.conftest import DEV, EMULATED
from tests.cuda_ops.test_cuda_upfirdn2d_cpu import random_case

pytestmark = pytest.mark.kernels

F32_RTOL = 1e-5
# float16: inputs, taps and the output are rounded to half (relative 2^-11 ≈ 4.9e-4) and a
# separable filter's intermediate is rounded once more; accumulation is in float32. We allow
# 4e-3 of the output's scale (max |y_ref|), i.e. a few half ulps of the largest value.
F16_TOL = 4e-3


def _case(rng):
    return random_case(rng, max_w=70, max_h=45)


def _layout(x, i):
    """Contiguous, channels-last, or a non-contiguous view, by turns."""
    if i % 3 == 1:
        return x.contiguous(memory_format=torch.channels_last)
    if i % 3 == 2:
        big = torch.zeros([x.shape[0], x.shape[1] * 2, x.shape[2], x.shape[3] + 3], dtype=x.dtype, device=x.device)
        big[:, ::2, :, 1:-2] = x
        return big[:, ::2, :, 1:-2]
    return x


def _ref64(x, kw):
    f = kw["f"]
    kw = dict(kw, f=None if f is None else f.double().cpu())
    return upfirdn2d_ref(x.double().cpu(), **kw)


@pytest.mark.parametrize("via_copy", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_forward_float32_matches_reference(seed, via_copy, monkeypatch):
    monkeypatch.setattr(cu, "CHANNELS_LAST_VIA_COPY", via_copy)
    rng = random.Random(seed)
    for i in range(40):
        kw, (w, h) = _case(rng)
        x = _layout(torch.randn([2, 3, h, w], device=DEV), i)
        kwc = dict(kw, f=None if kw["f"] is None else kw["f"].float().to(DEV))
        y = upfirdn2d(x, impl="cuda", **kwc)
        yr = _ref64(x, kw)
        assert y.shape == yr.shape and y.dtype == torch.float32
        scale = float(yr.abs().max()) if yr.numel() else 1.0
        torch.testing.assert_close(y.double().cpu(), yr, rtol=F32_RTOL, atol=F32_RTOL * max(scale, 1e-3),
                                   msg=lambda m: f"{kw} {tuple(x.shape)}: {m}")
        ref_fmt = upfirdn2d_ref(x, **kwc)  # the reference's memory format on the same input
        assert y.is_contiguous() == ref_fmt.is_contiguous()
        assert y.is_contiguous(memory_format=torch.channels_last) == ref_fmt.is_contiguous(memory_format=torch.channels_last)


def test_forward_float16_matches_reference():
    rng = random.Random(10)
    for i in range(60):
        kw, (w, h) = _case(rng)
        x = _layout(torch.randn([2, 4, h, w], device=DEV).half(), i)
        kwc = dict(kw, f=None if kw["f"] is None else kw["f"].float().to(DEV))
        y = upfirdn2d(x, impl="cuda", **kwc)
        assert y.dtype == torch.float16
        yr = _ref64(x, kw)
        scale = float(yr.abs().max()) if yr.numel() else 1.0
        torch.testing.assert_close(y.double().cpu(), yr, rtol=F16_TOL, atol=F16_TOL * max(scale, 1e-3),
                                   msg=lambda m: f"{kw}: {m}")


def test_large_planes_many_channels_and_big_filters():
    g = torch.Generator().manual_seed(3)
    cases = [([2, 8, 130, 257], torch.randn([4, 4], generator=g), 2, 1, [2, 1, 2, 1]),
             ([1, 5, 300, 200], torch.randn([12], generator=g), 1, 2, [5, 5, 5, 5]),
             ([1, 2, 64, 64], torch.randn([31, 29], generator=g), 1, 1, [14, 15, 15, 15]),
             ([1, 1, 40, 40], torch.randn([40, 40], generator=g).double(), 1, 1, [20, 19, 20, 19]),
             ([1, 70000, 2, 2], torch.randn([3], generator=g), 2, 1, [1, 1, 1, 1])]  # > 65535 planes
    for shape, f, up, down, pad in cases:
        x = torch.randn(shape, generator=g, dtype=f.dtype).to(DEV)
        y = upfirdn2d(x, f.to(DEV), up=up, down=down, padding=pad, impl="cuda")
        yr = upfirdn2d_ref(x.double().cpu(), f.double(), up=up, down=down, padding=pad)
        torch.testing.assert_close(y.double().cpu(), yr, rtol=1e-5, atol=1e-5 * float(yr.abs().max()))


@pytest.mark.parametrize("seed", range(3))
def test_gradcheck_and_gradgradcheck_float64(seed):
    rng = random.Random(100 + seed)
    for _ in range(6):
        kw, (w, h) = _case(rng)
        w, h = min(w, 7), min(h, 6)
        f = kw["f"]
        for i, k in enumerate(((1 if f is None else f.shape[-1]), (1 if f is None else f.shape[0]))):
            n = (w, h)[i]
            while n * kw["up"][i] + kw["padding"][2 * i] + kw["padding"][2 * i + 1] < k:
                kw["padding"][2 * i + 1] += 1
        kwc = dict(kw, f=None if f is None else f.to(DEV))
        x = torch.randn([1, 2, h, w], dtype=torch.float64, device=DEV, requires_grad=True)
        fn = lambda t: upfirdn2d(t, impl="cuda", **kwc)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (x,))
        assert torch.autograd.gradgradcheck(fn, (x,))


def test_backward_matches_autograd_of_reference():
    rng = random.Random(7)
    for i in range(30):
        kw, (w, h) = _case(rng)
        kwc = dict(kw, f=None if kw["f"] is None else kw["f"].float().to(DEV))
        x = _layout(torch.randn([2, 3, h, w], device=DEV), i).requires_grad_()
        y = upfirdn2d(x, impl="cuda", **kwc)
        gy = torch.randn_like(y)
        (gx,) = torch.autograd.grad(y, x, gy)
        xr = x.detach().double().cpu().requires_grad_()
        yr = _ref64(xr, kw)
        (gxr,) = torch.autograd.grad(yr, xr, gy.double().cpu())
        scale = float(gxr.abs().max()) if gxr.numel() else 1.0
        torch.testing.assert_close(gx.double().cpu(), gxr, rtol=1e-5, atol=1e-5 * max(scale, 1e-3))


def test_stylegan_layers_float32():
    from cuda_ops.upfirdn2d import downsample2d, setup_filter, upsample2d
    x = torch.randn([4, 64, 32, 32], device=DEV)
    f2 = setup_filter([1, 3, 3, 1], device=DEV)               # 4x4 (StyleGAN2)
    f3 = setup_filter(torch.hann_window(12, dtype=torch.float64).float(), device=DEV, separable=True)  # 12 taps
    for f in (f2, f3):
        for fn in (upsample2d, downsample2d):
            y = fn(x, f, impl="cuda")
            yr = fn(x.double().cpu(), f.double().cpu(), impl="ref")
            torch.testing.assert_close(y.double().cpu(), yr, rtol=1e-5, atol=1e-5)


def test_filter_gradient_is_refused():
    x = torch.randn([1, 1, 4, 4], device=DEV)
    f = torch.ones([3], device=DEV, requires_grad=True)
    with pytest.raises(NotImplementedError, match="filter"):
        cu.upfirdn2d_cuda(x, f)
