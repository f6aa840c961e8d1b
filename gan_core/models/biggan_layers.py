"""Layers shared by BigGAN and BigGAN-deep: spectral norm, class-conditional batch norm,
self-attention, and the truncation / standing-statistics / orthogonal-regularization helpers.

Parameter and buffer names follow BigGAN-PyTorch's checkpoints (``weight``, ``bias``, ``u0``,
``sv0``, ``stored_mean``, ``stored_var``, ``gain``), so its ``G.pth`` / ``D.pth`` load with
``strict=True`` and no renaming.

Spectral norm (Miyato et al. 2018) divides a weight by an estimate of its largest singular
value, kept up to date by power iteration on the flattened weight ``W [out, in*k*k]``:

* ``v = normalize(u W)``, ``u = normalize(v Wᵀ)``, ``σ = v Wᵀ uᵀ`` (``u``, ``v`` without grad).
* ``sn_eval='iterate'`` (BigGAN-PyTorch): every forward does that step from the stored ``u0``;
  in training mode ``u0`` / ``sv0`` are updated, in eval mode they are left as they are.
* ``sn_eval='stored'`` (``torch.nn.utils.spectral_norm``, used by pytorch-pretrained-BigGAN):
  a ``v0`` buffer is kept too; eval uses ``σ = u0 · (W v0ᵀ)`` without iterating, training
  iterates and updates both.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

SN_EVAL_MODES = ("iterate", "stored")


# --------------------------------------------------------------------------------------------
# Spectral norm
# --------------------------------------------------------------------------------------------


def _orthogonalize(x: torch.Tensor, others: Sequence[torch.Tensor]) -> torch.Tensor:
    """Remove from row vector ``x [1, n]`` its components along each row vector in ``others``."""
    for y in others:
        x = x - (x @ y.t()) * y / (y @ y.t())
    return x


class _SpectralNormMixin:
    """Adds BigGAN-style spectral normalisation to a layer that has ``self.weight``."""

    weight: torch.Tensor

    def _init_sn(self, num_outputs: int, num_inputs: int, num_svs: int = 1, num_itrs: int = 1,
                 eps: float = 1e-6, sn_eval: str = "iterate") -> None:
        if sn_eval not in SN_EVAL_MODES:
            raise ValueError(f"sn_eval must be one of {', '.join(SN_EVAL_MODES)}; got {sn_eval!r}")
        if num_svs < 1 or num_itrs < 1:
            raise ValueError("spectral norm needs num_svs >= 1 and num_itrs >= 1")
        if sn_eval == "stored" and num_svs != 1:
            raise ValueError("sn_eval='stored' keeps one singular vector pair (num_svs=1)")
        self.num_svs, self.num_itrs, self.sn_eps, self.sn_eval = int(num_svs), int(num_itrs), float(eps), sn_eval
        for i in range(self.num_svs):
            self.register_buffer(f"u{i}", torch.randn(1, num_outputs))
            self.register_buffer(f"sv{i}", torch.ones(1))
        if sn_eval == "stored":
            self.register_buffer("v0", F.normalize(torch.randn(1, num_inputs), dim=1))

    def _us(self) -> list[torch.Tensor]:
        return [getattr(self, f"u{i}") for i in range(self.num_svs)]

    def sn_weight(self) -> torch.Tensor:
        """The weight divided by its estimated largest singular value, always in float32 (under
        mixed-precision training too: a float16 power iteration would drift)."""
        with torch.autocast(self.weight.device.type, enabled=False):
            return self._sn_weight()

    def _sn_weight(self) -> torch.Tensor:
        W = self.weight.view(self.weight.shape[0], -1)
        training = self.training  # type: ignore[attr-defined]
        if self.sn_eval == "stored":
            u, v = self.u0, self.v0
            if training:
                with torch.no_grad():
                    for _ in range(self.num_itrs):
                        v = F.normalize(u @ W, dim=1, eps=self.sn_eps)
                        u = F.normalize(v @ W.t(), dim=1, eps=self.sn_eps)
                    self.u0.copy_(u)
                    self.v0.copy_(v)
                u, v = u.clone(), v.clone()
            sv = (u * (v @ W.t())).sum()
            if training:
                with torch.no_grad():
                    self.sv0.fill_(float(sv))
            return self.weight / sv
        svs: list[torch.Tensor] = []
        for _ in range(self.num_itrs):
            us_new: list[torch.Tensor] = []
            vs: list[torch.Tensor] = []
            with torch.no_grad():
                for i, u in enumerate(self._us()):
                    v = F.normalize(_orthogonalize(u @ W, vs), dim=1, eps=self.sn_eps)
                    vs.append(v)
                    u = F.normalize(_orthogonalize(v @ W.t(), us_new), dim=1, eps=self.sn_eps)
                    us_new.append(u)
                    if training:
                        getattr(self, f"u{i}").copy_(u)
            svs = [((v @ W.t()) @ u.t()).squeeze() for u, v in zip(us_new, vs)]
        if training:
            with torch.no_grad():
                for i, sv in enumerate(svs):
                    getattr(self, f"sv{i}").fill_(float(sv))
        return self.weight / svs[0]


class SNConv2d(nn.Conv2d, _SpectralNormMixin):
    """2-D convolution with a spectrally normalised weight. ``[N, Cin, H, W] -> [N, Cout, H', W']``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 1,
                 bias: bool = True, num_svs: int = 1, num_itrs: int = 1, eps: float = 1e-6,
                 sn_eval: str = "iterate") -> None:
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, padding=padding, bias=bias)
        self._init_sn(out_channels, in_channels * kernel_size * kernel_size, num_svs, num_itrs, eps, sn_eval)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.sn_weight(), self.bias, self.stride, self.padding)


