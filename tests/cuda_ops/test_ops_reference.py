"""The reference ops against the official outputs, the literal definition, and autograd."""
from __future__ import annotations

import math
import sys
import warnings

import pytest
import torch

import cuda_ops
from cuda_ops import (bias_act, design_lowpass_filter, filtered_lrelu, setup_filter, upfirdn2d,
                      upfirdn2d_direct)
from cuda_ops.bias_act import LeakyClamp
from tests.conftest import load_fixture


@pytest.fixture(scope="module")
def ops_cases():
    return load_fixture("official", "ops_reference.pt")


def _cases(cases, prefix):
    return {k: v for k, v in cases.items() if k.startswith(prefix)}


def test_upfirdn2d_matches_official(ops_cases):
    found = _cases(ops_cases, "upfirdn2d_")
    assert len(found) >= 5
    for name, c in found.items():
        y = upfirdn2d(c["x"], c["f"], up=c["up"], down=c["down"], padding=c["padding"])
        assert y.shape == c["y"].shape, name
        torch.testing.assert_close(y, c["y"], atol=1e-6, rtol=1e-5, msg=name)


def test_bias_act_matches_official(ops_cases):
    found = _cases(ops_cases, "bias_act_")
    assert len(found) >= 6
    for name, c in found.items():
        y = bias_act(c["x"], c["b"], act=c["act"], clamp=c["clamp"])
        torch.testing.assert_close(y, c["y"], atol=1e-6, rtol=1e-5, msg=name)


def test_filtered_lrelu_matches_official(ops_cases):
    c = ops_cases["filtered_lrelu_up2_down2"]
    y = filtered_lrelu(c["x"], c["fu"], c["fd"], c["b"], up=c["up"], down=c["down"], padding=c["padding"],
                       gain=c["gain"], slope=c["slope"], clamp=c["clamp"])
    torch.testing.assert_close(y, c["y"], atol=1e-5, rtol=1e-5)


def test_lowpass_design_matches_official(ops_cases):
    sep = design_lowpass_filter(numtaps=12, cutoff=8, width=4, fs=64)
    rad = design_lowpass_filter(numtaps=12, cutoff=8, width=4, fs=64, radial=True)
    torch.testing.assert_close(sep, ops_cases["design_lowpass_12_8_4_64"]["y"], atol=1e-7, rtol=1e-5)
    torch.testing.assert_close(rad, ops_cases["design_lowpass_radial_12_8_4_64"]["y"], atol=1e-7, rtol=1e-5)
    assert design_lowpass_filter(1, 8, 4, 64) is None
    assert abs(float(sep.sum()) - 1) < 1e-6 and abs(float(rad.sum()) - 1) < 1e-6


@pytest.mark.parametrize("seed", range(12))
def test_upfirdn2d_equals_literal_definition_on_random_cases(seed):
    g = torch.Generator().manual_seed(seed)
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, [1], generator=g))
    up, down = (r(1, 4), r(1, 4)), (r(1, 3), r(1, 3))
    taps = r(1, 9)
    kind = r(0, 2)  # 0: 1-D separable, 1: rank-1 2-D, 2: general 2-D
    if kind == 0:
        f = torch.rand([taps], generator=g) + 0.1
    elif kind == 1:
        f = torch.outer(torch.rand([taps], generator=g), torch.rand([taps], generator=g)) + 0
    else:
        f = torch.randn([taps, r(1, 9)], generator=g)
    h, w = r(taps, 13), r(taps, 13)
    x = torch.randn([2, 3, h, w], generator=g)[:, :, :, :]  # also exercises non-contiguous below
    if seed % 3 == 0:
        x = torch.randn([2, w, h, 3], generator=g).permute(0, 3, 2, 1)
    pad = [r(-1, 4) for _ in range(4)]
    flip = bool(seed % 2)
    gain = 0.5 + seed / 4
    try:
        want = upfirdn2d_direct(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain)
    except (RuntimeError, ValueError):
        pytest.skip("degenerate size for this draw")
    got = upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_upsample_downsample_keep_size_and_dc():
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and abs(float(f.sum()) - 1) < 1e-6
    x = torch.ones([1, 2, 8, 8])
    up = cuda_ops.upsample2d(x, f)
    down = cuda_ops.downsample2d(x, f)
    same = cuda_ops.filter2d(x, f)
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4) and same.shape == (1, 2, 8, 8)
    # Away from the borders a constant image stays constant.
    torch.testing.assert_close(up[..., 4:-4, 4:-4], torch.ones_like(up[..., 4:-4, 4:-4]))
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.ones_like(down[..., 1:-1, 1:-1]))


