"""StyleGAN2 generator and discriminator (Karras et al., "Analyzing and Improving the Image
Quality of StyleGAN", 2020), written from the paper's equations.

Parameter and buffer names, and the constructor arguments, are those of the official
checkpoints (``synthesis.b8.conv0.affine.weight``, ``mapping.w_avg``, ``b4.fc.weight`` …),
so an official state dict loads with ``load_state_dict(strict=True)`` and renders the same
images to float32 rounding.

Generator: mapping network z (+ c) -> w, broadcast to ``num_ws`` vectors; synthesis network
of blocks ``b4 … b{img_resolution}``. ``b4`` starts from a learned constant; every other
block doubles the resolution in its first layer. Each layer is a style-modulated,
demodulated 3×3 convolution + per-pixel noise + bias + leaky ReLU (gain √2, clamped).
Architectures: ``'skip'`` (RGB from every block, upsampled and summed), ``'resnet'``
(residual blocks, RGB from the last block), ``'orig'`` (plain blocks, last block's RGB).

Discriminator: residual (or plain / skip) blocks ``b{img_resolution} … b8`` halving the
resolution, then the ``b4`` epilogue with minibatch standard deviation, a 3×3 conv, a dense
layer and the output layer (projection onto the class embedding when conditional).
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from cuda_ops import setup_filter
from gan_core.models.base import GeneratorBase, check_noise_mode
from gan_core.models.conv_resample import Conv2dLayer, SynthesisLayer, ToRGBLayer, downsample_fir, upsample_fir
from gan_core.models.half import block_dtype
from gan_core.models.layers import FullyConnectedLayer, MappingNetwork

ARCHITECTURES = ("orig", "skip", "resnet")
SQRT_HALF = math.sqrt(0.5)


def _check_architecture(architecture: str) -> str:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}; got {architecture!r}")
    return architecture


def _check_resolution(img_resolution: int) -> int:
    log2 = int(np.log2(img_resolution)) if img_resolution > 0 else 0
    if img_resolution < 4 or 2 ** log2 != img_resolution:
        raise ValueError(f"img_resolution must be a power of two >= 4; got {img_resolution}")
    return log2


def _channels(res: int, channel_base: int, channel_max: int) -> int:
    return min(channel_base // res, channel_max)


def _block_dtype(use_fp16: bool, force_fp32: bool, device: torch.device) -> torch.dtype:
    """float16 only for the highest-resolution blocks, and only on CUDA (bfloat16 on the CPU
    when training asks for it: ``gan_core.models.half``)."""
    return block_dtype(use_fp16, force_fp32, device)


def _memory_format(dtype: torch.dtype, channels_last: bool, device: torch.device) -> torch.memory_format:
    """Channels-last on the CPU (oneDNN convolutions and depthwise filters are fastest
    there) and for float16 blocks that ask for it; planar otherwise."""
    if device.type == "cpu" or (channels_last and dtype == torch.float16):
        return torch.channels_last
    return torch.contiguous_format


# ----------------------------------------------------------------------------------------
# Generator


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network: (const | ×2 upsampling conv0) + conv1,
    plus toRGB / residual skip depending on the architecture."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = 256, use_fp16: bool = False, fp16_channels_last: bool = False,
                 **layer_kwargs: Any) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim = in_channels, out_channels, w_dim
        self.resolution, self.img_channels, self.is_last = resolution, img_channels, is_last
        self.architecture = _check_architecture(architecture)
        self.use_fp16, self.channels_last = use_fp16, fp16_channels_last
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        common = dict(resample_filter=resample_filter, conv_clamp=conv_clamp, channels_last=fp16_channels_last)
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, **common, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, **common, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp,
                                    channels_last=fp16_channels_last)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter, channels_last=fp16_channels_last)

    def layer_names(self) -> list[str]:
        """Submodule names in the order forward runs them."""
        names = []
        if hasattr(self, "skip"):
            names.append("skip")
        if hasattr(self, "conv0"):
            names.append("conv0")
        names.append("conv1")
        if hasattr(self, "torgb"):
            names.append("torgb")
        return names

    def noise_layers(self) -> list[str]:
        return [n for n in ("conv0", "conv1") if hasattr(self, n) and getattr(self, n).use_noise]

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: str = "const", noise_strengths: Sequence[float | torch.Tensor] = (),
                noise_generator: torch.Generator | None = None, force_fp32: bool = False,
                fused_modconv: bool | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """ws [N, num_conv + num_torgb, w_dim]; x [N, in_channels, R/2, R/2] (None for b4);
        img [N, img_channels, R/2, R/2] or None. Returns (x [N, O, R, R], img or None)."""
        device = ws.device
        dtype = _block_dtype(self.use_fp16, force_fp32, device)
        fmt = _memory_format(dtype, self.channels_last, device)
        strengths = iter(noise_strengths)
        kw = dict(noise_mode=noise_mode, noise_generator=noise_generator, fused_modconv=fused_modconv)
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = x.contiguous(memory_format=fmt)
            x = self.conv1(x, ws[:, 0], noise_strength=next(strengths), **kw)
        else:
            x = x.to(dtype=dtype, memory_format=fmt)
            if self.architecture == "resnet":
                y = self.skip(x, gain=SQRT_HALF)
                x = self.conv0(x, ws[:, 0], noise_strength=next(strengths), **kw)
                x = self.conv1(x, ws[:, 1], noise_strength=next(strengths), gain=SQRT_HALF, **kw)
                x = y + x
            else:
                x = self.conv0(x, ws[:, 0], noise_strength=next(strengths), **kw)
                x = self.conv1(x, ws[:, 1], noise_strength=next(strengths), **kw)
        if img is not None:
            img = upsample_fir(img, self.resample_filter)
        if self.num_torgb:
            y = self.torgb(x, ws[:, self.num_conv], fused_modconv=fused_modconv)
            y = y.to(dtype=torch.float32, memory_format=torch.contiguous_format)
            img = y if img is None else img + y
        return x, img

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, architecture={self.architecture}"


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, img_channels, img_resolution, img_resolution] float32."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_fp16_res: int = 4, **block_kwargs: Any) -> None:
        super().__init__()
        log2 = _check_resolution(img_resolution)
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.num_fp16_res = num_fp16_res
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        channels = {res: _channels(res, channel_base, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res], w_dim=w_dim, resolution=res,
                                   img_channels=img_channels, is_last=res == img_resolution,
                                   use_fp16=res >= fp16_resolution, **block_kwargs)
            self.num_ws += block.num_conv
            if block.is_last:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def noise_layer_names(self) -> list[str]:
        """Dotted names (under ``synthesis``) of the layers that add noise, in forward order."""
        return [f"b{b.resolution}.{n}" for b in self.blocks() for n in b.noise_layers()]

    def _noise_strengths(self, noise_strength: float | Sequence[float] | torch.Tensor) -> list:
        count = len(self.noise_layer_names())
        if isinstance(noise_strength, torch.Tensor) and noise_strength.ndim == 0:
            return [noise_strength] * count
        if isinstance(noise_strength, numbers.Real):
            return [float(noise_strength)] * count
        values = list(noise_strength)
        if len(values) != count:
            raise ValueError(f"noise_strength: expected a number or a sequence of {count} numbers (one per noise "
                             f"layer: {', '.join(self.noise_layer_names())}); got {len(values)} values")
        return values

    def forward(self, ws: torch.Tensor, noise_mode: str = "const",
                noise_strength: float | Sequence[float] | torch.Tensor = 1.0,
                noise_generator: torch.Generator | None = None, force_fp32: bool = False,
                update_emas: bool = False, fused_modconv: bool | None = None) -> torch.Tensor:
        """Render ``ws`` [N, num_ws, w_dim].

        noise_mode: 'const' (the stored noise images), 'random' (fresh Gaussian noise, drawn
        from ``noise_generator`` when given) or 'none'. noise_strength multiplies every noise
        layer's learned strength (a number, or one number per ``noise_layer_names()`` entry).
        ``update_emas`` is accepted for interface uniformity (nothing to update here).
        Returns [N, img_channels, R, R] float32, about [-1, 1].
        """
        check_noise_mode(noise_mode)
        if not isinstance(ws, torch.Tensor) or ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            got = tuple(ws.shape) if isinstance(ws, torch.Tensor) else type(ws).__name__
            raise ValueError(f"synthesis: expected ws of shape [N, {self.num_ws}, {self.w_dim}], got {got}")
        strengths = self._noise_strengths(noise_strength)
        ws = ws.to(torch.float32)
        x = img = None
        w_idx = 0
        s_idx = 0
        for block in self.blocks():
            n_noise = len(block.noise_layers())
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            x, img = block(x, img, block_ws, noise_mode=noise_mode, noise_strengths=strengths[s_idx:s_idx + n_noise]
                           + [0.0] * (block.num_conv - n_noise), noise_generator=noise_generator,
                           force_fp32=force_fp32, fused_modconv=fused_modconv)
            w_idx += block.num_conv
            s_idx += n_noise
        return img.contiguous()


class Generator(GeneratorBase):
    """StyleGAN2 generator; constructor arguments as stored in official checkpoints.

    ``G(z, c)`` -> [N, img_channels, img_resolution, img_resolution] float32 in about [-1, 1].
    """

    family = "stylegan2"
    has_noise = True
    has_input_transform = False

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 mapping_kwargs: dict | None = None, channel_base: int = 32768, channel_max: int = 512,
                 num_fp16_res: int = 4, conv_clamp: float | None = 256, architecture: str = "skip",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), use_noise: bool = True, activation: str = "lrelu",
                 fp16_channels_last: bool = False, fused_modconv_default: Any = True) -> None:
        super().__init__()
        mapping_kwargs = dict(mapping_kwargs or {})
        self.z_dim, self.c_dim, self.w_dim = int(z_dim), int(c_dim), int(w_dim)
        self.img_resolution, self.img_channels = int(img_resolution), int(img_channels)
        self._config = dict(z_dim=self.z_dim, c_dim=self.c_dim, w_dim=self.w_dim, img_resolution=self.img_resolution,
                            img_channels=self.img_channels, mapping_kwargs=mapping_kwargs,
                            channel_base=int(channel_base), channel_max=int(channel_max),
                            num_fp16_res=int(num_fp16_res), conv_clamp=conv_clamp,
                            architecture=_check_architecture(architecture),
                            resample_filter=np.asarray(resample_filter, dtype=np.float64).tolist(),
                            use_noise=bool(use_noise), activation=activation,
                            fp16_channels_last=bool(fp16_channels_last), fused_modconv_default=fused_modconv_default)
        self.synthesis = SynthesisNetwork(self.w_dim, self.img_resolution, self.img_channels,
                                          channel_base=channel_base, channel_max=channel_max,
                                          num_fp16_res=num_fp16_res, conv_clamp=conv_clamp, architecture=architecture,
                                          resample_filter=self._config["resample_filter"], use_noise=use_noise,
                                          activation=activation, fp16_channels_last=fp16_channels_last)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(self.z_dim, self.c_dim, self.w_dim, num_ws=self.num_ws, **mapping_kwargs)

    def config(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
                for k, v in self._config.items()}

    def layer_names(self) -> list[str]:
        names = []
        for block in self.synthesis.blocks():
            prefix = f"synthesis.b{block.resolution}"
            names += [f"{prefix}.{n}" for n in block.layer_names()] + [prefix]
        return names

    def noise_layer_names(self) -> list[str]:
        return [f"synthesis.{n}" for n in self.synthesis.noise_layer_names()]

    def ws_resolutions(self) -> list[int]:
        out = []
        for block in self.synthesis.blocks():
            out += [block.resolution] * block.num_conv
        return out + [self.img_resolution] * (self.num_ws - len(out))


# ----------------------------------------------------------------------------------------
# Discriminator


class DiscriminatorBlock(nn.Module):
    """fromRGB (first block, or every block for 'skip') + conv0 3×3 + conv1 3×3 with ×2
    downsampling (+ 1×1 residual skip for 'resnet'). x [N, tmp, R, R] -> [N, out, R/2, R/2]."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int, img_channels: int,
                 first_layer_idx: int = 0, architecture: str = "resnet", activation: str = "lrelu",
                 resample_filter=(1, 3, 3, 1), conv_clamp: float | None = None, use_fp16: bool = False,
                 fp16_channels_last: bool = False, freeze_layers: int = 0) -> None:
        super().__init__()
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        self.architecture = _check_architecture(architecture)
        self.use_fp16, self.channels_last = use_fp16, fp16_channels_last
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.num_layers = 0
        common = dict(activation=activation, resample_filter=resample_filter, conv_clamp=conv_clamp,
                      channels_last=fp16_channels_last)

        def trainable() -> bool:
            idx = first_layer_idx + self.num_layers
            self.num_layers += 1
            return idx >= freeze_layers

        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, kernel_size=1, trainable=trainable(), **common)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, trainable=trainable(), **common)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, kernel_size=3, down=2, trainable=trainable(), **common)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                                    trainable=trainable(), resample_filter=resample_filter,
                                    channels_last=fp16_channels_last)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, force_fp32: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        ref = img if x is None else x
        dtype = _block_dtype(self.use_fp16, force_fp32, ref.device)
        fmt = _memory_format(dtype, self.channels_last, ref.device)
        if x is not None:
            x = x.to(dtype=dtype, memory_format=fmt)
        if self.in_channels == 0 or self.architecture == "skip":
            y = self.fromrgb(img.to(dtype=dtype, memory_format=fmt))
            x = y if x is None else x + y
            img = downsample_fir(img, self.resample_filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=SQRT_HALF)
            x = self.conv0(x)
            x = self.conv1(x, gain=SQRT_HALF)
            x = y + x
        else:
            x = self.conv1(self.conv0(x))
        return x, img


