from __future__ import annotations

import json

import pytest

from widgets.render_args import SEED_ROW, ArgsError, RenderArgs, grid_seed
from gan_core.latents import mixing_groups


def test_json_round_trip_and_hashing():
    a = RenderArgs(model="x.pkl", latent_x=3.25, latent_y=1.0, trunc_psi=0.7, trunc_cutoff=4, mix_layers=(5, 1, 1),
                   noise_mode="random", noise_seed=9, noise_layer_strengths=(1.0, 0.5), translate=(0.1, -0.2),
                   rotate=12.0, class_idx=2)
    assert a.mix_layers == (1, 5)
    b = RenderArgs.from_json(a.to_json())
    assert b == a and hash(b) == hash(a)
    assert {a: 1}[b] == 1


def test_bad_settings_name_the_field():
    with pytest.raises(ArgsError, match="trunc_psi"):
        RenderArgs.from_dict({"trunc_psi": "high"})
    with pytest.raises(ArgsError, match="noise_mode"):
        RenderArgs(noise_mode="loud")
    with pytest.raises(ArgsError, match="latent_x"):
        RenderArgs(latent_x=float("nan"))
    with pytest.raises(ArgsError, match="not valid JSON"):
        RenderArgs.from_json("{")
    with pytest.raises(ArgsError, match="format"):
        RenderArgs.from_dict({"format": "something-else"})
    with pytest.raises(ArgsError, match="mix_layers"):
        RenderArgs.from_dict({"mix_layers": [1, "a"]})
    # unknown keys (from a newer version) are ignored
    assert RenderArgs.from_dict({"latent_x": 2, "future_option": 1}).latent_x == 2.0


def test_seed_grid_blend():
    a = RenderArgs(latent_x=2.25, latent_y=1.5)
    blend = dict(a.latent_blend())
    assert a.seed == grid_seed(2, 1) == 2 + SEED_ROW
    assert blend[grid_seed(2, 1)] == pytest.approx(0.75 * 0.5)
    assert blend[grid_seed(3, 2)] == pytest.approx(0.25 * 0.5)
    assert sum(blend.values()) == pytest.approx(1.0)
    assert RenderArgs(latent_x=7.0).latent_blend() == [(7, 1.0)]


def test_mixing_groups():
    sg2_1024 = [4, 4, 8, 8, 16, 16, 32, 32, 64, 64, 128, 128, 256, 256, 512, 512, 1024, 1024]
    g = mixing_groups(sg2_1024)
    assert g["coarse"] == [0, 1, 2, 3] and g["middle"] == [4, 5, 6, 7] and g["fine"] == list(range(8, 18))
    sg3 = [36, 36, 36, 52, 52, 84, 84, 148, 148, 276, 276, 256, 256, 256, 256, 256]
    g = mixing_groups(sg3)
    assert sorted(g["coarse"] + g["middle"] + g["fine"]) == list(range(16)) and all(g.values())
    tiny = [4, 4, 8, 8, 16, 16, 32, 32]     # no 64² layers: thirds instead of an empty "fine"
    assert all(mixing_groups(tiny).values())


def test_preset_files(tmp_path):
    from widgets.presets import load_preset, save_preset
    a = RenderArgs(latent_x=4.0, trunc_psi=0.5)
    p = save_preset(tmp_path, "nice one", a)
    assert load_preset(p) == a
    assert json.loads(p.read_text())["format"] == "ganscope-render-args"
    with pytest.raises(ArgsError, match="not usable"):
        save_preset(tmp_path, "../x", a)
    (tmp_path / "bad.json").write_text('{"trunc_psi": [1]}')
    with pytest.raises(ArgsError, match="trunc_psi"):
        load_preset(tmp_path / "bad.json")
