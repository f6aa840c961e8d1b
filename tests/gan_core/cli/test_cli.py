"""The ganscope commands, run in-process and once as a real subprocess."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import gan_core
from gan_core.cli import main
from gan_core.models.demo import DEMO_CHECKPOINT
from gan_core.models.registry import build_network
from tests.conftest import REPO, load_fixture


@pytest.fixture(scope="module")
def sg3_native(tmp_path_factory):
    case = load_fixture("official", "sg3t_32.pt")
    G = build_network("stylegan3", "G", case["init_kwargs"])
    G.load_state_dict(case["G_state_dict"])
    path = tmp_path_factory.mktemp("nets") / "sg3t.pt"
    gan_core.save(path, G_ema=G.eval())
    return path, G


@pytest.fixture(scope="module")
def sg2_native(tmp_path_factory):
    case = load_fixture("official", "sg2_resnet_cond5_32.pt")
    G = build_network("stylegan2", "G", case["init_kwargs"])
    G.load_state_dict(case["G_state_dict"])
    D = build_network("stylegan2", "D", case["D_init_kwargs"])
    D.load_state_dict(case["D_state_dict"])
    path = tmp_path_factory.mktemp("nets") / "sg2.pt"
    gan_core.save(path, G_ema=G.eval(), D=D.eval())
    return path, G


def _expected_png(G, seed, trunc=1.0, transform=None, c=None, noise_mode="const"):
    z = gan_core.z_from_seed(seed, G.z_dim)
    with torch.no_grad():
        ws = G.mapping(z, c, truncation_psi=trunc)
        extra = {} if transform is None else {"input_transform": transform}
        return gan_core.to_uint8(G.synthesis(ws, noise_mode=noise_mode, **extra))[0]


def test_generate_matches_library_and_official_conventions(sg3_native, tmp_path, capsys):
    path, G = sg3_native
    rc = main(["generate", "--network", str(path), "--seeds", "3-4,9", "--trunc", "0.7",
               "--translate", "0.1,-0.05", "--rotate", "12.5", "--outdir", str(tmp_path), "--device", "cpu"])
    assert rc == 0
    files = sorted(p.name for p in tmp_path.glob("*.png"))
    assert files == ["seed0003.png", "seed0004.png", "seed0009.png"]
    # seed -> z is numpy's RandomState(seed).randn, as the official scripts draw it.
    np.testing.assert_array_equal(gan_core.z_from_seed(9, 64).numpy(),
                                  np.random.RandomState(9).randn(1, 64).astype(np.float32))
    transform = G.user_transform_matrix(translate=(0.1, -0.05), rotate_deg=12.5)
    got = np.asarray(Image.open(tmp_path / "seed0009.png"))
    np.testing.assert_array_equal(got, _expected_png(G, 9, trunc=0.7, transform=transform))
    meta = json.loads(Image.open(tmp_path / "seed0009.png").text["ganscope"])
    assert meta["seed"] == 9 and meta["rotate"] == 12.5


def test_generate_conditional_and_noise_modes(sg2_native, tmp_path):
    path, G = sg2_native
    assert main(["generate", "--network", str(path), "--seeds", "1", "--class", "3", "--noise-mode", "none",
                 "--outdir", str(tmp_path)]) == 0
    got = np.asarray(Image.open(tmp_path / "seed0001.png"))
    np.testing.assert_array_equal(got, _expected_png(G, 1, c=G.make_c(3, 1), noise_mode="none"))


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "x-y"], "cannot read seeds"),
    (["--seeds", "1", "--translate", "1"], "--translate"),
    (["--seeds", "1", "--class", "2"], "not class-conditional"),
    (["--seeds", "1", "--device", "tpu"], "unknown device"),
    (["--seeds", "1", "--batch", "0"], "--batch"),
])
def test_generate_bad_options_give_one_line_errors(sg3_native, tmp_path, capsys, argv, message):
    path, _ = sg3_native
    rc = main(["generate", "--network", str(path), "--outdir", str(tmp_path)] + argv)
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["generate", "--seeds", "0", "--trunc", "nan"],
    ["style-mix", "--rows", "0", "--cols", "1", "--trunc", "inf"],
    ["train", "--data", "x.zip", "--gamma=-inf"],
    ["video", "--output", "x.mp4", "--fps", "nan"],
])
def test_float_options_refuse_nan_and_infinity(argv, capsys):
    # float() reads 'nan' and 'inf'; no option means anything with them, and NaN would flow on silently.
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "invalid finite number value" in err and "Traceback" not in err


def test_translate_on_stylegan2_is_refused(sg2_native, tmp_path, capsys):
    path, _ = sg2_native
    rc = main(["generate", "--network", str(path), "--seeds", "0", "--class", "0", "--rotate", "5",
               "--outdir", str(tmp_path)])
    assert rc == 2 and "StyleGAN3" in capsys.readouterr().err


def test_damaged_and_foreign_files_are_reported_by_name(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("hello, I am not a network\n")
    truncated = tmp_path / "cut.pkl"
    truncated.write_bytes(b"\x80\x04\x95\x10\x00\x00\x00")
    for f in (text, truncated, tmp_path / "missing.pkl"):
        rc = main(["generate", "--network", str(f), "--seeds", "0", "--outdir", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert rc == 2 and f.name in err and "Traceback" not in err, err


def test_info_and_convert(sg2_native, tmp_path, capsys):
    path, G = sg2_native
    assert main(["info", str(path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["family"] == "stylegan2" and d["img_resolution"] == 32 and d["c_dim"] == 5
    assert d["num_ws"] == G.num_ws and d["params_G"] == sum(p.numel() for p in G.parameters())
    assert "D" in d["networks"] and d["params_D"] > 0
    assert main(["info", str(path)]) == 0
    assert "stylegan2" in capsys.readouterr().out
    out = tmp_path / "copy.pt"
    assert main(["convert", str(path), str(out)]) == 0
    assert main(["convert", str(path), str(out)]) == 2  # refuses to overwrite without --force
    assert "--force" in capsys.readouterr().err
    G2 = gan_core.load_generator(out)
    torch.testing.assert_close(dict(G2.state_dict()), dict(G.state_dict()))
    small = tmp_path / "g_only.pt"
    assert main(["convert", str(path), str(small), "--generator-only"]) == 0
    capsys.readouterr()
    assert main(["info", str(small), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["networks"] == ["G_ema"]
    assert small.stat().st_size < out.stat().st_size
    # a missing output folder is named as such (not the temp file the atomic write would have used)
    assert main(["convert", str(path), str(tmp_path / "no-such-folder" / "x.pt")]) == 2
    assert "the folder " in capsys.readouterr().err


def test_demo_model_renders_without_network_option(tmp_path):
    # `ganscope generate --seeds ...` with no --network renders the built-in StyleGAN3-T demo
    assert main(["generate", "--seeds", "0-1", "--outdir", str(tmp_path)]) == 0
    first = Image.open(tmp_path / "seed0000.png")
    assert json.loads(first.text["ganscope"])["network"] == "demo"
    img = np.asarray(first)
    other = np.asarray(Image.open(tmp_path / "seed0001.png"))
    res = gan_core.load_generator("demo").img_resolution
    assert img.shape == (res, res, 3)
    assert img.std() > 10, "the demo model should use a visible range of colours"
    assert np.abs(img.astype(int) - other).mean() > 2, "different seeds should give different images"


def test_console_entry_point_runs_as_a_process(tmp_path):
    r = subprocess.run([sys.executable, "-m", "gan_core", "info", "demo"], capture_output=True, text=True,
                       cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "stylegan3" in r.stdout
    # labelled untrained exactly while no trained demo is shipped
    assert ("untrained" in r.stdout) == (not DEMO_CHECKPOINT.exists())
    # a shipped demo says how it was trained
    assert ("trained kimg" in r.stdout) == DEMO_CHECKPOINT.exists()


def test_info_reports_how_far_a_training_snapshot_got(sg2_native, tmp_path, capsys):
    path, G = sg2_native
    snap = tmp_path / "network-snapshot-000012.pt"
    gan_core.save(snap, G_ema=G, training_state={"cur_nimg": 12345, "step": 3})
    assert main(["info", str(snap), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["trained_kimg"] == pytest.approx(12.345)


def test_a_closed_output_pipe_ends_a_command_quietly():
    """`ganscope status | head`: when the reader stops early, the command ends with the shell's
    closed-pipe status and no traceback."""
    code = (
        "import sys, types\n"
        "from gan_core.cli import main\n"
        "def add_parser(sub): sub.add_parser('spam')\n"
        "def run(args):\n"
        "    for i in range(200000): print('line', i)\n"
        "sys.exit(main(['spam'], extra_commands={'spam': types.SimpleNamespace(add_parser=add_parser, run=run)}))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout.read(20).startswith(b"line 0")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "Error" not in err, err
