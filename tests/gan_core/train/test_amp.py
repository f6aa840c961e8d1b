"""Mixed precision of the StyleGAN1 and BigGAN trainers (gan_core.train.amp): loss scaling skips
an overflowing step and halves the scale, penalties are taken through the scale exactly, the
trainers train under autocast with scaling and resume exactly with their scales, and --fp32 means
what it says for each family.

The CPU has no float16 autocast worth training with, so the float16 logic (the loss scale) runs
here under bfloat16 autocast with scaling forced on (``scale_loss=True``)."""
from __future__ import annotations

import copy
import json
import math

import pytest
import torch

from gan_core.models import biggan
from gan_core.train import distributed as ddp
from gan_core.train.amp import MixedPrecision, trainer_precision
from gan_core.train.biggan import BigGANTrainer, BigGANTrainOptions
from gan_core.train.progressive import ProgressiveTrainer, resume_options

from .test_progressive import _opts

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _bf16(**kw) -> MixedPrecision:
    return MixedPrecision("cpu", enabled=True, dtype=torch.bfloat16, scale_loss=True, **kw)


def test_float32_is_a_pass_through():
    mp = MixedPrecision("cpu", enabled=False)
    assert not mp.scaled and mp.scales() == {}
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = torch.optim.SGD([w], lr=0.5)
    with mp.autocast():
        loss = (w * w).sum()
    assert loss.dtype == torch.float32
    mp.backward(loss, "G")
    assert torch.equal(w.grad, torch.tensor([2.0, 4.0]))
    mp.step(opt, "G")
    assert torch.equal(w.detach(), torch.tensor([0.0, 0.0]))
    assert trainer_precision(torch.device("cpu"), False).enabled is False   # mixed precision is CUDA-only
    assert trainer_precision(torch.device("cpu"), True).enabled is False


def test_overflowing_step_is_skipped_and_the_scale_halves():
    mp = _bf16(init_scale=2.0 ** 127)
    w = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    opt = torch.optim.SGD([w], lr=0.1)
    mp.backward((4 * w).sum(), "D")      # gradient 4 · 2¹²⁷ = 2¹²⁹: not a float32
    assert not torch.isfinite(w.grad).all()
    mp.step(opt, "D")
    assert torch.equal(w.detach(), torch.tensor([1.0, -1.0]))      # the step was skipped
    assert mp.scales()["loss_scale_D"] == 2.0 ** 126 and mp.scales()["loss_scale_G"] == 2.0 ** 127
    opt.zero_grad()
    mp.backward((4 * w).sum() / 16, "D")      # now finite: the step is taken, from the unscaled gradient
    mp.step(opt, "D")
    torch.testing.assert_close(w.detach(), torch.tensor([1.0 - 0.1 * 0.25, -1.0 - 0.1 * 0.25]))


def test_penalty_gradient_through_the_scale_is_exact():
    mp = _bf16(init_scale=1024.0)
    x = torch.randn(3, 2, 4, 4, requires_grad=True)
    out = (x.square() * torch.arange(32.0).view(2, 4, 4)).sum()
    (plain,) = torch.autograd.grad(out, x, create_graph=True)
    scaled = mp.input_gradient(out, x)
    assert torch.equal(plain, scaled)          # scaling by a power of two and back is exact
    assert scaled.requires_grad                # with a graph, for the penalty's own gradient


def test_scale_state_round_trip_and_older_states():
    mp = _bf16(init_scale=256.0)
    mp.scalers["G"].scale(torch.ones(()))     # the scaler starts its scale lazily
    mp.scalers["G"].update(128.0)
    state = json.loads(json.dumps(mp.state_dict()))     # plain values: snapshots load weights-only
    other = _bf16()
    other.load_state_dict(state)
    assert other.scales() == {"loss_scale_G": 128.0, "loss_scale_D": 256.0}
    other.load_state_dict(None)                          # a snapshot from before mixed precision
    assert other.scales()["loss_scale_G"] == 128.0
    fp32 = MixedPrecision("cpu", enabled=False)
    fp32.load_state_dict(state)                          # a float32 resume of a mixed-precision run
    assert fp32.scales() == {}


def test_scaled_gradients_keep_their_overflow_through_averaging():
    p = torch.nn.Parameter(torch.zeros(3))
    p.grad = torch.tensor([1.0, math.inf, math.nan])
    ddp.average_gradients([p], ddp.DistInfo(), replace_nonfinite=False)
    assert math.isinf(p.grad[1]) and math.isnan(p.grad[2])
    ddp.average_gradients([p], ddp.DistInfo())
    assert torch.isfinite(p.grad).all()


# -- BigGAN ------------------------------------------------------------------------------------------

