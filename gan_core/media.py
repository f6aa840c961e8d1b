"""Turning generator output into pictures and files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """``[N, C, H, W]`` float in about [-1, 1] -> ``[N, H, W, C]`` uint8.

    The official conversion: ``(x * 127.5 + 128).clamp(0, 255)`` truncated to uint8."""
    if img.ndim != 4:
        raise ValueError(f"expected images of shape [N, C, H, W], got {tuple(img.shape)}")
    x = (img.detach().permute(0, 2, 3, 1).to(torch.float32) * 127.5 + 128).clamp(0, 255)
    return x.to(torch.uint8).cpu().numpy()


def enlarge(pixels: np.ndarray, scale: int) -> np.ndarray:
    """``[H, W, C]`` -> ``[H·scale, W·scale, C]`` by repeating pixels (nearest neighbour), so small
    pictures stay sharp when viewed."""
    if scale <= 1:
        return pixels
    return pixels.repeat(scale, axis=0).repeat(scale, axis=1)


def save_png(pixels: np.ndarray, path: str | Path, text: dict[str, str] | None = None) -> Path:
    """Save one ``[H, W, C]`` uint8 image (C = 1 or 3) as PNG, with optional text chunks."""
    from PIL import PngImagePlugin

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    info = None
    if text:
        info = PngImagePlugin.PngInfo()
        for k, v in text.items():
            info.add_text(k, v)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(np.ascontiguousarray(pixels)).save(tmp, format="PNG", pnginfo=info)
    tmp.replace(path)
    return path
