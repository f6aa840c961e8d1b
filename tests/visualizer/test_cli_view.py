"""`ganscope` / `ganscope view`: errors are one line with exit code 2; --screenshot renders the
real window to a PNG and exits."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def ganscope(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    code = "import sys; from visualizer.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def test_view_errors_are_one_line(tmp_path):
    r = ganscope("view", str(tmp_path / "missing.pkl"))
    assert r.returncode == 2 and "missing.pkl: no such file" in r.stderr and "Traceback" not in r.stderr
    r = ganscope("view", "--size", "10x10")
    assert r.returncode == 2 and "--size" in r.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    code = "import sys; from visualizer.cli import main; sys.exit(main(sys.argv[1:]))"
    r = subprocess.run([sys.executable, "-c", code, "view"], cwd=REPO, capture_output=True, text=True, timeout=120,
                       env={**env, "PYTHONPATH": str(REPO)})
    assert r.returncode == 2 and "no display" in r.stderr and "xvfb-run" in r.stderr


def test_help_lists_view_with_the_library_commands():
    r = ganscope("--help")
    assert r.returncode == 0
    for cmd in ("view", "generate", "info", "convert", "train", "dataset"):
        assert cmd in r.stdout


@pytest.mark.gui
def test_view_screenshot(display, tiny_sg2, tmp_path):
    from PIL import Image
    out = tmp_path / "window.png"
    r = ganscope("view", str(tiny_sg2), "--size", "900x600", "--screenshot", str(out),
                 env={"GANSCOPE_CONFIG_DIR": str(tmp_path / "cfg")})
    assert r.returncode == 0, r.stderr[-2000:]
    assert Image.open(out).size == (900, 600)