def _biggan(ds, precision, seed=0, device="cpu"):
    torch.manual_seed(seed)
    G = biggan.Generator(z_dim=12, c_dim=3, img_resolution=16, ch=8, shared_dim=8, channels=[[8, 8], [8, 8]],
                         attn_blocks=[0])
    D = biggan.Discriminator(c_dim=3, img_resolution=16, ch=8, channels=[[3, 8, True], [8, 8, True], [8, 8, False]],
                             attn_blocks=[0])
    opts = BigGANTrainOptions(batch=8, num_D_steps=2, G_ortho=1e-2, ema_start=1, ema_decay=0.9, lr_D=2e-3,
                              lr_G=5e-4, seed=1)
    return BigGANTrainer(G, D, ds, opts, precision=precision, device=device)


def _reals(ds, n=8):
    """The same real batches for every trainer (the default loader's order depends on its own
    generator state, which a fresh trainer would restart)."""
    gen = torch.Generator().manual_seed(5)
    while True:
        idx = torch.randint(len(ds), [n], generator=gen)
        imgs, labels = zip(*(ds[int(i)] for i in idx))
        yield (torch.stack([torch.as_tensor(i) for i in imgs]).float() / 127.5 - 1,
               torch.stack([torch.as_tensor(c) for c in labels]).float())


def test_biggan_trains_in_mixed_precision_and_resumes_exactly(labelled):
    tr = _biggan(labelled, _bf16(init_scale=2.0 ** 10))
    tr._reals = _reals(labelled)
    G0 = tr.G.linear.weight.detach().clone()
    for _ in range(2):
        s = tr.step()
        assert all(math.isfinite(v) for v in s.values())
        assert s["loss_scale_G"] == 2.0 ** 10 and s["loss_scale_D"] == 2.0 ** 10
    assert not torch.equal(tr.G.linear.weight, G0)
    # spectral norm stays float32 under autocast
    with tr.mp.autocast():
        assert tr.D.linear.sn_weight().dtype == torch.float32
    state = copy.deepcopy(tr.state_dict())     # the optimizers' tensors move on with the trainer
    assert state["loss_scale"]["D"]["scale"] == 2.0 ** 10
    nets = {k: {n: v.clone() for n, v in getattr(tr, k).state_dict().items()} for k in ("G", "D", "G_ema")}
    rng = torch.get_rng_state()
    a = [tr.step() for _ in range(2)]
    # a new trainer from the saved state continues exactly (the scales included)
    tr2 = _biggan(labelled, _bf16(init_scale=2.0 ** 3), seed=9)
    tr2._reals = _reals(labelled)
    for _ in range(2):
        next(tr2._reals)
        next(tr2._reals)
    for k, sd in nets.items():
        getattr(tr2, k).load_state_dict(sd)
    tr2.load_state_dict(state)
    assert tr2.mp.scales()["loss_scale_G"] == 2.0 ** 10
    torch.set_rng_state(rng)
    b = [tr2.step() for _ in range(2)]
    assert a == b
    for x, y in zip(tr.G.state_dict().values(), tr2.G.state_dict().values()):
        assert torch.equal(x, y)


# -- StyleGAN1 ---------------------------------------------------------------------------------------

def _sg1(data, run_dir, **kw):
    return _opts(data, run_dir, **{"total_kimg": 0.032, **kw})


@pytest.mark.parametrize("loss", ["wgan-gp", "r1"])
def test_stylegan1_trains_in_mixed_precision(tiny_zip, tmp_path, loss):
    t = ProgressiveTrainer(_sg1(tiny_zip, tmp_path, loss=loss), precision=_bf16(init_scale=2.0 ** 8))
    w0 = t.G.synthesis.b8.conv0.weight.detach().clone()
    for _ in range(3):
        s = t.step()
        assert math.isfinite(s["d_loss"]) and math.isfinite(s["g_loss"])
        assert s["loss_scale_D"] == 2.0 ** 8
        assert math.isfinite(s["gp" if loss == "wgan-gp" else "r1"])
    assert not torch.equal(t.G.synthesis.b8.conv0.weight, w0)
    assert t.training_state()["loss_scale"]["G"]["scale"] == 2.0 ** 8


def test_stylegan1_mixed_precision_resume_is_exact(tiny_zip, tmp_path):
    full = ProgressiveTrainer(_sg1(tiny_zip, tmp_path / "a"), precision=_bf16(init_scale=2.0 ** 8))
    full.run()
    part = ProgressiveTrainer(_sg1(tiny_zip, tmp_path / "b"), precision=_bf16(init_scale=2.0 ** 8))
    part.run(kimg=0.016)
    snap = sorted((tmp_path / "b").glob("network-snapshot-*.pt"))[-1]
    resumed = ProgressiveTrainer(resume_options(snap), resume=snap, precision=_bf16(init_scale=1.0))
    assert resumed.mp.scales()["loss_scale_D"] == 2.0 ** 8
    resumed.run()
    for a, b in zip(full.G_ema.state_dict().values(), resumed.G_ema.state_dict().values()):
        assert torch.equal(a, b)


