"""``ganscope train --cfg stylegan1|biggan|biggan-deep`` through the run-directory loop: the contract
files, snapshots the library opens, exact resume, control.json stop, and one-line errors."""
from __future__ import annotations

import json
import math
import threading
import time

import pytest
import torch

import gan_core
from gan_core.cli import main
from gan_core.train import TrainOptions, train
from gan_core.train.rundir import STATS_KEYS, STATUS_KEYS, read_status, send_command

from .test_resume import _assert_same_state

NET = ["--cbase", "128", "--cmax", "16", "--map", "2", "--zdim", "16", "--wdim", "16", "--no-progress",
       "--preview-interval", "0.5"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny networks: one thread is fastest


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("families")
    assert main(["dataset", "--source", "procedural:24:16", "--dest", str(d / "lab16.zip")]) == 0
    assert main(["dataset", "--source", "procedural:8:16", "--dest", str(d / "plain16.zip"), "--no-labels"]) == 0
    return d


def _rows(run):
    return [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]


def _check_contract(run, cfg, state="finished"):
    opts = json.loads((run / "training_options.json").read_text())
    assert opts["cfg"] == cfg and opts["dataset"]["resolution"] == 16
    assert opts["aug"] == "noaug"     # off unless asked for, as in both papers
    rows = _rows(run)
    assert rows and all(list(r)[:len(STATS_KEYS)] == list(STATS_KEYS) for r in rows)
    for r in rows:  # values that do not apply to these families are null, the losses finite
        assert r["loss_pl"] is None and r["augment_p"] is None and r["gpu_mem_gb"] is None
        assert math.isfinite(r["loss_G"]) and math.isfinite(r["loss_D"])
    st = read_status(run)
    assert set(st) == set(STATUS_KEYS) and st["state"] == state
    assert (run / st["latest_snapshot"]).is_file() and st["kimg"] == rows[-1]["kimg"]
    for name in ("live_preview.png", "reals.png", "log.txt", "fakes000000.png"):
        assert (run / name).stat().st_size > 0, name
    cols, rows_ = opts["grid"]
    from PIL import Image
    assert Image.open(run / "live_preview.png").size == (cols * 16, rows_ * 16)  # lower stages shown at 16²
    return opts, rows, st


def _same_snapshots(a, b):
    ca = gan_core.load_checkpoint(a / "network-snapshot-000000.pt")
    cb = gan_core.load_checkpoint(b / "network-snapshot-000000.pt")
    for key in ("G", "D", "G_ema"):
        _assert_same_state(getattr(ca, key).state_dict(), getattr(cb, key).state_dict(), key)
    ta, tb = ca.training_state, cb.training_state
    for key in set(ta) - {"wall_s", "tick", "train_options", "options", "rng"}:
        _assert_same_state(ta[key], tb[key], key)
    _assert_same_state(ta["rng"]["torch"], tb["rng"]["torch"], "rng")
    return ca, cb


def test_stylegan1_two_phases_contract_and_snapshot(data, tmp_path):
    run = tmp_path / "sg1"
    # 8² for 12 images, fade in 16² over 12, then 16² stable: 10 steps of 4 images
    assert main(["train", "--cfg", "stylegan1", "--data", str(data / "lab16.zip"), "--run-dir", str(run),
                 "--batch", "4", "--kimg", "0.04", "--phase-kimg", "0.012", "--tick", "0.008"] + NET) == 0
    opts, rows, st = _check_contract(run, "stylegan1")
    assert opts["loss"] == "wgan-gp" and opts["map"] == 2 and opts["start_res"] == 8 and opts["cond"] is False
    assert {r["resolution"] for r in rows} == {8, 16} and any(0 < r["alpha"] < 1 for r in rows)
    assert all(r["loss_r1"] is None and r["loss_gp"] > 0 for r in rows)
    assert rows[-1]["step"] == 10 and rows[-1]["kimg"] == 0.04
    G = gan_core.load_generator(run / st["latest_snapshot"])
    assert G.family == "stylegan1" and (G.step, G.alpha, G.output_resolution) == (2, 1.0, 16)
    assert G.config()["mapping_layers"] == 2 and G.z_dim == 16
    with torch.no_grad():
        img = G(gan_core.z_from_seed(0, G.z_dim), None)
    assert img.shape == (1, 3, 16, 16) and torch.isfinite(img).all()


@pytest.mark.parametrize("aug", [[], ["--aug", "ada", "--target", "0"]], ids=["noaug", "ada"])
def test_stylegan1_resume_continues_exactly(aug, data, tmp_path):
    args = ["--cfg", "stylegan1", "--loss", "r1", "--data", str(data / "lab16.zip"), "--batch", "4",
            "--phase-kimg", "0.012", "--tick", "0.008"] + aug + NET
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["train", "--run-dir", str(full), "--kimg", "0.028"] + args) == 0
    assert main(["train", "--run-dir", str(part), "--kimg", "0.02"] + args) == 0
    before = gan_core.load_checkpoint(part / "network-snapshot-000000.pt")
    assert before.training_state["iteration"] == 5 and 0 < before.G_ema.alpha < 1  # stopped mid fade-in
    assert main(["train", "--resume", str(part), "--kimg", "0.028", "--no-progress"]) == 0
    ca, cb = _same_snapshots(full, part)
    assert cb.training_state["iteration"] == 7 and not torch.equal(
        before.G.state_dict()["synthesis.b16.conv0.weight"], cb.G.state_dict()["synthesis.b16.conv0.weight"])
    rows = _rows(part)
    assert rows[-1]["step"] == 7 and rows[-1]["loss_r1"] is not None
    assert "starting at kimg 0.020" in (part / "log.txt").read_text()
    if aug:   # ADA raised p (r_t above the target 0) in both parts, and the resumed run carried it on
        p = cb.training_state["augment"]["p"]
        assert p > 0 and p == ca.training_state["augment"]["p"] and rows[-1]["augment_p"] == p
        assert "augment ada" in (part / "log.txt").read_text()


