"""CPU checks of the filtered_lrelu CUDA kernel's design, without a GPU.

``emulate_resample`` re-does, in PyTorch, exactly the index math of ``resample_kernel`` in
``cuda_ops/csrc/filtered_lrelu.cu`` (the tap origin ``o*down - pad0``, the first tap meeting a
real sample ``pmod(-origin, up)``, stepping by ``up``, skipping/stopping outside the input, the
bias on real samples only, the three epilogues and the sign codes). With it standing in for
the kernel launch, the whole Python side (geometry of the intermediate grid, the sign layout
shared by forward and backward, the adjoint paddings, the autograd chain for backward and
double backward) runs on the CPU against ``filtered_lrelu_ref``.
"""
import math
import random

import pytest
import torch

from cuda_ops import _cuda_filtered_lrelu as cfl
from cuda_ops.filter_design import design_lowpass_filter
from cuda_ops.filtered_lrelu import filtered_lrelu_ref
from gan_core.models.stylegan3_layers import _filtered_lrelu_padding


def _axis_taps(out_len, in_len, k, up, down, pad0):
    """One-hot [out, k, in]: which input sample tap k of output o reads (kernel loop order)."""
    r = torch.zeros(out_len, k, in_len, dtype=torch.float64)
    for o in range(out_len):
        b = o * down - pad0
        k0 = (-b) % up  # pmod
        for kk in range(k0, k, up):
            assert (b + kk) % up == 0
            i = (b + kk) // up
            if i < 0:
                continue
            if i >= in_len:
                break
            r[o, kk, i] = 1
    return r


def emulate_resample(x, w, bias, signs, out_hw, up, down, pad0, mode, gain, slope, clamp, out_dtype):
    acc = w.dtype
    assert x.is_contiguous() and w.is_contiguous()
    assert acc == (torch.float64 if x.dtype == torch.float64 else torch.float32)
    n, c, h, wd = x.shape
    oh, ow = out_hw
    ry = _axis_taps(oh, h, w.shape[0], up[1], down[1], pad0[1]).to(acc)
    rx = _axis_taps(ow, wd, w.shape[1], up[0], down[0], pad0[0]).to(acc)
    xb = x.to(acc)
    if bias is not None:
        assert bias.dtype == acc and bias.shape == (c,)
        xb = xb + bias[None, :, None, None]
    z = torch.einsum("ncij,aki,blj,kl->ncab", xb, ry, rx, w)
    s = None
    if mode == cfl.ACTIVATE:
        pos = z > 0
        v = torch.where(pos, z * gain, z * slope * gain)
        s = torch.where(pos, 0, 1).to(torch.uint8)
        if clamp >= 0:
            over = (v > clamp) | (v < -clamp)
            v = v.clamp(-clamp, clamp)
            s[over] = 2
        z = v
    elif mode == cfl.FIXED:
        assert signs.dtype == torch.uint8 and signs.shape == (n, c, oh, ow) and signs.is_contiguous()
        d = torch.zeros(signs.shape, dtype=acc)
        d[signs == 0] = gain
        d[signs == 1] = slope * gain
        z = z * d
        s = signs
    return z.to(out_dtype).contiguous(), s


