"""The app's small settings file: window layout, recent files, view preferences.

Lives in ``$GANSCOPE_CONFIG_DIR`` or ``$XDG_CONFIG_HOME/ganscope`` (default ``~/.config/ganscope``),
written atomically; a damaged file is set aside (``settings.json.bad``) and defaults are used,
so a bad file never stops the app from starting.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

MAX_RECENT = 10


def config_dir() -> Path:
    if os.environ.get("GANSCOPE_CONFIG_DIR"):
        return Path(os.environ["GANSCOPE_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "ganscope"


@dataclass
class Settings:
    window: list[int] = field(default_factory=lambda: [1400, 900])      # client width, height
    window_pos: list[int] = field(default_factory=lambda: [60, 40])
    pane_width: int = 380
    open_sections: dict[str, bool] = field(default_factory=dict)
    recent_files: list[str] = field(default_factory=list)
    recent_runs: list[str] = field(default_factory=list)      # training run folders, newest first
    filter: str = "linear"
    fps_cap: int = 60
    vsync: bool = False
    capture_dir: str = ""

    def add_recent(self, path: str) -> None:
        if path == "demo":
            return
        self.recent_files = _with_first(self.recent_files, path)

    def add_recent_run(self, run_dir: str) -> None:
        self.recent_runs = _with_first(self.recent_runs, run_dir)

    @classmethod
    def load(cls, path: Path | None = None) -> tuple["Settings", str | None]:
        """Settings from disk (defaults when absent); the second value is a warning, if any."""
        path = path or config_dir() / "settings.json"
        if not path.exists():
            return cls(), None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            s = cls()
            for f in fields(cls):
                if f.name in data and _same_kind(getattr(s, f.name), data[f.name]):
                    setattr(s, f.name, data[f.name])
            s.recent_files = [p for p in s.recent_files if isinstance(p, str)][:MAX_RECENT]
            s.recent_runs = [p for p in s.recent_runs if isinstance(p, str)][:MAX_RECENT]
            return s, None
        except (OSError, ValueError, UnicodeDecodeError) as e:
            try:
                path.replace(path.with_name(path.name + ".bad"))
            except OSError:
                pass
            return cls(), f"settings file {path} was unreadable ({e}); it was set aside and defaults are used"

    def save(self, path: Path | None = None) -> None:
        path = path or config_dir() / "settings.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(asdict(self), f, indent=1)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


def _with_first(paths: list[str], path: str) -> list[str]:
    """``paths`` with ``path`` (made absolute) moved to the front, at most MAX_RECENT long."""
    path = os.path.abspath(os.path.expanduser(path))
    return ([path] + [p for p in paths if p != path])[:MAX_RECENT]


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, type(default))
