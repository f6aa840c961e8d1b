"""What every panel shares, and the host interface panels talk to.

A panel builds its Dear PyGui items under a collapsible section, edits the app's RenderArgs
through ``host.update(**changes)``, and redraws from ``sync`` (args changed from outside: a
preset, a key, an image's settings), ``on_model`` (another model opened) and ``on_result``.
Panels never import torch or the visualizer: the host is passed in.
"""
from __future__ import annotations

from typing import Any, Protocol

from widgets.render_args import ModelInfo, RenderArgs, RenderResult


class Host(Protocol):
    args: RenderArgs
    model_info: ModelInfo | None
    animations_paused: bool

    def update(self, **changes: Any) -> None: ...
    def status(self, text: str, error: bool = False) -> None: ...


class Panel:
    title = "panel"
    default_open = True

    def __init__(self, host: Any) -> None:
        self.host = host

    def build(self, parent: int | str) -> None:
        raise NotImplementedError

    def sync(self, args: RenderArgs) -> None:
        """Show ``args`` (they were changed from outside this panel)."""

    def on_model(self, info: ModelInfo) -> None:
        """Adapt to a newly opened model."""

    def on_result(self, result: RenderResult) -> None:
        """A new frame (or error) arrived."""

    def tick(self, dt: float) -> None:
        """Advance animations by ``dt`` seconds (called every UI frame)."""
