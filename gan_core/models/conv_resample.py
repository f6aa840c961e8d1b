"""Convolutions fused with ×2 resampling, the style-modulated convolution of StyleGAN2, and
the convolution layers built on them.

Plain PyTorch, differentiable to any order (R1 and path-length regularization take second
derivatives), float32 or float16, any memory layout (channels-last is fastest on the CPU).

Resampling convolutions (``conv2d_resample``), for an FIR low-pass ``f`` (the 4×4
``[1,3,3,1]`` outer product normalized to sum 1, as ``cuda_ops.setup_filter`` makes it) and a
``k``×``k`` kernel with "same" padding:

* ``up=2``: a stride-2 transposed convolution (the kernel convolved with the zero-inserted
  input, ``H -> 2H + k - 2``), then the low-pass at gain 4 (the DC gain lost to zero
  insertion), cropped to exactly ``2H``. Convolving at the low rate first costs a quarter of
  the multiply-adds of a convolution at the output size.
* ``down=2``: the low-pass first, then a stride-2 convolution (correlation), ``H -> H/2``.
* ``k == 1``: the 1×1 convolution on the low-resolution side, resampled with the filter.

Filter passes (``fir_filter``, ``upsample_fir``, ``downsample_fir``) run on the CPU as one
depthwise convolution, which in channels-last layout is several times faster than planar
separable passes for 4×4 filters, and elsewhere through ``cuda_ops`` (fused kernels when
built); the results equal ``cuda_ops.upfirdn2d``, ``upsample2d`` and ``downsample2d`` to
float rounding.

Layers (official parameter names): ``Conv2dLayer``, the equalized-learning-rate convolution
on ``conv2d_resample``; ``SynthesisLayer`` (modulated 3×3 + noise + bias + activation) and
``ToRGBLayer`` (modulated 1×1, no demodulation) of the StyleGAN2 generator. They take an
inference path when no gradient is needed: the activation gain is folded into the
convolution and the epilogue runs in place on its fresh output; otherwise the out-of-place
``cuda_ops.bias_act`` (gradients of any order).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from cuda_ops import activation_gain, bias_act, downsample2d, setup_filter, upfirdn2d, upsample2d
from gan_core.models.layers import FullyConnectedLayer

DEMOD_EPS = 1e-8


def _depthwise(f: torch.Tensor, channels: int, dtype: torch.dtype, gain: float, flip: bool) -> torch.Tensor:
    w = f.flip([0, 1]) if flip else f
    if gain != 1:
        w = w * gain
    return w.to(dtype)[None, None].expand(channels, 1, *f.shape).contiguous()


def _fast_fir_ok(x: torch.Tensor, f: torch.Tensor | None) -> bool:
    """Whether the depthwise-convolution form applies: a fixed square 2-D filter on the CPU
    (elsewhere the shared op, which uses the fused kernels when they are built)."""
    return (x.device.type == "cpu" and f is not None and f.ndim == 2 and not f.requires_grad
            and f.shape[0] == f.shape[1])


def fir_filter(x: torch.Tensor, f: torch.Tensor, pad: tuple[int, int, int, int], gain: float = 1.0, down: int = 1,
               bias: torch.Tensor | None = None) -> torch.Tensor:
    """Low-pass ``x`` [N, C, H, W] with ``f`` (padding x0, x1, y0, y1 >= 0, then keep every
    ``down``-th sample), plus an optional per-channel ``bias``. Equals
    ``cuda_ops.upfirdn2d(x, f, down=down, padding=pad, gain=gain)`` (+ bias)."""
    if not _fast_fir_ok(x, f) or min(pad) < 0:
        y = upfirdn2d(x, f, down=down, padding=list(pad), gain=gain)
        return y if bias is None else y + bias.to(y.dtype).reshape(1, -1, 1, 1)
    if x.dtype == torch.bfloat16:
        # oneDNN's bfloat16 depthwise convolutions have a slow backward on the CPU (about 10×
        # float32's): the filter costs little, so it runs in float32.
        return fir_filter(x.float(), f, pad, gain, down, bias).to(torch.bfloat16)
    w = _depthwise(f, x.shape[1], x.dtype, gain, flip=True)
    b = None if bias is None else bias.to(x.dtype)
    if pad[0] == pad[1] and pad[2] == pad[3]:
        return F.conv2d(x, w, b, stride=down, padding=(pad[2], pad[0]), groups=x.shape[1])
    return F.conv2d(F.pad(x, list(pad)), w, b, stride=down, groups=x.shape[1])


def upsample_fir(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """×2 upsampling with ``f`` (zero insertion + low-pass at gain 4), [N, C, H, W] ->
    [N, C, 2H, 2W]; equals ``cuda_ops.upsample2d(x, f)``. Runs as a depthwise stride-2
    transposed convolution, so the inserted zeros are never multiplied."""
    if not _fast_fir_ok(x, f) or f.shape[0] % 2 != 0:
        return upsample2d(x, f, up=2)
    if x.dtype == torch.bfloat16:   # as in fir_filter
        return upsample_fir(x.float(), f).to(torch.bfloat16)
    w = _depthwise(f, x.shape[1], x.dtype, 4.0, flip=False)
    return F.conv_transpose2d(x, w, stride=2, padding=f.shape[0] // 2 - 1, groups=x.shape[1])


def downsample_fir(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Low-pass with ``f`` and keep every second sample, [N, C, H, W] -> [N, C, H/2, W/2];
    equals ``cuda_ops.downsample2d(x, f)``."""
    if not _fast_fir_ok(x, f):
        return downsample2d(x, f, down=2)
    fw = f.shape[0]
    return fir_filter(x, f, ((fw - 1) // 2, (fw - 2) // 2, (fw - 1) // 2, (fw - 2) // 2), down=2)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None = None, up: int = 1, down: int = 1,
                    groups: int = 1, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Convolve ``x`` [N, groups*I, H, W] with ``w`` [groups*O, I, k, k] with "same" padding,
    resampling by ``up=2`` or ``down=2`` with the low-pass ``f``, plus an optional ``bias``
    [groups*O]. Output [N, groups*O, H*up/down, W*up/down].

    Without resampling, and when downsampling, the kernel is correlated with the input as in
    ``torch.nn.functional.conv2d``; when upsampling it is convolved with the zero-inserted
    input (the convention of official StyleGAN2 checkpoints for their upsampling layers).
    """
    k = w.shape[-1]
    if w.shape[-2] != k:
        raise ValueError(f"conv2d_resample: square kernels only, got {tuple(w.shape)}")
    w = w.to(x.dtype)
    b = None if bias is None else bias.to(x.dtype)
    if up == 1 and down == 1:
        return F.conv2d(x, w, b, padding=k // 2, groups=groups)
    if (up, down) not in ((2, 1), (1, 2)) or f is None:
        raise ValueError(f"conv2d_resample: supports up=2 or down=2 with a filter, got up={up}, down={down}")
    if up == 2:
        if k == 1:
            y = upsample_fir(F.conv2d(x, w, groups=groups), f)
            return y if b is None else y + b.reshape(1, -1, 1, 1)
        o = w.shape[0] // groups
        if groups == 1:
            wt = w.transpose(0, 1)  # [I, O, k, k]
        else:
            wt = w.reshape(groups, o, -1, k, k).transpose(1, 2).reshape(-1, o, k, k)  # [groups*I, O, k, k]
        y = F.conv_transpose2d(x, wt, stride=2, groups=groups)
        p = f.shape[-1] - k + 1  # crop/pad the 2H + k - 2 samples to 2H after the filter
        return fir_filter(y, f, (p // 2, p - p // 2, p // 2, p - p // 2), gain=4, bias=b)
    if k == 1:
        return F.conv2d(downsample_fir(x, f), w, b, groups=groups)
    p = f.shape[-1] + k - 3
    return F.conv2d(fir_filter(x, f, (p // 2, p - p // 2, p // 2, p - p // 2)), w, b, stride=2, groups=groups)


def demod_coefficients(weight_sq: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """``d[n, o] = 1 / sqrt(sum_i styles[n, i]^2 * weight_sq[o, i] + 1e-8)`` where
    ``weight_sq[o, i] = sum_{kh, kw} weight[o, i, kh, kw]^2``: the scale that gives each
    output channel of each sample's modulated kernel unit L2 norm. [N, O] float32."""
    return (styles.float().square() @ weight_sq.float().t() + DEMOD_EPS).rsqrt()


def use_fused(x: torch.Tensor, weight: torch.Tensor, up: int) -> bool:
    """Per-sample kernels pay off for a single image when scaling the kernel touches fewer
    numbers than scaling the activations (the high resolutions); batches share one kernel."""
    if x.shape[0] != 1:
        return False
    o, i, kh, kw = weight.shape
    acts = x.shape[1] * x.shape[2] * x.shape[3] * (1 + o / i * up * up)
    return o * i * kh * kw < acts


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, demodulate: bool = True,
                     up: int = 1, resample_filter: torch.Tensor | None = None, noise: torch.Tensor | None = None,
                     bias: torch.Tensor | None = None, gain: float = 1.0, fused: bool | None = None,
                     weight_sq: torch.Tensor | None = None, inplace: bool = False) -> torch.Tensor:
    """Style-modulated convolution: ``gain * (conv(x, w_n) + noise + bias)`` where sample n's
    kernel is ``w_n[o, i] = weight[o, i] * styles[n, i] * d[n, o]`` (``d`` from
    ``demod_coefficients`` with ``demodulate``, else 1).

    ``x`` [N, I, H, W]; ``weight`` [O, I, k, k]; ``styles`` [N, I]; ``noise`` broadcastable
    to the output (e.g. [1 or N, 1, H*up, W*up]); ``bias`` [O]. Output [N, O, H*up, W*up].

    ``fused=True`` builds one kernel per sample (a grouped convolution for batches);
    ``False`` scales the activations around one shared kernel; ``None`` picks the cheaper
    (``use_fused``). ``weight_sq`` may pass ``weight.square().sum([2, 3])`` precomputed;
    ``inplace`` lets the epilogue overwrite the fresh convolution output (only when no
    gradient is needed). All choices agree to float rounding.
    """
    n, i = styles.shape
    o, _, kh, kw = weight.shape
    if x.ndim != 4 or x.shape[0] != n or x.shape[1] != i or weight.shape[1] != i:
        raise ValueError(f"modulated_conv2d: x {tuple(x.shape)}, weight {tuple(weight.shape)} and styles "
                         f"{tuple(styles.shape)} do not agree")
    dtype = x.dtype
    if dtype == torch.float16 and demodulate:
        # Demodulation makes the result invariant to the scale of the weight (per output
        # channel) and of the styles (per sample). Rescale both so the largest style is 1 and
        # the largest weight 1/sqrt(fan_in): the float16 convolution then sums numbers of the
        # size of its inputs and cannot overflow.
        fan_in = i * kh * kw
        wmax = weight.detach().flatten(1).abs().amax(dim=1).clamp_min(1e-8).reshape(-1, 1, 1, 1)
        weight = weight * (fan_in ** -0.5 / wmax)
        styles = styles / styles.detach().abs().amax(dim=1, keepdim=True).clamp_min(1e-8)
        weight_sq = None
    styles = styles.float()
    coef = None  # per-sample, per-output-channel factor [N, O]
    if demodulate:
        if weight_sq is None:
            weight_sq = weight.float().square().sum(dim=[2, 3])
        coef = demod_coefficients(weight_sq, styles)
    if gain != 1:
        coef = torch.full([n, o], float(gain), device=x.device) if coef is None else coef * gain
    if noise is not None and gain != 1:
        noise = noise * gain
    b = None if bias is None else (bias * gain if gain != 1 else bias)

    if kh == 1 and kw == 1 and up == 1:
        return _modulated_1x1(x, weight, styles, coef, noise, b, inplace)
    if fused is None:
        fused = use_fused(x, weight, up)
    if fused:
        scale = styles.reshape(n, 1, i) if coef is None else coef.reshape(n, o, 1) * styles.reshape(n, 1, i)
        w = (weight.float().unsqueeze(0) * scale.reshape(n, -1, i, 1, 1)).reshape(n * o, i, kh, kw)
        xg = x if n == 1 else x.reshape(1, n * i, *x.shape[2:])
        bg = None if b is None else (b if n == 1 else b.repeat(n))
        y = conv2d_resample(xg, w, resample_filter, up=up, groups=n, bias=bg)
        if n != 1:
            y = y.reshape(n, o, *y.shape[2:])
        if noise is not None:
            y = y.add_(noise.to(dtype)) if inplace else y + noise.to(dtype)
        return y
    y = conv2d_resample(x * styles.to(dtype).reshape(n, i, 1, 1), weight, resample_filter, up=up)
    return _epilogue(y, coef, noise, b, inplace)


def _epilogue(y: torch.Tensor, coef: torch.Tensor | None, noise: torch.Tensor | None, b: torch.Tensor | None,
              inplace: bool) -> torch.Tensor:
    """``y * coef[:, :, None, None] + noise + b[None, :, None, None]``."""
    dtype = y.dtype
    if coef is not None:
        c = coef.to(dtype).reshape(*coef.shape, 1, 1)
        y = y.mul_(c) if inplace else y * c
    if noise is not None:
        y = y.add_(noise.to(dtype)) if inplace else y + noise.to(dtype)
    if b is not None:
        bb = b.to(dtype).reshape(1, -1, 1, 1)
        y = y.add_(bb) if inplace else y + bb
    return y


def _modulated_1x1(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, coef: torch.Tensor | None,
                   noise: torch.Tensor | None, b: torch.Tensor | None, inplace: bool) -> torch.Tensor:
    """1×1 modulated convolution as a batched matrix product over the pixels (toRGB)."""
    n, i, h, wd = x.shape
    o = weight.shape[0]
    wm = weight.reshape(1, o, i).float() * styles.reshape(n, 1, i)
    if coef is not None:
        wm = wm * coef.reshape(n, o, 1)
    wm = wm.to(x.dtype)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        pix = x.permute(0, 2, 3, 1).reshape(n, h * wd, i)
        y = torch.bmm(pix, wm.transpose(1, 2)).reshape(n, h, wd, o).permute(0, 3, 1, 2)
    else:
        y = torch.bmm(wm, x.reshape(n, i, h * wd)).reshape(n, o, h, wd)
    return _epilogue(y, None, noise, b, inplace)


# Activations with act(g * x) == g * act(x) for g > 0: their gain can be folded into the
# convolution's output scale, so inference finishes a layer in place in two passes.
HOMOGENEOUS_ACTIVATIONS = ("linear", "relu", "lrelu")


def needs_grad(*tensors: torch.Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def activate_(x: torch.Tensor, activation: str, clamp: float | None) -> torch.Tensor:
    """In-place activation (default slope) and clamp of a fresh tensor."""
    if activation == "lrelu":
        x = F.leaky_relu_(x, 0.2)
    elif activation == "relu":
        x = x.relu_()
    if clamp is not None:
        x = x.clamp_(-clamp, clamp)
    return x


class Conv2dLayer(torch.nn.Module):
    """Equalized-lr convolution (weight × 1/sqrt(fan_in)) with optional ×2 resampling,
    bias, activation and clamping. ``x`` [N, I, H, W] -> [N, O, H*up/down, W*up/down]."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1, resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = None, channels_last: bool = False, trainable: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.activation, self.up, self.down = activation, up, down
        self.conv_clamp = conv_clamp
        self.channels_last = channels_last
        weight = torch.randn([out_channels, in_channels, kernel_size, kernel_size])
        if trainable:
            self.weight = torch.nn.Parameter(weight)
            self.bias = torch.nn.Parameter(torch.zeros([out_channels])) if bias else None
        else:   # a frozen layer (FreezeD): buffers, so that no optimizer and no requires_grad_(True) reach it
            self.register_buffer("weight", weight)
            self.register_buffer("bias", torch.zeros([out_channels]) if bias else None)
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.weight_gain = 1 / np.sqrt(in_channels * kernel_size ** 2)
        self.act_gain = activation_gain(activation)

    def forward(self, x: torch.Tensor, gain: float = 1) -> torch.Tensor:
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        if self.activation in HOMOGENEOUS_ACTIVATIONS and not needs_grad(x, self.weight, self.bias):
            # Inference: activation gain folded into weight and bias, finished in place.
            g = self.act_gain * gain
            b = None if self.bias is None else self.bias * g
            x = conv2d_resample(x, self.weight * (self.weight_gain * g), self.resample_filter, up=self.up,
                                down=self.down, bias=b)
            return activate_(x, self.activation, clamp)
        x = conv2d_resample(x, self.weight * self.weight_gain, self.resample_filter, up=self.up, down=self.down)
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, kernel_size={self.kernel_size}, "
                f"activation={self.activation}, up={self.up}, down={self.down}")


class SynthesisLayer(torch.nn.Module):
    """Modulated 3×3 conv (optionally ×2 upsampling) + noise + bias + activation.
    ``x`` [N, I, R/up, R/up], ``w`` [N, w_dim] -> [N, O, R, R]."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, activation: str = "lrelu", resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = None, channels_last: bool = False) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim = in_channels, out_channels, w_dim
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.activation, self.conv_clamp = activation, conv_clamp
        self.act_gain = activation_gain(activation)
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))

    def make_noise(self, x: torch.Tensor, noise_mode: str, strength: float | torch.Tensor,
                   generator: torch.Generator | None) -> torch.Tensor | None:
        """The noise image to add ([N or 1, 1, R, R]), or None."""
        if not self.use_noise or noise_mode == "none":
            return None
        if not isinstance(strength, torch.Tensor) and strength == 0:
            return None
        scale = self.noise_strength * strength
        if noise_mode == "const":
            return self.noise_const * scale
        shape = [x.shape[0], 1, self.resolution, self.resolution]
        gen_device = generator.device if generator is not None else x.device
        noise = torch.randn(shape, generator=generator, device=gen_device)
        if gen_device != x.device:
            noise = noise.to(x.device)
        return noise * scale

    def prepared_weight(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the weight in the memory layout of ``like``, ``weight.square().sum([2, 3])``) for
        inference, cached while the weight is unchanged (same tensor, storage and version)."""
        w = self.weight
        fmt = torch.channels_last if like.is_contiguous(memory_format=torch.channels_last) and \
            not like.is_contiguous() else torch.contiguous_format
        key = (w.data_ptr(), w._version, w.device, w.dtype, fmt)
        cache = getattr(self, "_prepared_cache", None)
        if cache is None or cache[0] is not w or cache[1] != key:
            wd = w.detach()
            if self.up > 1:  # the transposed convolution reads it as [I, O, k, k]
                laid_out = wd.transpose(0, 1).contiguous(memory_format=fmt).transpose(0, 1)
            else:
                laid_out = wd.contiguous(memory_format=fmt)
            cache = (w, key, laid_out, wd.float().square().sum(dim=[2, 3]))
            self._prepared_cache = cache
        return cache[2], cache[3]

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const",
                noise_strength: float | torch.Tensor = 1.0, noise_generator: torch.Generator | None = None,
                fused_modconv: bool | None = None, gain: float = 1) -> torch.Tensor:
        styles = self.affine(w)
        noise = self.make_noise(x, noise_mode, noise_strength, noise_generator)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        common = dict(up=self.up, resample_filter=self.resample_filter, noise=noise, fused=fused_modconv)
        if self.activation in HOMOGENEOUS_ACTIVATIONS and not needs_grad(x, styles, self.weight, self.bias, noise):
            # Inference: bias and gain folded into the convolution, finished in place.
            weight, weight_sq = self.prepared_weight(x)
            x = modulated_conv2d(x, weight, styles, bias=self.bias, gain=self.act_gain * gain,
                                 weight_sq=weight_sq, inplace=True, **common)
            return activate_(x, self.activation, clamp)
        x = modulated_conv2d(x, self.weight, styles, **common)
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, w_dim={self.w_dim}, "
                f"resolution={self.resolution}, up={self.up}, activation={self.activation}")


class ToRGBLayer(torch.nn.Module):
    """Modulated 1×1 conv without demodulation (styles × 1/sqrt(in_channels)) + bias + clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None, channels_last: bool = False) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim = in_channels, out_channels, w_dim
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / np.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool | None = None) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        if not needs_grad(x, styles, self.weight, self.bias):
            x = modulated_conv2d(x, self.weight, styles, demodulate=False, bias=self.bias, inplace=True)
            return activate_(x, "linear", self.conv_clamp)
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused_modconv)
        return bias_act(x, self.bias, clamp=self.conv_clamp)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}, w_dim={self.w_dim}"
