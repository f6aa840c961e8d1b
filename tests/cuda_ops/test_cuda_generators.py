"""The generators render the same images with the fused kernels as with the reference ops (on
the GPU, or with the same kernel sources emulated on the CPU at a smaller size: conftest.py)."""
import pytest
import torch

from cuda_ops import _build
from tests.cuda_ops.conftest import DEV, EMULATED

pytestmark = pytest.mark.kernels


def _generators(fp16_res=0):
    from gan_core.models.stylegan2 import Generator as G2
    from gan_core.models.stylegan3 import Generator as G3
    # the emulator runs every CUDA thread as a fiber: a smaller network keeps it to seconds
    res, cmax = (16, 32) if EMULATED else (64, 128)
    common = dict(z_dim=64, c_dim=0, w_dim=64, img_resolution=res, img_channels=3, num_fp16_res=fp16_res,
                  conv_clamp=256 if fp16_res else None)
    torch.manual_seed(0)
    yield "stylegan2", G2(**common, mapping_kwargs=dict(num_layers=2), channel_base=4096, channel_max=cmax)
    yield "stylegan3-t", G3(**common, channel_base=4096, channel_max=cmax)
    yield "stylegan3-r", G3(**common, channel_base=8192, channel_max=cmax, conv_kernel=1, use_radial_filters=True)


@pytest.mark.parametrize("fp16_res", [0, 2])
def test_same_images_with_either_impl(monkeypatch, fp16_res):
    for op in _build.OPS:
        ok, why = _build.kernel_status(op)
        assert ok, why
    for name, G in _generators(fp16_res):
        G = G.to(DEV).eval().requires_grad_(False)
        z = torch.randn([4, G.z_dim], generator=torch.Generator().manual_seed(1)).to(DEV)
        c = torch.zeros([4, 0], device=DEV)
        img_cuda = G(z, c, noise_mode="const")
        monkeypatch.setenv("GANSCOPE_OPS_IMPL", "ref")
        img_ref = G(z, c, noise_mode="const")
        monkeypatch.delenv("GANSCOPE_OPS_IMPL")
        tol = 1e-4 if not fp16_res else 2e-2
        err = float((img_cuda - img_ref).abs().max())
        assert err < tol, f"{name}: images differ by {err}"


def test_training_gradients_agree():
    """A generator + R1-style double backward through both impls gives the same gradients."""
    import os
    _, G = list(_generators())[1]
    G = G.to(DEV)
    z = torch.randn([2, G.z_dim], device=DEV)
    with torch.no_grad():      # the same ws for both (the mapping's own rounding is not compared here)
        ws0 = G.mapping(z, None)
    grads = []
    for impl in ("auto", "ref"):
        os.environ["GANSCOPE_OPS_IMPL"] = impl
        try:
            G.zero_grad(set_to_none=True)
            ws = ws0.clone().requires_grad_()
            img = G.synthesis(ws, noise_mode="const")
            g, = torch.autograd.grad(img.square().sum(), ws, create_graph=True)
            g.square().sum().backward()
            grads.append([p.grad.clone() for p in G.synthesis.parameters() if p.grad is not None])
        finally:
            os.environ.pop("GANSCOPE_OPS_IMPL", None)
    assert len(grads[0]) == len(grads[1]) > 0
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