def test_biggan_trains_writes_contract_and_snapshot(data, tmp_path):
    run = tmp_path / "bg"
    assert main(["train", "--cfg", "biggan", "--data", str(data / "lab16.zip"), "--run-dir", str(run),
                 "--batch", "4", "--kimg", "0.024", "--d-steps", "2", "--ortho", "1e-3", "--ema-start", "1",
                 "--workers", "0"] + NET) == 0
    opts, rows, st = _check_contract(run, "biggan")
    # --map has no BigGAN meaning (null); --zdim 16 is rounded up to 3 equal skip-z chunks; --wdim is the embedding
    assert opts["map"] is None and opts["z_dim"] == 18 and opts["w_dim"] == 16 and opts["d_steps"] == 2
    assert rows[-1]["step"] == 3 and rows[-1]["d_steps"] == 6 and rows[-1]["ema_active"] is True
    assert all(r["loss_r1"] is None and r["loss_ortho_G"] > 0 for r in rows)
    ck = gan_core.load_checkpoint(run / st["latest_snapshot"])
    assert ck.family == "biggan" and ck.G_ema.c_dim == 3 and ck.D is not None
    assert ck.training_state["cur_nimg"] == 24 and ck.training_state["step"] == 3
    assert ck.G.config()["channels"] == [[16, 16], [16, 8]]  # min(128 / r, 16) at 4², 8², 16²
    with torch.no_grad():
        img = ck.G_ema(torch.randn(3, 18), ck.G_ema.make_c([0, 1, 2], 3))
    assert img.shape == (3, 3, 16, 16) and torch.isfinite(img).all()


def test_biggan_deep_one_step(data, tmp_path):
    run = tmp_path / "deep"
    assert main(["train", "--cfg", "biggan-deep", "--data", str(data / "lab16.zip"), "--run-dir", str(run),
                 "--batch", "4", "--kimg", "0.008", "--workers", "0"] + NET) == 0
    _check_contract(run, "biggan-deep")
    assert gan_core.load_generator(run / "network-snapshot-000000.pt").family == "biggan-deep"


