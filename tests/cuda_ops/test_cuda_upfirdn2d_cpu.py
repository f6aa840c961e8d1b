"""CPU checks of the upfirdn2d CUDA kernel's design, without a GPU.

``emulate_kernel`` re-does, in PyTorch, exactly the index math of ``cuda_ops/csrc/upfirdn2d.cu``:
the launcher's choice of thread block and output tile (and its shared-memory bound), each
tile's input footprint (staged with zeros outside the image) and the polyphase tap loops
(which taps meet which staged samples). With it standing in for the kernel launch, the whole
Python side (pass planning, strides and memory formats, the adjoint used by backward and
double backward) runs on the CPU against ``upfirdn2d_ref``.
"""
import random

import pytest
import torch

from cuda_ops import _cuda_upfirdn2d as cu
from cuda_ops.upfirdn2d import upfirdn2d_direct, upfirdn2d_ref

K_THREADS = 256
SMEM_DEFAULT = 48 * 1024


def _pow2ceil(v):
    r = 1
    while r < v and r < (1 << 30):
        r <<= 1
    return r


def _smem_bytes(fw, fh, up, down, tw, th, esize):
    sw = ((tw - 1) * down[0] + fw - 1) // up[0] + 2
    sh = ((th - 1) * down[1] + fh - 1) // up[1] + 2
    return (fw * fh + sw * sh) * esize, sw, sh


