"""Files the app reads and writes besides checkpoints: settings inside PNGs, numbered outputs."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from widgets.render_args import ArgsError, RenderArgs

PNG_ARGS_KEY = "ganscope-args"


def read_args_from_png(path: str | os.PathLike) -> RenderArgs:
    """The RenderArgs stored in a PNG saved by the app, or the settings ``ganscope generate``
    writes (seed, truncation, noise, transform, class). Only PNG text chunks are read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.format != "PNG":
                raise ArgsError(f"{path} is a {im.format} image; settings are stored only in PNGs saved by ganscope")
            text = dict(getattr(im, "text", {}) or {})
    except (OSError, UnidentifiedImageError) as e:
        raise ArgsError(f"cannot read {path} as an image: {e}") from None
    if PNG_ARGS_KEY in text:
        return RenderArgs.from_json(text[PNG_ARGS_KEY], where=str(path))
    if "ganscope" in text:   # written by `ganscope generate`
        try:
            s = json.loads(text["ganscope"])
            tr = s.get("translate") or [0.0, 0.0]
            return RenderArgs(model=str(s.get("network", "demo")), latent_x=float(s["seed"]), latent_y=0.0,
                              trunc_psi=float(s.get("trunc", 1.0)), trunc_cutoff=s.get("trunc_cutoff"),
                              noise_mode=str(s.get("noise_mode", "const")), translate=(float(tr[0]), float(tr[1])),
                              rotate=float(s.get("rotate", 0.0)), class_idx=s.get("class"))
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise ArgsError(f"{path}: its ganscope settings are damaged ({e})") from None
    raise ArgsError(f"{path} holds no ganscope settings (save images with the app or `ganscope generate`)")


def next_free(folder: Path, stem: str, suffix: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pat = re.compile(rf"^{re.escape(stem)}-(\d+){re.escape(suffix)}$")
    nums = [int(m.group(1)) for p in folder.iterdir() if (m := pat.match(p.name))]
    return folder / f"{stem}-{max(nums, default=0) + 1:05d}{suffix}"


def wrap_text(text: str, width: int) -> str:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if len(cur) + len(w) + 1 > width and cur:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    lines.append(cur)
    return "\n".join(lines[:8])
