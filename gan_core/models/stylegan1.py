"""StyleGAN (v1) generator and discriminator (Karras et al., "A Style-Based Generator
Architecture for Generative Adversarial Networks", 2019), written from the paper's equations,
with the progressive-growing state (current step and fade-in alpha) as part of the model.

Generator
  mapping: z [N, z_dim] -> pixel norm -> ``mapping_layers`` × (equalized dense + leaky ReLU 0.2)
  -> w, broadcast to ``num_ws = 2 * num_blocks`` per-layer styles (two AdaIN layers per block;
  the app's per-layer style mixing swaps rows of ws). ``mapping.w_avg`` is the mean w that
  truncation pulls toward (``w_avg + psi * (w - w_avg)``).
  synthesis: blocks ``b4 … b{img_resolution}``. ``b4`` starts from a learned 4×4 constant,
  every other block doubles the resolution in its first layer (nearest ×2 + 3×3 conv, or the
  equivalent fused transposed convolution from ``fused_resolution`` up) followed by a 3×3
  [1, 2, 1] blur. Each of the two layers of a block: (conv + bias) -> + per-channel-weighted
  noise -> leaky ReLU 0.2 -> AdaIN (instance norm, then per-channel scale and bias from an
  equalized affine map of that layer's w). Every block has its own toRGB (1×1 conv).

Progressive state
  ``step`` (0 … num_blocks - 1) is the last block that runs: the output resolution is
  ``output_resolution = 4 * 2**step``; ``img_resolution`` is always the full (final)
  resolution of the network. ``alpha`` in [0, 1] fades the newest block in:
  ``img = (1 - alpha) * nearest_up2(toRGB[step-1](x[step-1])) + alpha * toRGB[step](x[step])``
  (alpha = 1: no fade-in; at step 0 alpha has no effect). Set both with
  ``G.set_progressive(step, alpha)`` (or per call: ``G.synthesis(ws, step=…, alpha=…)``);
  they are constructor arguments too, so ``config()`` and a native checkpoint keep them.

Discriminator
  ``D(img)`` takes images at any resolution 4 … img_resolution: fromRGB at that resolution,
  then blocks (3×3 conv, blur, 3×3 conv + ×2 down as conv + 2×2 average or the equivalent fused
  stride-2 conv) down to 4×4, fading in from ``fromRGB(avg_pool(img))`` while alpha < 1;
  then minibatch standard deviation, a 3×3 conv, a 4×4 → 1 dense layer and the output layer.

Equalized learning rate everywhere: weights stored unit-scale, multiplied at run time by
``sqrt(2 / fan_in)``. Parameter layout: ``conv*.weight`` [out, in, k, k], ``bias`` [out],
``noise_strength`` [C] (effective per-channel noise weight), ``affine.weight`` [2C, w_dim]
with ``affine.bias`` initialised to [1…1, 0…0] (scale, shift).
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_core.models.base import GeneratorBase, check_noise_mode
from gan_core.models.stylegan2 import MinibatchStdLayer

LRELU_SLOPE = 0.2
_BLUR_1D = (1.0, 2.0, 1.0)


def _check_resolution(img_resolution: int) -> int:
    log2 = int(np.log2(img_resolution)) if img_resolution > 0 else 0
    if img_resolution < 4 or 2 ** log2 != img_resolution:
        raise ValueError(f"img_resolution must be a power of two >= 4; got {img_resolution}")
    return log2


def channel_table(img_resolution: int, channels: Sequence[int] | None, channel_base: int,
                  channel_max: int) -> dict[int, int]:
    """{resolution: channels} for 4 … img_resolution: the explicit list (one entry per
    resolution, lowest first) or ``min(channel_base // res, channel_max)``."""
    log2 = _check_resolution(img_resolution)
    res_list = [2 ** i for i in range(2, log2 + 1)]
    if channels is not None:
        channels = [int(c) for c in channels]
        if len(channels) != len(res_list) or min(channels) < 1:
            raise ValueError(f"channels: expected {len(res_list)} positive numbers (one per resolution "
                             f"{res_list[0]}…{res_list[-1]}), got {channels}")
        return dict(zip(res_list, channels))
    return {r: max(1, min(channel_base // r, channel_max)) for r in res_list}


def _check_progressive(step: int, alpha: float, num_blocks: int) -> tuple[int, float]:
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 0 <= int(step) < num_blocks:
        raise ValueError(f"progressive step must be an integer 0…{num_blocks - 1} (output resolution "
                         f"4…{4 * 2 ** (num_blocks - 1)}); got {step!r}")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"fade-in alpha must be in [0, 1] (1 = fully faded in); got {alpha}")
    return int(step), alpha


def blur(x: torch.Tensor) -> torch.Tensor:
    """Depthwise 3×3 [1, 2, 1]⊗[1, 2, 1] / 16 filter, zero padding 1. [N, C, H, W] -> same."""
    f = torch.tensor(_BLUR_1D, dtype=x.dtype, device=x.device)
    k = (f[:, None] * f[None, :]) / 16
    c = x.shape[1]
    return F.conv2d(x, k.expand(c, 1, 3, 3), padding=1, groups=c)


# ----------------------------------------------------------------------------------------
# Equalized layers


class EqualizedLinear(nn.Module):
    """Dense layer, weight [out, in] scaled by ``lr_multiplier * sqrt(2 / in)`` at run time,
    bias by ``lr_multiplier``; optional leaky ReLU 0.2."""

    def __init__(self, in_features: int, out_features: int, activation: bool = False, lr_multiplier: float = 1.0,
                 bias_init: float | Sequence[float] = 0.0) -> None:
        super().__init__()
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        init = np.broadcast_to(np.asarray(bias_init, dtype=np.float32), [out_features]).copy()
        self.bias = nn.Parameter(torch.from_numpy(init / lr_multiplier))
        self.weight_gain = math.sqrt(2 / in_features) * lr_multiplier
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bias if self.bias_gain == 1 else self.bias * self.bias_gain
        x = F.linear(x, self.weight * self.weight_gain, b)
        return F.leaky_relu(x, LRELU_SLOPE) if self.activation else x

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


class EqualizedConv2d(nn.Module):
    """k×k conv (zero padding k//2 unless given), weight [out, in, k, k] × sqrt(2 / (in k²))."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int | None = None) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.padding = kernel_size // 2 if padding is None else padding
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = math.sqrt(2 / (in_channels * kernel_size ** 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"


def _box4(w: torch.Tensor) -> torch.Tensor:
    """3×3 kernels -> 4×4: the sum of the four one-pixel shifts (pad 1, add the 2×2 corners)."""
    w = F.pad(w, [1, 1, 1, 1])
    return w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]


def upconv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, fused: bool) -> torch.Tensor:
    """``conv3x3(nearest_up2(x), weight) + bias``; ``fused`` computes the same thing as one
    stride-2 transposed convolution with the 4×4 kernel ``_box4`` of the flipped weight."""
    if fused:
        k = _box4(weight.flip([2, 3]).transpose(0, 1))
        return F.conv_transpose2d(x, k, bias, stride=2, padding=1)
    return F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), weight, bias, padding=1)


def conv3x3_down(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, fused: bool) -> torch.Tensor:
    """``avg_pool2(conv3x3(x, weight) + bias)``; ``fused`` as one stride-2 4×4 convolution."""
    if fused:
        return F.conv2d(x, _box4(weight) * 0.25, bias, stride=2, padding=1)
    return F.avg_pool2d(F.conv2d(x, weight, bias, padding=1), 2)


# ----------------------------------------------------------------------------------------
# Generator


class MappingNetwork(nn.Module):
    """z [N, z_dim] -> ws [N, num_ws, w_dim] (pixel norm, dense layers, broadcast, truncation)."""

    def __init__(self, z_dim: int, w_dim: int, num_ws: int, num_layers: int = 8, lr_multiplier: float = 1.0,
                 w_avg_beta: float = 0.995) -> None:
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws, self.num_layers = z_dim, w_dim, num_ws, num_layers
        self.w_avg_beta = w_avg_beta
        features = [z_dim] + [w_dim] * num_layers
        for i in range(num_layers):
            setattr(self, f"fc{i}", EqualizedLinear(features[i], features[i + 1], activation=True,
                                                    lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_emas: bool = False) -> torch.Tensor:
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"mapping: expected z of shape [N, {self.z_dim}], got "
                             f"{tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__}")
        x = z.to(torch.float32)
        x = x / torch.sqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if update_emas:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            cut = self.num_ws if truncation_cutoff is None else int(truncation_cutoff)
            x = torch.cat([self.w_avg + truncation_psi * (x[:, :cut] - self.w_avg), x[:, cut:]], dim=1)
        return x


class StyleLayer(nn.Module):
    """One AdaIN layer: [const | conv3×3 (×2 up + blur)] + bias -> + noise -> lrelu -> AdaIN."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kind: str,
                 fused: bool = False, noise_seed: int = 0) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.resolution, self.kind = in_channels, out_channels, resolution, kind
        self.fused = fused
        if kind == "const":
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 3, 3]))
            self.bias = nn.Parameter(torch.zeros([out_channels]))
            self.weight_gain = math.sqrt(2 / (in_channels * 9))
        self.noise_strength = nn.Parameter(torch.zeros([out_channels]))
        gen = torch.Generator().manual_seed(int(noise_seed))
        self.register_buffer("noise_const", torch.randn([resolution, resolution], generator=gen))
        self.affine = EqualizedLinear(w_dim, 2 * out_channels, bias_init=[1.0] * out_channels + [0.0] * out_channels)

    def make_noise(self, x: torch.Tensor, noise_mode: str, strength: float | torch.Tensor,
                   noise: torch.Tensor | None, generator: torch.Generator | None) -> torch.Tensor | None:
        if noise is not None:
            n = noise.to(x.device, x.dtype)
        elif noise_mode == "none" or (not isinstance(strength, torch.Tensor) and strength == 0):
            return None
        elif noise_mode == "const":
            n = self.noise_const[None, None]
        else:
            gen_device = generator.device if generator is not None else x.device
            n = torch.randn([x.shape[0], 1, self.resolution, self.resolution], generator=generator,
                            device=gen_device).to(x.device)
        return n * (self.noise_strength * strength).reshape(1, -1, 1, 1)

    def forward(self, x: torch.Tensor | None, w: torch.Tensor, noise_mode: str = "const",
                noise_strength: float | torch.Tensor = 1.0, noise: torch.Tensor | None = None,
                noise_generator: torch.Generator | None = None) -> torch.Tensor:
        if self.kind == "const":
            x = self.const.unsqueeze(0).expand(w.shape[0], -1, -1, -1)
        elif self.kind == "up":
            x = blur(upconv3x3(x, self.weight * self.weight_gain, self.bias, self.fused))
        else:
            x = F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=1)
        n = self.make_noise(x, noise_mode, noise_strength, noise, noise_generator)
        gamma, beta = self.affine(w.to(x.dtype)).unsqueeze(2).unsqueeze(3).chunk(2, dim=1)
        if torch.is_grad_enabled() and any(t.requires_grad for t in (x, gamma, n) if t is not None):
            x = x + n if n is not None else x
            x = F.instance_norm(F.leaky_relu(x, LRELU_SLOPE), eps=1e-5)
            return gamma * x + beta
        # inference: the same operations, in place on the fresh activations (fewer large allocations)
        if self.kind == "const":  # x is a view of the parameter: make the first op out of place
            x = F.leaky_relu(x + n if n is not None else x, LRELU_SLOPE)
        else:
            x = F.leaky_relu_(x.add_(n) if n is not None else x, LRELU_SLOPE)
        x = F.instance_norm(x, eps=1e-5)
        return x.mul_(gamma).add_(beta)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, resolution={self.resolution}, kind={self.kind}"
                + (", fused" if self.fused else ""))


