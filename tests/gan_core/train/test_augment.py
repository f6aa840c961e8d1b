"""The ADA pipeline: identity at p=0, exact for the integer transforms, differentiable, and the controller."""
from __future__ import annotations

import math

import pytest
import torch

from gan_core.train.augment import AUGPIPES, BGC, AdaController, AugmentPipe, augpipe_strengths, make_augmentation
from gan_core.train.options import AUGPIPES as AUGPIPE_NAMES

OFF = {k: 0 for k in BGC}


def _pipe(p, **on):
    pipe = AugmentPipe(**{**OFF, **on})
    pipe.p.fill_(p)
    return pipe


def test_identity_at_p_zero_and_near_identity_for_tiny_p():
    x = torch.rand([4, 3, 8, 8]) * 2 - 1
    assert torch.equal(_pipe(0.0, **BGC)(x), x)
    torch.testing.assert_close(_pipe(1e-9, **BGC)(x), x, atol=1e-5, rtol=0)


def test_xflip_and_rot90_are_exact_pixel_permutations():
    torch.manual_seed(0)
    x = torch.rand([64, 1, 6, 6])
    y = _pipe(1.0, xflip=1)(x)
    for a, b in zip(x, y):
        assert torch.allclose(b, a, atol=1e-5) or torch.allclose(b, a.flip(-1), atol=1e-5)
    y = _pipe(1.0, rotate90=1)(x)
    seen = set()
    for a, b in zip(x, y):
        k = [k for k in range(4) if torch.allclose(b, torch.rot90(a, k, dims=(-2, -1)), atol=1e-5)]
        assert k, "not a rotation by a multiple of 90°"
        seen.add(k[0])
    assert seen == {0, 1, 2, 3}


def test_integer_translation_moves_by_whole_pixels():
    torch.manual_seed(1)
    x = torch.rand([32, 3, 16, 16])
    y = _pipe(1.0, xint=1)(x)
    # interior pixels equal some whole-pixel shift of the input (at most 2 = 0.125 · 16)
    for a, b in zip(x, y):
        ok = any(torch.allclose(b[:, 4:12, 4:12], a[:, 4 - dy:12 - dy, 4 - dx:12 - dx], atol=1e-5)
                 for dx in range(-2, 3) for dy in range(-2, 3))
        assert ok


def test_color_transforms_keep_gray_gray_under_brightness_contrast():
    torch.manual_seed(2)
    x = (torch.rand([16, 1, 8, 8]) * 2 - 1).repeat(1, 3, 1, 1)
    y = _pipe(1.0, brightness=1, contrast=1)(x)
    torch.testing.assert_close(y[:, 0], y[:, 1])
    torch.testing.assert_close(y[:, 1], y[:, 2])
    assert not torch.allclose(y, x)


def test_luma_preserved_by_hue_rotation_and_saturation():
    torch.manual_seed(3)
    x = torch.rand([16, 3, 8, 8]) * 2 - 1
    y = _pipe(1.0, hue=1, saturation=1)(x)
    torch.testing.assert_close(y.mean(1), x.mean(1), atol=1e-5, rtol=0)  # the luma axis (1,1,1)/√3
    assert not torch.allclose(y, x)


def test_everything_is_differentiable_twice():
    torch.manual_seed(4)
    x = torch.randn([4, 3, 8, 8], requires_grad=True)
    w = torch.randn([3, 3, 3, 3], requires_grad=True)
    out = torch.nn.functional.conv2d(_pipe(0.8, **BGC)(x), w).square().sum()
    (g,) = torch.autograd.grad(out, x, create_graph=True)  # as in R1
    g.square().sum().backward()
    assert w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0


def test_grayscale_images_supported():
    y = _pipe(0.5, **BGC)(torch.rand([4, 1, 8, 8]))
    assert y.shape == (4, 1, 8, 8) and torch.isfinite(y).all()


