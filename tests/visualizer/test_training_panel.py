"""The Training panel in the real window: start a tiny run, watch its preview, stop it, open
its snapshot; attach to a run directory made elsewhere."""
from __future__ import annotations

import time

import pytest

from tests.visualizer.conftest import ui_click, ui_set

pytestmark = pytest.mark.gui


def run_frames_until(app, cond, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.frame()
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; panel says: "
                         f"{__import__('dearpygui.dearpygui', fromlist=['x']).get_value('train.state')!r}")


def test_start_watch_stop_and_open_a_run(app, tmp_path, tiny_sg2):
    import dearpygui.dearpygui as dpg
    run_dir = tmp_path / "run"
    ui_set("train.data", "procedural:300")
    ui_set("train.cfg", "stylegan2")
    ui_set("train.res", "16")
    ui_set("train.batch", 8)
    ui_set("train.kimg", 20.0)
    ui_set("train.small", True)
    ui_set("train.extra", "--gamma 0.05 --mirror true --metrics swd --metrics-num 16")
    ui_set("train.run_dir", str(run_dir))
    ui_click("train.start")
    ui_set("train.extra", "")
    assert "training started" in app.last_status
    panel = app.training_panel
    run_frames_until(app, lambda: panel.preview is not None and panel.state == "running", 240,
                     "the first live preview")
    # the preview on screen is the run's live_preview.png: a grid of 16² samples
    assert panel.preview.shape[0] % 16 == 0 and panel.preview.shape[1] % 16 == 0
    assert dpg.does_item_exist("train.preview")
    run_frames_until(app, lambda: len(app.training.watcher.stats) >= 1, 240, "the first stats line")
    xs, ys = dpg.get_value("train.series.loss_G")[:2]
    assert len(xs) == len(ys) >= 1
    # the second plot: ADA's p (the run's default augmentation), with the rt that steers it
    assert dpg.is_item_shown("train.plot_p")
    assert dpg.get_item_configuration("train.plot_p")["label"] == "augment p, and rt = E[sign D(reals)]"
    assert len(dpg.get_value("train.series.second")[0]) >= 1
    assert "kimg" in dpg.get_item_configuration("train.progress")["overlay"]
    # what the run trains, from its options (not the panel's inputs, which may change meanwhile)
    assert dpg.get_value("train.run_info").startswith("stylegan2 on "), dpg.get_value("train.run_info")
    assert "16²" in dpg.get_value("train.run_info") and "batch 8" in dpg.get_value("train.run_info")
    import json
    opts = json.loads((run_dir / "training_options.json").read_text())     # the options box reached the run
    assert opts["gamma"] == 0.05 and opts["mirror"] is True
    ui_click("train.pause")
    run_frames_until(app, lambda: panel.state == "paused", 180, "the run to pause")
    ui_click("train.resume")
    run_frames_until(app, lambda: panel.state == "running", 180, "the run to resume")
    ui_click("train.stop")
    run_frames_until(app, lambda: panel.state == "stopped", 240, "the run to stop")
    # the stop's snapshot was measured (--metrics swd): the quality plot appears with its point
    run_frames_until(app, lambda: dpg.get_item_configuration("train.plot_q")["show"], 60, "the quality plot")
    xs, ys = dpg.get_value("train.series.swd_mean")[:2]
    assert len(xs) == len(ys) == 1 and ys[0] > 0
    bx, by = dpg.get_value("train.series.swd_best")[:2]     # the best point, marked: the only one so far
    assert (list(bx), list(by)) == (list(xs), list(ys))
    snap = app.training.latest_snapshot()
    assert snap is not None and snap.exists()
    ui_click("train.open")
    r = app.wait_for_result(lambda r: r.model is not None and r.model.path == str(snap), timeout=60)
    assert r.error is None and r.image.shape == (16, 16, 3)
    # the measured-best snapshot (the only one measured so far) opens from beside the quality plot
    assert dpg.get_item_configuration("train.open_best")["show"]
    assert app.training.best_snapshot() == snap
    app.open_model(str(tiny_sg2))
    app.wait_for_result(lambda r: r.model is not None and r.model.path == str(tiny_sg2))
    ui_click("train.open_best")
    app.wait_for_result(lambda r: r.model is not None and r.model.path == str(snap), timeout=60)
    # Resume on a stopped run continues it from that snapshot, as a new process, with the options
    # box's changes (a lower G learning rate here)
    stopped_at = app.training.watcher.status["kimg"]
    ui_set("train.extra", "--glr 0.001")
    ui_click("train.resume")
    ui_set("train.extra", "")
    assert "continuing run from network-snapshot-" in app.last_status, app.last_status
    assert app.last_status.endswith("with --glr 0.001"), app.last_status
    run_frames_until(app, lambda: panel.state == "running" and app.training.watcher.status["kimg"] > stopped_at,
                     240, "the continued run to train")
    log = (run_dir / "log.txt").read_text()
    assert f"starting at kimg {stopped_at:.3f}" in log                                  # where it stopped
    assert "options changed on resume: glr 0.0025 → 0.001" in log, log[-600:]
    assert json.loads((run_dir / "training_options.json").read_text())["glr"] == 0.001
    ui_click("train.stop")
    run_frames_until(app, lambda: panel.state == "stopped", 240, "the continued run to stop")
    app.open_model(str(tiny_sg2))
    app.wait_for_result(lambda r: r.model is not None and r.model.path == str(tiny_sg2))


