"""Band-limited operators: the official eq_ops numbers, and their defining properties."""
from __future__ import annotations

import math

import pytest
import torch

from gan_core.analysis.transforms import (bandlimit_filter, lanczos_shift_matrix, pseudo_rotate, rotate,
                                          rotation_2x2, translate_fractional, translate_integer, untransform)
from tests.conftest import load_fixture
from tests.gan_core.analysis.fakes import WavesGenerator


@pytest.fixture(scope="module")
def eq_ops():
    return load_fixture("official", "ops_reference.pt")["eq_ops"]


def test_integer_translation_matches_official(eq_ops):
    out, mask = translate_integer(eq_ops["img"], *eq_ops["int_t"])
    torch.testing.assert_close(out, eq_ops["int_out"], rtol=0, atol=0)
    torch.testing.assert_close(mask, eq_ops["int_mask"], rtol=0, atol=0)


def test_fractional_translation_matches_official(eq_ops):
    out, mask = translate_fractional(eq_ops["img"], *eq_ops["frac_t"])
    torch.testing.assert_close(out, eq_ops["frac_out"], rtol=0, atol=1e-5)
    torch.testing.assert_close(mask, eq_ops["frac_mask"], rtol=0, atol=0)


def test_rotation_matches_official(eq_ops):
    out, mask = rotate(eq_ops["img"], eq_ops["rot_angle"])
    torch.testing.assert_close(mask, eq_ops["rot_mask"], rtol=0, atol=0)
    torch.testing.assert_close(out, eq_ops["rot_out"], rtol=0, atol=1e-4)


def test_pseudo_rotation_matches_official(eq_ops):
    out, mask = pseudo_rotate(eq_ops["img"], eq_ops["rot_angle"])
    torch.testing.assert_close(mask, eq_ops["pseudo_rot_mask"], rtol=0, atol=0)
    torch.testing.assert_close(out, eq_ops["pseudo_rot_out"], rtol=0, atol=1e-5)


def _waves(res, shift=(0.0, 0.0), angle=0.0):
    """A band-limited test image and the same image moved by ``shift`` (pixels) / rotated by
    ``angle`` (radians, counter-clockwise as displayed) about the centre, sampled exactly."""
    gen = torch.Generator().manual_seed(3)
    freqs = (torch.rand(6, 2, generator=gen, dtype=torch.float64) - 0.5) * 0.2     # cycles / pixel
    phases = torch.rand(6, generator=gen, dtype=torch.float64) * 6.28
    c = (res - 1) / 2
    y, x = torch.meshgrid(torch.arange(res, dtype=torch.float64), torch.arange(res, dtype=torch.float64),
                          indexing="ij")
    # Content at q shows at R q + shift, so pixel p shows q = R^-1 (p - c - shift) + c.
    ca, sa = math.cos(angle), math.sin(angle)
    px, py = x - c - shift[0], y - c - shift[1]
    qx, qy = ca * px - sa * py + c, sa * px + ca * py + c      # R = [[cos, sin], [-sin, cos]] (y down)
    img = torch.cos(2 * math.pi * (qx[..., None] * freqs[:, 0] + qy[..., None] * freqs[:, 1]) + phases).sum(-1)
    return (img / 6)[None, None].to(torch.float32)


def test_fractional_translation_moves_band_limited_content():
    res = 32
    out, mask = translate_fractional(_waves(res), 2.3 / res, -1.6 / res)
    want = _waves(res, shift=(2.3, -1.6))
    err = ((out - want).abs() * mask).max()
    assert mask.sum() > 0.6 * res * res
    assert err < 0.01, err
    # Whole-pixel shifts through the Lanczos path agree exactly with the integer shift.
    a, ma = translate_fractional(want, 3 / res, 2 / res)
    b, _ = translate_integer(want, 3 / res, 2 / res)
    torch.testing.assert_close(a * ma, b * ma, rtol=0, atol=1e-6)


def test_rotation_turns_content_counter_clockwise():
    res = 48
    out, mask = rotate(_waves(res), math.radians(30))
    want = _waves(res, angle=math.radians(30))
    assert mask.sum() > 0.3 * res * res
    assert ((out - want).abs() * mask).max() < 0.02
    wrong = _waves(res, angle=math.radians(-30))
    assert ((out - wrong).abs() * mask).max() > 0.2


def test_filters_preserve_flat_images_and_shift_matrix_rows_sum_to_one():
    f = bandlimit_filter(rotation_2x2(0.7), up=4)
    assert f.shape == (47, 47)
    for py in range(4):
        for px in range(4):
            assert abs(float(f[py::4, px::4].sum()) - 1) < 1e-5
    flat = torch.full((1, 2, 24, 24), 0.37)
    out, mask = rotate(flat, 1.1)
    assert ((out - 0.37).abs() * mask).max() < 1e-5
    R, valid = lanczos_shift_matrix(20, 4.4)
    rows = R.sum(1)[valid.bool()]
    torch.testing.assert_close(rows, torch.ones_like(rows), rtol=0, atol=1e-6)


def test_untransform_of_a_translation_returns_the_original():
    G = WavesGenerator(resolution=32)
    ws = G.mapping(torch.randn(2, 4), None)
    original = G.synthesis(ws)
    moved = G.synthesis(ws, input_transform=G.user_transform_matrix((0.07, -0.045), 0))
    back, mask = untransform(moved, translate=(0.07, -0.045))
    assert mask.mean() > 0.5
    assert ((back - original).abs() * mask).max() < 5e-3
    # Sanity: without the untransform the images differ a lot.
    assert ((moved - original).abs() * mask).max() > 0.1


def test_untransform_of_a_rotation_and_translation_returns_the_original():
    G = WavesGenerator(resolution=48)
    ws = G.mapping(torch.randn(1, 4), None)
    original = G.synthesis(ws)
    moved = G.synthesis(ws, input_transform=G.user_transform_matrix((0.05, 0.02), 25.0))
    back, mask = untransform(moved, translate=(0.05, 0.02), rotate_deg=25.0)
    assert mask.mean() > 0.25
    assert ((back - original).abs() * mask).max() < 0.02
    assert ((moved - original).abs() * mask).max() > 0.1


def test_operators_reject_wrong_shapes():
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        translate_fractional(torch.zeros(3, 8, 8), 0.1, 0.1)
    with pytest.raises(ValueError, match="3×3"):
        untransform(torch.zeros(1, 3, 8, 8), user_matrix=torch.eye(2))