@pytest.mark.parametrize("args, message", [
    (["--cfg", "biggan", "--data", "{plain}"], "needs a labelled dataset"),
    (["--cfg", "stylegan1", "--data", "{lab}", "--aug", "fixed", "--p", "-1"], "--p must be in [0, 1]"),
    (["--cfg", "stylegan1", "--data", "{lab}", "--dlr", "0.001"], "--dlr does not apply to --cfg stylegan1"),
    (["--cfg", "biggan", "--data", "{lab}", "--bf16"], "--bf16 does not apply to --cfg biggan"),
    (["--cfg", "stylegan2", "--data", "{lab}", "--bf16", "--fp32"], "leave out one of the two"),
    (["--cfg", "biggan", "--data", "{lab}", "--aug", "fixed", "--p", "2"], "--p must be in [0, 1]"),
    (["--cfg", "biggan", "--data", "{lab}", "--loss", "r1"], "--loss is a stylegan1 option"),
    (["--cfg", "stylegan1", "--data", "{lab}", "--d-steps", "3"], "--d-steps is a biggan/biggan-deep option"),
    (["--cfg", "stylegan1", "--data", "{lab}", "--cond", "true"], "stylegan1 is unconditional"),
    (["--cfg", "stylegan1", "--data", "{lab}", "--start-res", "32"], "--start-res must be a power of two"),
    (["--cfg", "stylegan2", "--data", "{lab}", "--ema-start", "5"], "--ema-start is a biggan/biggan-deep option"),
    (["--cfg", "stylegan1", "--data", "{lab}", "--gpus", "2", "--batch", "3"], "--batch 3 must be a multiple of"),
    (["--cfg", "stylegan1", "--data", "{lab}", "--gpus", "2", "--batch", "12", "--mbstd-group", "4"],
     "is 6 per process, which is not a multiple of the minibatch-stddev group (4)"),
    (["--cfg", "biggan", "--data", "{lab}", "--gpus", "2", "--batch", "5"], "--batch 5 must be a multiple of"),
])
def test_family_errors_one_line_exit_2(data, tmp_path, capsys, args, message):
    args = [a.format(plain=data / "plain16.zip", lab=data / "lab16.zip") for a in args]
    assert main(["train", "--run-dir", str(tmp_path / "r")] + args + NET) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("ganscope train: error:") and message in err
    assert not (tmp_path / "r" / "stats.jsonl").exists()


@pytest.mark.parametrize("aug", [[], ["--aug", "ada", "--target", "0"]], ids=["noaug", "ada"])
def test_biggan_resume_continues_exactly(aug, data, tmp_path):
    args = ["--cfg", "biggan", "--data", str(data / "lab16.zip"), "--batch", "4", "--ema-start", "3",
            "--workers", "0", "--mirror", "true"] + aug + NET
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["train", "--run-dir", str(full), "--kimg", "0.032"] + args) == 0
    assert main(["train", "--run-dir", str(part), "--kimg", "0.016"] + args) == 0
    assert main(["train", "--resume", str(part), "--kimg", "0.032", "--no-progress"]) == 0
    ca, cb = _same_snapshots(full, part)
    assert cb.training_state["trainer"]["g_steps"] == 4 and cb.training_state["trainer"]["d_steps"] == 8
    # the EMA started averaging in the resumed part: G_ema is no longer a copy of G
    assert not torch.equal(cb.G_ema.state_dict()["linear.weight"], cb.G.state_dict()["linear.weight"])
    assert [r["step"] for r in _rows(part)][-1] == 4
    if aug:   # ADA raised p (r_t above the target 0) in both parts, and the resumed run carried it on
        p = cb.training_state["trainer"]["augment"]["p"]
        assert p > 0 and p == ca.training_state["trainer"]["augment"]["p"]
        assert _rows(part)[-1]["augment_p"] == p and _rows(part)[-1]["ada_rt"] is not None


def test_control_stop_is_obeyed_by_stylegan1(data, tmp_path):
    run = tmp_path / "run"
    opts = TrainOptions(data=str(data / "lab16.zip"), run_dir=str(run), cfg="stylegan1", kimg=1000, batch=4,
                        phase_kimg=0.008, cbase=128, cmax=16, map=2, z_dim=16, w_dim=16, tick=1000,
                        preview_interval=0.2, grid=(2, 2))
    result = {}
    th = threading.Thread(target=lambda: result.setdefault("state", train(opts, progress=False)))
    th.start()
    try:
        end = time.time() + 60
        while time.time() < end and not ((read_status(run) or {}).get("state") == "running"
                                          and (read_status(run) or {}).get("kimg", 0) > 0):
            time.sleep(0.05)
        send_command(run, "stop")
        th.join(60)
    finally:
        if th.is_alive():
            send_command(run, "stop")
            th.join(60)
    assert result["state"] == "stopped"
    st = read_status(run)
    assert st["state"] == "stopped" and 0 < st["kimg"] < 1000
    ck = gan_core.load_checkpoint(run / st["latest_snapshot"])
    assert ck.training_state["cur_nimg"] / 1000 == pytest.approx(st["kimg"])
    assert "stopped at kimg" in (run / "log.txt").read_text()


