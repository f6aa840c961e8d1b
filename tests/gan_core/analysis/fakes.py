"""Tiny stand-in generators with StyleGAN3's input-transform interface, for the analysis tests.

``WavesGenerator`` draws a sum of plane waves whose frequencies lie well inside the pixel grid's
band, evaluated at the input-transformed coordinates: moving the input by ``t`` moves the
continuous image by exactly ``t``, so it is translation- and rotation-equivariant by
construction (up to the band-limited operators' own accuracy). With ``fixed_pattern > 0`` it
adds a pattern glued to the pixel grid, which does not move with the transform: the texture
sticking that the equivariance metrics are meant to catch.
"""
from __future__ import annotations

import math

import torch

from gan_core.models.stylegan3 import user_transform_matrix


class WavesGenerator(torch.nn.Module):
    family = "fake-waves"
    has_input_transform = True
    has_noise = False
    is_conditional = False
    z_dim = w_dim = 4
    c_dim = 0
    num_ws = 1
    img_channels = 3
    user_transform_matrix = staticmethod(user_transform_matrix)

    def __init__(self, resolution: int = 32, num_waves: int = 8, max_freq: float = 0.12,
                 fixed_pattern: float = 0.0, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.img_resolution = resolution
        radius = torch.rand(num_waves, generator=gen, dtype=torch.float64) * max_freq * resolution  # cycles / image
        theta = torch.rand(num_waves, generator=gen, dtype=torch.float64) * 2 * math.pi
        self.register_buffer("freqs", torch.stack([radius * torch.cos(theta), radius * torch.sin(theta)], 1))
        self.register_buffer("phases", torch.rand(num_waves, generator=gen, dtype=torch.float64) * 2 * math.pi)
        amp = torch.rand(3, num_waves, generator=gen, dtype=torch.float64)
        self.register_buffer("amps", 0.8 * amp / amp.sum(1, keepdim=True))
        self.register_buffer("pattern", fixed_pattern * torch.randn(3, resolution, resolution, generator=gen,
                                                                    dtype=torch.float64))

    def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, **_):
        return z[:, None, :].to(torch.float32)

    def synthesis(self, ws, noise_mode="const", input_transform=None, **_):
        n, res = ws.shape[0], self.img_resolution
        m = torch.eye(3, dtype=torch.float64) if input_transform is None else torch.as_tensor(input_transform)
        m = m.to(torch.float64).expand(n, 3, 3)
        coords = (torch.arange(res, dtype=torch.float64) + 0.5) / res - 0.5          # pixel centres, image units
        qy, qx = torch.meshgrid(coords, coords, indexing="ij")
        q = torch.stack([qx, qy], -1).reshape(-1, 2)                                  # [P, 2] (x, y)
        # Content at feature position s shows at A s + t, so pixel q shows s = A^-1 (q - t).
        src = torch.linalg.solve(m[:, None, :2, :2], (q[None] - m[:, None, :2, 2])[..., None])[..., 0]
        arg = 2 * math.pi * src @ self.freqs.T + self.phases + ws[:, 0, :1].to(torch.float64)[:, None]  # [N, P, K]
        img = torch.einsum("npk,ck->ncp", torch.cos(arg), self.amps).reshape(n, 3, res, res)
        return (img + self.pattern).to(torch.float32)
