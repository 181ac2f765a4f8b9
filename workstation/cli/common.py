"""Helpers shared by the command modules: opening the store and settings the same way."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

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
