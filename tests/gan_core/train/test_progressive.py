"""StyleGAN1 progressive training: the schedule, two resolution phases on tiny data with both
objectives, snapshots that keep step and alpha, and an exact resume mid fade-in."""
from __future__ import annotations

import math

import pytest
import torch

import gan_core
from gan_core.train.progressive import ProgressiveOptions, ProgressiveTrainer, fade_reals, resume_options, schedule


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _opts(data, run_dir, **kw):
    base = dict(data=str(data), run_dir=str(run_dir), total_kimg=0.048, start_resolution=8, phase_kimg=0.016,
                batch_schedule={8: 4, 16: 4}, lr_schedule={}, lr=0.002,
                G_kwargs=dict(z_dim=16, w_dim=16, mapping_layers=2, channels=[16, 16, 8]),
                D_kwargs=dict(channels=[16, 16, 8]), seed=3)
    base.update(kw)
    return ProgressiveOptions(**base)


def test_schedule_phases_by_images_seen():
    # start at step 1 for 100 images, then step 2: fade 100, stable 100, then step 3 (final)
    assert schedule(0, 1, 3, 100) == (1, 1.0) and schedule(99, 1, 3, 100) == (1, 1.0)
    assert schedule(100, 1, 3, 100) == (2, 0.0) and schedule(150, 1, 3, 100) == (2, 0.5)
    assert schedule(200, 1, 3, 100) == (2, 1.0) and schedule(299, 1, 3, 100) == (2, 1.0)
    assert schedule(300, 1, 3, 100) == (3, 0.0) and schedule(10 ** 6, 1, 3, 100) == (3, 1.0)
    assert schedule(5, 3, 3, 100) == (3, 1.0)


def test_fade_reals_is_the_generators_fade():
    x = torch.randn(2, 3, 8, 8)
    low = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(x, 2), scale_factor=2)
    torch.testing.assert_close(fade_reals(x, 0.0), low)
    torch.testing.assert_close(fade_reals(x, 0.25), 0.75 * low + 0.25 * x)
    assert fade_reals(x, 1.0) is x


@pytest.mark.parametrize("loss", ["wgan-gp", "r1"])
def test_two_resolution_phases(tiny_zip, tmp_path, loss):
    t = ProgressiveTrainer(_opts(tiny_zip, tmp_path, loss=loss))
    assert (t.step_idx, t.alpha, t.resolution) == (1, 1.0, 8)
    before = t.G.synthesis.b16.conv0.weight.detach().clone()
    seen = []
    for _ in range(12):
        s = t.step()
        assert all(math.isfinite(s[k]) for k in ("d_loss", "g_loss"))
        seen.append((s["step"], s["alpha"]))
    assert (1, 1.0) in seen and (2, 1.0) in seen
    assert any(step == 2 and 0 < a < 1 for step, a in seen)  # the fade-in phase
    assert (t.G.output_resolution, t.G_ema.output_resolution) == (16, 16)
    assert not torch.equal(t.G.synthesis.b16.conv0.weight, before)  # the new block was trained
    assert not t.G.mapping.w_avg.eq(0).all()
    snap = t.save_snapshot()
    ck = gan_core.load_checkpoint(snap)
    assert ck.family == "stylegan1" and (ck.G_ema.step, ck.G_ema.alpha) == (2, 1.0)
    assert ck.training_state["cur_nimg"] == 48 and ck.training_state["step"] == 2
    with torch.no_grad():
        assert ck.G_ema(torch.randn(2, 16)).shape == (2, 3, 16, 16)


def test_resume_mid_fade_in_continues_exactly(tiny_zip, tmp_path):
    full = ProgressiveTrainer(_opts(tiny_zip, tmp_path / "a"))
    full.run()
    part = ProgressiveTrainer(_opts(tiny_zip, tmp_path / "b"))
    part.run(kimg=0.024)  # stops in the fade-in of 16×16
    assert part.step_idx == 2 and 0 < part.alpha < 1
    snaps = sorted((tmp_path / "b").glob("network-snapshot-*.pt"))
    ck = gan_core.load_checkpoint(snaps[-1])
    assert (ck.G_ema.step, ck.G_ema.alpha, ck.D.step, ck.D.alpha) == (2, part.alpha, 2, part.alpha)
    resumed = ProgressiveTrainer(resume_options(snaps[-1]), resume=snaps[-1])
    assert (resumed.step_idx, resumed.alpha, resumed.cur_nimg) == (2, part.alpha, 24)
    resumed.run()
    for a, b in zip(full.G_ema.state_dict().values(), resumed.G_ema.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    for a, b in zip(full.D.state_dict().values(), resumed.D.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("loss", ["wgan-gp", "r1"])
def test_augmentation_reaches_every_image_d_sees_and_ada_moves_p(tiny_zip, tmp_path, loss):
    from gan_core.train.augment import AdaController, AugmentPipe
    pipe = AugmentPipe()
    pipe.set_p(1.0)
    t = ProgressiveTrainer(_opts(tiny_zip, tmp_path, loss=loss), augment_pipe=pipe)
    seen = []
    forward = t.D.forward
    t.D.forward = lambda x, *a, **k: seen.append(x.detach().clone()) or forward(x, *a, **k)
    calls = []
    pipe_forward = pipe.forward
    pipe.forward = lambda x: calls.append(x.shape[0]) or pipe_forward(x)
    g0 = [p.detach().clone() for p in t.G.synthesis.parameters()]
    t.step()
    # D step: real and fake augmented (R1 differentiates D(augment(x)) through the pipe), G step: fake
    assert len(calls) == 3 and len(seen) == (4 if loss == "wgan-gp" else 3)  # + WGAN-GP's interpolates
    assert t.training_state()["augment"] == {"p": 1.0}
    # G's loss reaches G through the augmentation (it is differentiable): a zero gradient leaves Adam still
    assert any(not torch.equal(a, b) for a, b in zip(g0, t.G.synthesis.parameters()))
    # ADA: D's real logits steer p; resume restores it with the accumulators
    pipe = AugmentPipe()
    ada = AdaController(pipe, target=-1.0, interval=2, ada_kimg=0.01)   # any r_t is above the target
    t = ProgressiveTrainer(_opts(tiny_zip, tmp_path / "ada", loss=loss), augment_pipe=pipe, ada=ada)
    t.step()
    t.step()
    assert pipe.p_value() == pytest.approx(4 * 2 / 10) and ada.last_rt is not None   # one update, 2 steps of 4
    t.step()
    snap = t.save_snapshot()
    pipe2 = AugmentPipe()
    ada2 = AdaController(pipe2, target=-1.0, interval=2, ada_kimg=0.01)
    resumed = ProgressiveTrainer(resume_options(snap), resume=snap, augment_pipe=pipe2, ada=ada2)
    assert pipe2.p_value() == pipe.p_value() and ada2.count == ada.count == 4
