"""The render worker and the texture path, without a window."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from visualizer.texture import TexturePool, magnify_nearest, to_texture
from visualizer.worker import RenderWorker
from widgets.render_args import RenderArgs, RenderResult


def make_render(delay: float, log: list, gate: threading.Event | None = None):
    def render(args: RenderArgs) -> RenderResult:
        if gate is not None:
            gate.wait(10)
        time.sleep(delay)
        log.append(args.latent_x)
        return RenderResult(args=args, image=np.full((4, 4, 3), int(args.latent_x) % 256, np.uint8))
    return render


def test_newest_args_win_and_equal_args_are_not_rendered_twice():
    log: list = []
    gate = threading.Event()
    w = RenderWorker(make_render(0.0, log, gate))
    try:
        assert w.submit(RenderArgs(latent_x=1))
        time.sleep(0.05)                       # 1 is now being rendered (held at the gate)
        for x in range(2, 10):
            w.submit(RenderArgs(latent_x=x))   # each replaces the one before
        gate.set()
        assert w.wait_idle(10)
        assert log == [1.0, 9.0]
        r = w.poll()
        assert r.args.latent_x == 9 and w.dropped == 1    # the result for 1 was never picked up
        assert not w.submit(RenderArgs(latent_x=9))       # same as the last render
        assert w.poll() is None and w.rendered == 2
        w.forget_last()
        assert w.submit(RenderArgs(latent_x=9))
        assert w.wait_idle(10) and w.rendered == 3
    finally:
        w.stop()


def test_texture_conversion_and_pool():
    pool = TexturePool()
    px = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    buf = to_texture(px, pool.acquire(5, 7))
    np.testing.assert_allclose(buf, px / 255.0, rtol=0, atol=1e-7)
    pool.release(buf)
    assert pool.acquire(5, 7) is buf and pool.allocations == 1
    with pytest.raises(ValueError, match="does not match"):
        to_texture(px, np.zeros((5, 6, 3), np.float32))


def test_nearest_magnification():
    px = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    out = magnify_nearest(px, 1, 0, 3, 2, 3)
    assert out.shape == (6, 6, 3)
    np.testing.assert_allclose(out[0:3, 0:3], np.broadcast_to(px[0, 1] / 255.0, (3, 3, 3)), atol=1e-7)
    np.testing.assert_allclose(out[3:6, 3:6], np.broadcast_to(px[1, 2] / 255.0, (3, 3, 3)), atol=1e-7)


def test_renderer_turns_failures_into_errors(tmp_path):
    from visualizer.renderer import Renderer
    r = Renderer()
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"\x00\x01 not a checkpoint")
    res = r.render(RenderArgs(model=str(bad)))
    assert res.error_kind == "model" and "x.pt" in res.error and res.image is None
    res = r.render(RenderArgs(model="demo", device="cuda:7" if not torch.cuda.is_available() else "bogus"))
    assert res.error_kind == "model" and res.error
