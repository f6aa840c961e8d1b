"""Building blocks of the StyleGAN3 (Alias-Free GAN) synthesis network.

Written from the equations of Karras et al., "Alias-Free Generative Adversarial Networks"
(NeurIPS 2021); only the parameter/buffer names follow the official checkpoints so their
state dicts load unchanged.

* ``layer_schedule``: the per-layer cutoff, stop band, sampling rate, size and width
  ("flexible layers", paper §3.2 and Appendix F).
* ``SynthesisInput``: transformed Fourier features (paper Appendix F).
* ``SynthesisLayer``: modulated convolution followed by the filtered leaky ReLU
  (upsample → nonlinearity → downsample, paper §3.2 and Appendix D).

Spatial coordinates: a layer with sampling rate ``s`` and ``size`` samples covers
``size / s`` units of the continuous plane, centred at the origin, with samples at the
pixel centres. The output image spans [-0.5, 0.5]² (ignoring margins).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cuda_ops import design_lowpass_filter, filtered_lrelu
from gan_core.models.half import block_dtype
from gan_core.models.layers import FullyConnectedLayer
from gan_core.models.stylegan3_conv import ModulatedConv2d, modulated_conv2d  # noqa: F401 (re-export)


# --------------------------------------------------------------------------------------------
# Layer schedule
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerSpec:
    """Continuous-domain description of one synthesis layer's output."""
    cutoff: float         # f_c: the highest frequency the layer is meant to carry
    stopband: float       # f_t: above this, frequencies must be attenuated
    sampling_rate: int    # s: samples per unit length (a power of two)
    half_width: float     # f_h: half the transition band of the low-pass filters
    size: int             # number of samples along x and y (sampling rate + margins)
    channels: int


def layer_schedule(img_resolution: int, img_channels: int, num_layers: int = 14, num_critical: int = 2,
                   first_cutoff: float = 2, first_stopband: float = 2 ** 2.1,
                   last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10, channel_base: int = 32768,
                   channel_max: int = 512) -> list[LayerSpec]:
    """Specs of layers 0..num_layers (the last one is the 1×1 "toRGB" layer).

    Cutoff and stop band grow geometrically from (first_cutoff, first_stopband) to
    (img_resolution/2, img_resolution/2 · last_stopband_rel), reaching the end at layer
    ``num_layers - num_critical``; the remaining layers are critically sampled. The sampling
    rate is the smallest power of two ≥ 2·stopband (at most img_resolution); the filters'
    half-width fills the room left between the cutoff and max(stopband, rate/2). The number
    of channels is inversely proportional to the cutoff.
    """
    if num_layers <= num_critical:
        raise ValueError(f"StyleGAN3: num_layers ({num_layers}) must exceed num_critical ({num_critical})")
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    t = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** t
    stopbands = first_stopband * (last_stopband / first_stopband) ** t
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + margin_size * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels
    return [LayerSpec(float(cutoffs[i]), float(stopbands[i]), int(rates[i]), float(half_widths[i]),
                      int(sizes[i]), int(channels[i])) for i in range(num_layers + 1)]


# --------------------------------------------------------------------------------------------
# Fourier-feature input
# --------------------------------------------------------------------------------------------

def pixel_centres(size: int, sampling_rate: float, device=None) -> torch.Tensor:
    """Coordinates of ``size`` pixel centres spanning ``size / sampling_rate`` units around 0."""
    return (torch.arange(size, dtype=torch.float32, device=device) + (0.5 - size / 2)) / sampling_rate


