"""MobileStyleGAN (Belousov, "MobileStyleGAN: A Lightweight Convolutional Neural Network for
High-Fidelity Image Synthesis", 2021), written from the paper's definitions.

The generator keeps StyleGAN2's mapping network and replaces the synthesis network by one
that predicts Haar wavelet coefficients (see :mod:`gan_core.models.haar`):

* a learned 4×4 constant, a modulated 3×3 conv (``conv1``) and a 1×1 modulated conv to a
  multichannel wavelet image (``to_img1``, ``4·img_channels`` channels);
* per block (``layers.i``): ``up`` — the input's channels are scaled by a style (affine,
  no demodulation) and read as the four Haar bands of ``C/4`` channels, which the inverse DWT
  turns into a feature map of twice the resolution; ``conv1`` / ``conv2`` — depthwise-separable
  modulated convolutions (depthwise 3×3 then pointwise 1×1) with demodulation, noise, bias and
  leaky ReLU; ``to_img`` — the block's wavelet image at the block's resolution;
* the image is the inverse DWT of the last block's wavelet image (so it has twice the
  resolution of the last block).

Demodulation is style-independent: it uses a stored per-input-channel vector
``style_inv`` in place of the style, so the scale of each output channel is a constant.
:meth:`Generator.fuse_demodulation` folds it (and the ``1/sqrt(fan_in)`` weight scale) into
the weights for inference; the fused network gives the same images.

Parameter names follow the public MobileStyleGAN checkpoints' ``student.*`` names
(``input.input``, ``conv1.conv.weight``, ``layers.0.conv1.conv.weight_dw`` …) under
``synthesis.``; the mapping network is ours (``mapping.fc{i}``, as StyleGAN2), with the mean
style for truncation in ``mapping.style_mean`` [num_ws, w_dim].

Styles: ``num_ws = 2 + 3·len(layers)``. ``ws[:, 0]`` drives ``conv1``, ``ws[:, 1]``
``to_img1``; block ``i`` takes ``ws[:, 3i+1]`` (``up`` and ``conv1``), ``ws[:, 3i+2]``
(``conv2``) and ``ws[:, 3i+3]`` (``to_img``) — neighbouring blocks share one index, and the
last index drives nothing (kept so W+ latents of the public code fit unchanged).
"""
from __future__ import annotations

import copy
import math
import numbers
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gan_core.models.base import GeneratorBase, check_noise_mode
from gan_core.models.haar import WaveletsToImage, idwt, idwt_kernel
from gan_core.models.layers import MappingNetwork

LRELU_SLOPE = 0.2
DEFAULT_CHANNELS = (512, 512, 512, 512, 512, 256, 128, 64)  # the public FFHQ 1024² student
_NOISE_SEED = 0x4D53  # the stored 'const' noise images are a function of this and the layer index


def _styles(lin: nn.Linear, w: torch.Tensor) -> torch.Tensor:
    return F.linear(w, lin.weight, lin.bias)


