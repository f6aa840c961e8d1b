"""ganscope's model library: StyleGAN2/3 networks, checkpoints, latents and images.

    import gan_core
    G = gan_core.load_generator("network-snapshot.pkl")      # or a ganscope .pt, or "demo"
    z = gan_core.z_from_seed(42, G.z_dim)
    ws = G.mapping(z, None, truncation_psi=0.7)               # [1, num_ws, w_dim]
    img = G.synthesis(ws, noise_mode="const")                 # [1, 3, H, W] in about [-1, 1]
    gan_core.save("model.pt", G_ema=G)                        # native, weights_only-readable
"""
from __future__ import annotations

from pathlib import Path

import torch

from gan_core.latents import cs_from_seeds, parse_int_list, z_from_seed, zs_from_seeds
from gan_core.media import save_png, to_uint8

__version__ = "0.1.0"


def load_generator(path: str | Path, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The generator in ``path`` (EMA weights when the file has them), in eval mode on ``device``.

    ``path`` may be an official NVIDIA StyleGAN2-ADA/StyleGAN3 pickle, a ganscope ``.pt`` or the
    name ``"demo"`` for the built-in demo model. Raises ``gan_core.io.CheckpointError`` with a
    one-line explanation for anything else.
    """
    from gan_core.models.demo import is_demo_name, load_demo_generator
    if is_demo_name(path):
        return load_demo_generator(device, name=str(path))
    from gan_core.io import load_generator_from_file
    return load_generator_from_file(path, device=device)


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu"):
    """Every network a checkpoint holds (``.G_ema``, ``.G``, ``.D``) plus its metadata."""
    from gan_core.io import load_checkpoint as _load
    return _load(path, device=device)


def save(path: str | Path, G_ema: torch.nn.Module, G: torch.nn.Module | None = None,
         D: torch.nn.Module | None = None, **kwargs) -> Path:
    """Write networks to ganscope's native format atomically (see gan_core.io.native)."""
    from gan_core.io import save_checkpoint
    return save_checkpoint(path, G_ema=G_ema, G=G, D=D, **kwargs)


__all__ = ["load_generator", "load_checkpoint", "save", "z_from_seed", "zs_from_seeds", "cs_from_seeds",
           "to_uint8", "save_png", "parse_int_list"]
