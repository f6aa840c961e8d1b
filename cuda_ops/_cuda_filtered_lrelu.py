"""filtered_lrelu on our own CUDA kernel (``cuda_ops/csrc/filtered_lrelu.*``), differentiable to
any order.

Everything runs on one kernel, ``resample`` (``_resample`` below): a polyphase upfirdn2d pass
(correlation with a 2-D filter, zero-insertion by ``up``, a leading padding ``pad0``, keeping
every ``down``-th sample, an explicit output size) with an optional bias on the input and a
pointwise epilogue: ``mode`` 0 none, 1 leaky ReLU·gain + clamp writing one derivative class
per sample into a uint8 ``signs`` tensor (0 positive, 1 negative, 2 clamped), 2 multiply by the
recorded derivative (gain, slope·gain or 0).

Each upfirdn2d step is one 2-D pass (2-D filter or none) or, for a 1-D filter, a pass along x
then one along y (K/up + K/up taps per sample instead of (K/up)²). Per axis, with input length
``n``, intermediate ``m = n*up + p0 + p1 - Ku + 1`` and output ``o = (m - Kd + down) // down``::

    forward   z = up-pass(es) of x + b (wu, up, leading pad p0, length m), the last with mode 1
                  -> signs [N, C, m_h, m_w]
              y = down-pass(es) of z (wd, down, leading pad 0, length o)
    fixed     the same with mode 2 (signs given, no bias): linear in x
    adjoint   the passes' transposes in reverse order; the transpose of a pass (w, up, down,
              p0, n -> m) is (flip(w), up'=down, down'=up, p0'=K-1-p0, m -> n); the transpose of
              the first down-pass ends on the intermediate grid and carries mode 2.

``wu`` carries the upsampling gain up² (split as up per axis for 1-D filters). The backward
of ``forward`` is ``adjoint`` (db = dx summed over N, H, W); the backward of ``adjoint`` is
``fixed`` and vice versa (the op is piecewise linear, so nothing flows through the signs).
Filters are constants (no gradient). Tests replace ``_resample`` with a CPU emulation.

Every direction of the common case — a 1-D up filter, any down filter —
runs instead as one launch of the fused kernel (``csrc/filtered_lrelu_fused.cu``): one block per
output tile keeps the input tile, the upsampling, the activation and the downsampling in shared
memory, writing only the output and the signs. The fixed-derivative forward and the adjoint
(whose steps are the transposed down filter, then the transposed up filter) run on the same
kernel. Same taps in the same order as the passes (separable steps up to their order), so it
equals the chain it replaces; ``GANSCOPE_FLRELU_FUSED=0`` turns it off (for A/B runs). Tests
replace ``_fused_run`` with an emulation of the kernel's tile and halo math.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass

import torch

from cuda_ops.upfirdn2d import output_memory_format, parse_padding, parse_scaling

_CODES = {torch.float32: 0, torch.float16: 1, torch.float64: 2}
PLAIN, ACTIVATE, FIXED = 0, 1, 2
FUSED = os.environ.get("GANSCOPE_FLRELU_FUSED", "1") != "0"
FUSED_TILE = 16  # output tile edge of the fused kernel (smaller where the output or shared memory asks)
FUSED_CHECK_TOL = 1e-4  # largest relative difference from the chain the self-check accepts (float32)
_fused_checked: dict[str, bool] = {}  # device -> the fused kernel passed its self-check there


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _resample(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, signs: torch.Tensor | None,
              out_hw: tuple[int, int], up: tuple[int, int], down: tuple[int, int], pad0: tuple[int, int],
              mode: int, gain: float, slope: float, clamp: float, out_dtype: torch.dtype
              ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One kernel pass; up/down/pad0 as (x, y), out_hw as (h, w). Returns (y, signs)."""
    from cuda_ops import _build
    mod = _build.load("filtered_lrelu")
    y, s = mod.resample(x, w, bias, signs, out_hw[0], out_hw[1], up[0], up[1], down[0], down[1], pad0[0], pad0[1],
                        mode, gain, slope, clamp, _CODES[out_dtype])
    return y, (s if mode != PLAIN else None)


def _corr_weights(f: torch.Tensor | None, gain: float, flip_filter: bool, dtype: torch.dtype,
                  device: torch.device) -> torch.Tensor:
    """A [kh, kw] filter in correlation orientation carrying ``gain`` in total."""
    if f is None:
        return torch.full([1, 1], float(gain), dtype=dtype, device=device)
    f = f.detach().to(device=device, dtype=dtype)
    if f.ndim == 1:
        f = torch.outer(f, f)
    elif f.ndim != 2:
        raise ValueError(f"filtered_lrelu: filter must be 1-D or 2-D, got shape {tuple(f.shape)}")
    if f.numel() == 0:
        raise ValueError("filtered_lrelu: empty filter")
    f = f * gain
    if not flip_filter:  # true convolution = correlation with the flipped filter
        f = f.flip([0, 1])
    return f.contiguous()


