"""A non-editable install (a wheel) carries the built-in models too."""
from __future__ import annotations

import tomllib

from tests.conftest import REPO


def test_every_shipped_model_is_in_the_wheel_data_files():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())
    listed = set(cfg["tool"]["setuptools"]["data-files"]["share/ganscope/assets"])
    shipped = {f"assets/{p.name}" for p in (REPO / "assets").glob("*.pt")}
    assert shipped and shipped <= listed, f"add {sorted(shipped - listed)} to pyproject's data-files"
    assert all((REPO / f).exists() for f in listed)
