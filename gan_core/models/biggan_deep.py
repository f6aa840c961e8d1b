"""BigGAN-deep: bottleneck residual blocks, the full z concatenated with the class embedding.

Generator: ``cond = y ⊕ z`` (``y = c · shared.weight``) feeds the first linear layer and the
class-conditional batch norms of every block. Each block is a bottleneck: ``BN·ReLU → 1×1
(in → in/4) → BN·ReLU → [up ×2] → 3×3 → BN·ReLU → 3×3 → BN·ReLU → 1×1 (→ out)``; the shortcut
drops surplus channels and upsamples (no convolution). Each resolution stage has ``depth``
blocks, the last of which upsamples and changes the width.

Uniform interface: ``ws [N, blocks + 1, shared_dim + z_dim]`` with every ``w = y ⊕ ψ·z``;
``ws[:, 0]`` drives the first linear layer and ``ws[:, i]`` block ``i - 1``, so mixing ws mixes
(z, class) per block. ``truncation_psi`` scales z as in :mod:`gan_core.models.biggan`.

The same class holds pytorch-pretrained-BigGAN generators (imported by
``gan_core.io.biggan_hf``): explicit ``blocks``, per-truncation batch-norm statistics
(``n_stats = 51``), ``torch.nn.utils.spectral_norm``'s stored-vector evaluation
(``sn_eval='stored'``) and a wider last conv (``rgb_channels``) of which the first
``img_channels`` outputs are the image.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gan_core.models.biggan import (G_ARCH, BigGANGeneratorBase, OutputLayer, _arch, _projection_output, _sn,
                                    init_weights)
from gan_core.models.biggan_layers import Attention, ClassConditionalBN, SNConv2d, SNEmbedding, SNLinear

__all__ = ["Generator", "Discriminator", "DEEP_D_ARCH", "deep_g_blocks"]

# resolution -> per-stage (in, out, downsample) multipliers of `ch`
DEEP_D_ARCH: dict[int, list[tuple[int, int, bool]]] = {
    32: [(4, 4, True), (4, 4, True), (4, 4, False)],
    64: [(1, 2, True), (2, 4, True), (4, 8, True), (8, 16, True)],
    128: [(1, 2, True), (2, 4, True), (4, 8, True), (8, 16, True), (16, 16, True)],
    256: [(1, 2, True), (2, 4, True), (4, 8, True), (8, 8, True), (8, 16, True), (16, 16, True)],
}


def deep_g_blocks(img_resolution: int, ch: int, depth: int) -> list[tuple[int, int, bool]]:
    """Per-block ``(in, out, upsample)`` of the standard BigGAN-deep generator: per stage
    ``depth - 1`` blocks at the stage's input width, then one that upsamples to its output width."""
    out = []
    for a, b in _arch(G_ARCH, img_resolution, "BigGAN-deep generator"):
        out += [(ch * a, ch * a, False)] * (depth - 1) + [(ch * a, ch * b, True)]
    return out


class DeepGBlock(nn.Module):
    """Bottleneck up-block. ``[N, in, H, W] -> [N, out, 2H or H, …]``; requires ``out <= in``."""

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int, upsample: bool, channel_ratio: int = 4,
                 bn_eps: float = 1e-5, n_stats: int = 1, **sn) -> None:
        super().__init__()
        if out_ch > in_ch:
            raise ValueError(f"a BigGAN-deep block cannot widen ({in_ch} -> {out_ch} channels)")
        hidden = in_ch // channel_ratio
        self.in_ch, self.out_ch, self.upsample = in_ch, out_ch, upsample
        self.conv1 = SNConv2d(in_ch, hidden, 1, 0, **sn)
        self.conv2 = SNConv2d(hidden, hidden, 3, 1, **sn)
        self.conv3 = SNConv2d(hidden, hidden, 3, 1, **sn)
        self.conv4 = SNConv2d(hidden, out_ch, 1, 0, **sn)
        self.bn1 = ClassConditionalBN(in_ch, cond_dim, bn_eps=bn_eps, n_stats=n_stats, **sn)
        self.bn2 = ClassConditionalBN(hidden, cond_dim, bn_eps=bn_eps, n_stats=n_stats, **sn)
        self.bn3 = ClassConditionalBN(hidden, cond_dim, bn_eps=bn_eps, n_stats=n_stats, **sn)
        self.bn4 = ClassConditionalBN(hidden, cond_dim, bn_eps=bn_eps, n_stats=n_stats, **sn)

    def forward(self, x: torch.Tensor, y: torch.Tensor, bn_truncation: float | None = None) -> torch.Tensor:
        h = self.conv1(F.relu(self.bn1(x, y, bn_truncation)))
        h = F.relu(self.bn2(h, y, bn_truncation))
        if self.in_ch != self.out_ch:
            x = x[:, : self.out_ch]
        if self.upsample:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv2(h)
        h = self.conv3(F.relu(self.bn3(h, y, bn_truncation)))
        h = self.conv4(F.relu(self.bn4(h, y, bn_truncation)))
        return h + x