class ModulatedConv2d(nn.Module):
    """Full modulated convolution: ``conv(x · scale · A(w), weight) · d`` with the constant
    demodulation ``d[o] = rsqrt(Σ_{i,k} (scale · style_inv[i] · weight[o, i, k])² + 1e-8)``.

    x [N, I, H, W], w [N, w_dim] -> [N, O, H, W]. ``fused``: ``scale`` is folded into the
    affine ``modulation`` and ``d`` into ``weight`` (no ``style_inv``)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int,
                 demodulate: bool = True, fused: bool = False) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.modulation = nn.Linear(w_dim, in_channels)
        nn.init.ones_(self.modulation.bias)
        self.fused = bool(fused)
        self.demodulate = bool(demodulate) and not self.fused
        if self.demodulate:
            self.register_buffer("style_inv", torch.randn(1, 1, in_channels, 1, 1))
        self.scale = 1.0 if self.fused else 1.0 / math.sqrt(in_channels * kernel_size ** 2)
        self.padding = kernel_size // 2

    def effective_weight(self) -> torch.Tensor:
        """[O, I, k, k]: the weight including the (constant) weight scale."""
        return self.weight * self.scale

    def demodulation(self) -> torch.Tensor:
        """[O]: the constant per-output-channel demodulation factor."""
        w = self.effective_weight() * self.style_inv.view(1, -1, 1, 1)
        return (w.square().sum(dim=[1, 2, 3]) + 1e-8).rsqrt()

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = _styles(self.modulation, w) * self.scale
        x = F.conv2d(x * s[:, :, None, None], self.weight, padding=self.padding)
        if self.demodulate:
            x = x * self.demodulation().view(1, -1, 1, 1)
        return x

    def fuse_into(self, fused: "ModulatedConv2d") -> None:
        """Copy this layer's weights into ``fused`` (built with ``fused=True``)."""
        with torch.no_grad():
            fused.modulation.weight.copy_(self.modulation.weight * self.scale)
            fused.modulation.bias.copy_(self.modulation.bias * self.scale)
            d = self.demodulation() if self.demodulate else torch.ones(self.out_channels)
            fused.weight.copy_(self.weight * d.view(-1, 1, 1, 1))

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"demodulate={self.demodulate}, fused={self.fused}")


class ModulatedDWConv2d(nn.Module):
    """Depthwise-separable modulated convolution: depthwise k×k (``weight_dw`` [I, 1, k, k]) then
    pointwise 1×1 (``weight_permute`` [O, I, 1, 1]) on ``x · scale · A(w)``, times the constant
    demodulation of the equivalent full kernel ``weight_permute[o, i] · weight_dw[i]``.
    ``scale = 1/sqrt(I · k²)``. x [N, I, H, W], w [N, w_dim] -> [N, O, H, W]."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int,
                 demodulate: bool = True, fused: bool = False) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.weight_dw = nn.Parameter(torch.randn(in_channels, 1, kernel_size, kernel_size))
        self.weight_permute = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.modulation = nn.Linear(w_dim, in_channels)
        nn.init.ones_(self.modulation.bias)
        self.fused = bool(fused)
        self.demodulate = bool(demodulate) and not self.fused
        if self.demodulate:
            self.register_buffer("style_inv", torch.randn(1, 1, in_channels, 1, 1))
        self.scale = 1.0 if self.fused else 1.0 / math.sqrt(in_channels * kernel_size ** 2)
        self.padding = kernel_size // 2

    def demodulation(self) -> torch.Tensor:
        """[O]: the constant per-output-channel demodulation factor."""
        # Σ_{i,k} (s·inv_i·pw_oi·dw_ik)² = Σ_i pw_oi² · (s·inv_i)² · Σ_k dw_ik²
        per_in = (self.scale * self.style_inv.view(-1)).square() * self.weight_dw.square().sum(dim=[1, 2, 3])
        return (self.weight_permute.view(self.out_channels, -1).square() @ per_in + 1e-8).rsqrt()

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = _styles(self.modulation, w) * self.scale
        x = F.conv2d(x * s[:, :, None, None], self.weight_dw, padding=self.padding, groups=self.in_channels)
        x = F.conv2d(x, self.weight_permute)
        if self.demodulate:
            x = x * self.demodulation().view(1, -1, 1, 1)
        return x

    def fuse_into(self, fused: "ModulatedDWConv2d") -> None:
        """Copy into ``fused`` (``fused=True``): demodulation folded into the pointwise weights."""
        with torch.no_grad():
            fused.modulation.weight.copy_(self.modulation.weight * self.scale)
            fused.modulation.bias.copy_(self.modulation.bias * self.scale)
            fused.weight_dw.copy_(self.weight_dw)
            d = self.demodulation() if self.demodulate else torch.ones(self.out_channels)
            fused.weight_permute.copy_(self.weight_permute * d.view(-1, 1, 1, 1))

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"depthwise-separable, demodulate={self.demodulate}, fused={self.fused}")


class NoiseInjection(nn.Module):
    """``x + weight · strength · noise``; noise [N, 1, H, W] given, stored ('const'), fresh
    ('random') or none. ``noise_const`` [R, R] is a fixed function of the layer index."""

    def __init__(self, resolution: int, index: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.weight = nn.Parameter(torch.zeros(1))
        gen = torch.Generator().manual_seed(_NOISE_SEED + index)
        self.register_buffer("noise_const", torch.randn([resolution, resolution], generator=gen))

    def forward(self, x: torch.Tensor, noise_mode: str = "const", strength: float | torch.Tensor = 1.0,
                noise: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        if noise is None:
            if noise_mode == "none":
                return x
            if noise_mode == "const":
                noise = self.noise_const
            else:
                n, _, h, w = x.shape
                noise = torch.randn([n, 1, h, w], generator=generator,
                                    device=generator.device if generator is not None else x.device)
                noise = noise.to(device=x.device, dtype=x.dtype)
        elif noise.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"noise for a {x.shape[-1]}² layer must be [N, 1, {x.shape[-2]}, {x.shape[-1]}]; "
                             f"got {tuple(noise.shape)}")
        if not torch.is_grad_enabled():  # inference: x is a fresh activation
            return x.add_(noise * (self.weight * strength))
        return x + (self.weight * strength) * noise


class StyledConv(nn.Module):
    """Modulated conv (full or depthwise-separable) + noise + bias + leaky ReLU(0.2)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, noise_index: int,
                 kernel_size: int = 3, depthwise: bool = False, fused: bool = False) -> None:
        super().__init__()
        cls = ModulatedDWConv2d if depthwise else ModulatedConv2d
        self.conv = cls(in_channels, out_channels, w_dim, kernel_size, demodulate=True, fused=fused)
        self.noise = NoiseInjection(resolution, noise_index)
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const",
                strength: float | torch.Tensor = 1.0, noise: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        x = self.conv(x, w)
        x = self.noise(x, noise_mode, strength, noise, generator)
        if not torch.is_grad_enabled():  # inference: finish in place on the fresh activation
            return F.leaky_relu_(x.add_(self.bias), LRELU_SLOPE)
        return F.leaky_relu(x + self.bias, LRELU_SLOPE)


