"""Power spectra: the official avg_spectrum numbers, dataset reading, display helpers."""
from __future__ import annotations

import math
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from gan_core.analysis.image_sources import iter_dataset_images, list_dataset_images
from gan_core.analysis.spectrum import (SpectrumAccumulator, average_power_spectrum, centered, db_to_unit,
                                        kaiser_window_2d, log_power_spectrum, radial_profile, slices)
from tests.conftest import load_fixture


@pytest.fixture(scope="module")
def case():
    return load_fixture("official", "ops_reference.pt")["avg_spectrum"]


def test_average_spectrum_matches_official(case):
    got = average_power_spectrum(case["images_uint8_range"], case["mean"], case["std"], case["beta"], case["interp"])
    want = case["spectrum"].numpy()
    assert got.shape == want.shape == (128, 128)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * want.max())


def test_accumulator_in_batches_equals_one_pass_and_whitening_can_be_chosen_later(case):
    imgs = case["images_uint8_range"]
    acc = SpectrumAccumulator(32, beta=case["beta"], interp=case["interp"])
    for part in imgs.split([1, 3, 2]):
        acc.add(part)
    assert acc.num_images == 6
    np.testing.assert_allclose(acc.spectrum(case["mean"], case["std"]), case["spectrum"].numpy(), rtol=1e-5,
                               atol=1e-9)
    assert acc.pixel_mean == pytest.approx(float(imgs.double().mean()), rel=1e-9)
    assert acc.pixel_std == pytest.approx(float(imgs.double().std(unbiased=False)), rel=1e-9)
    direct = average_power_spectrum(imgs, acc.pixel_mean, acc.pixel_std, 8, 4)
    np.testing.assert_allclose(acc.spectrum(), direct, rtol=1e-6, atol=1e-9)


def test_window_has_unit_energy():
    w = kaiser_window_2d(20, 8)
    assert float(w.square().sum()) == pytest.approx(1.0)


def test_sinusoid_peaks_at_its_frequency():
    n = 32
    x = torch.arange(n, dtype=torch.float64)
    img = 100 + 50 * torch.cos(2 * math.pi * 5 * x / n)[None, :].expand(n, n)     # 5 cycles across
    spec = average_power_spectrum(img[None, None].expand(1, 3, n, n), 100.0, 50.0, 8, 4)
    k = int(np.argmax(spec[0, : spec.shape[1] // 2]))
    assert k == 5 * 4                                                            # bin = cycles · interp
    cuts = slices(spec)
    assert cuts["0"][0][-1] == pytest.approx(0.5) and cuts["45"][0][-1] == pytest.approx(0.5 * math.sqrt(2))
    assert int(np.argmax(cuts["0"][1])) == 20


def test_log_power_spectrum_and_radial_profile():
    n = 32
    x = torch.arange(n, dtype=torch.float32)
    fmap = torch.cos(2 * math.pi * 8 * x / n)[None, None, :].expand(4, n, n) + 7.0   # DC offset is removed
    db = log_power_spectrum(fmap, beta=6)
    assert db.shape == (n, n)
    assert tuple(np.unravel_index(int(db.argmax()), db.shape)) in {(16, 24), (16, 8)}
    assert float(db[16, 16]) < float(db.max()) - 40                               # mean removed
    db2 = log_power_spectrum(fmap[0], beta=0, interp=2, remove_mean=False)
    assert db2.shape == (2 * n, 2 * n) and float(db2[n, n]) > float(db2.median()) + 30   # DC kept
    f, prof = radial_profile(10 ** (db.double() / 10))           # average power, not dB
    assert len(f) == 16 and f[0] > 0 and f[-1] < 0.5
    assert int(np.nanargmax(prof)) == int(np.digitize(8 / n, np.linspace(0, 0.5, 17))) - 1
    unit, rng = db_to_unit(db, (-40.0, 0.0))
    assert unit.min() >= 0 and unit.max() <= 1 and rng == (-40.0, 0.0)
    assert centered(np.arange(16).reshape(4, 4))[2, 2] == 0


def _write_images(folder, n=5, size=16):
    rng = np.random.RandomState(0)
    arrays = []
    for i in range(n):
        a = rng.randint(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(a).save(folder / f"img{i}.png")
        arrays.append(a)
    return np.stack(arrays)


def test_dataset_folder_and_zip_give_the_same_images(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    arrays = _write_images(folder)
    (folder / "notes.txt").write_text("not an image")
    zpath = tmp_path / "imgs.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for p in sorted(folder.glob("*.png")):
            z.write(p, f"sub/{p.name}")
    assert len(list_dataset_images(folder)) == len(list_dataset_images(zpath)) == 5
    a = torch.cat(list(iter_dataset_images(folder, 4, batch=3)))
    b = torch.cat(list(iter_dataset_images(zpath, 4, batch=2)))
    assert a.shape == (4, 3, 16, 16)
    torch.testing.assert_close(a, b)
    np.testing.assert_array_equal(a.permute(0, 2, 3, 1).numpy().astype(np.uint8), arrays[:4])
    small = torch.cat(list(iter_dataset_images(folder, 2, resolution=8)))
    assert small.shape == (2, 3, 8, 8)


def test_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        list_dataset_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        list_dataset_images(tmp_path / "empty")
