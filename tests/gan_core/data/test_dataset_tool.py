"""``ganscope dataset`` / convert_dataset: clean zips from folders, zips and LMDB; broken files reported."""
from __future__ import annotations

import json
import zipfile

import lmdb
import numpy as np
import pytest

from gan_core.cli import main
from gan_core.data import ImageDataset, convert_dataset

from .conftest import BROKEN, png_bytes


def test_folder_with_broken_files_skips_and_names_them(messy_folder, tmp_path, capsys):
    dest = tmp_path / "out.zip"
    assert main(["dataset", "--source", str(messy_folder), "--dest", str(dest), "--resolution", "16"]) == 0
    out, err = capsys.readouterr()
    for name in BROKEN:
        assert name in err and name in out  # reported as it happens and in the summary
    assert "wrote 4 images" in out
    with zipfile.ZipFile(dest) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".png"))
        meta = json.loads(zf.read("dataset.json"))
    assert len(names) == 4
    # labels follow their images (sorted source order: a.png, b.jpg, d.webp, sub/c.png)
    assert [lab for _, lab in meta["labels"]] == [0, 1, 1, 2]
    ds = ImageDataset(dest, use_labels=True)
    assert len(ds) == 4 and ds.image_shape == (3, 16, 16) and ds.label_dim == 3
    img, c = ds[3]
    assert img.dtype == np.uint8 and img.shape == (3, 16, 16) and c.tolist() == [0, 0, 1]
    assert not list(tmp_path.glob(".out.zip.*"))  # no temporary left


def test_strict_fails_with_the_name_and_writes_nothing(messy_folder, tmp_path, capsys):
    dest = tmp_path / "out.zip"
    rc = main(["dataset", "--source", str(messy_folder), "--dest", str(dest), "--resolution", "16", "--strict"])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert rc == 2 and last.startswith("ganscope dataset: error: broken image notes.png: not an image file")
    assert not dest.exists() and not list(tmp_path.glob(".out.zip.*"))


def test_existing_destination_survives_a_failed_conversion(messy_folder, tmp_path):
    dest = tmp_path / "out.zip"
    dest.write_bytes(b"previous")
    with pytest.raises(Exception):
        convert_dataset(messy_folder, dest, 16, strict=True)
    assert dest.read_bytes() == b"previous"


def test_zip_and_lmdb_sources(messy_folder, tmp_path):
    z = tmp_path / "src.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("x/one.png", png_bytes(64, 32, 1))
        zf.writestr("x/two.png", png_bytes(32, 32, 2))
        zf.writestr("x/bad.png", b"\x89PNG\r\n\x1a\n garbage")
    rep = convert_dataset(z, tmp_path / "from_zip.zip", 8, transform="center-crop-wide",
                          report_broken=lambda n, r: None)
    assert rep.written == 2 and [n for n, _ in rep.skipped] == ["x/bad.png"]
    ds = ImageDataset(tmp_path / "from_zip.zip")
    img = ds.get_image(1)  # "one.png": 64×32 wide, letterboxed: the top and bottom rows are black
    assert img.shape == (3, 8, 8) and img[:, 0].max() == 0 and img[:, -1].max() == 0 and img[:, 3].max() > 0

    db = tmp_path / "lsun"
    env = lmdb.open(str(db), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i in range(3):
            txn.put(f"key{i}".encode(), png_bytes(16, 16, i))
        txn.put(b"key9", b"not an image")
    env.close()
    rep = convert_dataset(db, tmp_path / "from_lmdb.zip", 8, report_broken=lambda n, r: None)
    assert rep.written == 3 and rep.skipped[0][0] == "key9"
    lds = ImageDataset(db)
    assert len(lds) == 3 + 1  # the reader lists every key; "key9" is skipped when read
    img, _ = lds[0]
    assert img.shape == (3, 16, 16) and img.dtype == np.uint8


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    assert main(["dataset", "--source", str(tmp_path / "missing"), "--dest", str(tmp_path / "o.zip"),
                 "--resolution", "16"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["dataset", "--source", str(tmp_path), "--dest", str(tmp_path / "o.zip"),
                 "--resolution", "24"]) == 2
    assert "power of two" in capsys.readouterr().err
    assert main(["dataset", "--source", str(tmp_path), "--dest", str(tmp_path / "o.zip"),
                 "--resolution", "16"]) == 2
    assert "holds no images" in capsys.readouterr().err