def test_a_run_whose_process_died_says_so_and_stop_is_refused(app, tmp_path):
    import json
    import socket
    import subprocess
    import sys

    import dearpygui.dearpygui as dpg
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    (tmp_path / "live_status.json").write_text(json.dumps(
        {"state": "running", "kimg": 3.25, "total_kimg": 10, "pid": p.pid, "host": socket.gethostname(),
         "updated": time.time() - 30}))
    (tmp_path / "broken_images.txt").write_text(
        "dataset: skipping broken image 00000/a.png: truncated\n"
        "dataset: skipping broken image 00000/a.png: truncated\n"     # the same, from a second loader process
        "dataset: skipping broken image 00000/b.jpg: not an image\n")
    ui_set("train.run_dir", str(tmp_path))
    ui_click("train.attach")
    run_frames_until(app, lambda: "not training" in dpg.get_value("train.state"), 30, "the dead-run warning")
    assert dpg.get_value("train.broken").startswith("2 unreadable dataset images skipped")
    assert dpg.get_item_configuration("train.broken")["show"]
    assert "kimg 3.25" in dpg.get_value("train.state")
    ui_click("train.stop")
    assert app.last_error and "nothing trains this run" in app.last_error
    ui_click("train.resume")                      # no snapshot to continue from: said, nothing started
    assert app.last_error and "no snapshot" in app.last_error
    assert app.training.watcher.process is None
    # the folder is offered again among the recent runs, and picking it attaches to it
    assert dpg.get_item_configuration("train.recent")["items"][0] == str(tmp_path)
    app.training.watcher = None
    ui_set("train.run_dir", "")
    ui_set("train.recent", str(tmp_path))
    assert app.training.run_dir == tmp_path and dpg.get_value("train.run_dir") == str(tmp_path)


def test_attach_refuses_a_folder_that_is_not_a_run(app, tmp_path):
    ui_set("train.run_dir", str(tmp_path))
    ui_click("train.attach")
    assert app.last_error and "not a training run directory" in app.last_error


def test_start_refuses_a_missing_dataset(app, tmp_path):
    ui_set("train.data", str(tmp_path / "nothing.zip"))
    ui_set("train.run_dir", str(tmp_path / "r"))
    ui_click("train.start")
    assert app.last_error and "does not exist" in app.last_error


def test_the_suggested_run_folder_moves_on_once_used(app, tmp_path, monkeypatch):
    import os

    import dearpygui.dearpygui as dpg
    monkeypatch.chdir(tmp_path)
    panel = app.training_panel
    used = panel._new_run_dir()
    os.makedirs(used)
    open(os.path.join(used, "live_status.json"), "w").write("{}")
    panel._auto_dir = used
    ui_set("train.run_dir", used)
    ui_set("train.data", str(tmp_path / "nothing.zip"))
    ui_click("train.start")
    suggested = dpg.get_value("train.run_dir")
    assert suggested != used and suggested.startswith(str(tmp_path / "training-runs"))
    assert app.last_error and "does not exist" in app.last_error     # the dataset, not the folder
    # a folder the user typed is never swapped behind their back
    ui_set("train.run_dir", used)
    ui_set("train.data", "procedural:10")
    ui_click("train.start")
    assert dpg.get_value("train.run_dir") == used and "already holds a run" in app.last_error