# -- --fp32 per family -------------------------------------------------------------------------------

def test_fp32_defaults_per_family():
    from gan_core.train import TrainOptions
    from gan_core.train.options import resolve

    assert resolve(TrainOptions(cfg="stylegan2"), 32, 1).fp32 is False       # float16 blocks on CUDA
    assert resolve(TrainOptions(cfg="stylegan3-t", fp32=True), 32, 1).fp32 is True
    for cfg in ("stylegan1", "biggan", "biggan-deep"):
        assert resolve(TrainOptions(cfg=cfg), 32, 1).fp32 is True           # float32 unless asked
        assert resolve(TrainOptions(cfg=cfg, fp32=False), 32, 1).fp32 is False


def test_a_stylegan1_run_may_switch_precision_on_resume(tiny_zip, tmp_path, capsys):
    from gan_core.cli import main

    run = tmp_path / "run"
    net = ["--cbase", "128", "--cmax", "16", "--map", "2", "--zdim", "16", "--wdim", "16", "--no-progress",
           "--batch", "4", "--tick", "0.004"]
    assert main(["train", "--cfg", "stylegan1", "--data", str(tiny_zip), "--run-dir", str(run), "--kimg", "0.004",
                 *net]) == 0
    assert json.loads((run / "training_options.json").read_text())["fp32"] is True
    # not baked into the networks (unlike StyleGAN2/3's float16 blocks): no refusal
    assert main(["train", "--resume", str(run), "--kimg", "0.008", "--fp32", "false", "--no-progress"]) == 0
    assert json.loads((run / "training_options.json").read_text())["fp32"] is False
    assert "cannot change on resume" not in capsys.readouterr().err


# -- MobileStyleGAN distillation ---------------------------------------------------------------------

def test_distillation_trains_in_mixed_precision_and_resumes_its_scales(tmp_path):
    import gan_core
    from gan_core.models.stylegan2 import Generator as SG2
    from gan_core.train.distill import Distiller, DistillOptions

    torch.manual_seed(0)
    T = SG2(z_dim=32, c_dim=0, w_dim=32, img_resolution=16, img_channels=3, mapping_kwargs={"num_layers": 2},
            channel_base=256, channel_max=32, num_fp16_res=0).eval()
    gan_core.save(tmp_path / "teacher.pt", G_ema=T)
    opts = DistillOptions(teacher=str(tmp_path / "teacher.pt"), batch=4, lr=2e-3, lr_D=2e-3, gan=0.05, d_cbase=128,
                          d_cmax=16, r1_gamma=1.0, r1_interval=2, seed=0)
    assert Distiller(opts).mp.enabled is False            # float32 by default (and always on the CPU)
    d = Distiller(opts, precision=_bf16(init_scale=2.0 ** 9))
    before = d.distance(n=4)
    for _ in range(3):
        s = d.step()
        assert all(math.isfinite(v) for v in s.values()), s
    assert s["loss_scale_G"] == 2.0 ** 9 and "loss_r1" in d.take_stats()
    assert d.distance(n=4) != before
    snap = d.save_snapshot(tmp_path / "snap.pt")
    again = Distiller(opts, precision=_bf16(init_scale=1.0))
    again.load_snapshot(snap)
    assert again.mp.scales() == {"loss_scale_G": 2.0 ** 9, "loss_scale_D": 2.0 ** 9}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="float16 autocast needs CUDA (benchmarks/gpu_session.sh runs it)")
def test_float16_on_cuda_trains_biggan_and_stylegan1(labelled, tiny_zip, tmp_path):
    tr = _biggan(labelled, trainer_precision(torch.device("cuda"), False), device="cuda")
    assert tr.mp.enabled and tr.mp.scaled and tr.mp.dtype == torch.float16
    for _ in range(4):
        s = tr.step()
        assert all(math.isfinite(v) for v in s.values()), s
    assert all(p.dtype == torch.float32 for p in tr.G.parameters())
    for loss in ("wgan-gp", "r1"):
        t = ProgressiveTrainer(_sg1(tiny_zip, tmp_path / loss, loss=loss, device="cuda"),
                               precision=trainer_precision(torch.device("cuda"), False))
        for _ in range(4):
            s = t.step()
            assert math.isfinite(s["d_loss"]) and math.isfinite(s["g_loss"]) and s["loss_scale_D"] > 0, s
