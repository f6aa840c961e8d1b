"""The inspection panels in the real window: translate/rotate, layers, equivariance, recording."""
from __future__ import annotations

import time

import numpy as np
import pytest

from tests.visualizer.conftest import show, ui_click, ui_set

pytestmark = pytest.mark.gui


@pytest.fixture()
def demo(app, tiny_sg2):
    """The app on the built-in StyleGAN3-T demo model; back to the small StyleGAN2 afterwards."""
    app.open_model("demo")
    app.wait_for_result(lambda r: r.model is not None and r.model.path == "demo" and r.args == app.args, timeout=180)
    yield app
    app.transform.reset()
    app.open_model(str(tiny_sg2))
    app.wait_for_result(lambda r: r.model is not None and r.model.path == str(tiny_sg2) and r.args == app.args)


def test_translate_rotate_move_the_picture_and_untransform_holds_it_still(demo):
    import dearpygui.dearpygui as dpg
    app = demo
    assert dpg.get_item_configuration("xf.x")["enabled"]
    base = show(app).image.astype(np.float32)
    ui_set("xf.round", True)
    ui_set("xf.x", 0.1)                       # rounded to whole pixels of the 64² model
    assert app.args.translate[0] == pytest.approx(round(0.1 * 64) / 64)
    moved = app.wait_for_result().image.astype(np.float32)
    assert np.abs(moved - base).mean() > 2
    ui_set("xf.untransform", True)
    still = app.wait_for_result().image.astype(np.float32)
    # an (almost) translation-equivariant model stands still once the output is warped back
    inner = (slice(8, -8), slice(12, -12))
    assert np.abs(still - base)[inner].mean() < np.abs(moved - base)[inner].mean() / 4
    ui_set("xf.angle", 20.0)
    assert app.args.rotate == 20.0
    rotated = app.wait_for_result()
    assert rotated.error is None
    ui_click("xf.reset")
    assert app.args.translate == (0.0, 0.0) and app.args.rotate == 0.0 and not app.args.untransform
    ui_set("xf.round", False)
    ui_set("xf.anim_translate", True)
    ui_set("xf.radius", 0.05)
    for _ in range(5):
        app.frame()
        time.sleep(0.02)
    x, y = app.args.translate
    assert (x * x + y * y) ** 0.5 == pytest.approx(0.05, rel=1e-3)   # on the circle
    ui_set("xf.anim_translate", False)


def test_transform_panel_is_disabled_with_a_reason_for_stylegan2(app):
    import dearpygui.dearpygui as dpg
    show(app)
    assert app.model_info.family == "stylegan2"
    assert not dpg.get_item_configuration("xf.x")["enabled"]
    assert "StyleGAN3" in dpg.get_value("xf.reason") and dpg.is_item_shown("xf.reason")
    assert not dpg.get_item_configuration("eq.metric")["enabled"]


def test_layer_inspector(app):
    import dearpygui.dearpygui as dpg
    show(app)
    items = dpg.get_item_configuration("layers.list")["items"]
    assert len(items) == len(app.model_info.layers) > 3
    layer = app.model_info.layers[3]
    assert f"{'x'.join(map(str, layer.shape))}" in items[3]
    ui_set("layers.list", items[3])
    r = app.wait_for_result()
    assert app.args.layer == layer.name and app.args.canvas_view == "layer"
    c, h, w = layer.shape
    assert r.view.shape == (h, w, 3) and np.array_equal(r.view[..., 0], r.view[..., 1])   # one channel: grey
    assert r.layer_stats["all"]["max"] >= r.layer_stats["selected"]["max"] > 0
    assert dpg.get_value("layers.stat.all.std") != "-"
    ui_set("layers.rgb", True)
    rgb = app.wait_for_result().view
    assert not np.array_equal(rgb[..., 0], rgb[..., 1])
    ui_set("layers.channel", c + 1)             # wraps around
    assert app.args.layer_channel == 1
    ui_set("layers.gain", 12.0)
    brighter = app.wait_for_result()
    assert brighter.view.astype(int).std() != rgb.astype(int).std()
    ui_set("layers.view", "layer spectrum")
    spec = app.wait_for_result()
    assert app.args.canvas_view == "spectrum" and spec.view.shape == (h, w, 3)
    freq, db = spec.layer_radial
    assert len(freq) == len(db) > 2 and np.isfinite(db).all()
    x, y = dpg.get_value("layers.radial_series")[:2]
    assert len(x) == len(freq)
    ui_set("layers.beta", 0.0)
    assert not np.array_equal(app.wait_for_result().view, spec.view)
    show(app, layer=None, canvas_view="image", layer_rgb=False, layer_gain_db=0.0, spectrum_beta=8.0,
         layer_channel=0)


def test_equivariance_inspector(demo):
    import dearpygui.dearpygui as dpg
    app = demo
    ui_set("eq.metric", "EQ-T")
    ui_set("eq.tx", 0.125)
    r = app.wait_for_result()
    assert r.eq["metric"] == "eqt" and r.eq["translate"] == (0.125, 0.0)
    assert "EQ-T:" in dpg.get_value("eq.result") and "dB" in dpg.get_value("eq.result")
    assert 20 < r.eq["psnr_db"] < 200
    ui_set("eq.show_error", True)
    err = app.wait_for_result()
    assert app.args.canvas_view == "eq_error" and err.view.shape == r.image.shape
    ui_click("eq.random")
    assert app.args.eq_translate != (0.125, 0.0)
    ui_set("eq.metric", "EQ-R")
    rr = app.wait_for_result()
    assert rr.eq["metric"] == "eqr" and rr.eq["angle_deg"] == pytest.approx(app.args.eq_angle)
    # a T model is far less rotation- than translation-equivariant
    assert rr.eq["psnr_db"] < r.eq["psnr_db"]
    ui_set("eq.show_error", False)
    ui_set("eq.metric", "off")
    assert app.args.eq_metric is None and app.args.canvas_view == "image"


@pytest.mark.parametrize("fmt", ["gif", "mp4"])
def test_record_an_animation(app, fmt):
    from gan_core.video import read_video
    show(app, latent_x=0.0)
    ui_set("latent.speed", 3.0)
    ui_set("latent.animate", True)
    ui_set("rec.format", fmt)
    ui_set("rec.fps", 10)
    ui_set("rec.frames", 6)
    ui_click("rec.start")
    path = app.recorder.path
    end = time.monotonic() + 120
    while app.recorder.active and time.monotonic() < end:
        app.frame()
    ui_set("latent.animate", False)
    assert not app.recorder.active and path.exists()
    frames = read_video(path)
    assert frames.shape[0] == 6 and frames.shape[1:3] == (32, 32)
    # lockstep: frames show x = 0, 0.3, ..., 1.5 (speed / fps = 0.3 seeds per frame)
    assert app.args.latent_x == pytest.approx(5 * 0.3, abs=1e-6)
    if fmt == "gif":                         # lossless: the first frame is the seed-0 image exactly
        assert np.abs(frames[1].astype(int) - frames[0].astype(int)).max() > 0
    import dearpygui.dearpygui as dpg
    assert dpg.get_value("rec.progress") == pytest.approx(1.0)
    show(app, latent_x=0.0)
