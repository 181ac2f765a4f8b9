"""``qws doctor``: what is installed, where the data lives, which plugins load and which fail."""

from __future__ import annotations

import argparse
import platform
import sys
from importlib.metadata import PackageNotFoundError, version

from workstation.cli.common import db_path

DEPENDENCIES = (
    "qws",
    "textual",
    "rich",
    "qiskit",
    "qiskit-aer",
    "numpy",
    "numba",
    "polars",
    "pandas",
    "pyarrow",
    "ccxt",
    "websockets",
    "sqlite-utils",
    "keyring",
    "httpx",
    "python-telegram-bot",
    "platformdirs",
    "MetaTrader5",
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("doctor", help="check the installation, database, keyring and plugins")
    p.add_argument("--verbose", "-v", action="store_true", help="show plugin tracebacks")
    p.set_defaults(func=cmd_doctor)


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def cmd_doctor(args: argparse.Namespace) -> int:
    import sqlite3

    from rich.console import Console
    from rich.table import Table

    from workstation.config import config_path
    from workstation.plugins import GROUPS, discover
    from workstation.store import SCHEMA_VERSION, Store

    console = Console()
    problems = 0
    console.print(f"[b]qws doctor[/b]  Python {sys.version.split()[0]} on {platform.platform()}")

    deps = Table(title="dependencies", show_header=False)
    for dist in DEPENDENCIES:
        v = _version(dist)
        if v == "not installed" and dist != "MetaTrader5":
            problems += 1
        if dist == "MetaTrader5" and v == "not installed":
            v += " (Windows only: pip install 'qws[mt5]')"
        deps.add_row(dist, v)
    console.print(deps)

    path = db_path(args)
    console.print(f"config file: {config_path()}")
    if path.exists():
        try:
            with Store(path) as store:
                console.print(
                    f"database: {path} (schema v{store.schema_version},"
                    f" this qws: v{SCHEMA_VERSION}; integrity {store.integrity_check()})"
                )
        except (sqlite3.DatabaseError, RuntimeError) as exc:
            problems += 1
            console.print(f"database: {path} [red]cannot be opened: {exc}[/red]")
    else:
        console.print(f"database: {path} (not created yet; schema v{SCHEMA_VERSION} on first use)")

    try:
        import keyring

        backend = keyring.get_keyring()
        name = f"{type(backend).__module__}.{type(backend).__name__}"
        if name.startswith("keyring.backends.fail"):
            console.print(
                f"keyring backend: {name} [yellow](no OS keyring here: secrets are read from"
                " environment variables such as QWS_TELEGRAM_TOKEN)[/yellow]"
            )
        else:
            console.print(f"keyring backend: {name}")
    except Exception as exc:
        console.print(f"keyring backend: [red]unavailable: {exc}[/red]")

    plugins = Table(title="plugins")
    for col in ("group", "name", "from", "status"):
        plugins.add_column(col)
    for group in GROUPS:
        for info in discover(group):
            status = "[green]ok[/green]" if info.ok else f"[red]failed: {info.error}[/red]"
            problems += 0 if info.ok else 1
            plugins.add_row(group, info.name, info.dist, status)
            if not info.ok and args.verbose:
                console.print(info.traceback)
    console.print(plugins)
    console.print(
        "[green]all good[/green]" if not problems else f"[red]{problems} problem(s)[/red]"
    )
    return 0 if not problems else 1
