"""The fused bias_act kernel against the reference (on the GPU, or emulated on the CPU: conftest.py)."""
import pytest
import torch

from cuda_ops import ACTIVATIONS, bias_act, bias_act_ref
from tests.cuda_ops.conftest import DEV

pytestmark = pytest.mark.kernels

F16_ATOL = 2e-3  # float16: one rounding of the result (ours) vs rounding after every step (reference)


def _case(seed, shape, dim, dtype, fmt=torch.contiguous_format):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 2
    b = torch.randn([shape[dim]], generator=g, dtype=torch.float64)
    x = x.to(DEV, dtype).contiguous(memory_format=fmt) if len(shape) == 4 else x.to(DEV, dtype)
    return x, b.to(DEV, dtype)


@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("clamp", [None, 0.8])
def test_forward_backward_match_reference_float32(act, clamp):
    for seed, (shape, dim) in enumerate([([3, 7, 5, 9], 1), ([4, 33], 1), ([2, 5, 6], 2), ([1, 1, 1, 1], 1)]):
        x, b = _case(seed, shape, dim, torch.float32)
        xr, br = x.double().cpu().requires_grad_(), b.double().cpu().requires_grad_()
        xc, bc = x.clone().requires_grad_(), b.clone().requires_grad_()
        y = bias_act(xc, bc, dim=dim, act=act, clamp=clamp, impl="cuda")
        yr = bias_act_ref(xr, br, dim=dim, act=act, clamp=clamp)
        torch.testing.assert_close(y.double().cpu(), yr, rtol=1e-5, atol=1e-5)
        dy = torch.randn_like(y)
        gx, gb = torch.autograd.grad(y, [xc, bc], dy)
        gxr, gbr = torch.autograd.grad(yr, [xr, br], dy.double().cpu())
        torch.testing.assert_close(gx.double().cpu(), gxr, rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(gb.double().cpu(), gbr, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_gradcheck_and_gradgradcheck_float64(act):
    x, b = _case(1, [2, 3, 4, 5], 1, torch.float64)
    x = x + 0.05 * torch.sign(x)  # keep away from the kinks of relu/lrelu/clamp
    x.requires_grad_()
    b = (b * 0).requires_grad_()
    fn = lambda a, c: bias_act(a, c, act=act, clamp=3.0, impl="cuda")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


@pytest.mark.parametrize("act", ["lrelu", "swish", "tanh"])
def test_double_backward_matches_reference(act):
    x, b = _case(2, [2, 6, 5, 5], 1, torch.float64)
    outs = []
    for dev, impl in ((DEV, "cuda"), ("cpu", "ref")):
        xx, bb = x.to(dev).clone().requires_grad_(), b.to(dev).clone().requires_grad_()
        y = bias_act(xx, bb, act=act, clamp=2.0, impl=impl)
        gx, = torch.autograd.grad((y * y.detach().flip(-1)).sum(), xx, create_graph=True)
        outs.append([t.cpu() for t in torch.autograd.grad(gx.square().sum(), [xx, bb])])
    for a, r in zip(*outs):
        torch.testing.assert_close(a, r, rtol=1e-9, atol=1e-9)


def test_float16_channels_last_and_noncontiguous():
    x, b = _case(3, [4, 16, 9, 7], 1, torch.float16, torch.channels_last)
    y = bias_act(x, b, act="lrelu", clamp=1.5, impl="cuda")
    assert y.dtype == torch.float16 and y.is_contiguous(memory_format=torch.channels_last)
    ref = bias_act_ref(x.double(), b.double(), act="lrelu", clamp=1.5)
    torch.testing.assert_close(y.double(), ref, rtol=0, atol=F16_ATOL)
    xt = x.float().transpose(2, 3)  # non-contiguous
    torch.testing.assert_close(bias_act(xt, b.float(), act="swish", impl="cuda"),
                               bias_act_ref(xt, b.float(), act="swish"), rtol=1e-5, atol=1e-5)


def test_the_kernel_builds_and_loads():
    from cuda_ops import _build
    ok, why = _build.kernel_status("bias_act")
    assert ok, why
