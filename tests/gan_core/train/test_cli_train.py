"""``ganscope train`` on the command line: one-line errors (exit 2), run directories, resume in place."""
from __future__ import annotations

import contextlib
import json
import shutil

import pytest

from gan_core.cli import main

TINY = ["--batch", "4", "--cbase", "128", "--cmax", "16", "--map", "2", "--zdim", "16", "--wdim", "16",
        "--workers", "0", "--no-progress"]


@pytest.mark.parametrize("args, message", [
    (["--data", "missing.zip"], "no such file"),
    (["--kimg", "1"], "--data is required"),
    (["--data", "{zip}", "--batch", "6", "--batch-gpu", "4"], "not a multiple of --batch-gpu"),
    (["--data", "{zip}", "--kimg", "0"], "--kimg must be positive"),
    (["--data", "{zip}", "--ema-kimg", "-1"], "--ema-kimg must be 0 (no averaging) or more, got -1.0"),
    (["--data", "{zip}", "--cfg", "biggan", "--ema-kimg", "5"], "--ema-kimg does not apply to --cfg biggan"),
    (["--data", "{zip}", "--cfg", "stylegan1", "--d-cmax", "32"], "--d-cmax does not apply to --cfg stylegan1"),
    (["--data", "{zip}", "--d-cbase", "0"], "--d-cbase and --d-cmax must be positive"),
    (["--data", "{zip}", "--layers", "8"], "--layers is a StyleGAN3 option (its synthesis network); --cfg stylegan2"),
    (["--data", "{zip}", "--cfg", "stylegan3-t", "--layers", "2"], "--layers must be at least 3 for StyleGAN3, got 2"),
    (["--data", "{zip}", "--cfg", "stylegan3-r", "--margin", "-1"], "--margin must be >= 0, got -1"),
    (["--data", "{zip}", "--cfg", "biggan", "--margin", "4"], "--margin does not apply to --cfg biggan"),
    (["--data", "{zip}", "--cond", "maybe"], "invalid boolean (true/false) value: 'maybe'"),
    (["--data", "{zip}", "--resume", "{tmp}/nothing-here"], "no such run directory or snapshot file"),
    (["--resume", "{tmp}/nothing-here"], "--resume {tmp}/nothing-here: no such run directory or snapshot file"),
    (["--resume", "{tmp}"], "not a training run directory"),
])
def test_bad_options_one_line_exit_2(args, message, tiny_zip, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [a.format(zip=tiny_zip, tmp=tmp_path) for a in args]
    message = message.format(tmp=tmp_path)
    with pytest.raises(SystemExit) if "maybe" in args else contextlib.nullcontext() as exc:
        rc = main(["train", "--outdir", str(tmp_path / "runs")] + args)
    err = capsys.readouterr().err
    if exc is not None and hasattr(exc, "value"):
        assert exc.value.code == 2
    else:
        assert rc == 2 and len(err.strip().splitlines()) == 1 and err.startswith("ganscope train: error:")
    assert message in err


def test_outdir_numbering_and_resume_in_place(tiny_zip, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["train", "--data", str(tiny_zip), "--outdir", str(runs), "--kimg", "0.004", "--cfg", "stylegan3-t",
                 "--keep-snapshots", "1", "--desc", "tiny"] + TINY) == 0
    run = runs / "00000-tiny"
    assert (run / "network-snapshot-000000.pt").is_file()
    # the same run directory again without --resume is refused
    assert main(["train", "--data", str(tiny_zip), "--run-dir", str(run), "--kimg", "0.004"] + TINY) == 2
    assert "already holds a run" in capsys.readouterr().err
    # --resume RUN_DIR alone continues in place with the saved options; --kimg extends it
    assert main(["train", "--resume", str(run), "--kimg", "0.008", "--no-progress"]) == 0
    opts = json.loads((run / "training_options.json").read_text())
    assert opts["cfg"] == "stylegan3-t" and opts["kimg"] == 0.008 and opts["batch"] == 4
    rows = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert [p.name for p in run.glob("network-snapshot-*.pt")] == ["network-snapshot-000000.pt"]
    status = json.loads((run / "live_status.json").read_text())
    assert status["state"] == "finished" and status["kimg"] == 0.008
    # a new run gets the next number
    assert main(["train", "--data", str(tiny_zip), "--outdir", str(runs), "--kimg", "0.004", "--desc", "tiny"]
                + TINY) == 0
    assert (runs / "00001-tiny" / "stats.jsonl").is_file()


def test_resume_refuses_a_run_that_is_still_training(tiny_zip, tmp_path, capsys):
    import os
    import socket
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    assert main(["train", "--data", str(tiny_zip), "--run-dir", str(run), "--kimg", "0.004"] + TINY) == 0
    status_path = run / "live_status.json"
    finished = json.loads(status_path.read_text())

    def claim(**fields):
        status_path.write_text(json.dumps({**finished, "state": "running", "updated": time.time(), **fields}))

    # another process of this machine trains it: two trainers would overwrite each other's files
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        claim(pid=other.pid, host=socket.gethostname())
        assert main(["train", "--resume", str(run), "--kimg", "0.008", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert f"still being trained by process {other.pid} on this machine" in err and "stop that run" in err
    finally:
        other.kill()
        other.wait()
    # another machine updated the status a minute ago: refused; ten minutes ago: taken as gone
    claim(pid=12345, host="trainbox", updated=time.time() - 60)
    assert main(["train", "--resume", str(run), "--kimg", "0.008", "--no-progress"]) == 2
    assert "still being trained by trainbox" in capsys.readouterr().err
    claim(pid=12345, host="trainbox", updated=time.time() - 600)
    # a killed process of this machine (its status still says running) does not block either
    assert main(["train", "--resume", str(run), "--kimg", "0.008", "--no-progress"]) == 0
    assert json.loads(status_path.read_text())["state"] == "finished"
    claim(pid=other.pid, host=socket.gethostname())
    assert main(["train", "--resume", str(run), "--kimg", "0.012", "--no-progress"]) == 0
    assert json.loads(status_path.read_text())["pid"] == os.getpid()


def test_resume_names_a_dataset_that_moved(tiny_zip, tmp_path, capsys):
    import shutil
    data = tmp_path / "data.zip"
    shutil.copy(tiny_zip, data)
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--run-dir", str(run), "--kimg", "0.004"] + TINY) == 0
    moved = tmp_path / "elsewhere.zip"
    data.rename(moved)
    assert main(["train", "--resume", str(run), "--kimg", "0.008", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"the dataset of the run being resumed, {data}, is not there" in err and "--data" in err
    assert main(["train", "--resume", str(run), "--data", str(moved), "--kimg", "0.008", "--no-progress"]) == 0


def test_resume_refuses_changes_to_what_the_networks_were_built_with(tmp_path, capsys):
    # the networks come from the snapshot: a new --cbase would be written to the options and the
    # log as if it applied, while nothing changed
    (tmp_path / "training_options.json").write_text(json.dumps(
        {"cfg": "stylegan3-t", "cbase": 2048, "z_dim": 64, "data": str(tmp_path / "gone.zip")}))
    (tmp_path / "training_options.json").write_text(json.dumps(
        {"cfg": "stylegan3-t", "cbase": 2048, "z_dim": 64, "layers": 8, "margin": 4, "data": str(tmp_path / "gone.zip")}))
    for args, flag in ((["--zdim", "32"], "--zdim"), (["--cfg", "stylegan2"], "--cfg"), (["--layers", "14"], "--layers"),
                       (["--margin", "10"], "--margin")):
        assert main(["train", "--resume", str(tmp_path), "--data", "x.zip", *args, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert f"{flag} cannot change on resume" in err and "start a new run" in err, err
    # a StyleGAN3 generator may grow on resume (gan_core.train.widen), never shrink
    assert main(["train", "--resume", str(tmp_path), "--data", "x.zip", "--cbase", "1024", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--cbase 1024: a resume can widen the run's generator, not narrow it (it was built with 2048)" in err, err
    assert main(["train", "--resume", str(tmp_path), "--cbase", "4096", "--data", "x.zip", "--no-progress"]) == 2
    assert "--data x.zip: no such file" in capsys.readouterr().err     # past the option checks
    # a StyleGAN2 one may not
    sg2 = tmp_path / "sg2"
    sg2.mkdir()
    (sg2 / "training_options.json").write_text(json.dumps(
        {"cfg": "stylegan2", "cbase": 2048, "z_dim": 64, "data": str(tmp_path / "gone.zip")}))
    assert main(["train", "--resume", str(sg2), "--data", "x.zip", "--cbase", "4096", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--cbase cannot change on resume" in err and "start a new run" in err, err
    # the same value is no change: on to the next check (the dataset)
    assert main(["train", "--resume", str(tmp_path), "--cbase", "2048", "--data", "x.zip", "--no-progress"]) == 2
    assert "--data x.zip: no such file" in capsys.readouterr().err
    # D's widths: a run saved before --d-cbase existed was built with D's widths = --cbase / --cmax
    assert main(["train", "--resume", str(tmp_path), "--d-cbase", "4096", "--data", "x.zip", "--no-progress"]) == 2
    assert "--d-cbase cannot change on resume (the run's networks were built with 2048" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path), "--d-cbase", "2048", "--data", "x.zip", "--no-progress"]) == 2
    assert "--data x.zip: no such file" in capsys.readouterr().err


def test_a_generator_file_trains_on_with_a_wider_fresh_d(tiny_zip, tmp_path, capsys):
    """--d-cbase / --d-cmax: D's own widths. Starting from a generator without its D (a
    --generator-only file), the new D can be wider than G; the run records both and resumes."""
    import torch

    from gan_core.io import load_checkpoint

    first = tmp_path / "first"
    assert main(["train", "--data", str(tiny_zip), "--run-dir", str(first), "--kimg", "0.004"] + TINY) == 0
    snap = sorted(first.glob("network-snapshot-*.pt"))[-1]
    g_only = tmp_path / "G.pt"
    assert main(["convert", str(snap), str(g_only), "--generator-only"]) == 0
    run = tmp_path / "wide-d"
    assert main(["train", "--data", str(tiny_zip), "--run-dir", str(run), "--resume", str(g_only), "--kimg", "0.008",
                 "--d-cbase", "512", "--d-cmax", "32", "--d-warmup", "0.004"] + TINY) == 0
    opts = json.loads((run / "training_options.json").read_text())
    assert (opts["cbase"], opts["cmax"], opts["d_cbase"], opts["d_cmax"]) == (128, 16, 512, 32)
    ck = load_checkpoint(sorted(run.glob("network-snapshot-*.pt"))[-1])
    assert ck.D.config()["channel_max"] == 32 and ck.D.config()["channel_base"] == 512
    assert ck.G.config()["channel_max"] == 16
    widths = {p.shape[0] for name, p in ck.D.named_parameters() if name.endswith("conv0.weight")}
    assert max(widths) == 32    # D is wider than anything in G (16)
    G0 = load_checkpoint(g_only).G_ema
    assert not all(torch.equal(a, b) for a, b in zip(G0.parameters(), ck.G.parameters()))   # G trained on
    capsys.readouterr()
    # built into D: a resume keeps it, and refuses another width
    assert main(["train", "--resume", str(run), "--d-cmax", "64", "--no-progress"]) == 2
    assert "--d-cmax cannot change on resume" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--kimg", "0.012", "--no-progress"]) == 0
    assert load_checkpoint(sorted(run.glob("network-snapshot-*.pt"))[-1]).D.config()["channel_max"] == 32



def test_a_process_without_its_own_gpu_is_told_how_many_there_are(monkeypatch):
    import torch

    from gan_core.train import OptionError
    from gan_core.train.trainer import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert pick_device("cuda", 0) == torch.device("cuda", 0)
    with pytest.raises(OptionError, match=r"process 1 of this machine needs GPU 1, but there is only 1: "
                                          r"use at most --gpus 1"):
        pick_device("cuda", 1)
    assert pick_device("cuda:3", 1) == torch.device("cuda", 3)   # named explicitly: taken as given


def test_an_error_in_a_spawned_process_is_one_line(tiny_zip, tmp_path, capsys):
    """--gpus 2 starts two processes; an option error inside them is reported like a one-process
    run's (not the process's traceback)."""
    rc = main(["train", "--data", str(tiny_zip), "--run-dir", str(tmp_path / "r"), "--gpus", "2", "--batch", "5",
               "--device", "cpu"] + TINY[2:])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err == "ganscope train: error: --batch 5 must be a multiple of the number of processes (2)"


def test_dry_run_prints_the_resolved_options_and_trains_nothing(tiny_zip, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", str(tiny_zip), "--cfg", "stylegan3-t", "--gpus", "2", "--dry-run"]) == 0
    opts = json.loads(capsys.readouterr().out)
    # the defaults for 16² images over 2 processes: batch min(4096/16, 32) per process, gamma 0.0002·16²/64
    assert (opts["batch"], opts["batch_gpu"], opts["gamma"], opts["map"], opts["world_size"]) == (64, 32, 0.0008, 2, 2)
    assert opts["ema_kimg"] == 64 * 10 / 32   # the EMA's half-life follows the batch unless --ema-kimg says
    assert main(["train", "--data", str(tiny_zip), "--cfg", "stylegan3-t", "--ema-kimg", "2.5", "-n"]) == 0
    assert json.loads(capsys.readouterr().out)["ema_kimg"] == 2.5
    assert opts["augpipe"] == "bgc"   # ADA's paper's full set unless --augpipe picks one
    assert main(["train", "--data", str(tiny_zip), "--augpipe", "bg", "-n"]) == 0
    assert json.loads(capsys.readouterr().out)["augpipe"] == "bg"
    assert main(["train", "--data", str(tiny_zip), "--aug", "noaug", "--augpipe", "bg", "-n"]) == 0
    assert json.loads(capsys.readouterr().out)["augpipe"] is None   # nothing is augmented
    assert main(["train", "--data", str(tiny_zip), "--cfg", "stylegan3-t", "--map-depth", "3", "-n"]) == 0
    assert json.loads(capsys.readouterr().out)["map"] == 3   # the official trainer's name for --map
    assert opts["dataset"]["resolution"] == 16 and opts["dataset"]["num_images"] == 32
    assert not (tmp_path / "training-runs").exists()
    assert main(["train", "--data", str(tiny_zip), "--cfg", "biggan", "--gpus", "2", "--batch", "5", "-n"]) == 2
    assert "--batch 5 must be a multiple of the number of processes (2)" in capsys.readouterr().err


@pytest.mark.parametrize("family", [
    [],
    # StyleGAN1 / BigGAN snapshots record the command's options as train_options, beside their
    # progressive trainer's own "options"
    ["--cfg", "stylegan1", "--loss", "r1"],
])
def test_a_branch_from_an_earlier_snapshot_takes_that_snapshots_options(family, tiny_zip, tmp_path, capsys):
    """`--resume RUN/network-snapshot-EARLY.pt` continues with the options that snapshot was trained
    with, not the run's latest ones: a later resume's --gamma must not leak into a branch from
    before it (it did, reported as if the user had changed it)."""
    run = tmp_path / "run"
    tiny = [a for a in TINY if a not in ("--workers", "0")] if family else TINY
    assert main(["train", "--data", str(tiny_zip), "--run-dir", str(run), "--kimg", "0.004", "--gamma", "0.5",
                 "--keep-snapshots", "5", *family] + tiny) == 0
    early = run / "early-snapshot.pt"     # (the tiny run's later snapshot takes the same kimg name)
    shutil.copyfile(run / "network-snapshot-000000.pt", early)
    assert main(["train", "--resume", str(run), "--kimg", "0.008", "--gamma", "2", "--no-progress"]) == 0
    assert json.loads((run / "training_options.json").read_text())["gamma"] == 2
    capsys.readouterr()
    assert main(["train", "--resume", str(early), "--run-dir", str(tmp_path / "branch"), "--kimg", "0.008",
                 "--no-progress", "--dry-run"]) == 0
    opts = json.loads(capsys.readouterr().out)
    assert opts["gamma"] == 0.5 and opts["data"] == str(tiny_zip.resolve())
    assert opts["cfg"] == (family[1] if family else "stylegan2")
    # an option given on the command line still wins
    assert main(["train", "--resume", str(early), "--run-dir", str(tmp_path / "branch"), "--gamma", "1",
                 "--no-progress", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["gamma"] == 1
