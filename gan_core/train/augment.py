"""Adaptive discriminator augmentation (Karras et al., "Training Generative Adversarial Networks
with Limited Data", NeurIPS 2020), written from the paper's description.

:class:`AugmentPipe` applies, to every image independently and each with probability ``p``,
the paper's "bgc" set of transforms; everything is differentiable with respect to the images
(needed because the generator is trained through D(augment(G(z))) and R1 differentiates
D(augment(x)) with respect to x):

* geometric, composed into one 3×3 matrix per image and applied with one bilinear
  resampling (reflection at the borders): x-flip, rotation by multiples of 90°, integer
  translation (up to ±``xint_max`` of the image size), isotropic scaling (log2-normal,
  std 0.2), arbitrary rotation (uniform; applied before and after the anisotropic scaling,
  each with probability 1 - sqrt(1 - p) so that "some rotation" happens with probability p),
  anisotropic scaling (log2-normal, std 0.2) and fractional translation (normal, std 0.125);
* colour, composed into one 4×4 matrix on homogeneous RGB: brightness (additive, normal
  std 0.2), contrast (log2-normal std 0.5), luma flip (reflect along the luma axis), hue
  rotation (uniform angle around the luma axis) and saturation (log2-normal std 1 scaling
  of the component orthogonal to the luma axis).

:class:`AdaController` adjusts ``p`` from the overfitting heuristic r_t = E[sign(D(real))]:
every ``interval`` steps, p moves by sign(r_t - target) · (images seen since) / (ada_kimg · 1000),
so p can go from 0 to 1 in ``ada_kimg`` thousand images; p stays in [0, 1].
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BGC = dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
           brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)
# The paper's named subsets (``--augpipe``): pixel blitting, general geometric, colour, and their
# sums. "bg" keeps a dataset's colours out of the augmentation (e.g. when colour is what the
# model should learn exactly); ADA's paper found "bgc" best overall.
_BLIT = ("xflip", "rotate90", "xint")
_GEOM = ("scale", "rotate", "aniso", "xfrac")
_COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
AUGPIPES = {"blit": _BLIT, "geom": _GEOM, "color": _COLOR, "bg": _BLIT + _GEOM, "bgc": _BLIT + _GEOM + _COLOR}


def augpipe_strengths(name: str) -> dict[str, float]:
    """AugmentPipe keyword strengths for a named subset: 1 for its transforms, 0 for the rest."""
    if name not in AUGPIPES:
        raise ValueError(f"unknown augmentation set {name!r}; known: {', '.join(AUGPIPES)}")
    return {k: 1.0 if k in AUGPIPES[name] else 0.0 for k in BGC}


def _eye(n: int, k: int, device) -> torch.Tensor:
    return torch.eye(k, device=device).unsqueeze(0).repeat(n, 1, 1)


def _translate(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    m = _eye(tx.shape[0], 3, tx.device)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def _scale(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    m = _eye(sx.shape[0], 3, sx.device)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _rotate(theta: torch.Tensor) -> torch.Tensor:
    m = _eye(theta.shape[0], 3, theta.device)
    c, s = torch.cos(theta), torch.sin(theta)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def _chance(n: int, p: float, device) -> torch.Tensor:
    """1 with probability p, else 0, per image ([N] float)."""
    return (torch.rand([n], device=device) < p).float()


_LUMA_CACHE: dict[torch.device, tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = {}


def _luma_constants(device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(v [4] the homogeneous luma axis, v vᵀ [1, 4, 4], K [3, 3] the cross-product matrix of
    v[:3], v[:3] v[:3]ᵀ [3, 3]), computed once per device (with the same operations, on that
    device, as before they were cached) instead of on every call."""
    device = torch.device(device)
    out = _LUMA_CACHE.get(device)
    if out is None:
        v = torch.tensor([1, 1, 1, 0], dtype=torch.float32, device=device) / math.sqrt(3)
        a = v[:3]
        K = torch.tensor([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]], device=device)
        out = (v, torch.outer(v, v).unsqueeze(0), K, torch.outer(a, a))
        _LUMA_CACHE[device] = out
    return out


