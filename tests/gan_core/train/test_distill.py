"""MobileStyleGAN distillation from a tiny random StyleGAN2 teacher: the student-teacher distance
falls, teacher and student share w and noise, the run directory is the training contract, the
perceptual loss is off without a weights file and on with one, and ``ganscope distill`` runs."""
from __future__ import annotations

import json

import pytest
import torch

import gan_core
from gan_core.cli import main as cli_main
from gan_core.io import CheckpointError
from gan_core.models.stylegan2 import Generator as SG2
from gan_core.train.distill import Distiller, DistillOptions, distill
from gan_core.train.perceptual import load_feature_network
from gan_core.train.rundir import read_stats, read_status


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def teacher_path(tmp_path_factory):
    """A tiny random StyleGAN2 (16², 2 mapping layers) saved natively, with visible noise."""
    torch.manual_seed(0)
    T = SG2(z_dim=32, c_dim=0, w_dim=32, img_resolution=16, img_channels=3, mapping_kwargs={"num_layers": 2},
            channel_base=256, channel_max=32, num_fp16_res=0).eval()
    with torch.no_grad():
        for name, p in T.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.2)
        T.mapping.w_avg.copy_(T.mapping(torch.randn(512, 32), None)[:, 0].mean(0))
    path = tmp_path_factory.mktemp("teacher") / "teacher.pt"
    gan_core.save(path, G_ema=T)
    return path


def _opts(teacher_path, **kw) -> DistillOptions:
    base = dict(teacher=str(teacher_path), batch=8, lr=2e-3, lr_D=2e-3, gan=0.05, d_cbase=128, d_cmax=16,
                tick=0.016, snap=0, preview_interval=100.0, grid=(2, 1), seed=0)
    base.update(kw)
    return DistillOptions(**base)


def test_distillation_lowers_the_student_teacher_distance(teacher_path):
    d = Distiller(_opts(teacher_path))
    assert d.G.config()["channels"] == [32, 32] and d.G.img_resolution == 16
    assert d.share_noise and d.perceptual is None
    before = d.distance()
    for _ in range(60):
        stats = d.step()
    after = d.distance()
    assert after < 0.8 * before, (before, after)
    assert {"loss_pix_l1", "loss_pix_l2", "loss_wav_l1", "loss_wav_l2", "loss_G_gan", "loss_D"} <= set(stats)
    assert "loss_perceptual" not in stats
    # only the synthesis network learns; the mapping stays the teacher's
    for i in range(2):
        assert torch.equal(getattr(d.G.mapping, f"fc{i}").weight, getattr(d.T.mapping, f"fc{i}").weight)
    torch.testing.assert_close(d.G.mapping.style_mean[0], d.T.mapping.w_avg)


def test_teacher_and_student_share_w_and_noise(teacher_path):
    d = Distiller(_opts(teacher_path))
    seen = []
    for name in d.T.noise_layer_names():
        layer = dict(d.T.named_modules())[name]
        orig = layer.make_noise

        def record(*a, _orig=orig, _layer=layer, **k):
            out = _orig(*a, **k)
            seen.append(out / _layer.noise_strength)
            return out
        layer.make_noise = record
    z = torch.randn(3, d.G.z_dim)
    img_t, ws, noises = d.teacher_and_student_inputs(z, noise_seed=42)
    assert len(noises) == 3 and len(seen) == 5  # the teacher's 16² layers get noise the student has no layer for
    for a, b in zip(noises, seen):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(ws, d.T.mapping(z, None)[:, :1].expand(-1, d.G.num_ws, -1))