class MinibatchStdLayer(nn.Module):
    """Append the average standard deviation over groups of ``group_size`` samples as extra
    feature maps. Group members are strided (sample i is in group i % (N / G))."""

    def __init__(self, group_size: int | None, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n) if self.group_size else n
        f = self.num_channels
        if n % g != 0:
            raise ValueError(f"minibatch-stddev: the batch size {n} must be a multiple of the group size {g}")
        y = x.reshape(g, -1, f, c // f, h, w).float()
        y = (y - y.mean(dim=0)).square().mean(dim=0)
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])  # [N/G, F]
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w).to(x.dtype)
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"


class DiscriminatorEpilogue(nn.Module):
    """4×4 head: [fromRGB] + minibatch-stddev + conv 3×3 + fc + out (+ projection)."""

    def __init__(self, in_channels: int, cmap_dim: int, resolution: int, img_channels: int,
                 architecture: str = "resnet", mbstd_group_size: int | None = 4, mbstd_num_channels: int = 1,
                 activation: str = "lrelu", conv_clamp: float | None = None) -> None:
        super().__init__()
        self.in_channels, self.cmap_dim, self.resolution = in_channels, cmap_dim, resolution
        self.architecture = _check_architecture(architecture)
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3, activation=activation,
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, img: torch.Tensor | None, cmap: torch.Tensor | None) -> torch.Tensor:
        x = x.to(dtype=torch.float32, memory_format=torch.contiguous_format)
        if self.architecture == "skip":
            x = x + self.fromrgb(img.to(torch.float32))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.out(self.fc(x.flatten(1)))
        if self.cmap_dim > 0:
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(self.cmap_dim))
        return x