class SynthesisInput(nn.Module):
    """Transformed Fourier features: ``[N, channels, size, size]``.

    Each channel ``i`` is ``a_i · sin(2π (⟨f_i, T⁻¹p⟩ + φ_i))`` over the pixel-centre grid ``p``,
    where ``T`` is a per-sample rotation + translation predicted from w (normalized so that
    it is a rigid motion) composed with the user ``transform`` buffer, and ``a_i`` fades out
    frequencies whose transformed magnitude leaves the band [bandwidth, rate/2]. A trainable
    channel-mixing matrix ``weight / sqrt(channels)`` follows.

    Buffers/parameters (official names): ``weight`` [C, C], ``affine`` (w → (r_c, r_s, t_x, t_y)),
    ``transform`` [3, 3] (maps output coordinates to the feature plane), ``freqs`` [C, 2],
    ``phases`` [C].
    """

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.channels = channels
        self.size = int(size)
        self.sampling_rate = float(sampling_rate)
        self.bandwidth = float(bandwidth)
        # Frequencies drawn uniformly from the disc of radius `bandwidth`, random phases.
        radius = self.bandwidth * torch.rand([channels]).sqrt()
        angle = 2 * math.pi * torch.rand([channels])
        freqs = torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1)
        phases = torch.rand([channels]) - 0.5
        self.weight = nn.Parameter(torch.randn([channels, channels]))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0])
        self.register_buffer("transform", torch.eye(3, 3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", phases)

    def forward(self, w: torch.Tensor, transform: torch.Tensor | None = None) -> torch.Tensor:
        """w [N, w_dim] → features [N, C, size, size] float32.

        ``transform`` ([3, 3] or [N, 3, 3], same convention as the buffer) replaces the
        ``transform`` buffer for this call.
        """
        n = w.shape[0]
        base = self.transform if transform is None else transform.to(device=w.device, dtype=torch.float32)
        if base.ndim == 2:
            base = base.unsqueeze(0)
        # Rigid motion from w: normalize (r_c, r_s) to unit length (t scales with it).
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        zero, one = torch.zeros_like(t[:, 0]), torch.ones_like(t[:, 0])
        rot = torch.stack([t[:, 0], -t[:, 1], zero, t[:, 1], t[:, 0], zero, zero, zero, one], 1).view(n, 3, 3)
        shift = torch.stack([one, zero, -t[:, 2], zero, one, -t[:, 3], zero, zero, one], 1).view(n, 3, 3)
        m = rot @ shift @ base                                             # [N, 3, 3]
        # Transform the features: f' = f·A, φ' = φ + f·b  for p_feature = A p + b.
        freqs = self.freqs.unsqueeze(0) @ m[:, :2, :2]                     # [N, C, 2]
        phases = self.phases.unsqueeze(0) + (self.freqs.unsqueeze(0) @ m[:, :2, 2:]).squeeze(2)
        # Fade out what the transform pushes beyond the band (linear ramp to rate/2).
        amp = 1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)
        amp = amp.clamp(0, 1)                                              # [N, C]
        # sin(2π(f_x x + f_y y + φ)) on the pixel-centre grid.
        coords = pixel_centres(self.size, self.sampling_rate, device=w.device)
        arg = (coords.view(1, 1, -1, 1) * freqs[:, None, None, :, 0]       # x along width
               + coords.view(1, -1, 1, 1) * freqs[:, None, None, :, 1]     # y along height
               + phases[:, None, None, :])                                 # [N, H, W, C]
        x = torch.sin(arg * (2 * math.pi)) * amp[:, None, None, :]
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, channels={self.channels}, size={self.size}, "
                f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}")


# --------------------------------------------------------------------------------------------
# Synthesis layer
# --------------------------------------------------------------------------------------------

