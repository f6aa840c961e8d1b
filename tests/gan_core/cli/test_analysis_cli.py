"""ganscope equivariance / spectrum / video, run in-process on tiny random-weight networks."""
from __future__ import annotations

import json

import numpy as np
import torch
import pytest
from PIL import Image

import gan_core
from gan_core.cli import main
from gan_core.models.demo import _balance_colours
from gan_core.models.registry import build_network
from gan_core.video import read_video

TINY_SG3 = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=1),
                channel_base=256, channel_max=16)
TINY_SG2 = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3, mapping_kwargs=dict(num_layers=1),
                channel_base=64, channel_max=8)


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    d = tmp_path_factory.mktemp("nets")
    torch.manual_seed(0)    # the same tiny networks whatever ran before
    sg3 = d / "sg3.pt"
    G3 = build_network("stylegan3", "G", TINY_SG3).eval()
    with torch.no_grad():   # random weights draw a nearly flat image; give the output a spread, so motion shows
        _balance_colours(G3, torch.randn([8, G3.z_dim]))
    gan_core.save(sg3, G_ema=G3)
    sg2 = d / "sg2.pt"
    gan_core.save(sg2, G_ema=build_network("stylegan2", "G", TINY_SG2).eval())
    return sg3, sg2


def _one_line_error(capsys, command):
    err = capsys.readouterr().err.strip().splitlines()
    err = [line for line in err if not line.startswith(command + ":") and "%|" not in line]  # drop tqdm
    assert len(err) == 1, err
    assert err[0].startswith(f"ganscope {command}: error: ")
    return err[0]


def test_equivariance_command(nets, tmp_path, capsys):
    out = tmp_path / "eq.json"
    rc = main(["equivariance", "--network", str(nets[0]), "--num", "2", "--metrics", "eqt,eqr",
               "--json", str(out), "--device", "cpu"])
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("EQ-T ") and lines[0].endswith(" dB") and lines[1].startswith("EQ-R ")
    data = json.loads(out.read_text())
    assert set(data) == {"eqt", "eqr"}
    assert data["eqt"] > 40 and 0 < data["eqr"] < data["eqt"]      # a T model: shifts fine, rotations not


def test_equivariance_refuses_stylegan2_and_bad_options(nets, capsys):
    assert main(["equivariance", "--network", str(nets[1]), "--num", "2"]) == 2
    msg = _one_line_error(capsys, "equivariance")
    assert "StyleGAN3" in msg and "stylegan2" in msg
    assert main(["equivariance", "--network", str(nets[0]), "--metrics", "eqz"]) == 2
    assert "unknown equivariance metric eqz" in _one_line_error(capsys, "equivariance")
    assert main(["equivariance", "--network", str(nets[0]), "--num", "0"]) == 2
    assert "--num" in _one_line_error(capsys, "equivariance")


def test_spectrum_command_network_and_dataset(nets, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.RandomState(1)
    for i in range(3):
        Image.fromarray(rng.randint(0, 256, (32, 32, 3), dtype=np.uint8)).save(data / f"{i}.png")
    out, png = tmp_path / "spec.npz", tmp_path / "spec.png"
    rc = main(["spectrum", "--source", str(nets[0]), "--source", str(data), "--num", "3", "--output", str(out),
               "--png", str(png), "--device", "cpu"])
    assert rc == 0
    z = np.load(out)
    assert z["spectra"].shape == (2, 64, 64) and list(z["counts"]) == [3, 3]
    assert list(z["kinds"]) == ["network", "dataset"] and int(z["resolution"]) == 16
    assert z["slice0"].shape == (2, 33) and z["slice45"].shape == (2, 33)
    # Whitened with the dataset's statistics (the 32² images resized to the network's 16²).
    assert 60 < float(z["mean"]) < 200 and float(z["std"]) > 10
    img = Image.open(png)
    assert img.size[0] >= 800 and img.mode == "RGB"


def test_spectrum_errors(nets, tmp_path, capsys):
    assert main(["spectrum", "--source", str(tmp_path / "nope"), "--output", str(tmp_path / "a.npz")]) == 2
    assert "does not exist" in _one_line_error(capsys, "spectrum")
    assert main(["spectrum", "--source", str(nets[0]), "--output", str(tmp_path / "a.txt")]) == 2
    assert ".npz" in _one_line_error(capsys, "spectrum")
    (tmp_path / "empty").mkdir()
    assert main(["spectrum", "--source", str(tmp_path / "empty"), "--output", str(tmp_path / "a.npz")]) == 2
    assert "no images" in _one_line_error(capsys, "spectrum")
    assert not (tmp_path / "a.npz").exists()


def test_spectrum_takes_every_built_in_model_by_name():
    from gan_core.cli.spectrum import classify_source

    # as --network does everywhere: not a missing file called demo-sg2
    assert classify_source("demo") == ("network", "demo")
    assert classify_source("demo-sg2") == ("network", "demo-sg2")


@pytest.mark.parametrize("kind,seeds,grid,suffix", [("interp", "0-3", "2x1", ".mp4"), ("translate", "5", "1x1", ".gif"),
                                                    ("rotate", "1-2", "1x2", ".mp4")])
def test_video_command(nets, tmp_path, capsys, kind, seeds, grid, suffix):
    out = tmp_path / f"v{suffix}"
    rc = main(["video", "--network", str(nets[0]), "--seeds", seeds, "--grid", grid, "--kind", kind,
               "--frames", "5", "--output", str(out), "--fps", "10", "--device", "cpu"])
    assert rc == 0
    frames = read_video(out)
    cols, rows = (int(v) for v in grid.split("x"))
    assert frames.shape == (5, 16 * rows, 16 * cols, 3)
    assert np.abs(frames[1].astype(int) - frames[3].astype(int)).mean() > 1       # it moves


def test_video_errors(nets, tmp_path, capsys):
    args = ["video", "--network", str(nets[0]), "--frames", "2"]
    assert main(args + ["--seeds", "0-2", "--grid", "2x1", "--output", str(tmp_path / "a.mp4")]) == 2
    assert "multiple of 2 seeds" in _one_line_error(capsys, "video")
    assert main(args + ["--seeds", "0", "--output", str(tmp_path / "a.webm")]) == 2
    assert ".mp4 or .gif" in _one_line_error(capsys, "video")
    assert main(args + ["--seeds", "0", "--grid", "2by2", "--output", str(tmp_path / "a.mp4")]) == 2
    assert "COLUMNSxROWS" in _one_line_error(capsys, "video")
    assert main(["video", "--network", str(nets[1]), "--seeds", "0", "--kind", "rotate", "--frames", "2",
                 "--output", str(tmp_path / "a.mp4")]) == 2
    assert "StyleGAN3" in _one_line_error(capsys, "video")
    assert list(tmp_path.iterdir()) == []
