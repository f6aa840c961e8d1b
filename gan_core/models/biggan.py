"""BigGAN (Brock, Donahue & Simonyan 2019): generator and projection discriminator.

Generator: a shared class embedding ``y = c · shared.weight`` (linear in ``c``, so soft or
interpolated labels work), hierarchical latents (skip-z: ``z`` is split into one chunk per
block plus one for the first linear layer), residual blocks with class-conditional batch norm
whose gains and biases are projections of ``y ⊕ z_chunk``, self-attention at chosen
resolutions, spectral norm everywhere, ReLU, tanh output.

Uniform interface (``gan_core.models.base``): there is no mapping network; ``mapping`` returns
the per-block conditioning vectors as ``ws [N, num_ws, w_dim]`` with ``num_ws = blocks + 1`` and
``w = y ⊕ ψ·z_chunk`` (``w_dim = shared_dim + chunk``). ``ws[:, 0]`` drives the first linear layer
(only its z part: that layer is not class-conditional), ``ws[:, i]`` drives block ``i - 1``. So
per-layer style swapping swaps z chunks and classes per block, and ``truncation_psi`` scales z
(``ψ = 1`` leaves it, ``ψ → 0`` pulls it to the mean 0 — BigGAN-PyTorch's "z std" truncation);
``truncation_cutoff`` limits that to the first ws. For the paper's threshold truncation draw z
with :func:`gan_core.models.biggan_layers.truncated_normal`.

Module and tensor names are BigGAN-PyTorch's (``shared``, ``linear``, ``blocks.i.j``,
``output_layer``; ``u0``/``sv0`` spectral-norm buffers), so its ``G.pth`` loads as is.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gan_core.models.base import GeneratorBase, check_noise_mode
from gan_core.models.biggan_layers import (BN, Attention, ClassConditionalBN, SNConv2d, SNEmbedding, SNLinear,
                                           orthogonal_regularization, ortho_weights, standing_stats,
                                           truncated_normal, truncated_z_from_seed)

__all__ = ["Generator", "Discriminator", "G_ARCH", "D_ARCH", "truncated_normal", "truncated_z_from_seed",
           "standing_stats", "orthogonal_regularization", "ortho_weights"]

# resolution -> per-block (in, out) channel multipliers of `ch` (the paper's architecture tables)
G_ARCH: dict[int, list[tuple[int, int]]] = {
    32: [(4, 4), (4, 4), (4, 4)],
    64: [(16, 16), (16, 8), (8, 4), (4, 2)],
    128: [(16, 16), (16, 8), (8, 4), (4, 2), (2, 1)],
    256: [(16, 16), (16, 8), (8, 8), (8, 4), (4, 2), (2, 1)],
    512: [(16, 16), (16, 8), (8, 8), (8, 4), (4, 2), (2, 1), (1, 1)],
}
# resolution -> per-block (in, out, downsample); in = 0 means the image channels
D_ARCH: dict[int, list[tuple[int, int, bool]]] = {
    32: [(0, 4, True), (4, 4, True), (4, 4, False), (4, 4, False)],
    64: [(0, 1, True), (1, 2, True), (2, 4, True), (4, 8, True), (8, 16, False)],
    128: [(0, 1, True), (1, 2, True), (2, 4, True), (4, 8, True), (8, 16, True), (16, 16, False)],
    256: [(0, 1, True), (1, 2, True), (2, 4, True), (4, 8, True), (8, 8, True), (8, 16, True), (16, 16, False)],
    512: [(0, 1, True), (1, 1, True), (1, 2, True), (2, 4, True), (4, 8, True), (8, 8, True), (8, 16, True),
          (16, 16, False)],
}


def _sn(sn_eps: float, num_svs: int, num_sv_itrs: int, sn_eval: str = "iterate") -> dict[str, Any]:
    return dict(eps=sn_eps, num_svs=num_svs, num_itrs=num_sv_itrs, sn_eval=sn_eval)


def _arch(table: dict, resolution: int, what: str):
    if resolution not in table:
        raise ValueError(f"{what}: no standard architecture for resolution {resolution} "
                         f"(known: {', '.join(map(str, table))}); pass explicit channels")
    return table[resolution]


class GBlock(nn.Module):
    """Residual up-block: ``BN(y)·ReLU → up ×2 → conv3×3 → BN(y)·ReLU → conv3×3`` plus a
    (1×1-conv'd, upsampled) shortcut. ``[N, in, H, W] -> [N, out, 2H, 2W]``."""

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int, upsample: bool = True, bn_eps: float = 1e-5,
                 n_stats: int = 1, **sn) -> None:
        super().__init__()
        self.in_ch, self.out_ch, self.upsample = in_ch, out_ch, upsample
        self.conv1 = SNConv2d(in_ch, out_ch, 3, 1, **sn)
        self.conv2 = SNConv2d(out_ch, out_ch, 3, 1, **sn)
        self.learnable_sc = in_ch != out_ch or upsample
        if self.learnable_sc:
            self.conv_sc = SNConv2d(in_ch, out_ch, 1, 0, **sn)
        self.bn1 = ClassConditionalBN(in_ch, cond_dim, bn_eps=bn_eps, n_stats=n_stats, **sn)
        self.bn2 = ClassConditionalBN(out_ch, cond_dim, bn_eps=bn_eps, n_stats=n_stats, **sn)

    def forward(self, x: torch.Tensor, y: torch.Tensor, bn_truncation: float | None = None) -> torch.Tensor:
        h = F.relu(self.bn1(x, y, bn_truncation))
        if self.upsample:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y, bn_truncation)))
        if self.learnable_sc:
            x = self.conv_sc(x)
        return h + x


