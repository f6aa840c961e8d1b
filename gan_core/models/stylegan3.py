"""StyleGAN3 (Alias-Free GAN, configs T and R): synthesis network and generator.

An own implementation of Karras et al., "Alias-Free Generative Adversarial Networks"
(NeurIPS 2021). Constructor arguments and parameter/buffer names match the official
checkpoints, so ``Generator(**init_kwargs).load_state_dict(official_state_dict)`` works and
renders the same images (to float32 rounding).

Usage::

    G = Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=256, img_channels=3)
    ws = G.mapping(z, c, truncation_psi=0.7)            # [N, G.num_ws, w_dim]
    img = G.synthesis(ws)                                # [N, 3, 256, 256] float32, about [-1, 1]
    G.set_input_transform(translate=(0.1, 0), rotate_deg=10)   # pan/rotate the output
    img = G.synthesis(ws, input_transform=Generator.user_transform_matrix((0.1, 0), 10))  # per call

Config R is ``conv_kernel=1, use_radial_filters=True`` (and usually doubled channels).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from gan_core.models.base import GeneratorBase, check_noise_mode
from gan_core.models.layers import MappingNetwork
from gan_core.models.stylegan3_layers import (LayerSpec, SynthesisInput, SynthesisLayer, layer_schedule,
                                              modulated_conv2d)

__all__ = ["Generator", "SynthesisNetwork", "SynthesisInput", "SynthesisLayer", "layer_schedule",
           "modulated_conv2d", "LayerSpec"]


class SynthesisNetwork(nn.Module):
    """ws [N, num_layers + 2, w_dim] → image [N, img_channels, img_resolution, img_resolution].

    ``ws[:, 0]`` drives the Fourier-feature ``input``; ``ws[:, i + 1]`` drives layer ``L{i}``
    (named ``L{i}_{out_size}_{out_channels}`` as in official checkpoints).
    """

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                 first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                 output_scale: float = 0.25, num_fp16_res: int = 4, **layer_kwargs: Any) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.num_ws = num_layers + 2
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.num_layers = num_layers
        self.num_critical = num_critical
        self.margin_size = margin_size
        self.output_scale = output_scale
        self.num_fp16_res = num_fp16_res
        self.specs = layer_schedule(img_resolution, img_channels, num_layers=num_layers, num_critical=num_critical,
                                    first_cutoff=first_cutoff, first_stopband=first_stopband,
                                    last_stopband_rel=last_stopband_rel, margin_size=margin_size,
                                    channel_base=channel_base, channel_max=channel_max)
        first = self.specs[0]
        self.input = SynthesisInput(w_dim, channels=first.channels, size=first.size,
                                    sampling_rate=first.sampling_rate, bandwidth=first.cutoff)
        self.layer_names: list[str] = []
        for idx, spec in enumerate(self.specs):
            prev = self.specs[max(idx - 1, 0)]
            layer = SynthesisLayer(
                w_dim=w_dim, is_torgb=idx == num_layers, is_critically_sampled=idx >= num_layers - num_critical,
                use_fp16=spec.sampling_rate * 2 ** num_fp16_res > img_resolution,
                in_channels=prev.channels, out_channels=spec.channels, in_size=prev.size, out_size=spec.size,
                in_sampling_rate=prev.sampling_rate, out_sampling_rate=spec.sampling_rate,
                in_cutoff=prev.cutoff, out_cutoff=spec.cutoff, in_half_width=prev.half_width,
                out_half_width=spec.half_width, **layer_kwargs)
            name = f"L{idx}_{spec.size}_{spec.channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def layers(self) -> list[SynthesisLayer]:
        return [getattr(self, n) for n in self.layer_names]

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", noise_strength: float = 1.0,
                input_transform: torch.Tensor | np.ndarray | None = None, force_fp32: bool = False,
                update_emas: bool = False) -> torch.Tensor:
        """ws [N, num_ws, w_dim] → [N, img_channels, img_resolution, img_resolution] float32.

        ``noise_mode``/``noise_strength`` are accepted for the uniform interface (StyleGAN3
        has no noise inputs). ``input_transform``: a 3×3 (or [N, 3, 3]) user transform
        ``[[cos a, sin a, tx], [-sin a, cos a, ty], [0, 0, 1]]`` used for this call instead
        of the stored ``input.transform`` buffer (which holds its inverse).
        """
        check_noise_mode(noise_mode)
        if not isinstance(ws, torch.Tensor) or ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            got = tuple(ws.shape) if isinstance(ws, torch.Tensor) else type(ws).__name__
            raise ValueError(f"StyleGAN3 synthesis: expected ws of shape [N, {self.num_ws}, {self.w_dim}], got {got}")
        transform = None
        if input_transform is not None:
            transform = input_transform_buffer(input_transform, batch=ws.shape[0]).to(ws.device)
        ws = ws.to(torch.float32).unbind(dim=1)
        x = self.input(ws[0], transform=transform)
        for layer, w in zip(self.layers(), ws[1:]):
            x = layer(x, w, force_fp32=force_fp32, update_emas=update_emas)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32).contiguous()

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}, "
                f"img_channels={self.img_channels}, num_layers={self.num_layers}, "
                f"num_critical={self.num_critical}, margin_size={self.margin_size}, "
                f"num_fp16_res={self.num_fp16_res}")


# --------------------------------------------------------------------------------------------
# Input transform helpers
# --------------------------------------------------------------------------------------------

def user_transform_matrix(translate: Sequence[float] = (0.0, 0.0), rotate_deg: float = 0.0) -> torch.Tensor:
    """The user-facing 3×3 transform (float64): ``[[cos a, sin a, tx], [-sin a, cos a, ty], [0, 0, 1]]``.

    ``translate`` is in image units (1 = the image width); ``rotate_deg`` in degrees. This is
    the convention of the official visualizer and image generator.
    """
    tx, ty = (float(v) for v in translate)
    a = math.radians(float(rotate_deg))
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[c, s, tx], [-s, c, ty], [0.0, 0.0, 1.0]], dtype=torch.float64)


def input_transform_buffer(user_matrix: torch.Tensor | np.ndarray, batch: int | None = None) -> torch.Tensor:
    """The value for ``synthesis.input.transform``: the inverse of a user matrix, float32.

    Accepts [3, 3] or [N, 3, 3]; the inverse is taken in float64.
    """
    m = torch.as_tensor(user_matrix).detach().to(torch.float64)
    if m.shape[-2:] != (3, 3) or m.ndim not in (2, 3) or (m.ndim == 3 and batch is not None
                                                          and m.shape[0] not in (1, batch)):
        raise ValueError(f"input_transform must be a 3×3 matrix or a batch [N, 3, 3] of them"
                         f"{'' if batch is None else f' with N = {batch}'}; got shape {tuple(m.shape)}")
    try:
        inv = torch.linalg.inv(m.cpu())
    except RuntimeError as e:
        raise ValueError(f"input_transform is not invertible: {e}") from None
    return inv.to(torch.float32)


# --------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------

class Generator(GeneratorBase):
    """StyleGAN3 generator: ``mapping`` (z, c → ws) and ``synthesis`` (ws → image).

    Args (names and defaults of the official constructor):
        z_dim, c_dim, w_dim: latent, label and intermediate latent sizes.
        img_resolution, img_channels: output image size and channels.
        mapping_kwargs: for ``MappingNetwork`` (``num_layers`` defaults to 2 here).
        channel_base, channel_max: widths, ``channels = min(channel_base / 2 / cutoff, channel_max)``.
        num_layers, num_critical, first_cutoff, first_stopband, last_stopband_rel, margin_size:
            the layer schedule (see ``layer_schedule``).
        output_scale: the image is the last layer's output times this.
        num_fp16_res: layers whose sampling rate · 2**num_fp16_res > img_resolution run in
            float16 on CUDA (on the CPU float32, or bfloat16 in training with ``--bf16``).
        conv_kernel: 3 for config T, 1 for config R.
        filter_size: taps per unit of up/downsampling factor of the Kaiser filters.
        lrelu_upsampling: oversampling of the nonlinearity.
        use_radial_filters: radially symmetric downsampling filters (config R).
        conv_clamp: clamp pre-activations to ±conv_clamp (None: off).
        magnitude_ema_beta: decay of each layer's input-magnitude EMA.
    """

    family = "stylegan3"
    has_noise = False
    has_input_transform = True

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 mapping_kwargs: dict[str, Any] | None = None, channel_base: int = 32768, channel_max: int = 512,
                 num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                 first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                 output_scale: float = 0.25, num_fp16_res: int = 4, conv_kernel: int = 3, filter_size: int = 6,
                 lrelu_upsampling: int = 2, use_radial_filters: bool = False, conv_clamp: float | None = 256,
                 magnitude_ema_beta: float = 0.999) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = int(z_dim), int(c_dim), int(w_dim)
        self.img_resolution, self.img_channels = int(img_resolution), int(img_channels)
        self.mapping_kwargs = dict(mapping_kwargs or {})
        self._synthesis_kwargs = dict(
            channel_base=channel_base, channel_max=channel_max, num_layers=num_layers, num_critical=num_critical,
            first_cutoff=first_cutoff, first_stopband=first_stopband, last_stopband_rel=last_stopband_rel,
            margin_size=margin_size, output_scale=output_scale, num_fp16_res=num_fp16_res,
            conv_kernel=conv_kernel, filter_size=filter_size, lrelu_upsampling=lrelu_upsampling,
            use_radial_filters=use_radial_filters, conv_clamp=conv_clamp, magnitude_ema_beta=magnitude_ema_beta)
        # Registered before `mapping`, as in official checkpoints (state-dict order).
        self.synthesis = SynthesisNetwork(w_dim=self.w_dim, img_resolution=self.img_resolution,
                                          img_channels=self.img_channels, **self._synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(self.z_dim, self.c_dim, self.w_dim, num_ws=self.num_ws,
                                      **{"num_layers": 2, **self.mapping_kwargs})

    # -- uniform interface ---------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        cfg = dict(z_dim=self.z_dim, c_dim=self.c_dim, w_dim=self.w_dim, img_resolution=self.img_resolution,
                   img_channels=self.img_channels, mapping_kwargs=dict(self.mapping_kwargs))
        cfg.update({k: (float(v) if isinstance(v, (np.floating,)) else v) for k, v in self._synthesis_kwargs.items()})
        return cfg

    def layer_names(self) -> list[str]:
        return ["synthesis.input"] + [f"synthesis.{n}" for n in self.synthesis.layer_names]

    def ws_resolutions(self) -> list[int]:
        return [self.synthesis.input.size] + [layer.out_size for layer in self.synthesis.layers()]

    # -- input transform -----------------------------------------------------------------------

    user_transform_matrix = staticmethod(user_transform_matrix)

    def set_input_transform(self, translate: Sequence[float] = (0.0, 0.0), rotate_deg: float = 0.0) -> None:
        """Pan/rotate what the generator shows: stores the inverse of
        ``user_transform_matrix(translate, rotate_deg)`` in ``synthesis.input.transform``."""
        buf = self.synthesis.input.transform
        with torch.no_grad():
            buf.copy_(input_transform_buffer(user_transform_matrix(translate, rotate_deg)).to(buf.device))

    def get_input_transform(self) -> dict[str, Any]:
        """The current user transform: ``{'translate': (tx, ty), 'rotate_deg': a, 'matrix': [3, 3] float64}``
        (the matrix is the inverse of the stored buffer; translate/rotate read it as a rigid motion)."""
        m = torch.linalg.inv(self.synthesis.input.transform.detach().cpu().to(torch.float64))
        rotate = math.degrees(math.atan2(float(m[0, 1]), float(m[0, 0])))
        return {"translate": (float(m[0, 2]), float(m[1, 2])), "rotate_deg": rotate, "matrix": m}

    def extra_repr(self) -> str:
        return (f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}, "
                f"img_resolution={self.img_resolution}, img_channels={self.img_channels}")
