"""The procedural dataset: deterministic, with coarse (layout/shape) and fine (colour/texture) factors."""
from __future__ import annotations

import numpy as np
import pytest

from gan_core.cli import main
from gan_core.data import ImageDataset, ProceduralDataset, render_image
from gan_core.data.procedural import parse_procedural_spec, render_factors, sample_factors


def test_deterministic_and_varied():
    a, la, fa = render_image(0, 3, 32)
    b, lb, _ = render_image(0, 3, 32)
    assert a.shape == (3, 32, 32) and a.dtype == np.uint8 and np.array_equal(a, b) and la == lb
    others = [render_image(0, i, 32)[0] for i in range(8)]
    assert len({o.tobytes() for o in others}) == 8
    assert not np.array_equal(render_image(1, 3, 32)[0], a)  # the seed matters
    assert la == fa["shape"] and 0 <= la < 3


def test_coarse_and_fine_factors_change_different_things():
    f = sample_factors(0, 0)
    base = render_factors(f, 32).astype(int)
    # fine: colours/texture only -> the silhouette (where pixels change) stays the same regions
    fine = dict(f, shape_rgb=[0.1, 0.9, 0.2], sky=[0.9, 0.9, 0.2])
    # coarse: move the shape and horizon
    coarse = dict(f, cx=1 - f["cx"], horizon=f["horizon"] - 0.2)
    d_fine = np.abs(render_factors(fine, 32).astype(int) - base).sum(0) > 0
    d_coarse = np.abs(render_factors(coarse, 32).astype(int) - base).sum(0) > 0
    assert d_fine.any() and d_coarse.any()
    # the mean colour barely moves with layout, but the layout moves a lot of pixels
    assert d_coarse.mean() > 0.15


def test_dataset_object_and_cli(tmp_path, capsys):
    ds = ProceduralDataset(5, resolution=16, labels=True)
    img, c = ds[2]
    assert img.shape == (3, 16, 16) and c.sum() == 1
    dest = tmp_path / "p.zip"
    assert main(["dataset", "--source", "procedural:12:16", "--dest", str(dest)]) == 0
    zds = ImageDataset(dest, use_labels=True)
    assert len(zds) == 12 and zds.resolution == 16 and zds.label_dim <= 3
    assert np.array_equal(zds.get_image(2), ds[2][0])
    assert parse_procedural_spec("procedural:10") == (10, None)
    with pytest.raises(ValueError):
        parse_procedural_spec("procedural:x")
    assert main(["dataset", "--source", "procedural:0", "--dest", str(dest)]) == 2


