"""Layout and recent files persist between runs; a damaged settings file never stops the app.

Each app runs in its own process, as it does for a person (Dear PyGui keeps one context per
process, and creating many in one process is not something the app does)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui
REPO = Path(__file__).resolve().parents[2]


def run_app(script: str, timeout: float = 180) -> dict:
    """Run ``script`` (with ``App`` and ``dpg`` imported) in a fresh process; it must print one
    JSON line, which is returned."""
    code = "import json\nimport dearpygui.dearpygui as dpg\nfrom visualizer.app import App\n" + textwrap.dedent(script)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_layout_and_recent_files_persist_between_runs(display, tiny_sg2, tmp_path):
    settings = tmp_path / "settings.json"
    run_app(f"""
        a = App(model={str(tiny_sg2)!r}, settings_path=__import__('pathlib').Path({str(settings)!r}), size=(1000, 700))
        a.start()
        a.wait_for_result()
        a.set_filter("nearest")
        a.set_fps_cap(30)
        dpg.set_value("section.Noise", False)      # the person folds a section
        run = __import__('pathlib').Path({str(tmp_path / "run")!r})
        run.mkdir()
        (run / "live_status.json").write_text('{{"state": "stopped", "kimg": 1.0}}')
        a.training_panel.attach(str(run))          # a run watched once is offered again
        for _ in range(3):
            a.frame()
        a.close()
        print(json.dumps({{}}))
    """)
    saved = json.loads(settings.read_text())
    assert saved["recent_files"] == [str(tiny_sg2)]
    assert saved["recent_runs"] == [str(tmp_path / "run")]
    assert saved["filter"] == "nearest" and saved["fps_cap"] == 30
    assert saved["open_sections"]["Noise"] is False and saved["open_sections"]["Latent"] is True
    assert saved["window"] == [1000, 700]

    seen = run_app(f"""
        b = App(model="demo", settings_path=__import__('pathlib').Path({str(settings)!r}))
        b.start()
        for _ in range(3):
            b.frame()
        print(json.dumps({{"width": dpg.get_viewport_client_width(), "height": dpg.get_viewport_client_height(),
                          "recent": dpg.get_item_configuration("model.recent")["items"],
                          "runs": dpg.get_item_configuration("train.recent")["items"],
                          "filter": b.canvas.filter, "fps": b.fps_cap, "noise_open": dpg.get_value("section.Noise"),
                          "latent_open": dpg.get_value("section.Latent")}}))
        b.close()
    """)
    assert seen == {"width": 1000, "height": 700, "recent": [str(tiny_sg2)], "runs": [str(tmp_path / "run")],
                    "filter": "nearest", "fps": 30, "noise_open": False, "latent_open": True}


def test_damaged_settings_file_is_set_aside(display, tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text("{ not json")
    seen = run_app(f"""
        a = App(model="demo", settings_path=__import__('pathlib').Path({str(settings)!r}))
        a.start()
        a.frame()
        print(json.dumps({{"status": a.last_status, "error": a.last_error is not None}}))
        a.close()
    """)
    assert "unreadable" in seen["status"] and seen["error"]
    assert (tmp_path / "settings.json.bad").exists()
    assert json.loads(settings.read_text())["fps_cap"] == 60