def test_the_options_box_checks_and_a_failing_trainer_says_why(app, tmp_path):
    from gan_core.data.procedural import write_procedural_zip
    data = tmp_path / "d.zip"
    write_procedural_zip(data, count=8, resolution=16)
    ui_set("train.data", str(data))
    ui_set("train.run_dir", str(tmp_path / "r1"))
    ui_set("train.extra", "--kimg 5")
    ui_click("train.start")
    assert app.last_error and "--kimg is set by the panel's own field" in app.last_error
    ui_set("train.extra", "--desc 'unclosed")
    ui_click("train.start")
    assert app.last_error and "No closing quotation" in app.last_error
    # a value only the trainer can judge: its one-line error reaches the status line
    ui_set("train.extra", "--gamma lots")
    ui_set("train.run_dir", str(tmp_path / "r2"))
    ui_click("train.start")
    ui_set("train.extra", "")
    run_frames_until(app, lambda: app.last_error and "exited with code 2" in app.last_error, 120,
                     "the trainer to refuse the option")
    assert "--gamma: invalid finite number value: 'lots'" in app.last_error, app.last_error


def test_the_bfloat16_checkbox_trains_in_bfloat16_and_follows_the_run(app, tmp_path, monkeypatch):
    import json

    import dearpygui.dearpygui as dpg

    import visualizer.training_bridge as bridge
    from gan_core.data.procedural import write_procedural_zip
    ui_set("train.cfg", "biggan")                 # a config --bf16 does not apply to: no checkbox
    assert not dpg.is_item_shown("train.bf16")
    ui_set("train.cfg", "stylegan2")
    assert dpg.is_item_shown("train.bf16")
    data = tmp_path / "d.zip"
    write_procedural_zip(data, count=16, resolution=16)
    run_dir = tmp_path / "run"
    ui_set("train.data", str(data))
    ui_set("train.batch", 4)
    ui_set("train.kimg", 20.0)
    ui_set("train.small", True)
    ui_set("train.bf16", True)
    ui_set("train.run_dir", str(run_dir))
    ui_click("train.start")
    assert "training started" in app.last_status, app.last_error
    panel = app.training_panel
    run_frames_until(app, lambda: panel.state == "running" and dpg.get_value("train.run_info"), 240,
                     "the run to start")
    assert json.loads((run_dir / "training_options.json").read_text())["bf16"] is True
    assert "bfloat16" in dpg.get_value("train.run_info"), dpg.get_value("train.run_info")
    ui_click("train.stop")
    run_frames_until(app, lambda: panel.state == "stopped", 240, "the run to stop")
    assert "reduced-precision blocks in bfloat16 (--bf16)" in (run_dir / "log.txt").read_text()
    # attaching sets the checkbox from the run's options; Resume passes it on only when changed
    started = []
    monkeypatch.setattr(bridge, "launch_trainer", lambda cmd, d: started.append(cmd) or None)
    ui_set("train.bf16", False)
    app.training.watcher = None
    ui_set("train.run_dir", str(run_dir))
    ui_click("train.attach")
    run_frames_until(app, lambda: dpg.get_value("train.run_info") != "", 30, "the run's options")
    assert dpg.get_value("train.bf16") is True
    ui_click("train.resume")
    assert started and "--bf16" not in started[-1], started
    ui_set("train.bf16", False)
    ui_click("train.resume")
    assert app.last_status.endswith("with --bf16 false"), app.last_status
    assert started[-1][-2:] == ["--bf16", "false"]
    ui_set("train.bf16", False)