@dataclass(frozen=True, eq=False)
class _Pass:
    """One kernel pass: [.., in_hw] -> [.., out_hw]; up/down/pad0 as (x, y)."""
    w: torch.Tensor           # [kh, kw], correlation orientation, gain applied
    up: tuple[int, int]
    down: tuple[int, int]
    pad0: tuple[int, int]
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]

    def adjoint(self) -> "_Pass":
        """The transpose: flipped filter, up and down swapped, leading padding K-1-p0, sizes swapped."""
        kh, kw = self.w.shape
        return _Pass(self.w.flip([0, 1]).contiguous(), self.down, self.up,
                     (kw - 1 - self.pad0[0], kh - 1 - self.pad0[1]), self.out_hw, self.in_hw)


@dataclass(frozen=True, eq=False)
class _FusedPlan:
    """Resampling step A (onto the intermediate grid ``mid_hw``), the epilogue there, and
    resampling step B (onto ``out_hw``) as one fused launch. Each step's filter is separable
    (``*x``, ``*y``: 1-D taps) or 2-D (``*2``); correlation orientation, gains applied, as in
    the passes. Step A upsamples by ``up`` after a leading padding ``pad0``; step B reads the
    intermediate shifted by ``pad_d0`` (zero off the grid) and downsamples by ``down``."""
    wux: torch.Tensor | None
    wuy: torch.Tensor | None
    wu2: torch.Tensor | None
    wdx: torch.Tensor | None
    wdy: torch.Tensor | None
    wd2: torch.Tensor | None
    up: tuple[int, int]
    down: tuple[int, int]
    pad0: tuple[int, int]
    pad_d0: tuple[int, int]
    mid_hw: tuple[int, int]
    out_hw: tuple[int, int]
    gain: float
    slope: float
    clamp: float

    def filter_sizes(self) -> tuple[int, int, int, int]:
        """(kux, kuy, kdx, kdy)"""
        kux, kuy = (self.wux.numel(), self.wuy.numel()) if self.wu2 is None else (self.wu2.shape[1], self.wu2.shape[0])
        kdx, kdy = (self.wdx.numel(), self.wdy.numel()) if self.wd2 is None else (self.wd2.shape[1], self.wd2.shape[0])
        return kux, kuy, kdx, kdy


def _step(passes: list[_Pass], upsampling: bool):
    """One resampling step as (wx, wy, w2, factors (x, y), leading padding (x, y)), or None
    when the passes are not one 2-D pass or an x pass and a y pass (either order)."""
    def still(p):  # the factor that must be 1 in this step
        return p.down if upsampling else p.up
    def moving(p):
        return p.up if upsampling else p.down
    if len(passes) == 1:
        p = passes[0]
        if still(p) != (1, 1):
            return None
        return None, None, p.w.contiguous(), moving(p), p.pad0
    if len(passes) != 2:
        return None
    px = next((p for p in passes if p.w.shape[0] == 1 and moving(p)[1] == 1 and p.pad0[1] == 0), None)
    py = next((p for p in passes if p is not px and p.w.shape[1] == 1 and moving(p)[0] == 1 and p.pad0[0] == 0), None)
    if px is None or py is None or still(px) != (1, 1) or still(py) != (1, 1):
        return None
    return (px.w.reshape(-1).contiguous(), py.w.reshape(-1).contiguous(), None, (moving(px)[0], moving(py)[1]),
            (px.pad0[0], py.pad0[1]))


def _fused_plan(a_passes: list[_Pass], b_passes: list[_Pass], mid_hw, out_hw, gain: float, slope: float,
                clamp: float) -> _FusedPlan | None:
    """The fused form of a_passes (upsampling) + epilogue + b_passes (downsampling), if they have one."""
    a, b = _step(a_passes, True), _step(b_passes, False)
    if a is None or b is None:
        return None
    return _FusedPlan(*a[:3], *b[:3], up=a[3], down=b[3], pad0=a[4], pad_d0=b[4], mid_hw=mid_hw, out_hw=out_hw,
                      gain=gain, slope=slope, clamp=clamp)