class SynthesisLayer(nn.Module):
    """Modulated conv → filtered leaky ReLU, taking ``[N, in_channels, in_size, in_size]`` to
    ``[N, out_channels, out_size, out_size]``.

    The nonlinearity runs at ``tmp_sampling_rate`` = max(in, out rate) · lrelu_upsampling:
    the conv output is upsampled by ``up_factor`` with a Kaiser low-pass (cutoff = in_cutoff,
    transition width 2·in_half_width), passed through the leaky ReLU, low-passed for the
    output band (radially symmetric for config R unless critically sampled) and downsampled
    by ``down_factor``. The toRGB layer is a plain 1×1 modulated conv without demodulation
    and a linear activation.
    """

    def __init__(self, w_dim: int, is_torgb: bool, is_critically_sampled: bool, use_fp16: bool,
                 in_channels: int, out_channels: int, in_size: int, out_size: int,
                 in_sampling_rate: float, out_sampling_rate: float, in_cutoff: float, out_cutoff: float,
                 in_half_width: float, out_half_width: float, conv_kernel: int = 3, filter_size: int = 6,
                 lrelu_upsampling: int = 2, use_radial_filters: bool = False, conv_clamp: float | None = 256,
                 magnitude_ema_beta: float = 0.999) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.is_torgb = is_torgb
        self.is_critically_sampled = is_critically_sampled
        self.use_fp16 = use_fp16
        self.in_channels, self.out_channels = in_channels, out_channels
        self.in_size, self.out_size = int(in_size), int(out_size)
        self.in_sampling_rate, self.out_sampling_rate = in_sampling_rate, out_sampling_rate
        self.tmp_sampling_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.in_cutoff, self.out_cutoff = in_cutoff, out_cutoff
        self.in_half_width, self.out_half_width = in_half_width, out_half_width
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp = conv_clamp
        self.magnitude_ema_beta = magnitude_ema_beta

        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        k = self.conv_kernel
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, k, k]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))

        self.up_factor = _integer_ratio(self.tmp_sampling_rate, in_sampling_rate, "up")
        self.up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        self.register_buffer("up_filter", design_lowpass_filter(
            self.up_taps, in_cutoff, in_half_width * 2, self.tmp_sampling_rate))
        self.down_factor = _integer_ratio(self.tmp_sampling_rate, out_sampling_rate, "down")
        self.down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        self.down_radial = use_radial_filters and not is_critically_sampled
        self.register_buffer("down_filter", design_lowpass_filter(
            self.down_taps, out_cutoff, out_half_width * 2, self.tmp_sampling_rate, radial=self.down_radial))
        self._conv = ModulatedConv2d()  # caches the Winograd weight transform (not state)
        self.padding = _filtered_lrelu_padding(self.in_size, self.out_size, k, self.up_factor, self.down_factor,
                                               self.up_taps, self.down_taps)

    def forward(self, x: torch.Tensor, w: torch.Tensor, force_fp32: bool = False,
                update_emas: bool = False) -> torch.Tensor:
        """x [N, in_channels, in_size, in_size], w [N, w_dim] → [N, out_channels, out_size, out_size]."""
        if update_emas:
            with torch.no_grad():
                cur = x.detach().float().square().mean()
                self.magnitude_ema.copy_(cur.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * (1 / math.sqrt(self.in_channels * self.conv_kernel ** 2))
        dtype = block_dtype(self.use_fp16, force_fp32, x.device)
        x = self._conv(x.to(dtype), self.weight, styles, padding=self.conv_kernel - 1,
                       demodulate=not self.is_torgb, input_gain=self.magnitude_ema.rsqrt())
        gain = 1.0 if self.is_torgb else math.sqrt(2)
        slope = 1.0 if self.is_torgb else 0.2
        # bfloat16 on the CPU (training with --bf16) speeds up the convolution; the filters run
        # in float32, since oneDNN's bfloat16 depthwise convolutions are slow there.
        act_dtype = torch.float32 if dtype == torch.bfloat16 else dtype
        x = filtered_lrelu(x.to(act_dtype), fu=self.up_filter, fd=self.down_filter, b=self.bias.to(act_dtype),
                           up=self.up_factor, down=self.down_factor, padding=self.padding, gain=gain, slope=slope,
                           clamp=self.conv_clamp)
        return x

    def extra_repr(self) -> str:
        return "\n".join([
            f"w_dim={self.w_dim}, is_torgb={self.is_torgb}, is_critically_sampled={self.is_critically_sampled}, "
            f"use_fp16={self.use_fp16},",
            f"in_sampling_rate={self.in_sampling_rate:g}, out_sampling_rate={self.out_sampling_rate:g},",
            f"in_cutoff={self.in_cutoff:g}, out_cutoff={self.out_cutoff:g},",
            f"in_half_width={self.in_half_width:g}, out_half_width={self.out_half_width:g},",
            f"in_size={self.in_size}, out_size={self.out_size},",
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"up={self.up_factor}, down={self.down_factor}"])


def _integer_ratio(a: float, b: float, what: str) -> int:
    r = int(np.rint(a / b))
    if abs(r * b - a) > 1e-6 * a:
        raise ValueError(f"StyleGAN3: the {what}sampling factor {a}/{b} is not an integer")
    return r


def _filtered_lrelu_padding(in_size: int, out_size: int, conv_kernel: int, up: int, down: int,
                            up_taps: int, down_taps: int) -> list[int]:
    """Padding [x0, x1, y0, y1] at the upsampled rate so that exactly ``out_size`` samples remain.

    Sample positions follow the symmetric convention of the paper's Appendix C.3: a signal
    of ``n`` samples at rate ``s`` has them at the pixel centres, so upsampling by ``up``
    puts the new samples a half input pixel minus a half output pixel off the old grid —
    the extra ``up // 2`` shift on the leading side accounts for it.
    """
    want = (out_size - 1) * down + 1                  # length needed before downsampling
    have = (in_size + conv_kernel - 1) * up           # after the conv (padding k-1) and zero insertion
    total = want - have + (up_taps - 1) + (down_taps - 1)
    lo = (total + up) // 2
    hi = total - lo
    return [lo, hi, lo, hi]
