"""Decoding image files into training arrays, and the transforms the dataset tool applies.

Every reader in ``gan_core.data`` goes through :func:`decode_image`, so a broken file (a
truncated JPEG/PNG, a text file named ``.png``, an unsupported mode) is always the same
:class:`BrokenImageError` naming the file.
"""
from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm")
TRANSFORMS = ("none", "center-crop", "center-crop-wide")


class BrokenImageError(ValueError):
    """An image file that cannot be decoded (message names the file)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Encoded bytes -> ``[H, W, C]`` uint8 (C = 1 for grayscale, 3 for colour).

    Palette, alpha and other modes become RGB (alpha dropped); 16-bit grayscale becomes 8-bit.
    Raises BrokenImageError for anything PIL cannot fully decode.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()  # forces a full decode: truncated files fail here
            if im.mode in ("L", "1"):
                arr = np.asarray(im.convert("L"))[:, :, None]
            elif im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = (np.asarray(im, dtype=np.float64) / 257.0).clip(0, 255).astype(np.uint8)[:, :, None]
            else:
                arr = np.asarray(im.convert("RGB"))
    except Image.UnidentifiedImageError:
        raise BrokenImageError(name, "not an image file (unrecognised format)") from None
    except Exception as e:  # noqa: BLE001 - PIL raises many types for damaged files
        reason = str(e) or type(e).__name__
        raise BrokenImageError(name, f"cannot decode image ({reason})") from None
    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise BrokenImageError(name, f"decoded to an empty image of shape {arr.shape}")
    return np.ascontiguousarray(arr)


def hwc_to_chw(arr: np.ndarray) -> np.ndarray:
    """``[H, W, C]`` -> ``[C, H, W]`` (uint8, contiguous)."""
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def _resize(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    im = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    im = im.resize((width, height), Image.LANCZOS)
    out = np.asarray(im)
    return out[:, :, None] if out.ndim == 2 else out


def transform_image(arr: np.ndarray, resolution: int, transform: str = "center-crop") -> np.ndarray:
    """Make ``arr`` [H, W, C] a square ``[resolution, resolution, C]`` uint8 image.

    * ``none``: the image must already be square; it is resized (Lanczos) if needed.
    * ``center-crop``: the largest centred square, resized.
    * ``center-crop-wide``: keep the full width at a 2:1 aspect (crop height to width/2),
      resize to resolution × resolution/2, and pad top and bottom with black.
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform {transform!r}; choose one of {', '.join(TRANSFORMS)}")
    h, w = arr.shape[:2]
    if transform == "none":
        if h != w:
            raise ValueError(f"the image is {w}×{h}, not square; use --transform center-crop")
    elif transform == "center-crop":
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        arr = arr[top:top + s, left:left + s]
    else:
        ch = min(h, w // 2)
        cw = ch * 2
        top, left = (h - ch) // 2, (w - cw) // 2
        arr = arr[top:top + ch, left:left + cw]
        small = _resize(arr, resolution, resolution // 2) if arr.shape[:2] != (resolution // 2, resolution) else arr
        out = np.zeros([resolution, resolution, arr.shape[2]], dtype=np.uint8)
        pad = (resolution - resolution // 2) // 2
        out[pad:pad + resolution // 2] = small
        return out
    if arr.shape[0] != resolution or arr.shape[1] != resolution:
        arr = _resize(arr, resolution, resolution)
    return np.ascontiguousarray(arr)


def encode_png(arr: np.ndarray) -> bytes:
    """``[H, W, C]`` uint8 -> PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()
