"""Helpers shared by the command modules: opening the store and settings the same way."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workstation.runtime.config import ConfigError, Settings, default_db_path

if TYPE_CHECKING:
    from workstation.store import Store


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


def stored_timeframe(
    store: Store, symbol: str, named: str, explicit: bool
) -> tuple[str, str, list[str]]:
    """The timeframe a command reads ``symbol``'s stored bars at: ``named`` (from
    ``--timeframe`` when ``explicit``, else the settings' default), or, when the default has
    none stored and the symbol has bars at one timeframe only, that one. Returns it, where it
    came from, and the timeframes stored (for the error when there are no bars)."""
    stored = store.candles.timeframes(symbol)
    source = "--timeframe" if explicit else "settings app.timeframe"
    if not explicit and named not in stored and len(stored) == 1:
        return stored[0], f"the only timeframe stored for {symbol}", stored
    return named, source, stored


def no_stored_bars(symbol: str, timeframe: str, source: str, stored: list[str]) -> str:
    """The error when the store has no ``timeframe`` bars of ``symbol``."""
    hint = "" if source == "--timeframe" else f" ({source}); name one with --timeframe"
    have = f"; stored: {', '.join(stored)}" if stored else ""
    return f"no {timeframe} bars for {symbol} in the database{hint}{have}"


def named_timeframe(args: argparse.Namespace, settings: Settings) -> str:
    """The timeframe ``--timeframe`` names, else the settings' ``app.timeframe``, canonical
    (a :class:`CliError` when it is not one)."""
    from engine.timeframes import TimeframeError, parse
    from workstation.cli import CliError

    try:
        return str(parse(args.timeframe or settings.get("app.timeframe", "1m")))
    except TimeframeError as exc:
        raise CliError(str(exc)) from exc


def demo_history(settings: Settings, symbol: str, timeframe: str, bars: int | None = None) -> Any:
    """The demo feed's history of ``symbol`` (``bars`` of it, else the settings' length), or
    a :class:`CliError` naming the demo's symbols."""
    import asyncio

    from feeds.demo import DemoFeed
    from workstation.cli import CliError

    feed = DemoFeed(
        seed=int(settings.get("demo.seed", 7)),
        history_bars=bars or int(settings.get("demo.history_bars", 2000)),
    )
    try:
        return asyncio.run(feed.history(symbol, timeframe))
    except KeyError as exc:
        raise CliError(str(exc.args[0])) from exc