def test_run_directory_snapshot_resume_and_cli(teacher_path, tmp_path):
    run_dir = tmp_path / "run"
    assert distill(_opts(teacher_path, run_dir=str(run_dir), kimg=0.024), progress=False) == "finished"
    options = json.loads((run_dir / "training_options.json").read_text())
    assert options["cfg"] == "mobilestylegan-distill" and options["teacher"] == str(teacher_path)
    rows, _ = read_stats(run_dir)
    assert rows and all(r["loss_G"] is not None and r["distance_eval"] > 0 for r in rows)
    assert rows[-1]["kimg"] == pytest.approx(0.024)
    status = read_status(run_dir)
    assert status["state"] == "finished" and status["latest_snapshot"] == "network-snapshot-000000.pt"
    assert (run_dir / "live_preview.png").stat().st_size > 0 and (run_dir / "log.txt").exists()
    ck = gan_core.load_checkpoint(run_dir / "network-snapshot-000000.pt")
    assert ck.family == "mobilestylegan" and ck.D is not None and ck.training_state["cur_nimg"] == 24
    G = gan_core.load_generator(run_dir / "network-snapshot-000000.pt")
    assert G.family == "mobilestylegan" and G.img_resolution == 16
    # resume continues from the snapshot's image count
    d = Distiller(_opts(teacher_path))
    d.load_snapshot(run_dir / "network-snapshot-000000.pt")
    assert d.cur_nimg == 24 and d.step_idx == 3
    # the command line
    cli_dir = tmp_path / "cli"
    rc = cli_main(["distill", "--teacher", str(teacher_path), "--run-dir", str(cli_dir), "--kimg", "0.008",
                   "--batch", "4", "--d-cbase", "128", "--d-cmax", "16", "--device", "cpu", "--no-progress"])
    assert rc == 0 and read_status(cli_dir)["state"] == "finished"
    assert cli_main(["distill", "--teacher", str(tmp_path / "missing.pt"), "--run-dir", str(cli_dir)]) == 2