@pytest.mark.parametrize("resolution, cycles", [(16, 3.5), (32, 7), (64, 14), (128, 14)])
def test_textures_keep_their_pixel_size_below_64(resolution, cycles):
    # 14 cycles per image at 32² would be a 2.3-px period, at the Nyquist limit; below 64² a
    # texture keeps its 64² period in pixels (64/14 ≈ 4.6 px) instead.
    f = dict(sample_factors(0, 0), texture=0, tex_freq=14.0, tex_angle=0.0, tex_strength=0.35,
             horizon=0.5, tilt=0.0, cx=0.5, cy=0.3, size=0.14)
    img = render_factors(f, resolution).astype(float)
    ground = img[:, -max(2, resolution // 10):, :].mean(axis=(0, 1))  # bottom rows: ground only
    spectrum = np.abs(np.fft.rfft(ground - ground.mean()))
    peak = int(spectrum.argmax())
    assert abs(peak - cycles) <= 0.5, (peak, cycles)
    assert resolution / peak >= 4.5  # the period in pixels


def test_texture_grain_cells_are_at_least_4_px():
    f = dict(sample_factors(0, 0), texture=3, horizon=0.05, tilt=0.0, cx=0.5, cy=0.02, size=0.01)
    img = render_factors(f, 32).astype(int)
    rows = img[:, 8:, :].sum(0)  # ground from row 8 down
    # cells of 4 px: columns change value only at multiples of 4
    changes = {x for x in range(1, 32) if (rows[:, x] != rows[:, x - 1]).any()}
    assert changes and changes <= {4, 8, 12, 16, 20, 24, 28}


def test_rendering_in_several_processes_writes_the_same_zip(tmp_path):
    import zipfile

    from gan_core.data import write_procedural_zip
    from gan_core.data.procedural import RENDER_CHUNK

    count = 2 * RENDER_CHUNK + 7  # three tasks, the last one short
    one, two = tmp_path / "one.zip", tmp_path / "two.zip"
    seen = []
    write_procedural_zip(one, count, 8, seed=3, workers=1)
    write_procedural_zip(two, count, 8, seed=3, workers=2, progress=seen.append)
    assert sum(seen) == count and len(seen) == 3
    with zipfile.ZipFile(one) as a, zipfile.ZipFile(two) as b:
        assert a.namelist() == b.namelist() and len(a.namelist()) == count + 1  # + dataset.json
        for name in a.namelist():
            assert a.read(name) == b.read(name), name
    with pytest.raises(ValueError, match="workers"):
        write_procedural_zip(tmp_path / "x.zip", 4, 8, workers=0)


def test_cli_workers_option(tmp_path, capsys):
    dest = tmp_path / "p.zip"
    assert main(["dataset", "--source", "procedural:300:8", "--dest", str(dest), "--workers", "2"]) == 0
    assert len(ImageDataset(dest)) == 300
    assert main(["dataset", "--source", "procedural:3:8", "--dest", str(dest), "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
    assert main(["dataset", "--source", str(tmp_path), "--dest", str(tmp_path / "q.zip"),
                 "--resolution", "8", "--workers", "2"]) == 2
    assert "procedural sources only" in capsys.readouterr().err


def test_image_textures_keep_their_cycles_per_image():
    # textures="image": the data before 2026-12-06 (the built-in demos were trained on it), where
    # a texture has the same cycles per image at every resolution: 7 cycles at 16² and 32²
    f = dict(sample_factors(0, 0), texture=0, tex_freq=7.0, tex_angle=0.0, tex_strength=0.35,
             horizon=0.5, tilt=0.0, cx=0.5, cy=0.3, size=0.14)
    for resolution in (16, 32, 64):
        img = render_factors(f, resolution, textures="image").astype(float)
        ground = img[:, -max(2, resolution // 10):, :].mean(axis=(0, 1))
        assert int(np.abs(np.fft.rfft(ground - ground.mean())).argmax()) == 7, resolution
    # the two modes agree from 64² up and differ below
    assert np.array_equal(render_image(0, 1, 64, "image")[0], render_image(0, 1, 64)[0])
    assert not np.array_equal(render_image(0, 1, 32, "image")[0], render_image(0, 1, 32)[0])
    with pytest.raises(ValueError, match="textures must be one of pixel, image"):
        render_image(0, 1, 32, "cycles")


def test_cli_textures_option(tmp_path, capsys):
    import json
    import zipfile

    dest = tmp_path / "v1.zip"
    assert main(["dataset", "--source", "procedural:4:32", "--textures", "image", "--dest", str(dest)]) == 0
    ds = ImageDataset(dest)
    assert all(np.array_equal(ds.get_image(i), render_image(0, i, 32, "image")[0]) for i in range(4))
    with zipfile.ZipFile(dest) as z:
        meta = json.loads(z.read("dataset.json"))
    assert meta["procedural"]["textures"] == "image" and "texture_full_res" not in meta["procedural"]
    assert ProceduralDataset(2, 32, textures="image")[1][0].tobytes() == render_image(0, 1, 32, "image")[0].tobytes()
    assert main(["dataset", "--source", str(dest), "--dest", str(tmp_path / "q.zip"), "--resolution", "16",
                 "--textures", "image"]) == 2
    assert "--textures is for procedural sources only" in capsys.readouterr().err