def emulate_fused(x, fp, bias, tile, signs=None, mode=cfl.ACTIVATE):
    """The fused kernel (``csrc/filtered_lrelu_fused.cu``) tile by tile, with its index math:
    tile geometry, the halo origin ``i0 = ceil((j0 - pad0) / up)`` with ``j0 = o0*down - pad_d0``,
    zeros (no bias) outside the input, the polyphase taps of step A (separable or 2-D), the
    epilogue on the intermediate grid and zeros off it, the signs written where the tile meets
    the grid (zeros elsewhere) or read, step B (separable or 2-D), the output inside the output."""
    acc = (fp.wux if fp.wu2 is None else fp.wu2).dtype
    n, c, h, w = x.shape
    th, tw = tile
    (mh_all, mw_all), (oh, ow) = fp.mid_hw, fp.out_hw
    kux, kuy, kdx, kdy = fp.filter_sizes()
    (upx, upy), (dx, dy), (px0, py0), (pdx, pdy) = fp.up, fp.down, fp.pad0, fp.pad_d0
    mw, mh = (tw - 1) * dx + kdx, (th - 1) * dy + kdy
    iw, ih = (mw + kux - 2) // upx + 1, (mh + kuy - 2) // upy + 1
    xa = x.to(acc).reshape(n * c, h, w)
    bv = torch.zeros(n * c, dtype=acc) if bias is None else bias.to(acc).repeat(n)
    y = torch.empty(n * c, oh, ow, dtype=acc)
    if mode == cfl.ACTIVATE:
        sg = torch.zeros(n * c, mh_all, mw_all, dtype=torch.uint8)
    else:
        sg = signs.reshape(n * c, mh_all, mw_all)
    for ty in range(-(-oh // th)):
        for tx in range(-(-ow // tw)):
            ox0, oy0 = tx * tw, ty * th
            j0x, j0y = ox0 * dx - pdx, oy0 * dy - pdy
            i0x, i0y = -((-(j0x - px0)) // upx), -((-(j0y - py0)) // upy)  # ceil division
            xs = torch.zeros(n * c, ih, iw, dtype=acc)
            for r in range(ih):
                for q in range(iw):
                    iy, ix = i0y + r, i0x + q
                    if 0 <= iy < h and 0 <= ix < w:
                        xs[:, r, q] = xa[:, iy, ix] + bv
            mid = torch.zeros(n * c, mh, mw, dtype=acc)
            if fp.wu2 is None:
                a = torch.zeros(n * c, ih, mw, dtype=acc)
                for jx in range(mw):
                    bx = j0x + jx - px0
                    for kx in range((-bx) % upx, kux, upx):
                        q = (bx + kx) // upx - i0x
                        assert 0 <= q < iw
                        a[:, :, jx] += fp.wux[kx] * xs[:, :, q]
                for jy in range(mh):
                    by = j0y + jy - py0
                    for ky in range((-by) % upy, kuy, upy):
                        r = (by + ky) // upy - i0y
                        assert 0 <= r < ih
                        mid[:, jy, :] += fp.wuy[ky] * a[:, r, :]
            else:  # one-hot tap tables per axis (the kernel's nested polyphase loops), then one einsum
                ry = torch.zeros(mh, kuy, ih, dtype=acc)
                for jy in range(mh):
                    by = j0y + jy - py0
                    for ky in range((-by) % upy, kuy, upy):
                        r = (by + ky) // upy - i0y
                        assert 0 <= r < ih
                        ry[jy, ky, r] = 1
                rx = torch.zeros(mw, kux, iw, dtype=acc)
                for jx in range(mw):
                    bx = j0x + jx - px0
                    for kx in range((-bx) % upx, kux, upx):
                        q = (bx + kx) // upx - i0x
                        assert 0 <= q < iw
                        rx[jx, kx, q] = 1
                mid = torch.einsum("prq,akr,blq,kl->pab", xs, ry, rx, fp.wu2)
            # the tile's window of the grid: rows [y0, y1) of the tile are grid rows [j0y + y0, ...)
            y0, y1 = max(0, -j0y), max(0, min(mh, mh_all - j0y))
            x0, x1 = max(0, -j0x), max(0, min(mw, mw_all - j0x))
            on = torch.zeros(mh, mw, dtype=torch.bool)
            on[y0:y1, x0:x1] = True
            if mode == cfl.ACTIVATE:
                pos = mid > 0
                v = torch.where(pos, mid * fp.gain, mid * fp.slope * fp.gain)
                s = torch.where(pos, 0, 1).to(torch.uint8)
                if fp.clamp >= 0:
                    s[(v > fp.clamp) | (v < -fp.clamp)] = 2
                    v = v.clamp(-fp.clamp, fp.clamp)
                if y1 > y0 and x1 > x0:
                    sg[:, j0y + y0:j0y + y1, j0x + x0:j0x + x1] = s[:, y0:y1, x0:x1]
            else:
                d = torch.zeros(n * c, mh, mw, dtype=acc)
                if y1 > y0 and x1 > x0:
                    win = sg[:, j0y + y0:j0y + y1, j0x + x0:j0x + x1]
                    dw = torch.zeros(win.shape, dtype=acc)
                    dw[win == 0] = fp.gain
                    dw[win == 1] = fp.slope * fp.gain
                    d[:, y0:y1, x0:x1] = dw
                v = mid * d
            v = torch.where(on, v, torch.zeros((), dtype=acc))
            out = torch.zeros(n * c, th, tw, dtype=acc)
            if fp.wd2 is None:
                b = torch.zeros(n * c, mh, tw, dtype=acc)
                for o in range(tw):
                    for k in range(kdx):
                        b[:, :, o] += fp.wdx[k] * v[:, :, o * dx + k]
                for o in range(th):
                    for k in range(kdy):
                        out[:, o, :] += fp.wdy[k] * b[:, o * dy + k, :]
            else:
                for oy in range(th):
                    for ox in range(tw):
                        win = v[:, oy * dy:oy * dy + kdy, ox * dx:ox * dx + kdx]
                        out[:, oy, ox] = (win * fp.wd2).sum(dim=[1, 2])
            hy, hx = min(th, oh - oy0), min(tw, ow - ox0)
            y[:, oy0:oy0 + hy, ox0:ox0 + hx] = out[:, :hy, :hx]
    return y.to(x.dtype).reshape(n, c, oh, ow), sg.reshape(n, c, mh_all, mw_all)


def emulate_fused_run(x, fp, bias, signs, mode):
    """``_fused_run`` with the emulated kernel and small tiles (several per plane, ragged
    edges), so the halo math is exercised."""
    assert x.is_contiguous()
    tile = cfl.pick_tile(fp.out_hw, lambda th, tw: th * tw <= 12, edge=4)
    return emulate_fused(x, fp, bias, tile, signs, mode)


@pytest.fixture(params=["fused", "chain"])
def emulated(request, monkeypatch):
    """The kernels replaced by their emulations; the forward through the fused kernel where the
    plan allows it, or (``chain``) through the chain of resample passes only."""
    monkeypatch.setattr(cfl, "_resample", emulate_resample)
    monkeypatch.setattr(cfl, "_fused_run", emulate_fused_run)
    monkeypatch.setattr(cfl, "FUSED", request.param == "fused")
    monkeypatch.setattr(cfl, "_fused_checked", {"cpu": True})  # the self-check has its own test
    return request.param


def _random_filter(rng, k, two_d):
    if k == 0:
        return None
    shape = [k, k] if two_d else [k]
    return torch.tensor([rng.uniform(-0.3, 1.0) for _ in range(math.prod(shape))], dtype=torch.float64).reshape(shape)


def _random_config(rng):
    up = rng.choice([1, 2, 4])
    down = rng.choice([1, 2])
    fu = _random_filter(rng, rng.choice([0, 1, 2, 3, 4, 5, 8]), rng.random() < 0.3)
    fd = _random_filter(rng, rng.choice([0, 1, 2, 3, 4, 6]), rng.random() < 0.4)
    h, w = rng.randint(2, 7), rng.randint(2, 7)
    kuh = 1 if fu is None else fu.shape[0]
    kdh = 1 if fd is None else fd.shape[0]
    pad = [rng.randint(-1, 4) for _ in range(4)]
    # keep the intermediate at least the down filter's length
    for i, n in ((0, w), (2, h)):
        while n * up + pad[i] + pad[i + 1] - kuh + 1 < kdh + 1:
            pad[i + 1] += 1
    kw = dict(fu=fu, fd=fd, up=up, down=down, padding=pad, gain=rng.choice([1.0, math.sqrt(2), 0.7, -1.3]),
              slope=rng.choice([0.2, 1.0, 0.0, -0.5]), clamp=rng.choice([None, 0.5, 2.0, 0.0]),
              flip_filter=rng.random() < 0.3)
    return (rng.randint(1, 2), rng.randint(1, 3), h, w), kw


def _ref(x, b, kw):
    return filtered_lrelu_ref(x, b=b, **kw)


@pytest.mark.parametrize("seed", range(40))
def test_forward_backward_matches_reference(emulated, seed):
    rng = random.Random(seed)
    shape, kw = _random_config(rng)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    if rng.random() < 0.3:
        x = x.contiguous(memory_format=torch.channels_last)
    b = torch.randn(shape[1], generator=g, dtype=torch.float64) if rng.random() < 0.7 else None
    x1 = x.clone().requires_grad_(True)
    b1 = None if b is None else b.clone().requires_grad_(True)
    y = cfl.filtered_lrelu_cuda(x1, b=b1, **kw)
    x2 = x.clone().requires_grad_(True)
    b2 = None if b is None else b.clone().requires_grad_(True)
    yr = _ref(x2, b2, kw)
    assert y.shape == yr.shape
    torch.testing.assert_close(y, yr, rtol=1e-10, atol=1e-10)
    dy = torch.randn(y.shape, generator=g, dtype=torch.float64)
    gx = torch.autograd.grad(y, [t for t in (x1, b1) if t is not None], dy, create_graph=True)
    gr = torch.autograd.grad(yr, [t for t in (x2, b2) if t is not None], dy, create_graph=True)
    for a, r in zip(gx, gr):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-10)
    # double backward: d/d(x, b) of <dx, v>  (the ref's second derivative is zero too, a.e.)
    v = torch.randn(x.shape, generator=g, dtype=torch.float64)
    dy1 = dy.clone().requires_grad_(True)
    dy2 = dy.clone().requires_grad_(True)
    (dx1,) = torch.autograd.grad(cfl.filtered_lrelu_cuda(x1, b=b1, **kw), x1, dy1, create_graph=True)
    (dx2,) = torch.autograd.grad(_ref(x2, b2, kw), x2, dy2, create_graph=True)
    (h1,) = torch.autograd.grad((dx1 * v).sum(), dy1)
    (h2,) = torch.autograd.grad((dx2 * v).sum(), dy2)
    torch.testing.assert_close(h1, h2, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("seed", range(6))
def test_gradcheck_gradgradcheck(emulated, seed):
    rng = random.Random(100 + seed)
    shape, kw = _random_config(rng)
    kw["clamp"] = None if kw["clamp"] == 0.0 else kw["clamp"]
    g = torch.Generator().manual_seed(seed)
    # keep samples away from the kinks so finite differences are valid
    x = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(shape[1], generator=g, dtype=torch.float64, requires_grad=True)
    fn = lambda x, b: cfl.filtered_lrelu_cuda(x, b=b, **kw)  # noqa: E731
    try:
        torch.autograd.gradcheck(fn, (x, b), eps=1e-7, atol=1e-5)
        torch.autograd.gradgradcheck(fn, (x, b), eps=1e-7, atol=1e-5)
    except RuntimeError as e:  # a sample within eps of a kink: the check itself is invalid there
        pytest.skip(f"finite differences crossed a kink: {str(e)[:80]}")


def _stylegan3_configs():
    """(x shape, kwargs) of the filtered_lrelu calls in real StyleGAN3-T/R synthesis layers
    (in/out sizes, factors, taps, padding as SynthesisLayer computes them), spatially small."""
    cfgs = []
    # (in_size, out_size, up, down, up_taps, down_taps, radial, torgb)
    for ins, outs, up, down, ut, dt, radial, torgb in [
        (36, 36, 2, 2, 12, 12, False, False),   # a 16² layer with margin: 38² -> 76² -> 36²
        (36, 36, 2, 2, 12, 12, True, False),    # StyleGAN3-R: radial 2-D down filter
        (20, 36, 4, 2, 24, 12, False, False),   # the 4x upsampling layer after a rate doubling
        (36, 36, 2, 1, 12, 1, False, False),    # critically sampled: no downsampling
        (16, 16, 1, 1, 1, 1, False, True),      # toRGB: 1x1 conv, linear
    ]:
        k = 1 if torgb else 3
        pad = _filtered_lrelu_padding(ins, outs, k, up, down, ut, dt)
        fu = design_lowpass_filter(ut, 8, 6, 16 * up) if ut > 1 else None
        fd = design_lowpass_filter(dt, 8, 6, 16 * up, radial=radial) if dt > 1 else None
        kw = dict(fu=fu, fd=fd, up=up, down=down, padding=pad, gain=1.0 if torgb else math.sqrt(2),
                  slope=1.0 if torgb else 0.2, clamp=256.0)
        cfgs.append(((1, 2, ins + k - 1, ins + k - 1), outs, kw))
    return cfgs


@pytest.mark.parametrize("cfg", range(5))
def test_stylegan3_layers(emulated, cfg):
    shape, outs, kw = _stylegan3_configs()[cfg]
    g = torch.Generator().manual_seed(cfg)
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * 3).requires_grad_(True)
    b = torch.randn(shape[1], generator=g, dtype=torch.float64, requires_grad=True)
    y = cfl.filtered_lrelu_cuda(x, b=b, **kw)
    assert y.shape[2:] == (outs, outs)
    yr = filtered_lrelu_ref(x, b=b, **kw)
    torch.testing.assert_close(y, yr, rtol=1e-9, atol=1e-9)
    dy = torch.randn(y.shape, generator=g, dtype=torch.float64)
    a = torch.autograd.grad(y, (x, b), dy)
    r = torch.autograd.grad(yr, (x, b), dy)
    for u, v in zip(a, r):
        torch.testing.assert_close(u, v, rtol=1e-9, atol=1e-9)


def test_sign_layout_and_float32(emulated):
    """The signs cover the whole intermediate grid [N, C, mid_h, mid_w]; float32 and float16
    run with float32 accumulation and an intermediate in float32."""
    shape, outs, kw = _stylegan3_configs()[0]
    x = torch.randn(shape)
    plan = cfl.make_plan(x, kw["fu"], kw["fd"], kw["up"], kw["down"], kw["padding"], kw["gain"], kw["slope"],
                         kw["clamp"], False)
    y, s = plan.forward(x, None, None)
    assert s.shape == (1, 2, *plan.mid_hw) and s.dtype == torch.uint8
    assert plan.mid_hw == (76 + sum(kw["padding"][2:]) - 11, 76 + sum(kw["padding"][:2]) - 11)
    torch.testing.assert_close(y, filtered_lrelu_ref(x.double(), **kw).float(), rtol=1e-5, atol=1e-5)
    yh = cfl.filtered_lrelu_cuda(x.half(), **kw)
    assert yh.dtype == torch.float16
    torch.testing.assert_close(yh.double(), filtered_lrelu_ref(x.half().double(), **kw), rtol=2e-3, atol=2e-3)


def test_errors():
    x = torch.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match="up must be the same"):
        cfl.filtered_lrelu_cuda(x, up=[1, 2])
    with pytest.raises(ValueError, match="shorter than the filter"):
        cfl.filtered_lrelu_cuda(x, fu=torch.ones(9))
    with pytest.raises(ValueError, match="bias"):
        cfl.filtered_lrelu_cuda(x, b=torch.ones(3))


@pytest.mark.parametrize("cfg", range(4))
def test_fused_kernel_tiles_equal_the_chain(monkeypatch, cfg):
    """The fused kernel's tiles, whatever their size (1×1, ragged, one tile for everything),
    give the chain's results in every direction: the forward (and, on every intermediate
    sample an output reads, its signs), the fixed-derivative forward and the adjoint."""
    monkeypatch.setattr(cfl, "_resample", emulate_resample)
    shape, outs, kw = _stylegan3_configs()[cfg]
    g = torch.Generator().manual_seed(cfg)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 3
    b = torch.randn(shape[1], generator=g, dtype=torch.float64)
    plan = cfl.make_plan(x, kw["fu"], kw["fd"], kw["up"], kw["down"], kw["padding"], kw["gain"], kw["slope"],
                         kw["clamp"], False)
    assert plan.fused is not None and plan.fused_adj is not None, "StyleGAN3 layers must take the fused path"
    y_chain, s_chain = plan._run(x, plan.passes, plan.act, cfl.ACTIVATE, None, b)
    f_chain = plan._run(x, plan.passes, plan.act, cfl.FIXED, s_chain, None)[0]
    dy = torch.randn(y_chain.shape, generator=g, dtype=torch.float64)
    a_chain = plan._chain_adjoint(dy, s_chain)
    fp = plan.fused
    kdx, kdy = fp.filter_sizes()[2:]
    read = ((outs - 1) * fp.down[1] + kdy, (outs - 1) * fp.down[0] + kdx)  # intermediate samples outputs read
    for tile in [(1, 1), (2, 3), (5, 4), (outs, outs)]:
        y, s = emulate_fused(x, fp, b, tile)
        torch.testing.assert_close(y, y_chain, rtol=1e-12, atol=1e-12, msg=f"forward, tile {tile}")
        assert torch.equal(s[..., :read[0], :read[1]], s_chain[..., :read[0], :read[1]]), f"tile {tile}"
        f, _ = emulate_fused(x, fp, None, tile, s_chain, cfl.FIXED)
        torch.testing.assert_close(f, f_chain, rtol=1e-12, atol=1e-12, msg=f"fixed, tile {tile}")
        adj_tile = (min(tile[0], shape[2]), min(tile[1], shape[3]))
        a, _ = emulate_fused(dy, plan.fused_adj, None, adj_tile, s_chain, cfl.FIXED)
        torch.testing.assert_close(a, a_chain, rtol=1e-12, atol=1e-12, msg=f"adjoint, tile {adj_tile}")


def test_fused_path_is_taken_and_tiles_fit(monkeypatch):
    """Forward and backward of a separable layer are one ``_fused_run`` each (no chain passes);
    ``pick_tile`` splits outputs evenly and halves the tile until it fits."""
    calls = []
    monkeypatch.setattr(cfl, "_resample", lambda *a, **k: calls.append("chain") or emulate_resample(*a, **k))
    monkeypatch.setattr(cfl, "_fused_run", lambda *a: calls.append("fused") or emulate_fused_run(*a))
    monkeypatch.setattr(cfl, "FUSED", True)
    monkeypatch.setattr(cfl, "_fused_checked", {"cpu": True})
    shape, outs, kw = _stylegan3_configs()[0]
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    cfl.filtered_lrelu_cuda(x, **kw).sum().backward()
    assert calls == ["fused", "fused"]
    monkeypatch.setattr(cfl, "FUSED", False)
    calls.clear()
    cfl.filtered_lrelu_cuda(x, **kw).sum().backward()
    assert calls == ["chain"] * 8
    assert cfl.pick_tile((36, 36), lambda th, tw: True) == (12, 12)
    assert cfl.pick_tile((64, 20), lambda th, tw: True) == (16, 10)
    assert cfl.pick_tile((36, 36), lambda th, tw: th * tw <= 100) == (8, 8)  # 16 -> 8: ceil(36/5) = 8
    assert cfl.pick_tile((5, 5), lambda th, tw: False) is None


def test_fused_self_check_turns_a_faulty_kernel_off(monkeypatch):
    """On first use per device the fused kernel is checked against the chain; a kernel that
    disagrees or fails is turned off with one warning and the chain gives the right result."""
    import warnings
    monkeypatch.setattr(cfl, "_resample", emulate_resample)
    monkeypatch.setattr(cfl, "FUSED", True)
    monkeypatch.setattr(cfl, "_fused_checked", {})
    monkeypatch.setattr(cfl, "_fused_run", emulate_fused_run)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cfl._fused_ok(torch.device("cpu"))  # the emulated kernel passes, silently

    def off_by_a_percent(x, fp, bias, signs, mode):
        y, s = emulate_fused_run(x, fp, bias, signs, mode)
        return y * 1.01, s

    def broken(*a):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    shape, outs, kw = _stylegan3_configs()[0]
    x = torch.randn(shape, dtype=torch.float64)
    for fault, says in ((off_by_a_percent, "differs from the chain of passes by 0.01"), (broken, "illegal memory")):
        monkeypatch.setattr(cfl, "_fused_checked", {})
        monkeypatch.setattr(cfl, "_fused_run", fault)
        with pytest.warns(RuntimeWarning, match=says):
            y = cfl.filtered_lrelu_cuda(x, **kw)
        assert cfl._fused_checked == {"cpu": False}
        torch.testing.assert_close(y, filtered_lrelu_ref(x, **kw), rtol=1e-10, atol=1e-10)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # once per device
            cfl.filtered_lrelu_cuda(x, **kw)
