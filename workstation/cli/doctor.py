"""``qws doctor``: what is installed, where the data lives, which plugins load and which fail."""

from __future__ import annotations

import argparse
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check the installation, database, keyring and plugins")
    p.add_argument("--verbose", "-v", action="store_true", help="show plugin tracebacks")
    p.add_argument(
        "--live",
        action="store_true",
        help="also connect the feed for a few seconds and show its state and dropped-input"
        " counters",
    )
    p.add_argument("--feed", default=None, help="with --live: the feed (default: app.feed)")
    p.add_argument("--symbols", default=None, help="with --live: comma-separated symbols")
    p.add_argument("--seconds", type=float, default=5.0, help="with --live: how long to listen")
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

    from workstation.runtime.config import config_path
    from workstation.runtime.registry import GROUPS, discover
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
            v += " (Windows only: pip install 'qws\\[mt5]')"
        deps.add_row(dist, v)
    console.print(deps)

    path = db_path(args)
    console.print(f"config file: {config_path()}")
    news_states: dict[str, Any] = {}
    if path.exists():
        try:
            with Store(path) as store:
                console.print(
                    f"database: {path} (schema v{store.schema_version},"
                    f" this qws: v{SCHEMA_VERSION}; integrity {store.integrity_check()})"
                )
                news_states = {s.key: s for s in store.news.sources()}
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
    console.print(_news_table(news_states))
    if args.live:
        problems += _live(args, console)
    console.print(
        "[green]all good[/green]" if not problems else f"[red]{problems} problem(s)[/red]"
    )
    return 0 if not problems else 1


def _news_table(states: dict[str, Any]) -> Any:
    """The configured news endpoints (``news.sources``, ``news.urls``) with how their last
    poll went, and any other endpoint the store has polled (``qws news fetch --url``)."""
    from datetime import UTC, datetime

    from rich.markup import escape
    from rich.table import Table

    from workstation.cli import CliError
    from workstation.cli.common import load_settings
    from workstation.news.sources import configured_endpoints

    table = Table(title="news sources")
    for col in ("source", "endpoint", "polls", "items", "failures", "last poll"):
        table.add_column(col)
    try:
        settings = load_settings()
    except CliError as exc:
        table.add_row("", f"[red]settings: {escape(str(exc))}[/red]", "", "", "", "")
        return table
    configured = configured_endpoints(settings, str(settings.get("app.feed", "demo")) == "demo")
    rows = [*configured, *(("", k) for k in states if k not in {k for _, k in configured})]
    for name, key in rows:
        state = states.get(key)
        if state is None or state.last_poll_ns is None:
            table.add_row(name, escape(key), "0", "0", "0", "never polled")
            continue
        when = datetime.fromtimestamp(state.last_poll_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M")
        last = (
            f"[green]ok[/green] {when}"
            if state.ok
            else f"[yellow]failed {when}: {escape(state.last_error)}[/yellow]"
        )
        table.add_row(
            name, escape(key), str(state.polls), str(state.items), str(state.failures), last
        )
    if not rows:
        table.add_row("", "none configured (news.urls, news.sources)", "", "", "", "")
    return table


def _live(args: argparse.Namespace, console: Any) -> int:
    """Stream the feed for ``--seconds``; print its health (feeds.health). Problems found."""
    import asyncio

    from rich.table import Table

    from feeds.errors import FeedError as FeedsError
    from workstation.cli.common import load_settings
    from workstation.runtime.feed_factory import FeedError, make_feed

    settings = load_settings()
    name = args.feed or settings.get("app.feed", "demo")
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()] if args.symbols else None
    try:
        feed = make_feed(name, settings, symbols=symbols)
    except FeedError as exc:
        console.print(f"live feed {name}: [red]{exc}[/red]")
        return 1
    wanted = symbols or feed.symbols()[:5]
    events = 0
    error = ""

    async def listen() -> None:
        nonlocal events, error
        stream = feed.stream(wanted, settings.get("app.timeframe", "1m"))
        try:
            async with asyncio.timeout(args.seconds):
                async for _ in stream:
                    events += 1
        except TimeoutError:
            pass
        except (FeedsError, OSError, ValueError) as exc:
            error = str(exc)
        except Exception as exc:  # a feed bug: shown as a problem, not a traceback
            error = f"{type(exc).__name__}: {exc}"
        finally:
            aclose = getattr(stream, "aclose", None)  # an async generator's
            if aclose is not None:
                await aclose()
            await feed.close()

    asyncio.run(listen())
    health = getattr(feed, "health", None)
    row = health.as_dict() if health is not None else None
    table = Table(title=f"live feed {name}: {', '.join(wanted)} for {args.seconds:g}s")
    table.add_column("what")
    table.add_column("value")
    table.add_row("events delivered", str(events))
    gaps: list[dict[str, Any]] = []
    if row is not None:
        for key in ("connects", "reconnects", "messages", "backfilled_bars", "last_error"):
            table.add_row(key, str(row[key]))
        for reason, count in sorted(row["drops"].items()):
            table.add_row(f"dropped: {reason}", str(count))
        gaps = list(row.get("gaps", []))
        for gap in gaps:  # bars missed and not backfilled: never left silent
            table.add_row(f"gap: {gap['symbol']}", f"[red]{gap['text']}[/red]")
    if error:
        table.add_row("error", f"[red]{error}[/red]")
    console.print(table)
    return 1 if error or events == 0 or gaps else 0