class SNLinear(nn.Linear, _SpectralNormMixin):
    """Linear layer with a spectrally normalised weight. ``[N, in] -> [N, out]``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, num_svs: int = 1,
                 num_itrs: int = 1, eps: float = 1e-6, sn_eval: str = "iterate") -> None:
        nn.Linear.__init__(self, in_features, out_features, bias=bias)
        self._init_sn(out_features, in_features, num_svs, num_itrs, eps, sn_eval)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.sn_weight(), self.bias)


class SNEmbedding(nn.Embedding, _SpectralNormMixin):
    """Class embedding ``weight [num_classes, dim]`` with spectral norm (the projection
    discriminator's). Takes class indices ``[N]`` (int64) or soft / one-hot labels ``[N, num_classes]``."""

    def __init__(self, num_embeddings: int, embedding_dim: int, num_svs: int = 1, num_itrs: int = 1,
                 eps: float = 1e-6, sn_eval: str = "iterate") -> None:
        nn.Embedding.__init__(self, num_embeddings, embedding_dim)
        self._init_sn(num_embeddings, embedding_dim, num_svs, num_itrs, eps, sn_eval)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        W = self.sn_weight()
        if y.dtype in (torch.int64, torch.int32):
            return F.embedding(y, W)
        return y.to(W.dtype) @ W


# --------------------------------------------------------------------------------------------
# Batch norm with stored (standing / per-truncation) statistics
# --------------------------------------------------------------------------------------------


def truncation_stats_index(truncation: float, n_stats: int) -> list[tuple[int, float]]:
    """Which rows of a per-truncation statistics table a truncation uses, with their weights.

    pytorch-pretrained-BigGAN keeps ``n_stats`` rows for truncations ``0, 1/(n-1), …, 1`` and
    splits ``truncation / step`` with ``math.modf`` into a fraction ``f`` and a row ``k``; for
    ``f != 0`` it uses ``f * row[k] + (1 - f) * row[k+1]`` — the weights the opposite way round
    from an ordinary linear interpolation (which would give row k the weight ``1 - f``). We
    reproduce that exactly, since its released statistics were computed for that rule.
    """
    if n_stats < 2:
        return [(0, 1.0)]
    truncation = float(truncation)
    if not 0.0 < truncation <= 1.0:
        raise ValueError(f"the batch-norm truncation must be in (0, 1]; got {truncation}")
    step = 1.0 / (n_stats - 1)
    coef, start = math.modf(truncation / step)
    k = int(start)
    if coef != 0.0:
        return [(k, coef), (k + 1, 1.0 - coef)]
    return [(k, 1.0)]


class _StoredStatsBN(nn.Module):
    """Shared part of the batch norms: ``stored_mean`` / ``stored_var`` buffers (``[C]``, or
    ``[n_stats, C]`` for per-truncation tables), training-mode running updates, and the
    accumulation mode used by :func:`standing_stats`."""

    def _init_stats(self, num_features: int, eps: float, momentum: float, n_stats: int) -> None:
        self.num_features, self.eps, self.momentum, self.n_stats = num_features, float(eps), momentum, int(n_stats)
        shape = [num_features] if n_stats <= 1 else [n_stats, num_features]
        self.register_buffer("stored_mean", torch.zeros(shape))
        self.register_buffer("stored_var", torch.ones(shape))
        self.accumulating = False
        self._acc: list[torch.Tensor] | None = None
        self._acc_n = 0

    def _stats(self, bn_truncation: float | None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.n_stats <= 1:
            return self.stored_mean, self.stored_var
        rows = truncation_stats_index(1.0 if bn_truncation is None else bn_truncation, self.n_stats)
        mean = sum(w * self.stored_mean[k] for k, w in rows)
        var = sum(w * self.stored_var[k] for k, w in rows)
        return mean, var  # type: ignore[return-value]

    def _normalize(self, x: torch.Tensor, bn_truncation: float | None) -> torch.Tensor:
        if self.accumulating:
            with torch.no_grad():
                m = x.mean(dim=(0, 2, 3))
                v = x.var(dim=(0, 2, 3), unbiased=True)
                if self._acc is None:
                    self._acc = [torch.zeros_like(m), torch.zeros_like(v)]
                self._acc[0] += m
                self._acc[1] += v
                self._acc_n += 1
            return F.batch_norm(x, None, None, None, None, True, 0.0, self.eps)
        if self.training and self.n_stats <= 1:
            return F.batch_norm(x, self.stored_mean, self.stored_var, None, None, True, self.momentum, self.eps)
        if self.training:  # per-truncation tables are only recomputed by standing_stats
            return F.batch_norm(x, None, None, None, None, True, 0.0, self.eps)
        mean, var = self._stats(bn_truncation)
        return F.batch_norm(x, mean, var, None, None, False, 0.0, self.eps)

    def start_accumulating(self) -> None:
        self.accumulating, self._acc, self._acc_n = True, None, 0

    @torch.no_grad()
    def finish_accumulating(self, row: int | None = None) -> None:
        self.accumulating = False
        if self._acc is None or self._acc_n == 0:
            return
        mean, var = self._acc[0] / self._acc_n, self._acc[1] / self._acc_n
        if self.n_stats <= 1:
            self.stored_mean.copy_(mean)
            self.stored_var.copy_(var)
        else:
            rows = range(self.n_stats) if row is None else [row]
            for r in rows:
                self.stored_mean[r].copy_(mean)
                self.stored_var[r].copy_(var)
        self._acc, self._acc_n = None, 0


class ClassConditionalBN(_StoredStatsBN):
    """Batch norm whose per-channel gain and bias are linear (spectrally normalised) projections
    of a conditioning vector: ``out = BN(x) * (1 + gain(y)) + bias(y)``.

    ``x [N, C, H, W]``, ``y [N, cond_dim]`` (BigGAN: class embedding ⊕ z chunk).
    """

    def __init__(self, num_features: int, cond_dim: int, bn_eps: float = 1e-5, momentum: float = 0.1,
                 n_stats: int = 1, **sn_kwargs) -> None:
        super().__init__()
        self.gain = SNLinear(cond_dim, num_features, bias=False, **sn_kwargs)
        self.bias = SNLinear(cond_dim, num_features, bias=False, **sn_kwargs)
        self._init_stats(num_features, bn_eps, momentum, n_stats)

    def forward(self, x: torch.Tensor, y: torch.Tensor, bn_truncation: float | None = None) -> torch.Tensor:
        gain = (1 + self.gain(y)).view(y.shape[0], -1, 1, 1)
        bias = self.bias(y).view(y.shape[0], -1, 1, 1)
        return self._normalize(x, bn_truncation) * gain + bias

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, n_stats={self.n_stats}"


class BN(_StoredStatsBN):
    """Unconditional batch norm with learned ``gain`` / ``bias`` (the generator's last norm)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, n_stats: int = 1) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self._init_stats(num_features, eps, momentum, n_stats)

    def forward(self, x: torch.Tensor, bn_truncation: float | None = None) -> torch.Tensor:
        return self._normalize(x, bn_truncation) * self.gain.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, n_stats={self.n_stats}"


class Attention(nn.Module):
    """Self-attention (SAGAN) with spectrally normalised 1×1 convolutions.

    ``x [N, C, H, W] -> x + gamma * o(g(x)·softmax(θ(x)ᵀ φ(x)))``; keys and values are
    max-pooled 2×2, ``θ, φ`` have ``C/8`` channels, ``g`` has ``C/2``. ``gamma`` starts at 0.
    """

    def __init__(self, ch: int, **sn_kwargs) -> None:
        super().__init__()
        self.ch = ch
        self.theta = SNConv2d(ch, ch // 8, 1, padding=0, bias=False, **sn_kwargs)
        self.phi = SNConv2d(ch, ch // 8, 1, padding=0, bias=False, **sn_kwargs)
        self.g = SNConv2d(ch, ch // 2, 1, padding=0, bias=False, **sn_kwargs)
        self.o = SNConv2d(ch // 2, ch, 1, padding=0, bias=False, **sn_kwargs)
        self.gamma = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: torch.Tensor, *_ignored) -> torch.Tensor:
        n, c, h, w = x.shape
        theta = self.theta(x).view(n, c // 8, h * w)
        phi = F.max_pool2d(self.phi(x), 2).view(n, c // 8, h * w // 4)
        g = F.max_pool2d(self.g(x), 2).view(n, c // 2, h * w // 4)
        beta = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)          # [N, HW, HW/4]
        o = self.o((g @ beta.transpose(1, 2)).view(n, c // 2, h, w))
        return x + self.gamma * o


# --------------------------------------------------------------------------------------------
# Truncation, standing statistics, orthogonal regularization
# --------------------------------------------------------------------------------------------


def truncated_normal(shape: Sequence[int], threshold: float = 2.0, generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu", max_rounds: int = 64) -> torch.Tensor:
    """Standard normal samples restricted to ``[-threshold, threshold]`` (the BigGAN truncation
    trick): values beyond the threshold are redrawn until none is left.

    After ``max_rounds`` redraws (only reached for tiny thresholds) the few values still out
    of range are drawn by inverting the normal CDF on ``[Φ(-t), Φ(t)]``, which samples the same
    truncated distribution. Returns float32 ``shape`` with ``|z| <= threshold`` everywhere.
    """
    t = float(threshold)
    if not t > 0 or not math.isfinite(t):
        raise ValueError(f"the truncation threshold must be a positive number; got {threshold}")
    z = torch.randn(list(shape), generator=generator, device=device)
    for _ in range(max_rounds):
        bad = z.abs() > t
        n = int(bad.sum())
        if n == 0:
            return z
        z[bad] = torch.randn(n, generator=generator, device=device)
    bad = z.abs() > t
    n = int(bad.sum())
    if n:
        lo = 0.5 * (1 + math.erf(-t / math.sqrt(2)))
        u = lo + (1 - 2 * lo) * torch.rand(n, generator=generator, device=device, dtype=torch.float64)
        z[bad] = torch.special.ndtri(u).clamp(-t, t).to(z.dtype)
    return z


def truncated_z_from_seed(seed: int, z_dim: int, threshold: float = 2.0, device: torch.device | str = "cpu"
                          ) -> torch.Tensor:
    """``[1, z_dim]`` truncated-normal z for a seed (``torch.Generator`` seeded with ``seed``)."""
    gen = torch.Generator().manual_seed(int(seed))
    return truncated_normal([1, z_dim], threshold, generator=gen).to(device)


def batchnorms(G: nn.Module) -> list[_StoredStatsBN]:
    return [m for m in G.modules() if isinstance(m, _StoredStatsBN)]


@torch.no_grad()
def standing_stats(G: nn.Module, num_batches: int = 16, batch_size: int = 32, truncation_psi: float = 1.0,
                   threshold: float | None = None, classes: Sequence[int] | None = None,
                   generator: torch.Generator | None = None, store_row: int | str | None = "auto") -> None:
    """Recompute every batch norm's stored statistics ("standing statistics", BigGAN §3.1 /
    appendix): run ``num_batches`` batches of random samples through ``G`` normalising with the
    batch's own statistics, and store the average of the per-batch means and (unbiased)
    variances. Samples use z ~ N(0, 1) (or a truncated normal with ``threshold``) scaled by
    ``truncation_psi`` and random classes (from ``classes`` if given).

    For per-truncation tables (``n_stats > 1``) the result goes to the row of
    ``truncation_psi`` when it lies on the grid (``store_row='auto'``), to an explicit row
    index, or to every row (``store_row=None``). The network's train/eval mode is restored.
    """
    bns = batchnorms(G)
    if not bns:
        raise ValueError("this network has no batch norm layers")
    row: int | None = None
    if any(bn.n_stats > 1 for bn in bns):
        n_stats = max(bn.n_stats for bn in bns)
        if store_row == "auto":
            rows = truncation_stats_index(truncation_psi, n_stats)
            if len(rows) != 1:
                raise ValueError(f"truncation {truncation_psi} falls between two rows of the statistics table; "
                                 f"use a multiple of 1/{n_stats - 1} or pass store_row")
            row = rows[0][0]
        elif store_row is not None:
            row = int(store_row)
    device = next(G.parameters()).device
    was_training = G.training
    G.eval()
    for bn in bns:
        bn.start_accumulating()
    try:
        for _ in range(num_batches):
            if threshold is None:
                z = torch.randn([batch_size, G.z_dim], generator=generator)
            else:
                z = truncated_normal([batch_size, G.z_dim], threshold, generator=generator)
            pool = torch.as_tensor(list(classes) if classes is not None else range(G.c_dim))
            idx = pool[torch.randint(len(pool), [batch_size], generator=generator)]
            c = F.one_hot(idx, G.c_dim).float()
            G(z.to(device), c.to(device), truncation_psi=truncation_psi)
    finally:
        for bn in bns:
            bn.finish_accumulating(row)
        G.train(was_training)


def orthogonal_regularization(weights: Iterable[torch.Tensor], beta: float = 1e-4) -> torch.Tensor:
    """The off-diagonal orthogonal regularization of BigGAN (Brock et al. 2019, eq. 3):

        R_β(W) = β · ‖ W Wᵀ ⊙ (1 − I) ‖²_F   summed over the given weights,

    with each weight flattened to ``W [out, in*k*k]`` (one row per filter), so only the cosine
    similarity between different filters is penalised, not their norms. Its gradient is
    ``4β (W Wᵀ ⊙ (1 − I)) W``; BigGAN-PyTorch adds ``2·strength·(…)W`` to the gradients
    directly, i.e. ``strength = 2β``. Tensors with fewer than 2 dimensions are skipped.
    """
    total: torch.Tensor | None = None
    for w in weights:
        if w.ndim < 2:
            continue
        W = w.reshape(w.shape[0], -1)
        gram = W @ W.t()
        off = gram * (1 - torch.eye(W.shape[0], device=W.device, dtype=W.dtype))
        r = (off ** 2).sum()
        total = r if total is None else total + r
    if total is None:
        return torch.zeros(())
    return beta * total


def ortho_weights(net: nn.Module, skip: Sequence[str] = ("shared", "embed")) -> list[torch.Tensor]:
    """The weights orthogonal regularization applies to: every ≥2-D parameter except the class
    embeddings (names starting with an entry of ``skip``)."""
    return [p for n, p in net.named_parameters() if p.ndim >= 2 and not n.startswith(tuple(skip))]