class AugmentPipe(nn.Module):
    """``aug(images [N, C, H, W] float) -> [N, C, H, W]``; the probability is the buffer ``p``.

    Keyword strengths (0 disables a transform, 1 is the paper's setting) default to "bgc".
    """

    def __init__(self, xint_max: float = 0.125, scale_std: float = 0.2, rotate_max: float = 1.0,
                 aniso_std: float = 0.2, xfrac_std: float = 0.125, brightness_std: float = 0.2,
                 contrast_std: float = 0.5, hue_max: float = 1.0, saturation_std: float = 1.0,
                 **strengths: float) -> None:
        super().__init__()
        unknown = set(strengths) - set(BGC)
        if unknown:
            raise ValueError(f"unknown augmentations {sorted(unknown)}; known: {', '.join(BGC)}")
        self.w = {**BGC, **{k: float(v) for k, v in strengths.items()}}
        self.xint_max, self.scale_std, self.rotate_max = xint_max, scale_std, rotate_max
        self.aniso_std, self.xfrac_std = aniso_std, xfrac_std
        self.brightness_std, self.contrast_std = brightness_std, contrast_std
        self.hue_max, self.saturation_std = hue_max, saturation_std
        self.register_buffer("p", torch.zeros([]))

    # -- matrices ------------------------------------------------------------------------------

    def geometric_matrix(self, n: int, size: int, device) -> torch.Tensor:
        """[N, 3, 3]: maps output coordinates to input coordinates (normalized, [-1, 1])."""
        p = self.p_value()
        w = self.w
        M = _eye(n, 3, device)
        one = torch.ones([n], device=device)
        if w["xflip"] > 0:
            flip = torch.randint(0, 2, [n], device=device).float() * _chance(n, p * w["xflip"], device)
            M = M @ _scale(1 - 2 * flip, one)
        if w["rotate90"] > 0:
            k = torch.randint(0, 4, [n], device=device).float() * _chance(n, p * w["rotate90"], device)
            M = M @ _rotate(k * (math.pi / 2))
        if w["xint"] > 0:
            t = (torch.rand([n, 2], device=device) * 2 - 1) * self.xint_max
            t = t * _chance(n, p * w["xint"], device)[:, None]
            t = torch.round(t * size) * (2 / size)  # whole pixels, in normalized units
            M = M @ _translate(t[:, 0], t[:, 1])
        if w["scale"] > 0:
            s = torch.exp2(torch.randn([n], device=device) * self.scale_std * _chance(n, p * w["scale"], device))
            M = M @ _scale(s, s)
        p_rot = 1 - math.sqrt(max(1 - p * w["rotate"], 0)) if w["rotate"] > 0 else 0
        if p_rot > 0:
            a = (torch.rand([n], device=device) * 2 - 1) * math.pi * self.rotate_max
            M = M @ _rotate(a * _chance(n, p_rot, device))
        if w["aniso"] > 0:
            s = torch.exp2(torch.randn([n], device=device) * self.aniso_std * _chance(n, p * w["aniso"], device))
            M = M @ _scale(s, 1 / s)
        if p_rot > 0:
            a = (torch.rand([n], device=device) * 2 - 1) * math.pi * self.rotate_max
            M = M @ _rotate(a * _chance(n, p_rot, device))
        if w["xfrac"] > 0:
            t = torch.randn([n, 2], device=device) * self.xfrac_std * 2 * _chance(n, p * w["xfrac"], device)[:, None]
            M = M @ _translate(t[:, 0], t[:, 1])
        return M

    def color_matrix(self, n: int, device) -> torch.Tensor:
        """[N, 4, 4] acting on homogeneous RGB (values about [-1, 1])."""
        p = self.p_value()
        w = self.w
        C = _eye(n, 4, device)
        v, vv, _, _ = _luma_constants(device)
        if w["brightness"] > 0:
            b = torch.randn([n], device=device) * self.brightness_std * _chance(n, p * w["brightness"], device)
            T = _eye(n, 4, device)
            T[:, :3, 3] = b[:, None]
            C = T @ C
        if w["contrast"] > 0:
            c = torch.exp2(torch.randn([n], device=device) * self.contrast_std
                           * _chance(n, p * w["contrast"], device))
            S = _eye(n, 4, device)
            S[:, 0, 0] = S[:, 1, 1] = S[:, 2, 2] = c
            C = S @ C
        if w["lumaflip"] > 0:
            i = torch.randint(0, 2, [n], device=device).float() * _chance(n, p * w["lumaflip"], device)
            C = (_eye(n, 4, device) - 2 * vv * i[:, None, None]) @ C
        if w["hue"] > 0:
            th = (torch.rand([n], device=device) * 2 - 1) * math.pi * self.hue_max
            th = th * _chance(n, p * w["hue"], device)
            C = self._rotation_about_luma(th, v) @ C
        if w["saturation"] > 0:
            s = torch.exp2(torch.randn([n], device=device) * self.saturation_std
                           * _chance(n, p * w["saturation"], device))
            S = vv + (_eye(n, 4, device) - vv) * s[:, None, None]
            S[:, 3, 3] = 1
            C = S @ C
        return C

    @staticmethod
    def _rotation_about_luma(theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Rodrigues' rotation by ``theta`` [N] about the unit axis ``v[:3]``, as [N, 4, 4]."""
        n = theta.shape[0]
        cached = _LUMA_CACHE.get(theta.device)
        if cached is not None and cached[0] is v:
            K, aa = cached[2], cached[3]
        else:  # another axis: build its matrices (reads v on the host)
            a = v[:3]
            K = torch.tensor([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]], device=theta.device)
            aa = torch.outer(a, a)
        c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
        R3 = c * torch.eye(3, device=theta.device) + s * K + (1 - c) * aa
        R = _eye(n, 4, theta.device)
        R[:, :3, :3] = R3
        return R

    # -- forward -------------------------------------------------------------------------------

    def p_value(self) -> float:
        """``float(self.p)``, read from the device only when ``p`` changed (its version counter
        moved) since the last read: the augmentation decides on the host which transforms to
        draw, and a read on every call would stall the device."""
        p = self.p
        key = (p.data_ptr(), p._version, p.device)
        cache = self.__dict__.get("_p_cache")
        if cache is None or cache[0] != key:
            cache = (key, float(p))
            self.__dict__["_p_cache"] = cache
        return cache[1]

    def set_p(self, value: float) -> None:
        """Set ``p`` to the float32 ``value`` from the host (no device read afterwards)."""
        value = float(np.float32(value))
        with torch.no_grad():
            self.p.fill_(value)
        p = self.p
        self.__dict__["_p_cache"] = ((p.data_ptr(), p._version, p.device), value)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.p_value() <= 0:
            return images
        n, ch, h, w = images.shape
        if h != w:
            raise ValueError(f"augment: images must be square, got {h}×{w}")
        dev = images.device
        dtype = images.dtype
        x = images.to(torch.float32)
        M = self.geometric_matrix(n, h, dev)
        grid = F.affine_grid(M[:, :2, :], [n, ch, h, w], align_corners=False)
        x = grid_sample_reflect(x, grid)
        C = self.color_matrix(n, dev)
        if ch == 3:
            x = torch.einsum("nij,njhw->nihw", C[:, :3, :3], x) + C[:, :3, 3, None, None]
        elif ch == 1:
            rgb = x.expand(-1, 3, -1, -1)
            x = (torch.einsum("nij,njhw->nihw", C[:, :3, :3], rgb) + C[:, :3, 3, None, None]).mean(1, keepdim=True)
        return x.to(dtype)