def test_the_panel_distils_mobilestylegan_from_a_teacher(app, tmp_path):
    import dearpygui.dearpygui as dpg
    ui_set("train.data", "procedural:500")
    ui_set("train.cfg", "mobilestylegan")
    # the dataset field becomes the teacher (the built-in StyleGAN2 offered); resolution and the
    # small-network switch follow the teacher
    assert dpg.get_item_configuration("train.data")["label"] == "teacher"
    assert dpg.get_value("train.data") == "demo-sg2"
    assert not dpg.is_item_shown("train.res") and not dpg.is_item_shown("train.small")
    run_dir = tmp_path / "distill"
    ui_set("train.run_dir", str(run_dir))
    ui_set("train.batch", 4)
    ui_set("train.kimg", 0.1)
    ui_set("train.extra", "--tick 0.004")
    ui_click("train.start")
    ui_set("train.extra", "")
    assert "training started" in app.last_status, app.last_error
    panel = app.training_panel
    run_frames_until(app, lambda: panel.preview is not None and dpg.get_value("train.run_info"), 240,
                     "the distillation's first preview and options")
    assert dpg.get_value("train.run_info").startswith("mobilestylegan-distill from demo-sg2, batch 4, 0.1 kimg"), \
        dpg.get_value("train.run_info")
    # the second plot follows the student's distance to the teacher (no augmentation here)
    run_frames_until(app, lambda: len(app.training.watcher.stats) >= 1, 240, "the first stats line")
    run_frames_until(app, lambda: dpg.is_item_shown("train.plot_p"), 30, "the distance plot")
    assert dpg.get_item_configuration("train.plot_p")["label"].startswith("|student - teacher|")
    ys = dpg.get_value("train.series.second")[1]
    assert len(ys) >= 1 and all(y > 0 for y in ys)
    ui_click("train.stop")
    run_frames_until(app, lambda: panel.state == "stopped", 240, "the distillation to stop")
    import gan_core
    snap = app.training.latest_snapshot()
    assert gan_core.load_generator(snap).family == "mobilestylegan"
    # back to a training config: the field is a dataset again
    ui_set("train.cfg", "stylegan2")
    assert dpg.get_item_configuration("train.data")["label"] == "dataset"
    assert dpg.get_value("train.data") == "procedural:500" and dpg.is_item_shown("train.res")   # as typed


@pytest.mark.parametrize("key, label", [("swd_mean", "SWD x1000"), ("fid", "FID")])
def test_the_quality_plot_marks_the_best_snapshot_still_on_disk(app, tmp_path, key, label):
    import json
    import socket

    import dearpygui.dearpygui as dpg
    (tmp_path / "live_status.json").write_text(json.dumps(
        {"state": "finished", "kimg": 3.0, "total_kimg": 3, "pid": 1, "host": socket.gethostname(),
         "updated": time.time()}))
    rows = [(1.0, "network-snapshot-000001.pt", 50.0), (2.0, "network-snapshot-000002.pt", 30.0),
            (3.0, "network-snapshot-000003.pt", 40.0)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps({"kimg": k, "snapshot": s, key: v}) + "\n"
                                                    for k, s, v in rows))
    for _, name, _ in rows[1:]:
        (tmp_path / name).write_bytes(b"")
    ui_set("train.run_dir", str(tmp_path))
    ui_click("train.attach")
    run_frames_until(app, lambda: dpg.get_item_configuration("train.plot_q")["show"], 30, "the quality plot")
    assert [list(v) for v in dpg.get_value("train.series.swd_mean")[:2]] == [[1.0, 2.0, 3.0], [50.0, 30.0, 40.0]]
    assert [list(v) for v in dpg.get_value("train.series.swd_best")[:2]] == [[2.0], [30.0]]
    assert dpg.get_item_configuration("train.plot_q")["label"] == f"{label} at snapshots (lower is better)"
    assert dpg.get_item_configuration("train.open_best")["label"] == f"Open best snapshot (lowest {label.split()[0]})"
    (tmp_path / "network-snapshot-000002.pt").unlink()              # pruned: the best on disk is now 3
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"kimg": 4.0, "snapshot": "network-snapshot-000004.pt", key: 45.0}) + "\n")
    run_frames_until(app, lambda: list(dpg.get_value("train.series.swd_best")[0]) == [3.0], 30,
                     "the mark to move to the best snapshot left")