def test_ada_controller_moves_p_by_sign_of_rt_minus_target():
    pipe = AugmentPipe()
    ada = AdaController(pipe, target=0.6, interval=4, ada_kimg=1)
    for step in range(1, 5):
        ada.accumulate(torch.ones([8, 1]))  # r_t = 1 > 0.6: D overfits -> more augmentation
        ada.update(step, batch=8)
    assert float(pipe.p) == pytest.approx(8 * 4 / 1000)
    assert ada.last_rt == 1.0
    for step in range(5, 9):
        ada.accumulate(-torch.ones([8, 1]))
        ada.update(step, batch=8)
    assert float(pipe.p) == 0.0  # back down, clamped at 0
    state = ada.state_dict()
    other = AdaController(AugmentPipe())
    other.load_state_dict(state)
    assert float(other.pipe.p) == float(pipe.p) and other.last_rt == -1.0
    assert math.isfinite(state["sign_sum"])


def test_grid_sample_has_a_second_derivative_equal_to_torchs():
    """R1 on augmented reals differentiates through the sampling twice; our sampler must agree
    with PyTorch's CPU one (which has the second derivative; the CUDA one does not)."""
    import torch.nn.functional as F
    from gan_core.train.augment import grid_sample_reflect
    g = torch.Generator().manual_seed(0)
    x = torch.randn([2, 3, 9, 9], generator=g, dtype=torch.float64, requires_grad=True)
    grid = torch.rand([2, 9, 9, 2], generator=g, dtype=torch.float64) * 2.4 - 1.2  # some reflect
    w = torch.randn([2, 3, 9, 9], generator=g, dtype=torch.float64)

    def r1(sample):
        y = sample(x, grid)
        dx, = torch.autograd.grad((y * w).square().sum(), x, create_graph=True)
        return y, dx, torch.autograd.grad(dx.square().sum(), x)[0]

    ours = r1(grid_sample_reflect)
    try:  # some PyTorch builds lack this second derivative on the CPU too (2.11 does)
        ref = r1(lambda a, b: F.grid_sample(a, b, mode="bilinear", padding_mode="reflection", align_corners=False))
    except RuntimeError as e:
        assert "not implemented" in str(e)
        ref = None
    for a, b in zip(ours, ref or ours):
        torch.testing.assert_close(a, b)
    assert torch.autograd.gradcheck(lambda a: grid_sample_reflect(a, grid), (x,))
    assert torch.autograd.gradgradcheck(lambda a: grid_sample_reflect(a, grid), (x,))


def test_named_sets_split_the_transforms_as_the_paper():
    assert tuple(AUGPIPES) == AUGPIPE_NAMES   # what --augpipe offers is what the pipe knows
    assert set(AUGPIPES["bgc"]) == set(BGC) and augpipe_strengths("bgc") == {k: 1.0 for k in BGC}
    assert set(AUGPIPES["bg"]) == set(AUGPIPES["blit"]) | set(AUGPIPES["geom"])
    assert not set(AUGPIPES["bg"]) & set(AUGPIPES["color"])
    with pytest.raises(ValueError, match="unknown augmentation set 'bgcfn'"):
        augpipe_strengths("bgcfn")


def test_bg_moves_pixels_but_keeps_colours_and_color_keeps_positions():
    torch.manual_seed(4)
    # blocks of one colour each: geometric transforms resample within them, colours stay the same set
    x = torch.rand([8, 3, 2, 2]).repeat_interleave(8, dim=2).repeat_interleave(8, dim=3)
    bg, _ = make_augmentation("fixed", p=1.0, augpipe="bg")
    y = bg(x)
    assert not torch.allclose(y, x)
    centre = y[:, :, 6:10, 6:10]   # near the centre every pixel lies between the blocks' colours
    assert torch.all(centre >= x.amin(dim=(2, 3), keepdim=True) - 1e-4)
    assert torch.all(centre <= x.amax(dim=(2, 3), keepdim=True) + 1e-4)
    color, ada = make_augmentation("fixed", p=1.0, augpipe="color")
    y = color(x)
    assert ada is None and not torch.allclose(y, x)
    # a colour transform is one affine map of RGB per image: equal pixels stay equal, blocks stay blocks
    torch.testing.assert_close(y[:, :, :8, :8], y[:, :, :1, :1].expand(-1, -1, 8, 8))
