"""StyleGAN2/3 training objectives, written from the papers' definitions.

* Non-saturating logistic loss (Goodfellow et al. 2014): G minimizes softplus(-D(G(z))),
  D minimizes softplus(D(G(z))) + softplus(-D(x)).
* R1 (Mescheder et al. 2018): (gamma / 2) · E ||∇_x D(x)||², applied lazily every
  ``r1_interval`` steps with its weight multiplied by the interval (StyleGAN2 §B).
* Path-length regularization (StyleGAN2 §3.2): for y ~ N(0, I)/sqrt(H·W),
  L = || J_w^T y ||₂ over the ws; penalty (L - a)², a the running mean of L
  (decay ``pl_decay``), computed on a smaller batch every ``pl_interval`` steps.
* Style mixing regularization (StyleGAN §3.1): with probability ``style_mixing_prob`` an image
  uses the ws of a second latent from a random layer index on.
* StyleGAN3-R: D sees real and generated images blurred by a Gaussian whose sigma fades
  linearly from ``blur_init_sigma`` to 0 over ``blur_fade_kimg`` thousand images.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

PHASES = ("Gmain", "Greg", "Gboth", "Dmain", "Dreg", "Dboth")


def r1_penalty(D_fn: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
               create_graph: bool = True, precision: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(penalty [N] = ||∇_x D(x)||² per image, logits [N, 1]) for ``real`` [N, C, H, W].
    ``precision``: a ``gan_core.train.amp.MixedPrecision`` whose loss scale the gradient is
    taken through (mixed-precision training)."""
    x = real.detach().requires_grad_(True)
    logits = D_fn(x)
    if precision is not None:
        grad = precision.input_gradient(logits.sum(), x)
    else:
        (grad,) = torch.autograd.grad(outputs=logits.sum(), inputs=x, create_graph=create_graph, only_inputs=True)
    return grad.square().sum(dim=[1, 2, 3]), logits


def path_lengths(synthesis: Callable[[torch.Tensor], torch.Tensor], ws: torch.Tensor,
                 noise: torch.Tensor | None = None, create_graph: bool = True) -> torch.Tensor:
    """[N]: || J_w^T y || with y = ``noise`` (default N(0, I)/sqrt(H·W)), summed over the
    w_dim axis and averaged over the ws (as the StyleGAN2 paper's per-layer w)."""
    img = synthesis(ws)
    if noise is None:
        noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
    (grad,) = torch.autograd.grad(outputs=(img * noise).sum(), inputs=ws, create_graph=create_graph,
                                  only_inputs=True)
    return grad.square().sum(dim=2).mean(dim=1).sqrt()


def gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (reflect padding); identity for sigma <= 0."""
    if sigma <= 0:
        return img
    radius = min(int(math.ceil(sigma * 3)), img.shape[-1] - 1, img.shape[-2] - 1)
    if radius < 1:
        return img
    t = torch.arange(-radius, radius + 1, device=img.device, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).to(img.dtype)
    c = img.shape[1]
    x = F.pad(img, [radius, radius, radius, radius], mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    x = F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return x


def mix_styles(mapping: Callable[..., torch.Tensor], ws: torch.Tensor, c: torch.Tensor, prob: float,
               update_emas: bool = False) -> torch.Tensor:
    """With probability ``prob`` per image, ws[i, k:] comes from a second random z, k uniform in
    [1, num_ws)."""
    if prob <= 0 or ws.shape[1] < 2:
        return ws
    n, num_ws = ws.shape[0], ws.shape[1]
    cutoff = torch.randint(1, num_ws, [n], device=ws.device)
    use = torch.rand([n], device=ws.device) < prob
    cutoff = torch.where(use, cutoff, torch.full_like(cutoff, num_ws))
    z2 = torch.randn([n, mapping.z_dim], device=ws.device)
    ws2 = mapping(z2, c, update_emas=False)
    layer = torch.arange(num_ws, device=ws.device)[None, :, None]
    return torch.where(layer >= cutoff[:, None, None], ws2, ws)


class StyleGANLoss:
    """Computes each phase's loss and back-propagates it (gradients accumulate in the
    networks). ``accumulate(phase, ...)`` returns the values to log as 0-dim device tensors
    (detached; reading them on the host would wait for the device: ``TickStats`` sums them on
    the device and reads the sums once per tick)."""

    def __init__(self, G: nn.Module, D: nn.Module, augment_pipe: nn.Module | None = None, r1_gamma: float = 10,
                 style_mixing_prob: float = 0.9, pl_weight: float = 0, pl_batch_shrink: int = 2,
                 pl_decay: float = 0.01, blur_init_sigma: float = 0, blur_fade_kimg: float = 0,
                 on_real_logits: Callable[[torch.Tensor], None] | None = None) -> None:
        self.G, self.D, self.augment_pipe = G, D, augment_pipe
        self.r1_gamma, self.style_mixing_prob = float(r1_gamma), float(style_mixing_prob)
        self.pl_weight, self.pl_batch_shrink, self.pl_decay = float(pl_weight), int(pl_batch_shrink), float(pl_decay)
        self.blur_init_sigma, self.blur_fade_kimg = float(blur_init_sigma), float(blur_fade_kimg)
        self.pl_mean = torch.zeros([])
        self.on_real_logits = on_real_logits

    # -- helpers -------------------------------------------------------------------------------

    def blur_sigma(self, cur_nimg: int) -> float:
        if self.blur_init_sigma <= 0 or self.blur_fade_kimg <= 0:
            return 0.0
        return max(1 - cur_nimg / (self.blur_fade_kimg * 1e3), 0) * self.blur_init_sigma

    def run_G(self, z: torch.Tensor, c: torch.Tensor, update_emas: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        ws = self.G.mapping(z, c, update_emas=update_emas)
        ws = mix_styles(self.G.mapping, ws, c, self.style_mixing_prob)
        return self.G.synthesis(ws, noise_mode="random", update_emas=update_emas), ws

    def run_D(self, img: torch.Tensor, c: torch.Tensor, blur_sigma: float = 0, update_emas: bool = False
              ) -> torch.Tensor:
        img = gaussian_blur(img, blur_sigma)
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        return self.D(img, c, update_emas=update_emas)

    # -- phases --------------------------------------------------------------------------------

    def accumulate(self, phase: str, real_img: torch.Tensor, real_c: torch.Tensor, gen_z: torch.Tensor,
                   gen_c: torch.Tensor, gain: float, cur_nimg: int) -> dict[str, torch.Tensor]:
        """Back-propagate ``gain`` × the loss of ``phase`` ('Gmain', 'Greg', 'Gboth', 'Dmain',
        'Dreg', 'Dboth'); real_img [N, C, H, W] float in [-1, 1]."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}")
        do_Gmain = phase in ("Gmain", "Gboth")
        do_Dmain = phase in ("Dmain", "Dboth")
        do_Gpl = phase in ("Greg", "Gboth") and self.pl_weight > 0
        do_Dr1 = phase in ("Dreg", "Dboth") and self.r1_gamma > 0
        sigma = self.blur_sigma(cur_nimg)
        out: dict[str, torch.Tensor] = {}

        if do_Gmain:
            img, _ = self.run_G(gen_z, gen_c)
            logits = self.run_D(img, gen_c, blur_sigma=sigma)
            loss = F.softplus(-logits)
            loss.mean().mul(gain).backward()
            out["loss_G"] = loss.detach().mean()

        if do_Gpl:
            n = max(gen_z.shape[0] // self.pl_batch_shrink, 1)
            ws = self.G.mapping(gen_z[:n], gen_c[:n])
            ws = mix_styles(self.G.mapping, ws, gen_c[:n], self.style_mixing_prob)
            lengths = path_lengths(lambda w: self.G.synthesis(w, noise_mode="random"), ws)
            if self.pl_mean.device != lengths.device:
                self.pl_mean = self.pl_mean.to(lengths.device)
            self.pl_mean = self.pl_mean.lerp(lengths.detach().mean(), self.pl_decay)
            penalty = (lengths - self.pl_mean).square()
            (penalty * self.pl_weight).mean().mul(gain).backward()
            out["loss_pl"] = penalty.detach().mean()

        if do_Dmain:
            with torch.no_grad():
                img, _ = self.run_G(gen_z, gen_c, update_emas=True)
            gen_logits = self.run_D(img, gen_c, blur_sigma=sigma, update_emas=True)
            loss_gen = F.softplus(gen_logits)
            loss_gen.mean().mul(gain).backward()
            out["loss_D_gen"] = loss_gen.detach().mean()

        if do_Dmain or do_Dr1:
            x = real_img.detach().requires_grad_(do_Dr1)
            real_logits = self.run_D(x, real_c, blur_sigma=sigma)
            total = real_logits.new_zeros([])
            if do_Dmain:
                loss_real = F.softplus(-real_logits)
                total = total + loss_real.mean()
                out["loss_D_real"] = loss_real.detach().mean()
                out["loss_D"] = out["loss_D_gen"].double() + out["loss_D_real"].double()
                if self.on_real_logits is not None:
                    self.on_real_logits(real_logits.detach())
            if do_Dr1:
                (grad,) = torch.autograd.grad(real_logits.sum(), x, create_graph=True, only_inputs=True)
                penalty = grad.square().sum(dim=[1, 2, 3])
                total = total + (penalty * (self.r1_gamma / 2)).mean()
                out["loss_r1"] = penalty.detach().mean()
            total.mul(gain).backward()
        return out


def default_gamma(resolution: int, batch: int) -> float:
    """The ADA paper's heuristic for the R1 weight: 0.0002 · resolution² / batch."""
    return float(0.0002 * resolution ** 2 / max(batch, 1))


def lazy_adam_params(lr: float, betas: tuple[float, float], interval: int | None) -> tuple[float, tuple[float, float]]:
    """Learning rate and betas for a network regularized every ``interval`` steps, so that the
    combined updates match an unregularized Adam (StyleGAN2 §B): ratio = interval / (interval + 1)."""
    if not interval:
        return lr, betas
    ratio = interval / (interval + 1)
    return lr * ratio, (betas[0] ** ratio, betas[1] ** ratio)


__all__ = ["StyleGANLoss", "r1_penalty", "path_lengths", "gaussian_blur", "mix_styles", "default_gamma",
           "lazy_adam_params", "PHASES"]
