"""Small image collections with broken files for the dataset tests."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image


def png_bytes(w, h, value=0, mode="RGB") -> bytes:
    rng = np.random.RandomState(value)
    arr = rng.randint(0, 256, size=[h, w, 3] if mode == "RGB" else [h, w], dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(w, h, value=0) -> bytes:
    arr = np.random.RandomState(value).randint(0, 256, size=[h, w, 3], dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def messy_folder(tmp_path):
    """4 good images (different sizes/formats, one in a subfolder), 3 broken ones, dataset.json labels."""
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    (root / "a.png").write_bytes(png_bytes(40, 30, 1))
    (root / "b.jpg").write_bytes(jpeg_bytes(24, 24, 2))
    (root / "sub" / "c.png").write_bytes(png_bytes(16, 16, 3, mode="L"))
    (root / "d.webp").write_bytes(png_bytes(20, 20, 4))  # PNG content with a .webp name: decodes by content
    (root / "truncated.jpg").write_bytes(jpeg_bytes(32, 32, 5)[:300])
    (root / "truncated.png").write_bytes(png_bytes(32, 32, 6)[:200])
    (root / "notes.png").write_text("this is not an image\n")
    (root / "readme.txt").write_text("ignored: not an image name")
    labels = [["a.png", 0], ["b.jpg", 1], ["sub/c.png", 2], ["d.webp", 1], ["truncated.jpg", 0],
              ["truncated.png", 0], ["notes.png", 0]]
    (root / "dataset.json").write_text(json.dumps({"labels": labels}))
    return root


BROKEN = {"truncated.jpg", "truncated.png", "notes.png"}