class ToWavelets(nn.Module):
    """1×1 modulated conv (no demodulation) + bias -> multichannel wavelet image
    [N, 4·img_channels, H, W] (LL of every colour, then 3 bands per colour)."""

    def __init__(self, in_channels: int, w_dim: int, img_channels: int, fused: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, 4 * img_channels, w_dim, 1, demodulate=False, fused=fused)
        self.bias = nn.Parameter(torch.zeros(1, 4 * img_channels, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias


class IDWTUpsample(nn.Module):
    """x [N, C, H, W] · A(w) read as Haar bands (LL = channels :C/4, then C/4 × 3 bands)
    -> inverse DWT -> [N, C/4, 2H, 2W]."""

    def __init__(self, in_channels: int, w_dim: int) -> None:
        super().__init__()
        if in_channels % 4:
            raise ValueError(f"IDWT upsampling needs a channel count divisible by 4; got {in_channels}")
        self.in_channels, self.out_channels = in_channels, in_channels // 4
        self.modulation = nn.Linear(w_dim, in_channels)
        nn.init.ones_(self.modulation.bias)
        self.register_buffer("idwt_kernel", idwt_kernel(self.out_channels), persistent=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        n, _, h, wd = x.shape
        x = x * _styles(self.modulation, w)[:, :, None, None]
        c = self.out_channels
        y = idwt(x[:, :c], x[:, c:].reshape(n, c, 3, h, wd), kernel=self.idwt_kernel)
        return y.contiguous(memory_format=torch.channels_last) if y.device.type == "cpu" else y


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


class MobileSynthesisBlock(nn.Module):
    """IDWT ×2 upsampling, two depthwise-separable styled convs, wavelet output.
    x [N, I, R/2, R/2] -> (x [N, O, R, R], wavelet image [N, 4·img_channels, R, R])."""

    num_ws = 3

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 noise_index: int, kernel_size: int = 3, fused: bool = False) -> None:
        super().__init__()
        self.resolution = resolution
        self.up = IDWTUpsample(in_channels, w_dim)
        self.conv1 = StyledConv(in_channels // 4, out_channels, w_dim, resolution, noise_index, kernel_size,
                                depthwise=True, fused=fused)
        self.conv2 = StyledConv(out_channels, out_channels, w_dim, resolution, noise_index + 1, kernel_size,
                                depthwise=True, fused=fused)
        self.to_img = ToWavelets(out_channels, w_dim, img_channels, fused=fused)

    def forward(self, x: torch.Tensor, ws: torch.Tensor, noise_mode: str, strengths: Sequence,
                noises: Sequence, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.up(x, ws[:, 0])
        x = self.conv1(x, ws[:, 0], noise_mode, strengths[0], noises[0], generator)
        x = self.conv2(x, ws[:, 1], noise_mode, strengths[1], noises[1], generator)
        return x, self.to_img(x, ws[:, 2])


class MobileSynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, img_channels, R, R], ``R = 2^(len(channels) + 2)``."""

    def __init__(self, w_dim: int, channels: Sequence[int], img_channels: int = 3, kernel_size: int = 3,
                 fused: bool = False) -> None:
        super().__init__()
        channels = [int(c) for c in channels]
        if len(channels) < 1 or any(c < 4 or c % 4 for c in channels[:-1]) or channels[-1] < 1:
            raise ValueError(f"channels must be a list of block widths, all but the last divisible by 4; "
                             f"got {channels}")
        self.w_dim, self.channels, self.img_channels = w_dim, channels, img_channels
        self.img_resolution = 2 ** (len(channels) + 2)
        self.num_ws = 2 + MobileSynthesisBlock.num_ws * (len(channels) - 1)
        self.input = ConstantInput(channels[0])
        self.conv1 = StyledConv(channels[0], channels[0], w_dim, 4, 0, kernel_size, depthwise=False, fused=fused)
        self.to_img1 = ToWavelets(channels[0], w_dim, img_channels, fused=fused)
        self.layers = nn.ModuleList()
        for i in range(1, len(channels)):
            self.layers.append(MobileSynthesisBlock(channels[i - 1], channels[i], w_dim, 4 * 2 ** i, img_channels,
                                                    noise_index=2 * i - 1, kernel_size=kernel_size, fused=fused))
        self.idwt = WaveletsToImage(img_channels)

    def noise_layer_names(self) -> list[str]:
        """Dotted names (under ``synthesis``) of the layers that add noise, in forward order."""
        return ["conv1"] + [f"layers.{i}.{n}" for i in range(len(self.layers)) for n in ("conv1", "conv2")]

    def _per_noise_layer(self, value: Any, what: str, allow_scalar: bool) -> list:
        count = len(self.noise_layer_names())
        if allow_scalar and (isinstance(value, numbers.Real) or (isinstance(value, torch.Tensor) and value.ndim == 0)):
            return [value] * count
        values = list(value)
        if len(values) != count:
            raise ValueError(f"{what}: expected {'a number or ' if allow_scalar else ''}a sequence of {count} "
                             f"(one per noise layer: {', '.join(self.noise_layer_names())}); got {len(values)}")
        return values

    def forward(self, ws: torch.Tensor, noise_mode: str = "const",
                noise_strength: float | Sequence[float] | torch.Tensor = 1.0,
                noise_inputs: Sequence[torch.Tensor | None] | None = None,
                noise_generator: torch.Generator | None = None, force_fp32: bool = False,
                update_emas: bool = False, return_wavelets: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Render ``ws`` [N, num_ws, w_dim].

        noise_mode: 'const' (stored noise images), 'random' (fresh Gaussian noise, from
        ``noise_generator`` when given) or 'none'; ``noise_inputs``: explicit noise, one
        [N, 1, R, R] tensor (or None) per ``noise_layer_names()`` entry, overriding noise_mode.
        ``noise_strength`` multiplies the learned noise weights (one number, or one per layer).
        Returns [N, img_channels, R, R] float32, about [-1, 1]; with ``return_wavelets`` also the
        wavelet image of every block (``to_img1`` first), [N, 4·img_channels, r, r] each.
        """
        check_noise_mode(noise_mode)
        if not isinstance(ws, torch.Tensor) or ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            got = tuple(ws.shape) if isinstance(ws, torch.Tensor) else type(ws).__name__
            raise ValueError(f"synthesis: expected ws of shape [N, {self.num_ws}, {self.w_dim}], got {got}")
        strengths = self._per_noise_layer(noise_strength, "noise_strength", allow_scalar=True)
        noises = (self._per_noise_layer(noise_inputs, "noise_inputs", allow_scalar=False)
                  if noise_inputs is not None else [None] * len(strengths))
        ws = ws.to(torch.float32)
        x = self.input(ws.shape[0])
        if x.device.type == "cpu":  # oneDNN's depthwise and 1×1 convolutions are ~2-3× faster channels-last
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.conv1(x, ws[:, 0], noise_mode, strengths[0], noises[0], noise_generator)
        freq = [self.to_img1(x, ws[:, 1])]
        for i, block in enumerate(self.layers):
            k = MobileSynthesisBlock.num_ws * i + 1
            x, f = block(x, ws[:, k:k + 3], noise_mode, strengths[1 + 2 * i:3 + 2 * i],
                         noises[1 + 2 * i:3 + 2 * i], noise_generator)
            freq.append(f)
        img = self.idwt(freq[-1]).contiguous()
        return (img, [f.contiguous() for f in freq]) if return_wavelets else img


class MobileMappingNetwork(MappingNetwork):
    """StyleGAN2's mapping network (``fc{i}``, no class input) whose truncation pulls each
    w toward ``style_mean`` [num_ws, w_dim] (per style index, as MobileStyleGAN stores it)."""

    def __init__(self, z_dim: int, w_dim: int, num_ws: int, num_layers: int = 8, lr_multiplier: float = 0.01) -> None:
        super().__init__(z_dim, 0, w_dim, num_ws=None, num_layers=num_layers, lr_multiplier=lr_multiplier,
                         w_avg_beta=None)
        self.num_ws_out = num_ws
        self.register_buffer("style_mean", torch.zeros([num_ws, w_dim]))

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_emas: bool = False) -> torch.Tensor:
        """z [N, z_dim] -> ws [N, num_ws, w_dim]; ``truncation_cutoff`` ws (all when None) are
        moved to ``style_mean + psi · (w - style_mean)``."""
        w = super().forward(z, None)
        ws = w.unsqueeze(1).repeat([1, self.num_ws_out, 1])
        if truncation_psi != 1:
            cut = self.num_ws_out if truncation_cutoff is None else int(truncation_cutoff)
            mean = self.style_mean[:cut].unsqueeze(0)
            ws = torch.cat([mean + truncation_psi * (ws[:, :cut] - mean), ws[:, cut:]], dim=1)
        return ws

    @torch.no_grad()
    def update_style_mean(self, samples: int = 4096, seed: int = 0, batch: int = 1024) -> torch.Tensor:
        """Set ``style_mean`` to the mean w of ``samples`` random z (every index the same)."""
        gen = torch.Generator().manual_seed(seed)
        dev = self.style_mean.device
        total = torch.zeros(self.w_dim, dtype=torch.float64, device=dev)
        done = 0
        while done < samples:
            n = min(batch, samples - done)
            z = torch.randn([n, self.z_dim], generator=gen).to(dev)
            total += super().forward(z, None).double().sum(0)
            done += n
        self.style_mean.copy_((total / samples).float().expand_as(self.style_mean))
        return self.style_mean


class Generator(GeneratorBase):
    """MobileStyleGAN generator: ``G(z)`` -> [N, img_channels, R, R] float32 in about [-1, 1].

    ``channels``: block widths from 4² up (default: the public FFHQ 1024² student);
    ``mapping_kwargs``: ``num_layers`` (8), ``lr_multiplier`` (0.01);
    ``fused_demodulation``: the inference form made by :meth:`fuse_demodulation`.
    """

    family = "mobilestylegan"
    has_noise = True
    has_input_transform = False

    def __init__(self, z_dim: int = 512, w_dim: int = 512, channels: Sequence[int] = DEFAULT_CHANNELS,
                 c_dim: int = 0, img_channels: int = 3, kernel_size: int = 3, mapping_kwargs: dict | None = None,
                 fused_demodulation: bool = False) -> None:
        super().__init__()
        if int(c_dim) != 0:
            raise ValueError("MobileStyleGAN generators are unconditional: c_dim must be 0")
        mapping_kwargs = dict(mapping_kwargs or {})
        unknown = set(mapping_kwargs) - {"num_layers", "lr_multiplier"}
        if unknown:
            raise ValueError(f"mapping_kwargs: unknown keys {sorted(unknown)} (known: num_layers, lr_multiplier)")
        self.z_dim, self.c_dim, self.w_dim = int(z_dim), 0, int(w_dim)
        self.img_channels = int(img_channels)
        self.synthesis = MobileSynthesisNetwork(self.w_dim, channels, self.img_channels, int(kernel_size),
                                                fused=bool(fused_demodulation))
        self.img_resolution = self.synthesis.img_resolution
        self.num_ws = self.synthesis.num_ws
        self.mapping = MobileMappingNetwork(self.z_dim, self.w_dim, self.num_ws, **mapping_kwargs)
        self._config = dict(z_dim=self.z_dim, w_dim=self.w_dim, channels=list(self.synthesis.channels),
                            c_dim=0, img_channels=self.img_channels, kernel_size=int(kernel_size),
                            mapping_kwargs={"num_layers": self.mapping.num_layers,
                                            "lr_multiplier": float(mapping_kwargs.get("lr_multiplier", 0.01))},
                            fused_demodulation=bool(fused_demodulation))

    @property
    def is_fused(self) -> bool:
        return bool(self._config["fused_demodulation"])

    def config(self) -> dict[str, Any]:
        return copy.deepcopy(self._config)

    def layer_names(self) -> list[str]:
        names = ["synthesis.conv1", "synthesis.to_img1"]
        for i in range(len(self.synthesis.layers)):
            names += [f"synthesis.layers.{i}.{n}" for n in ("up", "conv1", "conv2", "to_img")]
        return names + ["synthesis.idwt"]

    def wavelet_layer_names(self) -> list[str]:
        """The layers whose outputs are the per-block wavelet images [N, 4·img_channels, r, r]."""
        return ["synthesis.to_img1"] + [f"synthesis.layers.{i}.to_img" for i in range(len(self.synthesis.layers))]

    def noise_layer_names(self) -> list[str]:
        return [f"synthesis.{n}" for n in self.synthesis.noise_layer_names()]

    def ws_resolutions(self) -> list[int]:
        """The resolution of the convolution each w index drives first (the last index drives
        nothing and is labelled with the image resolution)."""
        out = [4]
        for block in self.synthesis.layers:
            out += [block.resolution] * 3
        out[-1] = self.img_resolution  # the last block's to_img makes the final image
        return out + [self.img_resolution]

    def fuse_demodulation(self) -> "Generator":
        """A copy for inference with demodulation and weight scales folded into the weights:
        the same images, fewer operations per layer. Already fused: a plain copy."""
        if self.is_fused:
            return copy.deepcopy(self)
        fused = Generator(**{**self.config(), "fused_demodulation": True}).to(self.synthesis.input.input.device)
        own = dict(self.named_modules())
        fused_state = fused.state_dict()
        handled = set()
        for name, mod in fused.named_modules():
            if isinstance(mod, (ModulatedConv2d, ModulatedDWConv2d)):
                own[name].fuse_into(mod)
                handled.update(f"{name}.{k}" for k in mod.state_dict())
        with torch.no_grad():
            src = self.state_dict()
            for k, v in fused_state.items():
                if k not in handled:
                    v.copy_(src[k])
        fused.train(self.training)
        return fused.requires_grad_(any(p.requires_grad for p in self.parameters()))