@pytest.mark.parametrize("act", list(cuda_ops.ACTIVATIONS))
def test_bias_act_gradcheck_first_and_second_order(act):
    g = torch.Generator().manual_seed(0)
    x = torch.randn([2, 3, 4], dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn([3], dtype=torch.float64, generator=g, requires_grad=True)
    fn = lambda x, b: bias_act(x, b, act=act, gain=1.3, clamp=2.5)
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


def test_upfirdn2d_gradcheck_first_and_second_order():
    g = torch.Generator().manual_seed(1)
    x = torch.randn([1, 2, 6, 5], dtype=torch.float64, generator=g, requires_grad=True)
    for f, up, down, pad in [(setup_filter([1, 3, 3, 1]).double(), 2, 1, [2, 1, 2, 1]),
                             (torch.rand([5], dtype=torch.float64, generator=g), 1, 2, 2),
                             (torch.rand([3, 4], dtype=torch.float64, generator=g), 2, 2, [1, 2, 0, 3])]:
        fn = lambda x: upfirdn2d(x, f, up=up, down=down, padding=pad)
        assert torch.autograd.gradcheck(fn, (x,))
        assert torch.autograd.gradgradcheck(fn, (x,))


def test_filtered_lrelu_gradcheck_first_and_second_order():
    g = torch.Generator().manual_seed(2)
    x = torch.randn([1, 2, 6, 6], dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn([2], dtype=torch.float64, generator=g, requires_grad=True)
    fu = design_lowpass_filter(8, 2, 2, 8).double()
    fd = design_lowpass_filter(8, 2, 2, 8, radial=True).double()
    fn = lambda x, b: filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=[5, 4, 5, 4], clamp=3.0)
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


@pytest.mark.parametrize("slope,clamp", [(0.2, 0.5), (0.2, None), (0.0, 0.5), (1.0, 0.3)])
def test_filtered_lrelu_training_nonlinearity_matches_autograds_composition(slope, clamp):
    """The fused leaky-ReLU + clamp used under autograd gives the gradients (and, through a
    double backward, the second-order terms) of the plain composition, clamped samples
    included."""
    g = torch.Generator().manual_seed(5)
    z = torch.randn([2, 3, 9, 9], generator=g, requires_grad=True)
    y = LeakyClamp.apply(z, slope, clamp)
    z_plain = z.detach().clone().requires_grad_(True)
    y_plain = torch.nn.functional.leaky_relu(z_plain, slope)
    if clamp is not None:
        y_plain = y_plain.clamp(-clamp, clamp)
        assert (y_plain.abs() == clamp).float().mean() > 0.2  # the clamp really acts here
    torch.testing.assert_close(y, y_plain, rtol=0, atol=0)
    up = torch.randn(y.shape, generator=g)
    (gz,) = torch.autograd.grad(y, z, up, create_graph=True)
    (gz_plain,) = torch.autograd.grad(y_plain, z_plain, up, create_graph=True)
    torch.testing.assert_close(gz, gz_plain, rtol=0, atol=0)
    # d/dup of <gz, v> is the same mask applied to v: the backward itself is differentiable.
    up.requires_grad_(True)
    v = torch.randn(y.shape, generator=g)
    (gz,) = torch.autograd.grad(LeakyClamp.apply(z, slope, clamp), z, up, create_graph=True)
    (gz_plain,) = torch.autograd.grad(y_plain, z_plain, up, create_graph=True)
    torch.testing.assert_close(torch.autograd.grad((gz * v).sum(), up)[0],
                               torch.autograd.grad((gz_plain * v).sum(), up)[0], rtol=0, atol=0)


@pytest.mark.parametrize("clamp,dim,shape", [(0.5, 1, [2, 3, 7, 7]), (None, 1, [2, 3, 7, 7]), (0.4, 1, [5, 6])])
def test_bias_act_training_path_matches_the_plain_composition(clamp, dim, shape):
    """Under autograd, lrelu bias_act folds its gain into the bias add and runs LeakyClamp; its
    output, gradients (to x and b) and double-backward terms equal the plain composition's up to
    rounding (R1 differentiates through them twice), and rendering keeps the plain order exactly."""
    g = torch.Generator().manual_seed(7)
    x = (torch.randn(shape, generator=g) * 0.6).requires_grad_(True)
    b = (torch.randn([shape[dim]], generator=g) * 0.1).requires_grad_(True)

    def plain(x, b):
        y = torch.nn.functional.leaky_relu(x + b.reshape([1, -1] + [1] * (x.ndim - 2)), 0.2) * math.sqrt(2)
        return y if clamp is None else y.clamp(-clamp, clamp)

    y, y_plain = bias_act(x, b, act="lrelu", clamp=clamp), plain(x, b)
    torch.testing.assert_close(y, y_plain)
    if clamp is not None:
        assert (y_plain.abs() == clamp).float().mean() > 0.15      # the clamp really acts here
    up = torch.randn(y.shape, generator=g, requires_grad=True)
    grads = torch.autograd.grad(y, (x, b), up, create_graph=True)
    grads_plain = torch.autograd.grad(y_plain, (x, b), up, create_graph=True)
    for a, p in zip(grads, grads_plain):
        torch.testing.assert_close(a, p)
    v = torch.randn(y.shape, generator=g)
    torch.testing.assert_close(torch.autograd.grad((grads[0] * v).sum(), up)[0],
                               torch.autograd.grad((grads_plain[0] * v).sum(), up)[0])
    with torch.no_grad():
        assert torch.equal(bias_act(x, b, act="lrelu", clamp=clamp), plain(x, b))


def test_impl_selection_and_errors(monkeypatch):
    x = torch.randn([1, 1, 4, 4])
    with pytest.raises(ValueError, match="impl must be one of"):
        bias_act(x, impl="fast")
    with pytest.raises(RuntimeError, match="impl='cuda'"):
        upfirdn2d(x, None, impl="cuda")
    with pytest.raises(ValueError, match="unknown activation"):
        bias_act(x, act="gelu")
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        upfirdn2d(torch.zeros([4, 4]), None)
    with pytest.raises(ValueError, match="shorter than the filter"):
        upfirdn2d(torch.zeros([1, 1, 2, 2]), torch.ones([5]))
    # The environment switch forces the reference even when CUDA is asked for.
    monkeypatch.setenv("GANSCOPE_OPS_IMPL", "ref")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.testing.assert_close(upfirdn2d(x, None, impl="cuda"), x)


def test_upfirdn2d_crop_reaching_past_a_tiny_input():
    """With a 1-sample input upsampled ×4, a crop of the leading zeros can reach past the last
    real sample; the result is then the (zero) window the definition describes."""
    from cuda_ops import upfirdn2d_direct, upfirdn2d_ref
    x = torch.randn([1, 2, 1, 11], dtype=torch.float64)
    for kw in (dict(f=None, up=4, down=(3, 1), padding=[-13, 0, -2, -1]),
               dict(f=torch.randn([9], dtype=torch.float64), up=4, down=2, padding=[-3, -8, -2, 7])):
        torch.testing.assert_close(upfirdn2d_ref(x, **kw), upfirdn2d_direct(x, **kw))


def _filtered_lrelu_grads(x, b, fu, fd):
    """Value, first-order grads of x and b, and an R1-style second-order grad of b."""
    y = filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=[5, 4, 5, 4], clamp=3.0, impl="ref")
    w = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape)
    gx, gb = torch.autograd.grad((y * w).sum(), [x, b], create_graph=True)
    (ggb,) = torch.autograd.grad(gx.square().sum(), [b])
    return y, gx, gb, ggb