class ToRGB(nn.Module):
    """1×1 equalized conv to image channels (no activation)."""

    def __init__(self, in_channels: int, img_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn([img_channels, in_channels, 1, 1]))
        self.bias = nn.Parameter(torch.zeros([img_channels]))
        self.weight_gain = math.sqrt(2 / in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.weight_gain, self.bias)


class SynthesisBlock(nn.Module):
    """Two style layers at one resolution (+ its toRGB). x [N, I, R/2, R/2] -> [N, O, R, R]."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 fused: bool, noise_seed: int) -> None:
        super().__init__()
        self.resolution = resolution
        kind = "const" if resolution == 4 else "up"
        self.conv0 = StyleLayer(in_channels, out_channels, w_dim, resolution, kind, fused=fused,
                                noise_seed=noise_seed)
        self.conv1 = StyleLayer(out_channels, out_channels, w_dim, resolution, "conv", noise_seed=noise_seed + 1)
        self.torgb = ToRGB(out_channels, img_channels)

    def forward(self, x: torch.Tensor | None, ws: torch.Tensor, noise_mode: str, strengths: Sequence,
                noises: Sequence, noise_generator: torch.Generator | None) -> torch.Tensor:
        x = self.conv0(x, ws[:, 0], noise_mode, strengths[0], noises[0], noise_generator)
        return self.conv1(x, ws[:, 1], noise_mode, strengths[1], noises[1], noise_generator)


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, img_channels, R, R], R = 4 * 2**step (see module doc)."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channels: dict[int, int],
                 fused_resolution: int = 128, step: int | None = None, alpha: float = 1.0,
                 noise_seed: int = 0) -> None:
        super().__init__()
        log2 = _check_resolution(img_resolution)
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        for i, res in enumerate(self.block_resolutions):
            setattr(self, f"b{res}", SynthesisBlock(channels[res // 2] if res > 4 else channels[4], channels[res],
                                                    w_dim, res, img_channels, fused=res >= fused_resolution,
                                                    noise_seed=noise_seed + 2 * i))
        self.num_ws = 2 * len(self.block_resolutions)
        self.step, self.alpha = _check_progressive(len(self.block_resolutions) - 1 if step is None else step,
                                                   alpha, len(self.block_resolutions))

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def noise_layer_names(self) -> list[str]:
        return [f"b{res}.{n}" for res in self.block_resolutions for n in ("conv0", "conv1")]

    def _per_layer(self, value: Any, what: str, count: int, allow_scalar: bool) -> list:
        if value is None:
            return [None] * count
        if allow_scalar and (isinstance(value, numbers.Real) or (isinstance(value, torch.Tensor) and value.ndim == 0)):
            return [value] * count
        values = list(value)
        full = len(self.noise_layer_names())
        if len(values) not in (count, full):
            raise ValueError(f"{what}: expected {'a number or ' if allow_scalar else ''}a sequence of {count} "
                             f"(the layers up to the current step) or {full} entries, one per noise layer "
                             f"({', '.join(self.noise_layer_names()[:count])}); got {len(values)}")
        return values[:count]

    def forward(self, ws: torch.Tensor, noise_mode: str = "const",
                noise_strength: float | Sequence[float] | torch.Tensor = 1.0,
                noise_inputs: Sequence[torch.Tensor] | None = None, noise_generator: torch.Generator | None = None,
                step: int | None = None, alpha: float | None = None, force_fp32: bool = False,
                update_emas: bool = False) -> torch.Tensor:
        """Render ``ws`` [N, num_ws, w_dim] at the current (or the given) progressive step.

        noise_mode: 'const' (stored noise images), 'random' (fresh noise per layer, from
        ``noise_generator`` when given) or 'none'. ``noise_inputs``: explicit noise, one
        [N or 1, 1, R, R] tensor per noise layer (two per block, the layers up to ``step``),
        overriding noise_mode. ``noise_strength`` multiplies the learned per-channel weights
        (a number or one per noise layer). Returns [N, img_channels, 4·2**step, 4·2**step]
        float32, about [-1, 1]."""
        check_noise_mode(noise_mode)
        step, alpha = _check_progressive(self.step if step is None else step, self.alpha if alpha is None else alpha,
                                         len(self.block_resolutions))
        if not isinstance(ws, torch.Tensor) or ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            got = tuple(ws.shape) if isinstance(ws, torch.Tensor) else type(ws).__name__
            raise ValueError(f"synthesis: expected ws of shape [N, {self.num_ws}, {self.w_dim}], got {got}")
        count = 2 * (step + 1)
        strengths = self._per_layer(noise_strength, "noise_strength", count, allow_scalar=True)
        noises = self._per_layer(noise_inputs, "noise_inputs", count, allow_scalar=False)
        ws = ws.to(torch.float32)
        x = prev = None
        blocks = self.blocks()
        for i in range(step + 1):
            prev = x
            x = blocks[i](x, ws[:, 2 * i:2 * i + 2], noise_mode, strengths[2 * i:2 * i + 2], noises[2 * i:2 * i + 2],
                          noise_generator)
        img = blocks[step].torgb(x)
        if step > 0 and alpha < 1:
            skip = F.interpolate(blocks[step - 1].torgb(prev), scale_factor=2, mode="nearest")
            img = (1 - alpha) * skip + alpha * img
        return img.contiguous()


class Generator(GeneratorBase):
    """StyleGAN (v1) generator. ``G(z)`` -> [N, img_channels, output_resolution, output_resolution].

    Constructor: ``z_dim``, ``w_dim``, ``img_resolution`` (full), ``img_channels``,
    ``mapping_layers``, ``mapping_lr_multiplier``, ``channels`` (one per resolution 4…full, or
    None for ``min(channel_base // res, channel_max)``), ``fused_resolution`` (blocks at or above
    it upsample with the fused transposed conv: same result, faster), ``step``/``alpha`` (the
    progressive state; step None = the last block), ``noise_seed`` (the stored const noise).
    """

    family = "stylegan1"
    has_noise = True
    has_input_transform = False

    def __init__(self, z_dim: int = 512, w_dim: int = 512, img_resolution: int = 1024, img_channels: int = 3,
                 c_dim: int = 0, mapping_layers: int = 8, mapping_lr_multiplier: float = 1.0,
                 channels: Sequence[int] | None = None, channel_base: int = 16384, channel_max: int = 512,
                 fused_resolution: int = 128, step: int | None = None, alpha: float = 1.0,
                 noise_seed: int = 0, w_avg_beta: float = 0.995) -> None:
        super().__init__()
        if c_dim:
            raise ValueError("StyleGAN (v1) here is unconditional: c_dim must be 0")
        self.z_dim, self.c_dim, self.w_dim = int(z_dim), 0, int(w_dim)
        self.img_resolution, self.img_channels = int(img_resolution), int(img_channels)
        table = channel_table(self.img_resolution, channels, channel_base, channel_max)
        self._config = dict(z_dim=self.z_dim, w_dim=self.w_dim, img_resolution=self.img_resolution,
                            img_channels=self.img_channels, c_dim=0, mapping_layers=int(mapping_layers),
                            mapping_lr_multiplier=float(mapping_lr_multiplier),
                            channels=None if channels is None else [int(c) for c in channels],
                            channel_base=int(channel_base), channel_max=int(channel_max),
                            fused_resolution=int(fused_resolution), noise_seed=int(noise_seed),
                            w_avg_beta=float(w_avg_beta))
        self.channels = table
        self.synthesis = SynthesisNetwork(self.w_dim, self.img_resolution, self.img_channels, table,
                                          fused_resolution=fused_resolution, step=step, alpha=alpha,
                                          noise_seed=noise_seed)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(self.z_dim, self.w_dim, self.num_ws, num_layers=mapping_layers,
                                      lr_multiplier=mapping_lr_multiplier, w_avg_beta=w_avg_beta)

    # progressive state ------------------------------------------------------------------
    @property
    def num_steps(self) -> int:
        """Number of progressive steps (= blocks); valid steps are 0 … num_steps - 1."""
        return len(self.synthesis.block_resolutions)

    @property
    def step(self) -> int:
        return self.synthesis.step

    @property
    def alpha(self) -> float:
        return self.synthesis.alpha

    @property
    def output_resolution(self) -> int:
        """Resolution of the images synthesis returns now: 4 * 2**step (<= img_resolution)."""
        return 4 * 2 ** self.synthesis.step

    def set_progressive(self, step: int | None = None, alpha: float = 1.0) -> "Generator":
        """Select the progressive stage to render: ``step`` (None = the last block) and
        fade-in ``alpha`` in [0, 1]. Returns self."""
        step = self.num_steps - 1 if step is None else step
        self.synthesis.step, self.synthesis.alpha = _check_progressive(step, alpha, self.num_steps)
        return self

    @staticmethod
    def step_for_resolution(resolution: int) -> int:
        return _check_resolution(int(resolution)) - 2

    # uniform interface --------------------------------------------------------------------
    def capabilities(self) -> dict[str, Any]:
        out = super().capabilities()
        out.update(progressive_step=self.step, progressive_alpha=self.alpha,
                   output_resolution=self.output_resolution)
        return out

    def config(self) -> dict[str, Any]:
        cfg = {k: (list(v) if isinstance(v, list) else v) for k, v in self._config.items()}
        cfg.update(step=self.step, alpha=self.alpha)
        return cfg

    def layer_names(self) -> list[str]:
        names = []
        for res in self.synthesis.block_resolutions:
            p = f"synthesis.b{res}"
            names += [f"{p}.conv0", f"{p}.conv1", p, f"{p}.torgb"]
        return names

    def noise_layer_names(self) -> list[str]:
        return [f"synthesis.{n}" for n in self.synthesis.noise_layer_names()]

    def ws_resolutions(self) -> list[int]:
        return [r for r in self.synthesis.block_resolutions for _ in range(2)]


# ----------------------------------------------------------------------------------------
# Discriminator


class DiscriminatorBlock(nn.Module):
    """3×3 conv (in -> out) + lrelu, blur, 3×3 conv + ×2 down (out -> out) + lrelu."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int, fused: bool) -> None:
        super().__init__()
        self.resolution, self.fused = resolution, fused
        self.conv0 = EqualizedConv2d(in_channels, out_channels, 3)
        self.conv1 = EqualizedConv2d(out_channels, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv0(x), LRELU_SLOPE)
        x = conv3x3_down(blur(x), self.conv1.weight * self.conv1.weight_gain, self.conv1.bias, self.fused)
        return F.leaky_relu(x, LRELU_SLOPE)


class FromRGB(nn.Module):
    def __init__(self, img_channels: int, out_channels: int, activation: bool) -> None:
        super().__init__()
        self.activation = activation
        self.conv = EqualizedConv2d(img_channels, out_channels, 1)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = self.conv(img)
        return F.leaky_relu(x, LRELU_SLOPE) if self.activation else x


class DiscriminatorEpilogue(nn.Module):
    """4×4: minibatch stddev (+1 channel), 3×3 conv, 4×4 -> 1 dense (as fc over C·16), output."""

    def __init__(self, channels: int, mbstd_group_size: int | None) -> None:
        super().__init__()
        self.mbstd = MinibatchStdLayer(mbstd_group_size, 1)
        self.conv = EqualizedConv2d(channels + 1, channels, 3)
        self.fc = EqualizedLinear(channels * 16, channels, activation=True)
        self.out = EqualizedLinear(channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv(self.mbstd(x)), LRELU_SLOPE)
        return self.out(self.fc(x.flatten(1)))


class Discriminator(nn.Module):
    """StyleGAN (v1) / progressive-GAN discriminator: ``D(img [N, C, R, R]) -> logits [N, 1]``
    for any R in 4 … img_resolution (R selects the step; see the module doc)."""

    def __init__(self, img_resolution: int = 1024, img_channels: int = 3, c_dim: int = 0,
                 channels: Sequence[int] | None = None, channel_base: int = 16384, channel_max: int = 512,
                 fused_resolution: int = 128, fromrgb_activation: bool = True, mbstd_group_size: int | None = None,
                 step: int | None = None, alpha: float = 1.0) -> None:
        super().__init__()
        if c_dim:
            raise ValueError("the StyleGAN (v1) discriminator here is unconditional: c_dim must be 0")
        self.img_resolution, self.img_channels, self.c_dim = int(img_resolution), int(img_channels), 0
        table = channel_table(self.img_resolution, channels, channel_base, channel_max)
        self._config = dict(img_resolution=self.img_resolution, img_channels=self.img_channels, c_dim=0,
                            channels=None if channels is None else [int(c) for c in channels],
                            channel_base=int(channel_base), channel_max=int(channel_max),
                            fused_resolution=int(fused_resolution), fromrgb_activation=bool(fromrgb_activation),
                            mbstd_group_size=mbstd_group_size)
        self.resolutions = sorted(table)
        for res in self.resolutions:
            if res > 4:
                setattr(self, f"b{res}", DiscriminatorBlock(table[res], table[res // 2], res,
                                                            fused=res >= fused_resolution))
        self.b4 = DiscriminatorEpilogue(table[4], mbstd_group_size)
        for res in self.resolutions:
            getattr(self, f"b{res}").fromrgb = FromRGB(img_channels, table[res], fromrgb_activation)
        self.step, self.alpha = _check_progressive(len(self.resolutions) - 1 if step is None else step, alpha,
                                                   len(self.resolutions))

    def set_progressive(self, step: int | None = None, alpha: float = 1.0) -> "Discriminator":
        step = len(self.resolutions) - 1 if step is None else step
        self.step, self.alpha = _check_progressive(step, alpha, len(self.resolutions))
        return self

    def config(self) -> dict[str, Any]:
        cfg = {k: (list(v) if isinstance(v, list) else v) for k, v in self._config.items()}
        cfg.update(step=self.step, alpha=self.alpha)
        return cfg

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, alpha: float | None = None,
                update_emas: bool = False, force_fp32: bool = False) -> torch.Tensor:
        """img [N, C, R, R] -> [N, 1]. The fade-in alpha is ``alpha`` if given, else the stored
        alpha when R is the stored step's resolution, else 1."""
        ok = isinstance(img, torch.Tensor) and img.ndim == 4 and img.shape[1] == self.img_channels \
            and img.shape[2] == img.shape[3] and img.shape[2] in self.resolutions
        if not ok:
            got = tuple(img.shape) if isinstance(img, torch.Tensor) else type(img).__name__
            raise ValueError(f"discriminator: expected images [N, {self.img_channels}, R, R] with R one of "
                             f"{self.resolutions}, got {got}")
        res = img.shape[2]
        step = self.resolutions.index(res)
        if alpha is None:
            alpha = self.alpha if step == self.step else 1.0
        _check_progressive(step, alpha, len(self.resolutions))
        img = img.to(torch.float32)
        x = getattr(self, f"b{res}").fromrgb(img)
        r = res
        while r > 4:
            x = getattr(self, f"b{r}")(x)
            if r == res and alpha < 1:
                skip = getattr(self, f"b{r // 2}").fromrgb(F.avg_pool2d(img, 2))
                x = (1 - alpha) * skip + alpha * x
            r //= 2
        return self.b4(x)