def choose_tile(out_w, out_h, fw, fh, up, down, esize):
    """The launcher's (bx, by, tile_w, tile_h, smem bytes) — mirrors run<>() in upfirdn2d.cu."""
    bx = min(_pow2ceil(out_w), 32)
    by = min(_pow2ceil(out_h), K_THREADS // bx)
    tw = max(min(_pow2ceil(out_w), 64), bx)
    th = max(min(_pow2ceil(out_h), 32), by)
    while _smem_bytes(fw, fh, up, down, tw, th, esize)[0] > SMEM_DEFAULT and (tw > 1 or th > 1):
        if th >= tw:
            th = (th + 1) // 2
        else:
            tw = (tw + 1) // 2
    return bx, by, tw, th, _smem_bytes(fw, fh, up, down, tw, th, esize)


def _cdiv_floor(a, b):
    return a // b  # Python floors, like floor_div() in the kernel


def emulate_kernel(x, f2d, up, down, pad, channels_last, gain=1.0):
    """One kernel pass on the CPU, following the kernel's loops (vectorised over planes and
    over the outputs of a tile)."""
    n, c, in_h, in_w = x.shape
    fh, fw = f2d.shape
    upx, upy = up
    downx, downy = down
    px0, px1, py0, py1 = pad
    full_w, full_h = in_w * upx + px0 + px1, in_h * upy + py0 + py1
    assert full_w >= fw and full_h >= fh
    out_w, out_h = (full_w - fw + downx) // downx, (full_h - fh + downy) // downy
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    esize = 8 if acc == torch.float64 else 4
    assert f2d.dtype == acc and f2d.is_contiguous()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    y = torch.full([n, c, out_h, out_w], float("nan"), dtype=x.dtype).contiguous(memory_format=fmt)
    written = torch.zeros([out_h, out_w], dtype=torch.int64)
    bx, by, tile_w, tile_h, (smem, sw_max, sh_max) = choose_tile(out_w, out_h, fw, fh, up, down, esize)
    assert bx * by <= K_THREADS and smem <= 227 * 1024
    sf = f2d.to(acc) * gain
    xa = x.to(acc)
    tiles_x = -(-out_w // tile_w)
    tiles_y = -(-out_h // tile_h)
    for block in range(tiles_x * tiles_y):
        tx0 = (block % tiles_x) * tile_w
        ty0 = (block // tiles_x) * tile_h
        tw = min(tile_w, out_w - tx0)
        th = min(tile_h, out_h - ty0)
        ix0 = _cdiv_floor(tx0 * downx - px0, upx)
        ix1 = _cdiv_floor((tx0 + tw - 1) * downx + fw - 1 - px0, upx)
        iy0 = _cdiv_floor(ty0 * downy - py0, upy)
        iy1 = _cdiv_floor((ty0 + th - 1) * downy + fh - 1 - py0, upy)
        sw, sh = ix1 - ix0 + 1, iy1 - iy0 + 1
        assert 1 <= sw <= sw_max and 1 <= sh <= sh_max, (sw, sw_max, sh, sh_max)
        # Staging: i -> (ly, lx) over sw*sh, zeros outside the image.
        i = torch.arange(sw * sh)
        ly_s, lx_s = i // sw, i % sw
        gx, gy = ix0 + lx_s, iy0 + ly_s
        inside = (gx >= 0) & (gx < in_w) & (gy >= 0) & (gy < in_h)
        stage = torch.zeros([n, c, sw * sh], dtype=acc)
        stage[:, :, inside] = xa[:, :, gy[inside], gx[inside]]
        # Thread loops: oy = threadIdx.y + k*by, ox = threadIdx.x + k*bx cover [0, th) x [0, tw).
        oys = torch.tensor(sorted({t + k for t in range(by) for k in range(0, th, by) if t + k < th}))
        oxs = torch.tensor(sorted({t + k for t in range(bx) for k in range(0, tw, bx) if t + k < tw}))
        assert oys.tolist() == list(range(th)) and oxs.tolist() == list(range(tw))
        byv = (ty0 + oys) * downy + fh - 1 - py0
        ky0 = byv % upy  # C: by % upy, plus upy if negative == Python's non-negative modulo
        ly = (byv - ky0) // upy - iy0
        bxv = (tx0 + oxs) * downx + fw - 1 - px0
        kx0 = bxv % upx
        lx = (bxv - kx0) // upx - ix0
        accum = torch.zeros([n, c, th, tw], dtype=acc)
        for ky in range(fh):
            rows_ok = (ky >= ky0) & ((ky - ky0) % upy == 0)
            srow = ly - (ky - ky0) // upy  # srow -= sw once per visited ky
            for kx in range(fw):
                cols_ok = (kx >= kx0) & ((kx - kx0) % upx == 0)
                d = lx - (kx - kx0) // upx
                m = rows_ok[:, None] & cols_ok[None, :]
                if not m.any():
                    continue
                sr = srow[:, None].expand(th, tw)[m]
                sc = d[None, :].expand(th, tw)[m]
                assert (sr >= 0).all() and (sr < sh).all() and (sc >= 0).all() and (sc < sw).all()
                vals = stage[:, :, sr * sw + sc] * sf[ky, kx]
                a = accum.reshape(n, c, th * tw)
                a[:, :, m.reshape(-1).nonzero().squeeze(1)] += vals
        y[:, :, ty0:ty0 + th, tx0:tx0 + tw] = accum.to(x.dtype)
        written[ty0:ty0 + th, tx0:tx0 + tw] += 1
    assert (written == 1).all()
    return y


@pytest.fixture
def emulated(monkeypatch):
    monkeypatch.setattr(cu, "_launch", emulate_kernel)


def random_case(rng, max_w=23, max_h=19):
    """A random upfirdn2d configuration (kwargs, (w, h)); shared with the GPU tests."""
    upx, upy = rng.choice([(1, 1), (2, 2), (4, 4), (2, 1), (1, 2), (1, 3), (3, 2)])
    downx, downy = rng.choice([(1, 1), (2, 2), (1, 2), (3, 1)])
    kind = rng.choice(["1d", "2d", "sep2d", "none", "4x4"])
    kw = rng.randint(1, 12)
    kh = rng.randint(1, 12)
    g = torch.Generator().manual_seed(rng.randint(0, 1 << 30))
    if kind == "1d":
        f = torch.randn([kw], generator=g, dtype=torch.float64)
        kh = kw
    elif kind == "2d":
        f = torch.randn([kh, kw], generator=g, dtype=torch.float64)
    elif kind == "4x4":
        f = torch.randn([4, 4], generator=g, dtype=torch.float64)
        kw = kh = 4
    elif kind == "sep2d":
        f = torch.outer(torch.rand([kh], generator=g, dtype=torch.float64) + 0.5,
                        torch.rand([kw], generator=g, dtype=torch.float64) + 0.5)
    else:
        f, kw, kh = None, 1, 1
    w, h = rng.randint(1, max_w), rng.randint(1, max_h)
    pads = []
    for n, k, u in ((w, kw, upx), (h, kh, upy)):
        p0 = rng.randint(-(n * u) // 3, k + 2)
        p1 = rng.randint(-(n * u) // 3, k + 2)
        while n * u + p0 + p1 < k:
            p1 += 1
        pads += [p0, p1]
    return dict(f=f, up=(upx, upy), down=(downx, downy), padding=pads,
                flip_filter=rng.random() < 0.5, gain=rng.choice([1.0, 0.5, 3.0])), (w, h)


def test_emulated_kernel_matches_reference_on_random_configs(emulated):
    rng = random.Random(0)
    for _ in range(150):
        kw, (w, h) = random_case(rng)
        x = torch.randn([2, 3, h, w], dtype=torch.float64)
        y = cu.upfirdn2d_cuda(x, **kw)
        yr = upfirdn2d_ref(x, **kw)
        assert y.shape == yr.shape, kw
        torch.testing.assert_close(y, yr, rtol=1e-10, atol=1e-10, msg=lambda m: f"{kw}: {m}")


def test_emulated_kernel_matches_direct_oracle_float32(emulated):
    rng = random.Random(1)
    for _ in range(40):
        kw, (w, h) = random_case(rng)
        x = torch.randn([1, 2, h, w])
        if kw["f"] is not None:
            kw["f"] = kw["f"].float()
        torch.testing.assert_close(cu.upfirdn2d_cuda(x, **kw), upfirdn2d_direct(x, **kw), rtol=1e-4, atol=1e-4)


def test_tiling_of_large_planes_and_big_filters(emulated):
    """Several tiles per plane in both directions, and tiles shrunk to fit shared memory."""
    g = torch.Generator().manual_seed(3)
    for shape, f, up, down, pad in [([1, 2, 70, 150], torch.randn([4, 4], generator=g, dtype=torch.float64), 2, 1, [2, 1, 2, 1]),
                                    ([1, 1, 90, 200], torch.randn([12], generator=g, dtype=torch.float64), 1, 2, [5, 5, 5, 5]),
                                    ([1, 1, 40, 50], torch.randn([31, 29], generator=g, dtype=torch.float64), 1, 1, [14, 15, 15, 15]),
                                    ([1, 1, 33, 40], torch.randn([9, 9], generator=g, dtype=torch.float64), 2, 2, [4, 4, 4, 4])]:
        x = torch.randn(shape, generator=g, dtype=torch.float64)
        torch.testing.assert_close(cu.upfirdn2d_cuda(x, f, up=up, down=down, padding=pad),
                                   upfirdn2d_ref(x, f, up=up, down=down, padding=pad), rtol=1e-10, atol=1e-10)
    # a large double-precision filter needs more than the default 48 KiB: the tile shrinks
    bx, by, tw, th, (smem, _, _) = choose_tile(64, 64, 40, 40, (1, 1), (1, 1), 8)
    assert tw * th >= 1 and smem <= 227 * 1024


@pytest.mark.parametrize("via_copy", [True, False])
def test_memory_formats_and_strides(emulated, monkeypatch, via_copy):
    monkeypatch.setattr(cu, "CHANNELS_LAST_VIA_COPY", via_copy)
    g = torch.Generator().manual_seed(4)
    f = torch.randn([6], generator=g, dtype=torch.float64)
    base = torch.randn([2, 5, 9, 11], generator=g, dtype=torch.float64)
    for x in (base.contiguous(memory_format=torch.channels_last), base[:, ::2, 1:, ::2], base.transpose(2, 3),
              base[:1, :1].expand(2, 3, 9, 11)):
        y = cu.upfirdn2d_cuda(x, f, up=2, down=1, padding=[3, 2, 3, 2])
        yr = upfirdn2d_ref(x, f, up=2, down=1, padding=[3, 2, 3, 2])
        torch.testing.assert_close(y, yr, rtol=1e-10, atol=1e-10)
        assert y.is_contiguous(memory_format=torch.channels_last) == yr.is_contiguous(memory_format=torch.channels_last)
        assert y.is_contiguous() == yr.is_contiguous()


def test_adjoint_padding_formulas_against_autograd_of_reference():
    """gx = upfirdn2d(gy, flip(f), up=down, down=up, pad=adjoint_params(...)) for random configs."""
    rng = random.Random(5)
    for _ in range(150):
        kw, (w, h) = random_case(rng)
        x = torch.randn([1, 2, h, w], dtype=torch.float64, requires_grad=True)
        y = upfirdn2d_ref(x, **kw)
        gy = torch.randn_like(y)
        (gx,) = torch.autograd.grad(y, x, gy)
        f = kw["f"]
        fsize = (1, 1) if f is None else ((f.shape[0], f.shape[0]) if f.ndim == 1 else (f.shape[1], f.shape[0]))
        p = kw["padding"]
        up2, down2, pad2 = cu.adjoint_params((w, h), (y.shape[3], y.shape[2]), fsize, kw["up"], kw["down"],
                                             (p[0], p[1], p[2], p[3]))
        gx2 = upfirdn2d_ref(gy, f, up=up2, down=down2, padding=pad2, flip_filter=not kw["flip_filter"], gain=kw["gain"])
        assert gx2.shape == gx.shape, kw
        torch.testing.assert_close(gx2, gx, rtol=1e-10, atol=1e-10)


def test_backward_and_double_backward_emulated(emulated):
    rng = random.Random(6)
    for _ in range(12):
        kw, (w, h) = random_case(rng)
        w, h = min(w, 6), min(h, 5)
        for i, (n, k, u) in enumerate(((w, (kw["f"].shape[-1] if kw["f"] is not None else 1), kw["up"][0]),
                                       (h, (kw["f"].shape[0] if kw["f"] is not None else 1), kw["up"][1]))):
            while n * u + kw["padding"][2 * i] + kw["padding"][2 * i + 1] < k:
                kw["padding"][2 * i + 1] += 1
        x = torch.randn([1, 2, h, w], dtype=torch.float64, requires_grad=True)
        torch.autograd.gradcheck(lambda t: cu.upfirdn2d_cuda(t, **kw), (x,))
        torch.autograd.gradgradcheck(lambda t: cu.upfirdn2d_cuda(t, **kw), (x,))
        y, yr = cu.upfirdn2d_cuda(x, **kw), upfirdn2d_ref(x, **kw)
        gy = torch.randn_like(yr)
        torch.testing.assert_close(torch.autograd.grad(y, x, gy)[0], torch.autograd.grad(yr, x, gy)[0])


def test_filter_gradient_is_refused():
    x = torch.randn([1, 1, 4, 4], dtype=torch.float64)
    f = torch.ones([3], dtype=torch.float64, requires_grad=True)
    with pytest.raises(NotImplementedError, match="filter"):
        cu.upfirdn2d_cuda(x, f)


def test_too_short_input_raises_like_reference(emulated):
    x = torch.randn([1, 1, 2, 2])
    with pytest.raises(ValueError, match="shorter than the filter"):
        cu.upfirdn2d_cuda(x, torch.ones([5]))