def test_resolved_defaults_per_family():
    from gan_core.train.options import resolve

    # StyleGAN1: the paper's 600-kimg phases, shortened so that a short run reaches the final resolution
    assert resolve(TrainOptions(cfg="stylegan1", kimg=0.048), 32, 1).phase_kimg == 0.008  # 8→16→32: 6 phases
    sg1 = resolve(TrainOptions(cfg="stylegan1", kimg=25000), 256, 1)
    assert (sg1.phase_kimg, sg1.batch, sg1.map, sg1.z_dim, sg1.cmax, sg1.loss) == (600.0, None, 8, 512, 512, "wgan-gp")
    # BigGAN at a paper resolution keeps the paper's tables (cbase/cmax null); elsewhere the width rule
    bg = resolve(TrainOptions(cfg="biggan"), 128, 1)
    assert (bg.cbase, bg.cmax, bg.z_dim, bg.w_dim, bg.map, bg.d_steps, bg.ortho, bg.ema_start) == \
        (None, None, 120, 128, None, 2, 1e-4, 20000)
    assert resolve(TrainOptions(cfg="biggan-deep", cmax=64), 16, 1).cbase == 128 * 128
    # StyleGAN2 is unchanged
    sg2 = resolve(TrainOptions(cfg="stylegan2"), 64, 1)
    assert (sg2.cmax, sg2.z_dim, sg2.w_dim, sg2.loss, sg2.d_steps) == (512, 512, 512, None, None)


@pytest.mark.slow
def test_sigterm_stops_biggan_cleanly(data, tmp_path):
    import signal
    import subprocess
    import sys

    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "gan_core", "train", "--cfg", "biggan", "--data",
                             str(data / "lab16.zip"), "--run-dir", str(run), "--batch", "4", "--kimg", "1000",
                             "--workers", "0"] + NET, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.time() + 120
        while time.time() < end and not ((read_status(run) or {}).get("state") == "running"
                                          and (read_status(run) or {}).get("kimg", 0) > 0):
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    st = read_status(run)
    assert st["state"] == "stopped" and st["pid"] == proc.pid and (run / st["latest_snapshot"]).is_file()
    assert "stopped (SIGTERM)" in (run / "log.txt").read_text()


@pytest.mark.parametrize("cfg", ["stylegan1", "biggan"])
def test_families_measure_swd_and_keep_the_best_snapshot(cfg, data, tmp_path, monkeypatch, capsys):
    import gan_core.train.families as families_mod
    # snapshots named by image count, so that this tiny run makes several distinct ones
    monkeypatch.setattr(families_mod, "snapshot_name", lambda nimg: f"network-snapshot-{nimg:06d}.pt")
    run = tmp_path / cfg
    extra = ["--phase-kimg", "0.012"] if cfg == "stylegan1" else ["--workers", "0"]
    assert main(["train", "--cfg", cfg, "--data", str(data / "lab16.zip"), "--run-dir", str(run), "--batch", "4",
                 "--kimg", "0.032", "--tick", "0.008", "--snap", "1", "--metrics", "swd", "--metrics-num", "16",
                 "--keep-snapshots", "1"] + extra + NET) == 0
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    kimgs = [r["kimg"] for r in rows]
    assert len(rows) >= 4 and kimgs == sorted(set(kimgs)) and kimgs[-1] == 0.032
    for r in rows:    # 16² data: one pyramid level, lower StyleGAN1 stages compared at 16²
        assert r["num"] == 16 and r["swd_16"] > 0 and r["swd_mean"] == r["swd_16"]
    best = min(reversed(rows), key=lambda r: r["swd_mean"])["snapshot"]
    on_disk = sorted(p.name for p in run.glob("network-snapshot-*.pt"))
    assert on_disk == sorted({best, rows[-1]["snapshot"]})
    assert (run / "log.txt").read_text().count("metric swd (16 images): mean ") == len(rows)
    capsys.readouterr()
    assert main(["status", str(run)]) == 0
    assert f"best so far: {best} (kimg " in capsys.readouterr().out


def test_a_stylegan1_run_saved_before_it_took_aug_resumes(data, tmp_path):
    """Runs written before StyleGAN1 took --aug saved aug, p, target, ada_kimg and ada_interval as
    null; resuming one fills in the defaults instead of failing on None."""
    run = tmp_path / "old"
    args = ["--cfg", "stylegan1", "--data", str(data / "lab16.zip"), "--batch", "4", "--tick", "0.004"] + NET
    assert main(["train", "--run-dir", str(run), "--kimg", "0.004"] + args) == 0
    opts = json.loads((run / "training_options.json").read_text())
    opts.update(aug=None, p=None, target=None, ada_kimg=None, ada_interval=None)
    (run / "training_options.json").write_text(json.dumps(opts))
    assert main(["train", "--resume", str(run), "--kimg", "0.008", "--no-progress"]) == 0
    resumed = json.loads((run / "training_options.json").read_text())
    assert resumed["aug"] == "noaug" and resumed["p"] == 0.2 and _rows(run)[-1]["kimg"] == 0.008