class Generator(BigGANGeneratorBase):
    """BigGAN-deep generator.

    ``blocks`` (``[[in, out, upsample], …]``, absolute channels) defaults to
    :func:`deep_g_blocks`; attention follows the blocks listed in ``attn_blocks`` (default: the
    last block of each stage whose output resolution is in ``attn_res``).
    """

    family = "biggan-deep"
    linear_takes_z_only = False

    def __init__(self, z_dim: int = 128, c_dim: int = 1000, img_resolution: int = 128, ch: int = 128,
                 shared_dim: int = 128, bottom_width: int = 4, depth: int = 2, attn_res: Sequence[int] = (64,),
                 bn_eps: float = 1e-5, sn_eps: float = 1e-6, num_svs: int = 1, num_sv_itrs: int = 1,
                 img_channels: int = 3, channel_ratio: int = 4, blocks: Sequence[Sequence[Any]] | None = None,
                 attn_blocks: Sequence[int] | None = None, n_stats: int = 1, sn_eval: str = "iterate",
                 rgb_channels: int | None = None) -> None:
        super().__init__()
        if blocks is None:
            blocks = deep_g_blocks(img_resolution, ch, depth)
        blocks = [(int(a), int(b), bool(u)) for a, b, u in blocks]
        if bottom_width * 2 ** sum(u for _, _, u in blocks) != img_resolution:
            raise ValueError(f"the blocks upsample {bottom_width}x{bottom_width} to "
                             f"{bottom_width * 2 ** sum(u for _, _, u in blocks)}², not img_resolution={img_resolution}")
        if attn_blocks is None:
            attn, res = [], bottom_width
            for i, (_, _, u) in enumerate(blocks):
                res *= 2 if u else 1
                last_of_stage = u or i == len(blocks) - 1
                if last_of_stage and res in set(int(r) for r in attn_res):
                    attn.append(i)
            attn_blocks = attn
        if c_dim < 1:
            raise ValueError("BigGAN-deep is class-conditional: c_dim must be >= 1")
        self.z_dim, self.c_dim, self.img_resolution, self.img_channels = int(z_dim), int(c_dim), int(img_resolution), int(img_channels)
        self.ch, self.shared_dim, self.bottom_width, self.depth = int(ch), int(shared_dim), int(bottom_width), int(depth)
        self.attn_res, self.attn_blocks = [int(r) for r in attn_res], sorted(int(i) for i in attn_blocks)
        self.bn_eps, self.sn_eps, self.num_svs, self.num_sv_itrs = float(bn_eps), float(sn_eps), int(num_svs), int(num_sv_itrs)
        self.channel_ratio, self.block_specs, self.n_stats, self.sn_eval = int(channel_ratio), blocks, int(n_stats), sn_eval
        self.rgb_channels = int(rgb_channels) if rgb_channels is not None else int(img_channels)
        self.num_ws = len(blocks) + 1
        self.w_dim = self.shared_dim + self.z_dim
        sn = _sn(sn_eps, num_svs, num_sv_itrs, sn_eval)
        cond = self.w_dim
        self.shared = nn.Embedding(c_dim, shared_dim)
        self.linear = SNLinear(cond, blocks[0][0] * bottom_width ** 2, **sn)
        mods = []
        for i, (a, b, u) in enumerate(blocks):
            layers: list[nn.Module] = [DeepGBlock(a, b, cond, u, channel_ratio, bn_eps, self.n_stats, **sn)]
            if i in self.attn_blocks:
                layers.append(Attention(b, **sn))
            mods.append(nn.ModuleList(layers))
        self.blocks = nn.ModuleList(mods)
        self.output_layer = OutputLayer(blocks[-1][1], self.rgb_channels, img_channels, bn_eps, self.n_stats, **sn)
        init_weights(self)

    def _z_parts(self, z: torch.Tensor) -> list[torch.Tensor]:
        return [z] * self.num_ws

    def config(self) -> dict[str, Any]:
        return dict(z_dim=self.z_dim, c_dim=self.c_dim, img_resolution=self.img_resolution, ch=self.ch,
                    shared_dim=self.shared_dim, bottom_width=self.bottom_width, depth=self.depth,
                    attn_res=list(self.attn_res), bn_eps=self.bn_eps, sn_eps=self.sn_eps, num_svs=self.num_svs,
                    num_sv_itrs=self.num_sv_itrs, img_channels=self.img_channels, channel_ratio=self.channel_ratio,
                    blocks=[list(b) for b in self.block_specs], attn_blocks=list(self.attn_blocks),
                    n_stats=self.n_stats, sn_eval=self.sn_eval, rgb_channels=self.rgb_channels)


