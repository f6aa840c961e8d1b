"""Progress bars that stay readable in a log file.

On a terminal a bar redraws several times a second. When stderr is a file or a pipe (a
run started with ``nohup … > run.out``, a CI log, the app's Training pane reading a log),
every redraw would append another line's worth of text, so there it redraws at most every
``LOG_INTERVAL_S`` seconds and without the bar graphic.
"""
from __future__ import annotations

import sys
from typing import IO, Any

from tqdm import tqdm

LOG_INTERVAL_S = 30.0


def is_terminal(stream: IO | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def progress_bar(iterable: Any = None, *, file: IO | None = None, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, **kwargs)`` writing to ``file`` (stderr by default), throttled when
    that is not a terminal."""
    file = sys.stderr if file is None else file
    if not is_terminal(file):
        kwargs.setdefault("mininterval", LOG_INTERVAL_S)
        kwargs.setdefault("maxinterval", LOG_INTERVAL_S)
        kwargs.setdefault("bar_format", "{desc}: {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}, {rate_fmt}]"
                          if kwargs.get("total") is not None or hasattr(iterable, "__len__")
                          else "{desc}: {n_fmt} {unit} [{elapsed}, {rate_fmt}]")
    return tqdm(iterable, file=file, **kwargs)


def kimg_bar(desc: str, total_nimg: int, done_nimg: int, *, enabled: bool = True, **kwargs: Any) -> tqdm:
    """The progress bar of a training loop, counted in kimg (``advance_to`` moves it)."""
    return progress_bar(total=_kimg(total_nimg), initial=_kimg(done_nimg), unit="kimg", desc=desc,
                        disable=not enabled, dynamic_ncols=True, **kwargs)


def advance_to(bar: tqdm, nimg: int) -> None:
    """Move a ``kimg_bar`` to ``nimg`` images, redrawing as ``update`` would.

    Adding fractional kimg step by step piles up float error, which tqdm prints as
    ``0.20800000000000007/1000 kimg``; the count is set from the exact image count instead."""
    bar.n = _kimg(nimg)
    bar.update(0)


def _kimg(nimg: int) -> float | int:
    """nimg as kimg with at most 3 decimals, whole numbers without a trailing ``.0``."""
    k = round(nimg / 1000, 3)
    return int(k) if k == int(k) else k