class Discriminator(nn.Module):
    """StyleGAN2 discriminator: ``D(img [N, C, R, R], c [N, c_dim]) -> logits [N, 1]``."""

    def __init__(self, c_dim: int, img_resolution: int, img_channels: int, architecture: str = "resnet",
                 channel_base: int = 32768, channel_max: int = 512, num_fp16_res: int = 4,
                 conv_clamp: float | None = 256, cmap_dim: int | None = None, block_kwargs: dict | None = None,
                 mapping_kwargs: dict | None = None, epilogue_kwargs: dict | None = None) -> None:
        super().__init__()
        log2 = _check_resolution(img_resolution)
        block_kwargs, mapping_kwargs, epilogue_kwargs = (dict(block_kwargs or {}), dict(mapping_kwargs or {}),
                                                         dict(epilogue_kwargs or {}))
        self.c_dim, self.img_resolution, self.img_channels = int(c_dim), int(img_resolution), int(img_channels)
        self.block_resolutions = [2 ** i for i in range(log2, 2, -1)]
        channels = {res: _channels(res, channel_base, channel_max) for res in self.block_resolutions + [4]}
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        if cmap_dim is None:
            cmap_dim = channels[4]
        if self.c_dim == 0:
            cmap_dim = 0
        self.cmap_dim = cmap_dim
        self._config = dict(c_dim=self.c_dim, img_resolution=self.img_resolution, img_channels=self.img_channels,
                            architecture=_check_architecture(architecture), channel_base=int(channel_base),
                            channel_max=int(channel_max), num_fp16_res=int(num_fp16_res), conv_clamp=conv_clamp,
                            cmap_dim=cmap_dim, block_kwargs=block_kwargs, mapping_kwargs=mapping_kwargs,
                            epilogue_kwargs=epilogue_kwargs)
        common = dict(img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp)
        layer_idx = 0
        for res in self.block_resolutions:
            block = DiscriminatorBlock(channels[res] if res < img_resolution else 0, channels[res], channels[res // 2],
                                       resolution=res, first_layer_idx=layer_idx, use_fp16=res >= fp16_resolution,
                                       **block_kwargs, **common)
            setattr(self, f"b{res}", block)
            layer_idx += block.num_layers
        if self.c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=self.c_dim, w_dim=cmap_dim, num_ws=None, w_avg_beta=None,
                                          **mapping_kwargs)
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim=cmap_dim, resolution=4, **epilogue_kwargs, **common)

    def config(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self._config.items()}

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, update_emas: bool = False,
                force_fp32: bool = False) -> torch.Tensor:
        """img [N, img_channels, R, R] (about [-1, 1]), c [N, c_dim] -> logits [N, 1] float32."""
        r = self.img_resolution
        if not isinstance(img, torch.Tensor) or img.ndim != 4 or tuple(img.shape[1:]) != (self.img_channels, r, r):
            got = tuple(img.shape) if isinstance(img, torch.Tensor) else type(img).__name__
            raise ValueError(f"discriminator: expected images of shape [N, {self.img_channels}, {r}, {r}], got {got}")
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img, force_fp32=force_fp32)
        cmap = None
        if self.c_dim > 0:
            cmap = self.mapping(None, c)
        return self.b4(x, img, cmap)