class DeepDBlock(nn.Module):
    """Bottleneck down-block: ``ReLU → 1×1 (→ out/4) → ReLU → 3×3 → ReLU → 3×3 → ReLU → [avgpool]
    → 1×1 (→ out)``; the shortcut pools and appends ``out - in`` 1×1-conv'd channels."""

    def __init__(self, in_ch: int, out_ch: int, downsample: bool, channel_ratio: int = 4, **sn) -> None:
        super().__init__()
        hidden = out_ch // channel_ratio
        self.downsample = downsample
        self.conv1 = SNConv2d(in_ch, hidden, 1, 0, **sn)
        self.conv2 = SNConv2d(hidden, hidden, 3, 1, **sn)
        self.conv3 = SNConv2d(hidden, hidden, 3, 1, **sn)
        self.conv4 = SNConv2d(hidden, out_ch, 1, 0, **sn)
        self.learnable_sc = in_ch != out_ch
        if self.learnable_sc:
            if out_ch < in_ch:
                raise ValueError(f"a BigGAN-deep D block cannot narrow ({in_ch} -> {out_ch} channels)")
            self.conv_sc = SNConv2d(in_ch, out_ch - in_ch, 1, 0, **sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.relu(x))
        h = self.conv3(F.relu(self.conv2(F.relu(h))))
        h = F.relu(h)
        if self.downsample:
            h = F.avg_pool2d(h, 2)
            x = F.avg_pool2d(x, 2)
        h = self.conv4(h)
        if self.learnable_sc:
            x = torch.cat([x, self.conv_sc(x)], dim=1)
        return h + x


class Discriminator(nn.Module):
    """BigGAN-deep projection discriminator: ``input_conv`` then per stage ``depth`` bottleneck
    blocks (the first downsamples and widens) and optional attention.
    ``D(img [N, C, R, R], c [N, c_dim] or [N] int64) -> [N, output_dim]``."""

    family = "biggan-deep"

    def __init__(self, c_dim: int = 1000, img_resolution: int = 128, ch: int = 128, img_channels: int = 3,
                 depth: int = 2, attn_res: Sequence[int] = (64,), sn_eps: float = 1e-6, num_svs: int = 1,
                 num_sv_itrs: int = 1, output_dim: int = 1, channel_ratio: int = 4,
                 stages: Sequence[Sequence[Any]] | None = None, attn_stages: Sequence[int] | None = None) -> None:
        super().__init__()
        if stages is None:
            stages = [(a * ch, b * ch, d) for a, b, d in _arch(DEEP_D_ARCH, img_resolution, "BigGAN-deep discriminator")]
        stages = [(int(a), int(b), bool(d)) for a, b, d in stages]
        if attn_stages is None:
            res, attn_stages = img_resolution, []
            for s, (_, _, d) in enumerate(stages):
                res //= 2 if d else 1
                if res in set(int(r) for r in attn_res):
                    attn_stages.append(s)
        self.c_dim, self.img_resolution, self.ch, self.img_channels = int(c_dim), int(img_resolution), int(ch), int(img_channels)
        self.depth, self.attn_res, self.output_dim, self.channel_ratio = int(depth), [int(r) for r in attn_res], int(output_dim), int(channel_ratio)
        self.sn_eps, self.num_svs, self.num_sv_itrs = float(sn_eps), int(num_svs), int(num_sv_itrs)
        self.stages, self.attn_stages = stages, sorted(int(s) for s in attn_stages)
        sn = _sn(sn_eps, num_svs, num_sv_itrs)
        self.input_conv = SNConv2d(img_channels, stages[0][0], 3, 1, **sn)
        mods = []
        for s, (a, b, d) in enumerate(stages):
            layers: list[nn.Module] = [DeepDBlock(a if j == 0 else b, b, d and j == 0, channel_ratio, **sn)
                                       for j in range(depth)]
            if s in self.attn_stages:
                layers.append(Attention(b, **sn))
            mods.append(nn.ModuleList(layers))
        self.blocks = nn.ModuleList(mods)
        self.linear = SNLinear(stages[-1][1], output_dim, **sn)
        self.embed = SNEmbedding(c_dim, stages[-1][1], **sn)
        init_weights(self)

    def config(self) -> dict[str, Any]:
        return dict(c_dim=self.c_dim, img_resolution=self.img_resolution, ch=self.ch, img_channels=self.img_channels,
                    depth=self.depth, attn_res=list(self.attn_res), sn_eps=self.sn_eps, num_svs=self.num_svs,
                    num_sv_itrs=self.num_sv_itrs, output_dim=self.output_dim, channel_ratio=self.channel_ratio,
                    stages=[list(s) for s in self.stages], attn_stages=list(self.attn_stages))

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, **_ignored: Any) -> torch.Tensor:
        h = self.input_conv(img)
        for blocklist in self.blocks:
            for layer in blocklist:
                h = layer(h)
        return _projection_output(self, h, c)