def test_cli_resume_keeps_the_runs_options_and_applies_changes(teacher_path, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli_main(["distill", "--teacher", str(teacher_path), "--run-dir", str(run), "--kimg", "0.008",
                     "--batch", "4", "--d-cbase", "128", "--d-cmax", "16", "--pixel-l2", "0.5", "--lr", "0.001",
                     "--device", "cpu", "--no-progress"]) == 0
    # no --teacher, --batch or loss weights: they are the run's own; a lower lr takes effect
    assert cli_main(["distill", "--resume", str(run), "--kimg", "0.016", "--lr", "0.0002", "--device", "cpu",
                     "--no-progress"]) == 0
    opts = json.loads((run / "training_options.json").read_text())
    assert (opts["teacher"], opts["batch"], opts["pixel_l2"], opts["d_cbase"], opts["lr"], opts["kimg"]) == \
        (str(teacher_path), 4, 0.5, 128, 0.0002, 0.016)
    ck = gan_core.load_checkpoint(run / "network-snapshot-000000.pt")
    assert ck.training_state["cur_nimg"] == 16
    assert ck.training_state["G_opt"]["param_groups"][0]["lr"] == 0.0002      # not the saved 0.001
    log = (run / "log.txt").read_text()
    assert "starting at kimg 0.008; options changed on resume: kimg 0.008 → 0.016, lr 0.001 → 0.0002" in log
    capsys.readouterr()
    for args, message in ((["--d-cmax", "32"], "--d-cmax cannot change on resume (the run's networks were built "
                                              "with 16"),
                          (["--channels", "8,8"], "built with its default")):
        assert cli_main(["distill", "--resume", str(run), "--no-progress"] + args) == 2
        assert message in capsys.readouterr().err
    assert cli_main(["train", "--resume", str(run)]) == 2          # the other command says which to use
    assert f"a distillation run; continue it with `ganscope distill --resume {run}`" in capsys.readouterr().err
    assert cli_main(["distill", "--resume", str(tmp_path / "nothing")]) == 2
    assert "no such run directory or snapshot file" in capsys.readouterr().err
    assert cli_main(["distill", "--run-dir", str(tmp_path / "x")]) == 2
    assert "--teacher is required" in capsys.readouterr().err
    assert cli_main(["distill", "--teacher", "demo", "--run-dir", str(tmp_path / "x")]) == 2
    assert "the teacher must be a StyleGAN2: demo-sg2, or a checkpoint file" in capsys.readouterr().err
    # --gpus 2: the processes' error, one line
    assert cli_main(["distill", "--teacher", str(teacher_path), "--run-dir", str(tmp_path / "g"), "--batch", "5",
                     "--gpus", "2", "--device", "cpu", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "ganscope distill: error: --batch 5 must be a multiple of the number of processes (2)"
    assert cli_main(["distill", "--teacher", str(teacher_path), "--run-dir", str(tmp_path / "g"), "--gpus", "0"]) == 2
    assert "--gpus must be at least 1" in capsys.readouterr().err


def test_teacher_must_be_stylegan2(tmp_path):
    from gan_core.models.mobile_stylegan import Generator

    gan_core.save(tmp_path / "m.pt", G_ema=Generator(z_dim=8, w_dim=8, channels=[8, 8]))
    with pytest.raises(ValueError, match="teacher must be a StyleGAN2"):
        Distiller(DistillOptions(teacher=str(tmp_path / "m.pt")))


def _tiny_vgg(path) -> None:
    """torchvision's VGG numbering: conv 0, relu 1, conv 2, relu 3, pool 4, conv 5, … ."""
    torch.manual_seed(3)
    torch.save({"features.0.weight": torch.randn(8, 3, 3, 3) * 0.3, "features.0.bias": torch.zeros(8),
                "features.2.weight": torch.randn(8, 8, 3, 3) * 0.2, "features.2.bias": torch.zeros(8),
                "features.5.weight": torch.randn(16, 8, 3, 3) * 0.2, "features.5.bias": torch.zeros(16),
                "classifier.0.weight": torch.randn(4, 4)}, path)


def test_perceptual_loss_from_a_local_weights_file(teacher_path, tmp_path):
    _tiny_vgg(tmp_path / "vgg.pth")
    net = load_feature_network(tmp_path / "vgg.pth")
    assert [c.out_channels for c in net.convs] == [8, 8, 16] and net.pool_after == [False, True, False]
    d = Distiller(_opts(teacher_path, perceptual_net=str(tmp_path / "vgg.pth"), gan=0.0))
    stats = d.step()
    assert stats["loss_perceptual"] > 0 and "loss_D" not in stats
    # weight 0 turns it off even with a file
    assert Distiller(_opts(teacher_path, perceptual_net=str(tmp_path / "vgg.pth"), perceptual=0.0)).perceptual is None
    torch.save({"fc.weight": torch.ones(2, 2)}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="VGG-style"):
        load_feature_network(tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="no such file"):
        load_feature_network(tmp_path / "none.pth")


def test_teacher_from_an_official_pickle(tmp_path):
    """The teacher may be an official StyleGAN2-ADA/StyleGAN3-repo pickle (read without running it)."""
    from tests.conftest import load_fixture
    from tests.gan_core.io import fake_official as fo

    fx = load_fixture("official", "sg2_skip_32.pt")
    marker = tmp_path / "marker"
    path = tmp_path / "network-snapshot.pkl"
    path.write_bytes(fo.official_pickle_bytes(fx, fo.evil_module_src(marker)))
    d = Distiller(_opts(path, batch=4, d_cbase=256, d_cmax=16))
    assert d.T.img_resolution == 32 and d.G.img_resolution == 32 and d.share_noise
    assert d.G.config()["channels"] == [64, 64, 64]  # the teacher's widths at 4², 8², 16²
    before = d.distance(n=4)
    for _ in range(3):
        d.step()
    assert d.distance(n=4) != before and not marker.exists()


def test_any_batch_size_trains(teacher_path):
    """D's minibatch-stddev groups divide the batch (batch 6 failed in the first step with groups of 4)."""
    d = Distiller(_opts(teacher_path, batch=6))
    assert d.D.b4.mbstd.group_size == 2
    assert all(v == v for v in d.step().values())     # finite losses, no error