def test_the_second_plot_is_hidden_for_a_run_without_augmentation(app, tmp_path):
    """A StyleGAN1 / BigGAN run without augmentation logs augment_p as null: no empty p plot."""
    import json
    import socket

    import dearpygui.dearpygui as dpg
    (tmp_path / "live_status.json").write_text(json.dumps(
        {"state": "finished", "kimg": 2.0, "total_kimg": 2, "pid": 1, "host": socket.gethostname(),
         "updated": time.time()}))
    (tmp_path / "stats.jsonl").write_text("".join(
        json.dumps({"tick": i, "kimg": float(i), "loss_G": 1.0, "loss_D": 1.2, "loss_r1": None, "loss_pl": None,
                    "augment_p": None}) + "\n" for i in (1, 2)))
    ui_set("train.run_dir", str(tmp_path))
    ui_click("train.attach")
    run_frames_until(app, lambda: len(dpg.get_value("train.series.loss_G")[0]) == 2, 30, "the loss curves")
    assert not dpg.is_item_shown("train.plot_p")


def test_trailing_mean():
    from widgets.training import trailing_mean
    assert trailing_mean([1.0, 3.0, 5.0, 7.0], 2) == pytest.approx([1.0, 2.0, 4.0, 6.0])
    assert trailing_mean([2.0, 4.0], 10) == pytest.approx([2.0, 3.0])
    assert trailing_mean([], 3) == []


def test_the_ada_plot_shows_rt_against_its_target(app, tmp_path):
    """With ADA the p plot also draws rt = E[sign D(real)] and the --target line that steers p; a run
    with fixed augmentation (no rt) shows p alone."""
    import json
    import socket

    import dearpygui.dearpygui as dpg
    (tmp_path / "live_status.json").write_text(json.dumps(
        {"state": "finished", "kimg": 3.0, "total_kimg": 3, "pid": 1, "host": socket.gethostname(),
         "updated": time.time()}))
    (tmp_path / "training_options.json").write_text(json.dumps({"cfg": "stylegan2", "aug": "ada", "target": 0.55}))
    (tmp_path / "stats.jsonl").write_text("".join(
        json.dumps({"tick": i, "kimg": float(i), "loss_G": 1.0, "loss_D": 1.2, "loss_r1": 0.5, "loss_pl": None,
                    "augment_p": 0.01 * i, "ada_rt": rt}) + "\n" for i, rt in ((1, None), (2, 0.4), (3, 0.62))))
    ui_set("train.run_dir", str(tmp_path))
    ui_click("train.attach")
    run_frames_until(app, lambda: len(dpg.get_value("train.series.rt")[0]) == 2, 30, "the rt curve")
    # the ticks without rt are skipped; the curve is a trailing mean over RT_MEAN_TICKS ticks
    assert dpg.get_value("train.series.rt")[0][:2] == [2.0, 3.0]
    assert dpg.get_value("train.series.rt")[1][:2] == pytest.approx([0.4, 0.51])
    assert dpg.get_value("train.series.second")[1][:3] == pytest.approx([0.01, 0.02, 0.03])
    tx, ty = dpg.get_value("train.series.rt_target")[:2]    # across the run's kimg
    assert list(tx[:2]) == [1.0, 3.0] and list(ty[:2]) == pytest.approx([0.55, 0.55])
    assert all(dpg.is_item_shown(t) for t in ("train.plot_p", "train.series.rt", "train.series.rt_target",
                                              "train.legend_p"))
    assert dpg.get_item_configuration("train.plot_p")["label"] == "augment p, and rt = E[sign D(reals)]"

    other = tmp_path / "fixed"
    other.mkdir()
    for name in ("live_status.json", "stats.jsonl"):
        (other / name).write_text((tmp_path / name).read_text())
    (other / "training_options.json").write_text(json.dumps({"cfg": "stylegan2", "aug": "fixed", "p": 0.2}))
    ui_set("train.run_dir", str(other))
    ui_click("train.attach")
    run_frames_until(app, lambda: dpg.get_item_configuration("train.plot_p")["label"] == "augment p", 30,
                     "the p plot of a run with fixed augmentation")
    assert not dpg.is_item_shown("train.series.rt") and not dpg.is_item_shown("train.legend_p")