def test_chunked_reference_gives_the_same_values_and_gradients(monkeypatch):
    """On the CPU the reference ops run in chunks of samples × channels; forcing many chunks
    must change nothing — values, gradients or second derivatives (R1 differentiates them)."""
    engine = sys.modules["cuda_ops.upfirdn2d"]  # the module (the package re-exports the function by that name)
    g = torch.Generator().manual_seed(5)
    x = torch.randn([2, 36, 8, 8], dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn([36], dtype=torch.float64, generator=g, requires_grad=True)
    fu = design_lowpass_filter(8, 2, 2, 8).double()
    fd = design_lowpass_filter(8, 2, 2, 8).double()
    whole = _filtered_lrelu_grads(x, b, fu, fd)
    monkeypatch.setattr(engine, "SINGLE_CHUNK_ELEMENTS", 1)
    monkeypatch.setattr(engine, "CHUNK_ELEMENTS", 1)  # 16 channels × 1 sample per chunk: 6 chunks
    chunked = _filtered_lrelu_grads(x, b, fu, fd)
    for a, c in zip(whole, chunked):
        torch.testing.assert_close(c, a, rtol=1e-12, atol=1e-12)


def test_chunked_reference_backward_does_not_scale_with_the_chunk_count(monkeypatch):
    """The backward of a chunked op assembles the chunks' gradients once: no zero tensor of the
    whole input per chunk (that made fills and adds most of a StyleGAN3 training step)."""
    engine = sys.modules["cuda_ops.upfirdn2d"]  # the module (the package re-exports the function by that name)
    from torch.profiler import ProfilerActivity, profile
    monkeypatch.setattr(engine, "SINGLE_CHUNK_ELEMENTS", 1)
    monkeypatch.setattr(engine, "CHUNK_ELEMENTS", 1)
    x = torch.randn([8, 64, 8, 8], requires_grad=True)
    y = upfirdn2d(x, setup_filter([1, 3, 3, 1]), up=2, padding=[2, 1, 2, 1], impl="ref")
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        y.sum().backward()
    whole_size = [list(x.shape)]
    full_fills = [e for e in prof.events() if e.name in ("aten::fill_", "aten::zero_", "aten::add_")
                  and e.input_shapes[:1] == whole_size]
    assert len(full_fills) <= 2, f"{len(full_fills)} whole-input fills/adds for 32 chunks"
