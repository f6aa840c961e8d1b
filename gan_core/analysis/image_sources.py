"""Image streams for the spectrum tool: generator samples, or a folder / zip of image files.

Both yield batches ``[B, C, R, R]`` float32 with pixel values in 0..255 (generator output goes
through the official uint8 conversion first, so generated and real images are quantized alike).
This is a small, self-contained reader (Pillow, sorted file names); ``gan_core.data`` has the
training-grade readers.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm")


def list_dataset_images(path: str | Path) -> list[str]:
    """Sorted image names in a folder (recursive) or a zip archive."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"dataset {p} does not exist")
    if p.is_dir():
        names = [str(f) for f in sorted(p.rglob("*")) if f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file()]
    elif zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as z:
            names = sorted(n for n in z.namelist() if Path(n).suffix.lower() in IMAGE_EXTENSIONS)
    else:
        raise ValueError(f"{p} is neither a folder of images nor a zip archive")
    if not names:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in {p}")
    return names


def _to_square_rgb(img, resolution: int | None, channels: int) -> np.ndarray:
    from PIL import Image
    img = img.convert("L" if channels == 1 else "RGB")
    w, h = img.size
    if w != h:                                   # centre crop to a square
        s = min(w, h)
        img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    if resolution is not None and img.size != (resolution, resolution):
        img = img.resize((resolution, resolution), Image.LANCZOS)
    a = np.asarray(img, dtype=np.float32)
    return a[:, :, None] if a.ndim == 2 else a


def first_image_resolution(path: str | Path) -> int:
    """The (square-cropped) size of the first image of a dataset."""
    return next(iter_dataset_images(path, 1, None, 1))[0].shape[-1]


def iter_dataset_images(path: str | Path, num: int, resolution: int | None = None, batch: int = 16,
                        channels: int = 3) -> Iterator[torch.Tensor]:
    """Up to ``num`` images of a folder or zip (sorted names), centre-cropped to a square and
    resized with Lanczos to ``resolution`` when given (else all must share the first's size),
    as batches ``[B, channels, R, R]`` float32 in 0..255."""
    from PIL import Image, UnidentifiedImageError
    p = Path(path)
    names = list_dataset_images(p)[:max(int(num), 0)]
    archive = zipfile.ZipFile(p) if p.is_file() else None
    try:
        buf: list[np.ndarray] = []
        for name in names:
            try:
                if archive is not None:
                    with Image.open(io.BytesIO(archive.read(name))) as im:
                        a = _to_square_rgb(im, resolution, channels)
                else:
                    with Image.open(name) as im:
                        a = _to_square_rgb(im, resolution, channels)
            except (UnidentifiedImageError, OSError) as e:
                raise ValueError(f"cannot read image {name} in {p}: {e}") from None
            if resolution is None:
                resolution = a.shape[0]
            elif a.shape[0] != resolution:
                raise ValueError(f"image {name} in {p} is {a.shape[0]}² but the others are {resolution}²; "
                                 f"pass a resolution to resize")
            buf.append(a)
            if len(buf) == batch:
                yield torch.from_numpy(np.stack(buf)).permute(0, 3, 1, 2).contiguous()
                buf = []
        if buf:
            yield torch.from_numpy(np.stack(buf)).permute(0, 3, 1, 2).contiguous()
    finally:
        if archive is not None:
            archive.close()


@torch.no_grad()
def iter_generator_images(G, num: int, batch: int = 8, seed: int = 0, truncation_psi: float = 1.0,
                          device: torch.device | str = "cpu") -> Iterator[torch.Tensor]:
    """``num`` samples for seeds ``seed, seed+1, …`` (official seed → z), random classes for
    conditional models, official uint8 conversion; batches ``[B, C, R, R]`` float32 in 0..255."""
    from gan_core.latents import cs_from_seeds, z_from_seed
    from gan_core.media import to_uint8
    device = torch.device(device)
    for start in range(0, int(num), batch):
        seeds = range(seed + start, seed + min(start + batch, int(num)))
        z = torch.cat([z_from_seed(s, G.z_dim, device) for s in seeds])
        c = cs_from_seeds(list(seeds), G.c_dim, device) if getattr(G, "c_dim", 0) else None
        ws = G.mapping(z, c, truncation_psi=truncation_psi)
        img = G.synthesis(ws, noise_mode="const")
        yield torch.from_numpy(to_uint8(img)).permute(0, 3, 1, 2).to(torch.float32)
