"""The one error type every checkpoint reader raises."""
from __future__ import annotations

import os


class CheckpointError(Exception):
    """A file could not be read as a network checkpoint.

    The message is one line: the file, what was found, what was expected and what to do.
    ``path`` holds the file name (or None when there is no file, e.g. an in-memory stream).
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None) -> None:
        self.path = None if path is None else os.fspath(path)
        self.detail = _one_line(message)
        super().__init__(f"{self.path}: {self.detail}" if self.path else self.detail)

    def with_path(self, path: str | os.PathLike | None) -> "CheckpointError":
        """The same error naming ``path`` (used when a stream reader learns the file name)."""
        if path is None or self.path is not None:
            return self
        err = CheckpointError(self.detail, path)
        err.__cause__ = self.__cause__
        return err


def _one_line(text: str, limit: int = 2000) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_list(items, limit: int = 8) -> str:
    """'a, b, c and 5 more' for long lists of names."""
    items = [str(x) for x in items]
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"
