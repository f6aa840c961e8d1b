"""Preset files: RenderArgs saved as JSON (no GUI here, so the headless commands read them too)."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from widgets.render_args import ArgsError, RenderArgs

_NAME = re.compile(r"^[\w][\w .-]{0,63}$")


def save_preset(folder: Path, name: str, args: RenderArgs) -> Path:
    """Write ``folder/name.json`` atomically; the name must be a plain file name."""
    name = name.strip()
    if not _NAME.match(name):
        raise ArgsError(f"preset name {name!r} is not usable: use letters, digits, spaces, '.', '-' or '_' "
                        "(up to 64 characters)")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    fd, tmp = tempfile.mkstemp(prefix=".preset-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(args.to_json())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_preset(path: Path) -> RenderArgs:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ArgsError(f"cannot read preset {path}: {e}") from None
    return RenderArgs.from_json(text, where=f"preset {path}")