class OutputLayer(nn.Sequential):
    """``BN → ReLU → conv3×3`` to the image channels (names ``0`` and ``2`` as BigGAN-PyTorch's
    ``output_layer``); the caller applies tanh. Only the first ``img_channels`` outputs are
    kept (pytorch-pretrained-BigGAN's last conv has more channels than the image)."""

    def __init__(self, ch: int, out_channels: int, img_channels: int, bn_eps: float, n_stats: int, **sn) -> None:
        super().__init__(BN(ch, eps=bn_eps, n_stats=n_stats), nn.ReLU(), SNConv2d(ch, out_channels, 3, 1, **sn))
        self.img_channels = img_channels

    def forward(self, x: torch.Tensor, bn_truncation: float | None = None) -> torch.Tensor:  # type: ignore[override]
        h = self[2](self[1](self[0](x, bn_truncation)))
        return h[:, : self.img_channels] if h.shape[1] != self.img_channels else h


class BigGANGeneratorBase(GeneratorBase):
    """What BigGAN and BigGAN-deep share: class embedding, ws layout, truncation, make_c."""

    has_noise = False
    has_input_transform = False
    bottom_width: int
    shared_dim: int

    def class_embedding(self, c: torch.Tensor | None) -> torch.Tensor:
        """``c [N, c_dim]`` one-hot / soft labels (or ``[N]`` int64 class indices) -> ``[N, shared_dim]``."""
        if c is None:
            raise ValueError(f"this model is class-conditional ({self.c_dim} classes): pass c, e.g. G.make_c(k, N)")
        W = self.shared.weight
        if c.dtype in (torch.int64, torch.int32) and c.ndim == 1:
            return F.embedding(c, W)
        if c.ndim != 2 or c.shape[1] != self.c_dim:
            raise ValueError(f"c must have shape [N, {self.c_dim}] (one-hot or soft labels); got {tuple(c.shape)}")
        return c.to(W.dtype) @ W

    def _z_parts(self, z: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def mapping(self, z: torch.Tensor, c: torch.Tensor | None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_emas: bool = False) -> torch.Tensor:
        """``z [N, z_dim]``, ``c [N, c_dim]`` -> ``ws [N, num_ws, w_dim]``, each ``w = y ⊕ ψ·z_part``."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape [N, {self.z_dim}]; got {tuple(z.shape)}")
        y = self.class_embedding(c)
        z = z.to(y.dtype)
        parts = self._z_parts(z)
        ws = torch.stack([torch.cat([y, p], dim=1) for p in parts], dim=1)
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else int(truncation_cutoff)
            scale = torch.ones([1, self.num_ws, self.w_dim], dtype=ws.dtype, device=ws.device)
            scale[:, :cutoff, self.shared_dim:] = truncation_psi
            ws = ws * scale
        return ws

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_emas: bool = False, **synthesis_kwargs: Any
                ) -> torch.Tensor:
        """``z [N, z_dim]``, ``c [N, c_dim]`` -> image ``[N, C, H, W]`` in [-1, 1]. Models with
        per-truncation batch-norm statistics use those of ``truncation_psi`` unless
        ``bn_truncation`` is given."""
        if self.has_truncation_stats and "bn_truncation" not in synthesis_kwargs:
            synthesis_kwargs["bn_truncation"] = float(truncation_psi)
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, **synthesis_kwargs)

    @property
    def has_truncation_stats(self) -> bool:
        return int(getattr(self, "n_stats", 1)) > 1

    def capabilities(self) -> dict[str, Any]:
        caps = super().capabilities()
        caps["has_truncation_stats"] = self.has_truncation_stats
        return caps

    def _check_ws(self, ws: torch.Tensor) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}]; got {tuple(ws.shape)}")
        return ws.to(torch.float32)

    def _features(self, ws: torch.Tensor) -> torch.Tensor:
        h = self.linear(ws[:, 0, self.shared_dim:] if self.linear_takes_z_only else ws[:, 0])
        return h.view(h.shape[0], -1, self.bottom_width, self.bottom_width)

    linear_takes_z_only = True

    def layer_names(self) -> list[str]:
        names = []
        for i, blocklist in enumerate(self.blocks):
            names += [f"blocks.{i}.{j}" for j in range(len(blocklist))]
        return names + ["output_layer"]

    def ws_resolutions(self) -> list[int]:
        res, out = self.bottom_width, [self.bottom_width]
        for blocklist in self.blocks:
            if blocklist[0].upsample:
                res *= 2
            out.append(res)
        return out

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const", noise_strength: float = 1.0,
                  force_fp32: bool = False, update_emas: bool = False, bn_truncation: float | None = None
                  ) -> torch.Tensor:
        """``ws [N, num_ws, w_dim]`` -> image ``[N, img_channels, R, R]`` float32 in [-1, 1].

        BigGAN has no noise inputs (``noise_mode`` is checked and otherwise ignored).
        ``bn_truncation`` (0, 1] picks the batch-norm statistics of models that keep one set per
        truncation (pytorch-pretrained-BigGAN); default 1.0. Others ignore it.
        """
        check_noise_mode(noise_mode)
        ws = self._check_ws(ws)
        h = self._features(ws)
        for i, blocklist in enumerate(self.blocks):
            y = self._block_cond(ws, i)
            for layer in blocklist:
                h = layer(h, y, bn_truncation)
        return torch.tanh(self.output_layer(h, bn_truncation))

    def _block_cond(self, ws: torch.Tensor, i: int) -> torch.Tensor:
        return ws[:, i + 1]


class Generator(BigGANGeneratorBase):
    """BigGAN generator. ``img_resolution = bottom_width · 2^blocks``.

    Channels come from :data:`G_ARCH` (``ch`` × multipliers) unless ``channels`` (absolute
    ``[[in, out], …]`` per block) is given; attention follows every block whose output resolution
    is in ``attn_res`` unless ``attn_blocks`` lists the block indices. With ``hier`` the z chunk
    size is ``z_dim / (blocks + 1)``.
    """

    family = "biggan"

    def __init__(self, z_dim: int = 120, c_dim: int = 1000, img_resolution: int = 128, ch: int = 96,
                 shared_dim: int = 128, bottom_width: int = 4, attn_res: Sequence[int] = (64,), hier: bool = True,
                 bn_eps: float = 1e-5, sn_eps: float = 1e-6, num_svs: int = 1, num_sv_itrs: int = 1,
                 img_channels: int = 3, channels: Sequence[Sequence[int]] | None = None,
                 attn_blocks: Sequence[int] | None = None) -> None:
        super().__init__()
        if channels is None:
            channels = [(ch * a, ch * b) for a, b in _arch(G_ARCH, img_resolution, "BigGAN generator")]
        channels = [(int(a), int(b)) for a, b in channels]
        n = len(channels)
        if bottom_width * 2 ** n != img_resolution:
            raise ValueError(f"{n} up-blocks from {bottom_width}x{bottom_width} give {bottom_width * 2 ** n}², "
                             f"not img_resolution={img_resolution}")
        if attn_blocks is None:
            attn_blocks = [i for i in range(n) if bottom_width * 2 ** (i + 1) in set(int(r) for r in attn_res)]
        self.attn_blocks = sorted(int(i) for i in attn_blocks)
        if c_dim < 1:
            raise ValueError("BigGAN is class-conditional: c_dim must be >= 1")
        num_slots = n + 1 if hier else 1
        if hier and z_dim % num_slots:
            raise ValueError(f"z_dim={z_dim} does not split into {num_slots} equal chunks (one per block and one "
                             f"for the first layer); use a multiple of {num_slots}")
        self.z_dim, self.c_dim, self.img_resolution, self.img_channels = int(z_dim), int(c_dim), int(img_resolution), int(img_channels)
        self.ch, self.shared_dim, self.bottom_width, self.hier = int(ch), int(shared_dim), int(bottom_width), bool(hier)
        self.attn_res = [int(r) for r in attn_res]
        self.bn_eps, self.sn_eps, self.num_svs, self.num_sv_itrs = float(bn_eps), float(sn_eps), int(num_svs), int(num_sv_itrs)
        self.channels = channels
        self.chunk = z_dim // num_slots if hier else z_dim
        self.num_ws = n + 1
        self.w_dim = self.shared_dim + self.chunk
        self.n_stats = 1
        sn = _sn(sn_eps, num_svs, num_sv_itrs)
        cond_dim = self.shared_dim + (self.chunk if hier else 0)
        self.shared = nn.Embedding(c_dim, shared_dim)
        self.linear = SNLinear(self.chunk, channels[0][0] * bottom_width ** 2, **sn)
        blocks = []
        for i, (a, b) in enumerate(channels):
            layers: list[nn.Module] = [GBlock(a, b, cond_dim, upsample=True, bn_eps=bn_eps, **sn)]
            if i in self.attn_blocks:
                layers.append(Attention(b, **sn))
            blocks.append(nn.ModuleList(layers))
        self.blocks = nn.ModuleList(blocks)
        self.output_layer = OutputLayer(channels[-1][1], img_channels, img_channels, bn_eps, 1, **sn)
        init_weights(self)

    def _z_parts(self, z: torch.Tensor) -> list[torch.Tensor]:
        if self.hier:
            return list(z.split(self.chunk, dim=1))
        return [z] * self.num_ws

    def _block_cond(self, ws: torch.Tensor, i: int) -> torch.Tensor:
        return ws[:, i + 1] if self.hier else ws[:, i + 1, : self.shared_dim]

    def config(self) -> dict[str, Any]:
        return dict(z_dim=self.z_dim, c_dim=self.c_dim, img_resolution=self.img_resolution, ch=self.ch,
                    shared_dim=self.shared_dim, bottom_width=self.bottom_width, attn_res=list(self.attn_res),
                    hier=self.hier, bn_eps=self.bn_eps, sn_eps=self.sn_eps, num_svs=self.num_svs,
                    num_sv_itrs=self.num_sv_itrs, img_channels=self.img_channels,
                    channels=[list(c) for c in self.channels], attn_blocks=list(self.attn_blocks))


class DBlock(nn.Module):
    """Residual down-block: ``[ReLU] → conv3×3 → ReLU → conv3×3 → avgpool`` plus a 1×1-conv'd,
    pooled shortcut. ``[N, in, H, W] -> [N, out, H/2, W/2]`` (or same size without downsample)."""

    def __init__(self, in_ch: int, out_ch: int, wide: bool = True, preactivation: bool = True,
                 downsample: bool = True, **sn) -> None:
        super().__init__()
        hidden = out_ch if wide else in_ch
        self.preactivation, self.downsample = preactivation, downsample
        self.conv1 = SNConv2d(in_ch, hidden, 3, 1, **sn)
        self.conv2 = SNConv2d(hidden, out_ch, 3, 1, **sn)
        self.learnable_sc = in_ch != out_ch or downsample
        if self.learnable_sc:
            self.conv_sc = SNConv2d(in_ch, out_ch, 1, 0, **sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        if self.preactivation:
            if self.learnable_sc:
                x = self.conv_sc(x)
            if self.downsample:
                x = F.avg_pool2d(x, 2)
        else:
            if self.downsample:
                x = F.avg_pool2d(x, 2)
            if self.learnable_sc:
                x = self.conv_sc(x)
        return h + x


def _projection_output(D: nn.Module, h: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
    """``sum_hw(ReLU(h))`` -> ``linear(φ) + <embed(c), φ>`` (the projection discriminator)."""
    phi = F.relu(h).sum(dim=(2, 3))
    out = D.linear(phi)
    if c is None:
        raise ValueError(f"this discriminator is class-conditional ({D.c_dim} classes): pass c")
    return out + (D.embed(c) * phi).sum(dim=1, keepdim=True)


class Discriminator(nn.Module):
    """BigGAN projection discriminator: ``D(img [N, C, R, R], c [N, c_dim] or [N] int64) -> [N, output_dim]``.

    Blocks follow :data:`D_ARCH` unless ``channels`` (``[[in, out, downsample], …]``) is given;
    attention follows the blocks in ``attn_blocks`` (default: those whose output resolution is in
    ``attn_res``).
    """

    family = "biggan"

    def __init__(self, c_dim: int = 1000, img_resolution: int = 128, ch: int = 96, img_channels: int = 3,
                 attn_res: Sequence[int] = (64,), wide: bool = True, sn_eps: float = 1e-6, num_svs: int = 1,
                 num_sv_itrs: int = 1, output_dim: int = 1, channels: Sequence[Sequence[Any]] | None = None,
                 attn_blocks: Sequence[int] | None = None) -> None:
        super().__init__()
        if channels is None:
            channels = [(a * ch if a else img_channels, b * ch, d)
                        for a, b, d in _arch(D_ARCH, img_resolution, "BigGAN discriminator")]
        channels = [(int(a), int(b), bool(d)) for a, b, d in channels]
        if attn_blocks is None:
            res, outs = img_resolution, []
            for _, _, d in channels:
                res //= 2 if d else 1
                outs.append(res)
            attn_blocks = [i for i, r in enumerate(outs) if r in set(int(x) for x in attn_res)]
        self.c_dim, self.img_resolution, self.ch, self.img_channels = int(c_dim), int(img_resolution), int(ch), int(img_channels)
        self.attn_res, self.wide, self.output_dim = [int(r) for r in attn_res], bool(wide), int(output_dim)
        self.sn_eps, self.num_svs, self.num_sv_itrs = float(sn_eps), int(num_svs), int(num_sv_itrs)
        self.channels, self.attn_blocks = channels, sorted(int(i) for i in attn_blocks)
        sn = _sn(sn_eps, num_svs, num_sv_itrs)
        blocks = []
        for i, (a, b, d) in enumerate(channels):
            layers: list[nn.Module] = [DBlock(a, b, wide=wide, preactivation=i > 0, downsample=d, **sn)]
            if i in self.attn_blocks:
                layers.append(Attention(b, **sn))
            blocks.append(nn.ModuleList(layers))
        self.blocks = nn.ModuleList(blocks)
        self.linear = SNLinear(channels[-1][1], output_dim, **sn)
        self.embed = SNEmbedding(c_dim, channels[-1][1], **sn)
        init_weights(self)

    def config(self) -> dict[str, Any]:
        return dict(c_dim=self.c_dim, img_resolution=self.img_resolution, ch=self.ch, img_channels=self.img_channels,
                    attn_res=list(self.attn_res), wide=self.wide, sn_eps=self.sn_eps, num_svs=self.num_svs,
                    num_sv_itrs=self.num_sv_itrs, output_dim=self.output_dim,
                    channels=[list(c) for c in self.channels], attn_blocks=list(self.attn_blocks))

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, **_ignored: Any) -> torch.Tensor:
        h = img
        for blocklist in self.blocks:
            for layer in blocklist:
                h = layer(h)
        return _projection_output(self, h, c)


@torch.no_grad()
def init_weights(net: nn.Module) -> None:
    """Orthogonal initialisation of every conv / linear / embedding weight (BigGAN's default)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
            nn.init.orthogonal_(m.weight)
            if getattr(m, "bias", None) is not None and isinstance(m.bias, torch.Tensor):
                m.bias.zero_()
