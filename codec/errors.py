"""The one exception type for problems a user can cause (bad files, wrong models)."""

from __future__ import annotations

from pathlib import Path


class CodecError(Exception):
    """A user-facing error: names the file (when there is one) and the problem in one line.

    The CLI prints ``str(error)`` and exits non-zero; nothing else catches broad exceptions.
    """

    def __init__(self, reason: str, path: str | Path | None = None) -> None:
        self.reason = reason
        self.path = None if path is None else str(path)
        super().__init__(reason if path is None else f"{path}: {reason}")