def pick_tile(out_hw: tuple[int, int], fits, edge: int = FUSED_TILE) -> tuple[int, int] | None:
    """The output tile (h, w): at most ``edge`` per axis, split evenly over the output (36 ->
    3 tiles of 12, not 16 + 16 + 4), halved until ``fits(th, tw)``; None when even 1×1 does not."""
    def even(n, e):
        tiles = -(-n // e)
        return max(1, -(-n // tiles))
    while edge >= 1:
        th, tw = even(out_hw[0], edge), even(out_hw[1], edge)
        if fits(th, tw):
            return th, tw
        edge //= 2
    return None


def _fused_run(x: torch.Tensor, fp: _FusedPlan, bias: torch.Tensor | None, signs: torch.Tensor | None,
               mode: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(y, signs) from one fused launch (mode ACTIVATE records the signs, FIXED reads them), or
    None when no tile fits the device's shared memory."""
    from cuda_ops import _build
    mod = _build.load("filtered_lrelu")
    kux, kuy, kdx, kdy = fp.filter_sizes()

    def fits(th, tw):
        need, limit = mod.fused_smem(_CODES[x.dtype], kux, kuy, fp.wu2 is None, kdx, kdy, fp.wd2 is None,
                                     fp.up[0], fp.up[1], fp.down[0], fp.down[1], th, tw)
        return 0 < need <= limit

    tile = pick_tile(fp.out_hw, fits)
    if tile is None:
        return None
    y, s = mod.fused(x, fp.wux, fp.wuy, fp.wu2, fp.wdx, fp.wdy, fp.wd2, bias, signs, fp.mid_hw[0], fp.mid_hw[1],
                     fp.out_hw[0], fp.out_hw[1], fp.up[0], fp.up[1], fp.down[0], fp.down[1], fp.pad0[0], fp.pad0[1],
                     fp.pad_d0[0], fp.pad_d0[1], tile[0], tile[1], mode, fp.gain, fp.slope, fp.clamp)
    return y, s


def _fused_ok(device: torch.device) -> bool:
    """Whether the fused kernel may run on ``device``. On first use there it runs once against
    the chain of resample passes (a small layer, every direction, separable and 2-D down
    filters); if it fails or disagrees it is turned off for the process with one warning, so a
    kernel fault costs speed, never a wrong image."""
    key = str(device)
    if key not in _fused_checked:
        _fused_checked[key] = False  # while checking, the chain serves (and no recursion)
        try:
            err = _fused_self_check(device)
            ok, reason = err <= FUSED_CHECK_TOL, f"it differs from the chain of passes by {err:.3g} (relative)"
        except Exception as e:  # a build, launch or shape fault: report it, keep working
            ok, reason = False, f"{type(e).__name__}: {str(e).strip()[:200]}"
        if not ok:
            warnings.warn(f"filtered_lrelu: the fused CUDA kernel failed its self-check on {key} ({reason}); "
                          "using the chain of resample passes instead (slower, same results). Please report this.",
                          RuntimeWarning, stacklevel=3)
        _fused_checked[key] = ok
    return _fused_checked[key]


def _fused_self_check(device: torch.device) -> float:
    """Largest relative difference between the fused kernel and the chain on a small random
    StyleGAN3-like layer (up 2, down 2, clamp), forward, fixed and adjoint, in float32."""
    from cuda_ops._self_check import max_relative_difference
    g = torch.Generator().manual_seed(0)
    x = (torch.randn([2, 3, 14, 13], generator=g) * 2).to(device)
    b = torch.randn([3], generator=g).to(device)
    fu = torch.rand([6], generator=g).to(device)
    worst = 0.0
    for fd in (torch.rand([4], generator=g).to(device), torch.rand([4, 4], generator=g).to(device)):
        plan = make_plan(x, fu, fd, 2, 2, [4, 3, 4, 2], math.sqrt(2), 0.2, 1.5, False)
        if plan.fused is None or plan.fused_adj is None:
            raise RuntimeError("the self-check layer has no fused plan")
        y0, s0 = plan._run(x, plan.passes, plan.act, ACTIVATE, None, b)
        r = _fused_run(x, plan.fused, b, None, ACTIVATE)
        if r is None:  # no tile fits: the chain would run anyway
            continue
        f0 = plan._run(x, plan.passes, plan.act, FIXED, s0, None)[0]
        dy = torch.randn(y0.shape, generator=g).to(device)
        pairs = [(r[0], y0), (_fused_run(x, plan.fused, None, s0, FIXED)[0], f0),
                 (_fused_run(dy, plan.fused_adj, None, s0, FIXED)[0], plan._chain_adjoint(dy, s0))]
        worst = max(worst, max_relative_difference(pairs))
    return worst


@dataclass(frozen=True, eq=False)
class _Plan:
    passes: tuple[_Pass, ...]  # upsampling pass(es), then downsampling pass(es)
    act: int                   # index of the pass whose output is the intermediate grid
    in_hw: tuple[int, int]
    mid_hw: tuple[int, int]
    out_hw: tuple[int, int]
    gain: float
    slope: float
    clamp: float              # -1: none
    fused: _FusedPlan | None = None      # the forward (and fixed) as one launch
    fused_adj: _FusedPlan | None = None  # the adjoint as one launch

    def _run(self, x, passes, epi, mode, signs, bias):
        acc = _acc_dtype(x.dtype)
        out_dtype = x.dtype
        z = x.contiguous()
        s_out = None
        for i, p in enumerate(passes):
            m = mode if i == epi else PLAIN
            z, s = _resample(z, p.w, bias if i == 0 else None, signs if m == FIXED else None, p.out_hw, p.up,
                             p.down, p.pad0, m, self.gain, self.slope, self.clamp,
                             out_dtype if i == len(passes) - 1 else acc)
            if m == ACTIVATE:
                s_out = s
        return z, s_out

    def forward(self, x: torch.Tensor, b: torch.Tensor | None, signs: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """signs None: activate and record the signs; else multiply by the recorded derivative."""
        if self.fused is not None and FUSED and _fused_ok(x.device):
            r = _fused_run(x.contiguous(), self.fused, b if signs is None else None, signs,
                           ACTIVATE if signs is None else FIXED)
            if r is not None:
                return r
        if signs is None:
            return self._run(x, self.passes, self.act, ACTIVATE, None, b)
        return self._run(x, self.passes, self.act, FIXED, signs, None)[0], signs

    def adjoint(self, dy: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
        if self.fused_adj is not None and FUSED and _fused_ok(dy.device):
            r = _fused_run(dy.contiguous(), self.fused_adj, None, signs, FIXED)
            if r is not None:
                return r[0]
        return self._chain_adjoint(dy, signs)

    def _chain_adjoint(self, dy: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
        adj = tuple(p.adjoint() for p in reversed(self.passes))
        # the adjoint of the first downsampling pass ends on the intermediate grid
        epi = len(self.passes) - 1 - (self.act + 1)
        return self._run(dy, adj, epi, FIXED, signs, None)[0]


def _axis_len(n: int, k: int, up: int, down: int, p0: int, p1: int, axis: str) -> int:
    full = n * up + p0 + p1
    if full < k:
        raise ValueError(f"filtered_lrelu: along {axis} the padded input ({full} samples) is shorter than the "
                         f"filter ({k} taps); increase the padding")
    return (full - k + down) // down


def _filter_passes(f, gain, flip_filter, acc, device, in_hw, up, down, pad):
    """Passes of one upfirdn2d step: a 1-D filter runs as an x pass then a y pass (each with
    sqrt of the gain), a 2-D filter (or none) as one 2-D pass. pad = (x0, x1, y0, y1)."""
    (upx, upy), (downx, downy) = up, down
    px0, px1, py0, py1 = pad
    h, w = in_hw
    if f is not None and f.ndim == 1 and f.numel() > 1:
        taps = f.detach().to(device=device, dtype=acc) * math.sqrt(gain)
        if not flip_filter:
            taps = taps.flip(0)
        k = taps.numel()
        ow = _axis_len(w, k, upx, downx, px0, px1, "x")
        oh = _axis_len(h, k, upy, downy, py0, py1, "y")
        return [_Pass(taps.reshape(1, k).contiguous(), (upx, 1), (downx, 1), (px0, 0), (h, w), (h, ow)),
                _Pass(taps.reshape(k, 1).contiguous(), (1, upy), (1, downy), (0, py0), (h, ow), (oh, ow))]
    wt = _corr_weights(f, gain, flip_filter, acc, device)
    ow = _axis_len(w, wt.shape[1], upx, downx, px0, px1, "x")
    oh = _axis_len(h, wt.shape[0], upy, downy, py0, py1, "y")
    return [_Pass(wt, (upx, upy), (downx, downy), (px0, py0), (h, w), (oh, ow))]


def make_plan(x: torch.Tensor, fu, fd, up, down, padding, gain, slope, clamp, flip_filter) -> _Plan:
    upx, upy = parse_scaling(up)
    if upx != upy:
        raise ValueError(f"filtered_lrelu: up must be the same along x and y, got {up}")
    downx, downy = parse_scaling(down)
    if min(upx, downx, downy) < 1:
        raise ValueError("filtered_lrelu: up/down factors must be >= 1")
    pad = parse_padding(padding)
    if clamp is not None and clamp < 0:
        raise ValueError(f"filtered_lrelu: clamp must be >= 0 or None, got {clamp}")
    for f in (fu, fd):
        if f is not None and (f.ndim not in (1, 2) or f.numel() == 0):
            raise ValueError(f"filtered_lrelu: filter must be a non-empty 1-D or 2-D tensor, got {tuple(f.shape)}")
    acc = _acc_dtype(x.dtype)
    in_hw = (x.shape[2], x.shape[3])
    ups = _filter_passes(fu, upx * upy, flip_filter, acc, x.device, in_hw, (upx, upy), (1, 1), pad)
    mid_hw = ups[-1].out_hw
    downs = _filter_passes(fd, 1.0, flip_filter, acc, x.device, mid_hw, (1, 1), (downx, downy), (0, 0, 0, 0))
    clampv = -1.0 if clamp is None else float(clamp)
    return _Plan(passes=tuple(ups + downs), act=len(ups) - 1, in_hw=in_hw, mid_hw=mid_hw,
                 out_hw=downs[-1].out_hw, gain=float(gain), slope=float(slope), clamp=clampv,
                 fused=_fused_plan(ups, downs, mid_hw, downs[-1].out_hw, float(gain), float(slope), clampv),
                 fused_adj=_fused_plan([p.adjoint() for p in reversed(downs)], [p.adjoint() for p in reversed(ups)],
                                       mid_hw, in_hw, float(gain), float(slope), clampv))


class _FilteredLReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, b, plan):
        bias = None if b is None else b.detach().to(_acc_dtype(x.dtype)).contiguous()
        y, signs = plan.forward(x, bias, None)
        ctx.save_for_backward(signs)
        ctx.plan = plan
        ctx.b_dtype = None if b is None else b.dtype
        return y.contiguous(memory_format=output_memory_format(x))

    @staticmethod
    def backward(ctx, dy):
        (signs,) = ctx.saved_tensors
        dx = db = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            dx = _Adjoint.apply(dy, signs, ctx.plan)
            if ctx.needs_input_grad[1]:
                db = dx.sum(dim=[0, 2, 3], dtype=_acc_dtype(dx.dtype)).to(ctx.b_dtype)
        return (dx if ctx.needs_input_grad[0] else None), db, None


class _Adjoint(torch.autograd.Function):
    """dy -> dx with the derivative classes fixed (linear in dy)."""

    @staticmethod
    def forward(ctx, dy, signs, plan):
        ctx.save_for_backward(signs)
        ctx.plan = plan
        return plan.adjoint(dy, signs).contiguous(memory_format=output_memory_format(dy))

    @staticmethod
    def backward(ctx, ddx):
        (signs,) = ctx.saved_tensors
        return _Fixed.apply(ddx, signs, ctx.plan), None, None


class _Fixed(torch.autograd.Function):
    """x -> y with the derivative classes fixed (linear in x, no bias)."""

    @staticmethod
    def forward(ctx, x, signs, plan):
        ctx.save_for_backward(signs)
        ctx.plan = plan
        y, _ = plan.forward(x, None, signs)
        return y.contiguous(memory_format=output_memory_format(x))

    @staticmethod
    def backward(ctx, dy):
        (signs,) = ctx.saved_tensors
        return _Adjoint.apply(dy, signs, ctx.plan), None, None


def filtered_lrelu_cuda(x: torch.Tensor, fu: torch.Tensor | None = None, fd: torch.Tensor | None = None,
                        b: torch.Tensor | None = None, up: int = 1, down: int = 1, padding=0,
                        gain: float = math.sqrt(2), slope: float = 0.2, clamp: float | None = None,
                        flip_filter: bool = False) -> torch.Tensor:
    """filtered_lrelu (see cuda_ops/filtered_lrelu.py) on the CUDA kernel; output in x's memory format."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError("filtered_lrelu: expected x of shape [N, C, H, W]")
    if x.dtype not in _CODES:
        raise ValueError(f"filtered_lrelu (CUDA): dtype {x.dtype} is not supported")
    if b is not None and (b.ndim != 1 or b.shape[0] != x.shape[1]):
        raise ValueError(f"filtered_lrelu: bias of shape {tuple(b.shape)} does not match "
                         f"the {x.shape[1]} channels of x {tuple(x.shape)}")
    plan = make_plan(x, fu, fd, up, down, padding, gain, slope, clamp, flip_filter)
    return _FilteredLReLU.apply(x, b, plan)
