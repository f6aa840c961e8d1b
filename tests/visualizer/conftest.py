"""GUI test support: a virtual screen (Xvfb), small models, and driving Dear PyGui items the
way a person does (set the value, then fire the item's callback)."""
from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import torch


def _free_display() -> int:
    for n in range(90, 200):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number")


@pytest.fixture(scope="session")
def display():
    """A DISPLAY to open windows on: the existing one, or a fresh Xvfb for the session."""
    if os.environ.get("GANSCOPE_TEST_USE_DISPLAY") and os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("GUI tests need Xvfb and Mesa: apt-get install xvfb libgl1-mesa-dri libglx-mesa0")
    n = _free_display()
    proc = subprocess.Popen([xvfb, f":{n}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if Path(f"/tmp/.X11-unix/X{n}").exists():
            break
        time.sleep(0.05)
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = f":{n}"
    try:
        yield f":{n}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if old is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = old


@pytest.fixture(scope="session")
def tiny_sg2(tmp_path_factory) -> Path:
    """A 32² StyleGAN2 with noise inputs and random weights, saved in our native format."""
    import gan_core
    from gan_core.models.stylegan2 import Generator

    torch.manual_seed(1)
    G = Generator(z_dim=32, c_dim=0, w_dim=32, img_resolution=32, img_channels=3,
                  mapping_kwargs=dict(num_layers=2), channel_base=512, channel_max=64, num_fp16_res=0)
    with torch.no_grad():   # visible noise: the learned strengths start at 0
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.5)
    path = tmp_path_factory.mktemp("models") / "tiny_sg2.pt"
    gan_core.save(path, G_ema=G)
    return path


@pytest.fixture(scope="session")
def tiny_cond(tmp_path_factory) -> Path:
    """A class-conditional 32² StyleGAN2 (5 classes)."""
    import gan_core
    from gan_core.models.stylegan2 import Generator

    torch.manual_seed(2)
    G = Generator(z_dim=32, c_dim=5, w_dim=32, img_resolution=32, img_channels=3,
                  mapping_kwargs=dict(num_layers=2), channel_base=512, channel_max=64, num_fp16_res=0)
    path = tmp_path_factory.mktemp("models") / "tiny_cond.pt"
    gan_core.save(path, G_ema=G)
    return path


def _call(tag, value=None):
    import dearpygui.dearpygui as dpg
    cb = dpg.get_item_callback(tag)
    if cb is None:
        raise AssertionError(f"item {tag} has no callback")
    n = len(inspect.signature(cb).parameters)
    cb(*[tag, value, dpg.get_item_user_data(tag)][:n])


def ui_set(tag, value):
    """Change an item's value as a person would (the item's callback fires)."""
    import dearpygui.dearpygui as dpg
    dpg.set_value(tag, value)
    if dpg.get_item_callback(tag) is not None:    # plain text fields are read when needed
        _call(tag, dpg.get_value(tag))


def ui_click(tag):
    _call(tag)


def screenshot(app, path: Path):
    """The real window's pixels, as the app's screen shows them ([H, W, 3] uint8)."""
    import dearpygui.dearpygui as dpg
    import numpy as np
    from PIL import Image
    for _ in range(4):          # let the layout settle around the newest image
        app.frame()
    dpg.output_frame_buffer(file=str(path))
    for _ in range(3):
        app.frame()
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="session")
def app(display, tiny_sg2, tmp_path_factory):
    """One app for all in-process GUI tests (Dear PyGui allows one context per process; the
    app is started once and each test sets what it needs)."""
    from visualizer.app import App
    cfg = tmp_path_factory.mktemp("config")
    a = App(model=str(tiny_sg2), settings_path=cfg / "settings.json", size=(1100, 760))
    a.set_capture_dir(str(cfg / "captures"))
    a.start()
    a.wait_for_result()
    yield a
    a.close()


def show(app, **changes):
    """Apply changes through the host API and wait until their frame is on screen."""
    if changes:
        app.update(**changes)
        app._sync_panels()
    return app.wait_for_result()
