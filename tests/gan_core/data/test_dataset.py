"""ImageDataset: [C, H, W] uint8, x-flip, labels; broken images at training time are skipped by name."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest

from gan_core.data import BrokenImageError, DatasetError, ImageDataset

from .conftest import png_bytes


@pytest.fixture
def zip_with_broken(tmp_path):
    z = tmp_path / "d.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for i in range(4):
            zf.writestr(f"img{i}.png", png_bytes(8, 8, i))
        zf.writestr("img2b.png", png_bytes(8, 8, 9)[:60])  # truncated PNG, sorted between img2 and img3
        zf.writestr("dataset.json", '{"labels": [["img0.png", [0.5, 1]], ["img1.png", [1, 0]], '
                                    '["img2.png", [0, 0]], ["img2b.png", [0, 0]], ["img3.png", [2, 2]]]}')
    return z


def test_items_xflip_and_vector_labels(zip_with_broken):
    ds = ImageDataset(zip_with_broken, xflip=True, use_labels=True)
    assert len(ds) == 10 and ds.label_dim == 2 and ds.image_shape == (3, 8, 8)
    img, c = ds[0]
    assert img.dtype == np.uint8 and img.flags["C_CONTIGUOUS"]
    flipped, c2 = ds[5]
    assert np.array_equal(flipped, img[:, :, ::-1]) and np.array_equal(c, c2) and c.tolist() == [0.5, 1]


def test_broken_image_is_reported_once_and_replaced(zip_with_broken, tmp_path, capsys):
    log = tmp_path / "broken.txt"
    ds = ImageDataset(zip_with_broken, broken_log=log)
    img3 = ds[4][0]
    sub = ds[3][0]  # img2b.png is broken -> the next readable image (img3.png)
    assert np.array_equal(sub, img3)
    ds[3]
    err = capsys.readouterr().err
    assert err.count("img2b.png") == 1 and "skipping broken image" in err
    assert "img2b.png" in log.read_text() and list(ds.broken) == ["img2b.png"]


def test_strict_raises_with_the_name(zip_with_broken):
    ds = ImageDataset(zip_with_broken, strict=True)
    with pytest.raises(BrokenImageError, match="img2b.png"):
        ds[3]


def test_unusable_datasets_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        ImageDataset(tmp_path / "nope.zip")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "x.png").write_bytes(png_bytes(12, 12))
    with pytest.raises(DatasetError, match="power-of-two"):
        ImageDataset(tmp_path / "odd")
    (tmp_path / "nolabels").mkdir()
    (tmp_path / "nolabels" / "x.png").write_bytes(png_bytes(8, 8))
    with pytest.raises(DatasetError, match="no labels"):
        ImageDataset(tmp_path / "nolabels", use_labels=True)
    (tmp_path / "t.zip").write_text("text, not a zip")
    with pytest.raises(DatasetError, match="neither a folder"):
        ImageDataset(tmp_path / "t.zip")