_BILINEAR, _REFLECTION = 0, 2  # aten's codes for mode="bilinear", padding_mode="reflection"


def grid_sample_reflect(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``F.grid_sample(x, grid, "bilinear", "reflection", align_corners=False)``, differentiable
    twice with respect to ``x`` on every device.

    R1 differentiates D's gradient, and on augmented reals that gradient goes back through
    this sampling: PyTorch's CUDA grid sampler has no second derivative ("derivative for
    aten::grid_sampler_2d_backward is not implemented"). The sampling is linear in ``x``, so
    the backward pass is the adjoint of the sampling and its derivative is the sampling
    itself; the grid is a constant here (no gradient flows to it).
    """
    return _GridSample.apply(x, grid.detach())


class _GridSample(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, grid):
        ctx.save_for_backward(x, grid)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    @staticmethod
    def backward(ctx, dy):
        x, grid = ctx.saved_tensors
        dx = _GridSampleAdjoint.apply(dy, x, grid) if ctx.needs_input_grad[0] else None
        return dx, None


class _GridSampleAdjoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, dy, x, grid):
        ctx.save_for_backward(grid)
        dx, _ = torch.ops.aten.grid_sampler_2d_backward(dy, x, grid, _BILINEAR, _REFLECTION, False, [True, False])
        return dx

    @staticmethod
    def backward(ctx, ddx):
        grid, = ctx.saved_tensors
        return _GridSample.apply(ddx, grid), None, None


class AdaController:
    """Keeps ``pipe.p`` near the overfitting target; see the module docstring."""

    def __init__(self, pipe: AugmentPipe, target: float = 0.6, interval: int = 4, ada_kimg: float = 500) -> None:
        self.pipe, self.target, self.interval, self.ada_kimg = pipe, float(target), int(interval), float(ada_kimg)
        # sign_sum: a device tensor (float64: the sums of ±1 are exact) while a step accumulates,
        # read on the host once per ``interval`` steps by ``update``.
        self.sign_sum: float | torch.Tensor = 0.0
        self.count = 0.0
        self.last_rt: float | None = None

    def accumulate(self, real_logits: torch.Tensor) -> None:
        self.sign_sum = self.sign_sum + torch.sign(real_logits.detach()).sum().double()
        self.count += real_logits.numel()

    def update(self, step: int, batch: int, reduce=None) -> None:
        """Call after every step (``step`` counts from 1); ``reduce`` all-reduces [sum, count] in DDP.
        The one host read of the controller happens here, every ``interval`` steps."""
        if step % self.interval != 0:
            return
        sign_sum = self.sign_sum
        if isinstance(sign_sum, torch.Tensor):
            stats = torch.stack([sign_sum, torch.full_like(sign_sum, self.count)])
        else:
            stats = torch.tensor([sign_sum, self.count], dtype=torch.float64)
        if reduce is not None:
            stats = reduce(stats)
        self.sign_sum, self.count = 0.0, 0.0
        total, count = stats.tolist()
        if count <= 0:
            return
        rt = total / count
        self.last_rt = rt
        adjust = math.copysign(1.0, rt - self.target) * (batch * self.interval) / (self.ada_kimg * 1000)
        # (p + adjust).clamp(0, 1) in float32 as the device would compute it, kept on the host too.
        p = np.float32(self.pipe.p_value()) + np.float32(adjust)
        self.pipe.set_p(min(max(float(p), 0.0), 1.0))

    def state_dict(self) -> dict[str, Any]:
        return {"sign_sum": float(self.sign_sum), "count": self.count, "last_rt": self.last_rt,
                "p": self.pipe.p_value()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sign_sum = float(state["sign_sum"])
        self.count = float(state["count"])
        self.last_rt = state.get("last_rt")
        self.pipe.set_p(float(state["p"]))


def make_augmentation(mode: str, p: float = 0.2, target: float = 0.6, interval: int = 4, ada_kimg: float = 500,
                      device: torch.device | str = "cpu",
                      augpipe: str = "bgc") -> tuple[AugmentPipe | None, AdaController | None]:
    """(pipe, controller) for ``--aug`` ``mode``: noaug → (None, None), fixed → a pipe at ``p``,
    ada → a pipe starting at 0 with its controller; the pipe applies the ``augpipe`` subset.
    Every trainer builds its augmentation here."""
    if mode == "noaug":
        return None, None
    pipe = AugmentPipe(**augpipe_strengths(augpipe)).to(device)
    if mode == "fixed":
        pipe.set_p(p)
        return pipe, None
    return pipe, AdaController(pipe, target=target, interval=interval, ada_kimg=ada_kimg)


def augment_state(pipe: AugmentPipe | None, ada: AdaController | None) -> dict[str, Any] | None:
    """What a snapshot keeps of the augmentation: ADA's state (p and accumulators), a fixed p, or None."""
    if ada is not None:
        return ada.state_dict()
    return {"p": pipe.p_value()} if pipe is not None else None


def restore_augment_state(pipe: AugmentPipe | None, ada: AdaController | None, state: dict[str, Any] | None) -> None:
    """Continue from ``augment_state``'s result; a fixed-p run continued with ADA starts from its p."""
    state = state or {}
    if ada is not None and "sign_sum" in state:
        ada.load_state_dict(state)
    elif ada is not None and "p" in state:
        pipe.set_p(float(state["p"]))
