"""``ganscope render``: the app's canvas views without a window, from settings files and --set."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from gan_core.cli import main as core_main
from visualizer.cli import main
from visualizer.files import PNG_ARGS_KEY, read_args_from_png
from visualizer.renderer import Renderer
from widgets.preset_files import save_preset
from widgets.render_args import RenderArgs

from .test_cli_view import REPO


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_list_layers_names_every_layer(capsys):
    assert main(["render", "--network", "demo-sg2", "--list-layers"]) == 0
    out = capsys.readouterr().out
    info = Renderer().get_model("demo-sg2", "cpu")[1]
    assert f"{len(info.layers)} layers, {info.num_ws} ws" in out
    for layer in info.layers:
        assert layer.name in out


def test_image_view_is_the_generate_picture_and_reopens(tmp_path, capsys):
    out = tmp_path / "r.png"
    assert main(["render", "--seed", "3", "--set", "trunc_psi=0.7", "--out", str(out)]) == 0
    assert core_main(["generate", "--seeds", "3", "--trunc", "0.7", "--outdir", str(tmp_path / "g")]) == 0
    d = np.abs(pixels(out).astype(int) - pixels(tmp_path / "g" / "seed0003.png"))
    assert d.max() <= 2 and d.mean() < 0.05            # the same picture, up to float rounding
    args = read_args_from_png(out)                     # the PNG carries the settings that made it
    assert args.latent_x == 3.0 and args.trunc_psi == 0.7 and args.model == "demo"
    again = tmp_path / "again.png"
    assert main(["render", "--settings", str(out), "--out", str(again)]) == 0
    assert np.array_equal(pixels(again), pixels(out))


def test_layer_spectrum_and_error_map_views(tmp_path, capsys):
    info = Renderer().get_model("demo", "cpu")[1]
    layer = info.layers[6]
    short = layer.name.rsplit(".", 1)[-1]               # as the Layers panel shows it
    lay = tmp_path / "layer.png"
    assert main(["render", "--layer", short, "--set", "layer_rgb=true", "--set", "layer_channel=4",
                 "--scale", "2", "--out", str(lay)]) == 0
    assert f"layer {layer.name}" in capsys.readouterr().out
    c, h, w = layer.shape
    assert pixels(lay).shape == (2 * h, 2 * w, 3) and pixels(lay).std() > 1
    saved = read_args_from_png(lay)
    assert saved.canvas_view == "layer" and saved.layer == layer.name and saved.layer_channel == 4

    spec = tmp_path / "spec.png"
    assert main(["render", "--settings", str(lay), "--view", "spectrum", "--json", "--out", str(spec)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["view"] == "spectrum" and summary["layer"]["shape"] == [c, h, w]
    assert set(summary["layer"]["stats"]) == {"all", "selected"}
    assert not np.array_equal(pixels(spec), pixels(lay)[::2, ::2])

    err = tmp_path / "err.png"
    assert main(["render", "--set", "eq_metric=eqt_frac", "--view", "eq_error", "--json", "--out", str(err)]) == 0
    eq = json.loads(capsys.readouterr().out)["equivariance"]
    assert eq["metric"] == "eqt_frac" and 10 < eq["psnr_db"] < 120
    assert Image.open(err).text[PNG_ARGS_KEY]


def test_presets_and_style_mixing_fields(tmp_path, capsys):
    preset = save_preset(tmp_path, "mix", RenderArgs(model="demo-sg2", latent_x=2.0, mix_seed=9.0,
                                                     mix_layers=(0, 1, 2)))
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert main(["render", "--settings", str(preset), "--out", str(a)]) == 0
    assert main(["render", "--settings", str(preset), "--set", "mix_layers=[]", "--out", str(b)]) == 0
    assert not np.array_equal(pixels(a), pixels(b))      # the mixed ws change the picture
    assert read_args_from_png(b).mix_layers == ()


@pytest.mark.parametrize("argv, needle", [
    (["--set", "foo=1"], "no setting 'foo'"),
    (["--set", "trunc_psi"], "FIELD=VALUE"),
    (["--set", "trunc_psi=abc"], "trunc_psi"),
    (["--layer", "nope"], "--list-layers"),
    (["--view", "layer"], "--layer"),
    (["--view", "eq_error"], "eq_metric"),
    (["--network", "missing.pt"], "missing.pt: no such file"),
    (["--network", "demo-sg2", "--set", "translate=[0.1,0]"], "StyleGAN3"),
    (["--scale", "0"], "--scale"),
    (["--set", "translate=[Infinity,0]"], "translate must hold finite numbers"),
    (["--set", "noise_layer_strengths=[1,NaN]"], "noise_layer_strengths must hold finite numbers"),
    (["--settings", "nothing.json"], "nothing.json"),
])
def test_bad_options_are_one_line_errors(tmp_path, capsys, argv, needle):
    rc = main(["render", "--out", str(tmp_path / "x.png"), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err, err
    assert not (tmp_path / "x.png").exists()


def test_seed_refuses_infinity(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["render", "--seed", "1e999"])
    assert exc.value.code == 2 and "invalid finite number value" in capsys.readouterr().err


def test_render_needs_no_gui_package(tmp_path):
    # headless machines and CI without Dear PyGui: the command must not import it
    code = ("import sys; sys.modules['dearpygui'] = None; from visualizer.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    out = tmp_path / "r.png"
    r = subprocess.run([sys.executable, "-c", code, "render", "--network", "demo-sg2", "--out", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert pixels(out).ndim == 3
