"""Errors of the store (a module of their own so every repository can raise them)."""

from __future__ import annotations

from pathlib import Path


class StoreError(RuntimeError):
    pass


class AmbiguousVenueError(StoreError):
    """A symbol and timeframe are stored for several venues and the caller named none."""


class StoreDamagedError(StoreError):
    """A SQLite file whose pages are damaged: said once, with what to do, never as a traceback
    of the query that met the damage."""

    def __init__(self, path: Path | str, detail: str, what: str = "store") -> None:
        self.path = Path(path)
        # quick_check may answer on several lines, under a "*** in database main ***" title
        detail = " ".join(detail.replace("*** in database main ***", "").split())[:200]
        self.detail = detail
        super().__init__(
            f"the {what} at {path} is damaged (quick_check: {detail}): restore a backup or move"
            " it aside (a new one is created in its place); `qws doctor` checks it again"
        )
