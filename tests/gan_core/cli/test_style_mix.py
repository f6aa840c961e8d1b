"""``ganscope style-mix`` and the style-layer parsing it shares with the app."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import gan_core
from gan_core.cli import main
from gan_core.latents import mix_ws, mixing_groups, parse_style_layers


def test_parse_style_layers_names_indices_and_errors():
    sg2 = [4, 4, 8, 8, 16, 16, 32, 32, 64, 64]
    assert parse_style_layers("coarse", sg2) == [0, 1, 2, 3] == mixing_groups(sg2)["coarse"]
    assert parse_style_layers("Fine", sg2) == [8, 9]
    assert parse_style_layers("coarse+fine", sg2) == [0, 1, 2, 3, 8, 9]
    assert parse_style_layers("all", sg2) == list(range(10))
    assert parse_style_layers("5,1-2,2", sg2) == [1, 2, 5]
    with pytest.raises(ValueError, match=r"ws 0\.\.9"):
        parse_style_layers("3-12", sg2)
    with pytest.raises(ValueError, match=r"^style layers 10, 11, 12, 13, 14, 15, \.\.\. \(90 in all\) do not exist"):
        parse_style_layers("0-99", sg2)   # a long list is cut short, not printed whole
    with pytest.raises(ValueError, match="coarse, middle, fine"):
        parse_style_layers("corse", sg2)


def test_mix_ws_takes_exactly_the_chosen_layers_from_the_column():
    rows, cols = torch.randn(2, 6, 4), torch.randn(3, 6, 4)
    m = mix_ws(rows, cols, [1, 4])
    assert m.shape == (2, 3, 6, 4)
    for r in range(2):
        for c in range(3):
            for i in range(6):
                assert torch.equal(m[r, c, i], (cols[c] if i in (1, 4) else rows[r])[i])


def same_picture(a, b):
    # batched and single renders may differ by float rounding: a level or two on a few pixels
    d = np.abs(a.astype(int) - b.astype(int))
    return d.max() <= 2 and d.mean() < 0.05


def _cells(path, n_rows, n_cols, res):
    grid = np.asarray(Image.open(path))
    assert grid.shape == ((n_rows + 1) * res, (n_cols + 1) * res, 3)
    cell = lambda r, c: grid[r * res:(r + 1) * res, c * res:(c + 1) * res]
    return grid, cell


def test_style_mix_grid_layout_matches_generate(tmp_path):
    res = gan_core.load_generator("demo-sg2").img_resolution
    out = tmp_path / "mix.png"
    assert main(["style-mix", "--network", "demo-sg2", "--rows", "0-1", "--cols", "5-7", "--styles", "all",
                 "--out", str(out), "--outdir", str(tmp_path / "cells"), "--batch", "2"]) == 0
    assert main(["generate", "--network", "demo-sg2", "--seeds", "0,1,5-7", "--outdir", str(tmp_path / "g")]) == 0
    seed = lambda s: np.asarray(Image.open(tmp_path / "g" / f"seed{s:04d}.png"))
    grid, cell = _cells(out, 2, 3, res)
    assert (cell(0, 0) == 0).all()                                   # the empty corner
    for c, s in enumerate((5, 6, 7)):
        assert same_picture(cell(0, c + 1), seed(s))               # column seeds on top
    for r, s in enumerate((0, 1)):
        assert same_picture(cell(r + 1, 0), seed(s))               # row seeds on the left
        for c, col_seed in enumerate((5, 6, 7)):
            # every w from the column seed: the cell is the column seed's picture
            assert same_picture(cell(r + 1, c + 1), seed(col_seed))
            assert np.array_equal(np.asarray(Image.open(tmp_path / "cells" / f"{s:04d}-{col_seed:04d}.png")),
                                  cell(r + 1, c + 1))
    meta = json.loads(Image.open(out).text["ganscope"])
    assert meta["rows"] == [0, 1] and meta["cols"] == [5, 6, 7] and meta["layers"] == list(range(8))


def test_style_mix_scale_and_default_network(tmp_path, capsys):
    out = tmp_path / "mix.png"
    assert main(["style-mix", "--rows", "0", "--cols", "1", "--styles", "fine", "--scale", "2",
                 "--out", str(out)]) == 0
    res = gan_core.load_generator("demo").img_resolution
    assert Image.open(out).size == (2 * 2 * res, 2 * 2 * res)
    assert json.loads(Image.open(out).text["ganscope"])["network"] == "demo"
    assert "mixed ws from the column seeds: w" in capsys.readouterr().out


@pytest.mark.parametrize("argv, needle", [
    (["--styles", "w3"], "style layers"),
    (["--styles", "0-99"], "do not exist"),
    (["--scale", "0"], "--scale"),
    (["--batch", "0"], "--batch"),
])
def test_style_mix_bad_options_are_clear_errors(tmp_path, capsys, argv, needle):
    rc = main(["style-mix", "--network", "demo-sg2", "--rows", "0", "--cols", "1",
               "--out", str(tmp_path / "m.png"), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err
    assert not (tmp_path / "m.png").exists()


def test_style_mix_rejects_huge_grids(tmp_path, capsys):
    assert main(["style-mix", "--network", "demo-sg2", "--rows", "0-999", "--cols", "1",
                 "--out", str(tmp_path / "m.png")]) == 2
    assert "too many row seeds" in capsys.readouterr().err
