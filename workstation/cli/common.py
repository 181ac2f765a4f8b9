"""Helpers shared by the command modules: opening the store and settings the same way."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from engine.timeframes import NS
from workstation.runtime.config import ConfigError, Settings, default_db_path

if TYPE_CHECKING:
    import numpy as np

    from workstation.store import Store

_CALENDAR = (
    (28 * NS["d"], 31 * NS["d"], "about 1 month"),
    (89 * NS["d"], 92 * NS["d"], "about 3 months"),
    (365 * NS["d"], 366 * NS["d"], "about 1 year"),
)


def db_path(args: argparse.Namespace) -> Path:
    return Path(args.db) if getattr(args, "db", None) else default_db_path()


def open_store(args: argparse.Namespace) -> Store:
    """The store, or a :class:`CliError` that says what is wrong with it (a damaged file:
    that it is damaged and what to do; :func:`workstation.cli.main` says the same of damage
    a command's query meets later)."""
    from workstation.cli import CliError
    from workstation.store import Store, StoreDamagedError, StoreError

    path = db_path(args)
    try:
        return Store(path)
    except StoreDamagedError as exc:
        raise CliError(str(exc)) from exc
    except (StoreError, OSError) as exc:
        raise CliError(f"cannot open the database {path}: {exc}") from exc
    except Exception as exc:  # sqlite3.DatabaseError: not a database, locked, ...
        raise CliError(f"cannot open the database {path}: {exc}") from exc


def load_settings() -> Settings:
    from workstation.cli import CliError

    try:
        return Settings.load()
    except ConfigError as exc:
        raise CliError(str(exc)) from exc


def bar_spacing(ts: np.ndarray) -> int | None:
    """The median gap in nanoseconds between neighbouring timestamps (either order; equal ones
    left out), or None when there are not two distinct ones."""
    import numpy as np

    gaps = np.abs(np.diff(np.asarray(ts, dtype=np.int64)))
    gaps = gaps[gaps > 0]
    return int(np.median(gaps)) if gaps.size else None


def spacing_timeframe(gap_ns: int) -> str | None:
    """The timeframe a bar spacing is exactly (``7 * 86400e9`` -> ``1w``), or None."""
    for unit in ("w", "d", "h", "m", "s"):
        if gap_ns % NS[unit] == 0:
            return f"{gap_ns // NS[unit]}{unit}"
    return None


def spacing_label(gap_ns: int) -> str:
    """A bar spacing in words: ``about 1 month``, ``1d``, ``4h``, ``about 1.5h``."""
    for low, high, name in _CALENDAR:
        if low <= gap_ns <= high:
            return name
    exact = spacing_timeframe(gap_ns)
    if exact is not None:
        return exact
    unit = next((u for u in ("w", "d", "h", "m") if gap_ns >= NS[u]), "s")
    return f"about {gap_ns / NS[unit]:.3g}{unit}"
