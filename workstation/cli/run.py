"""``qws run`` (also plain ``qws``): the workstation on the chosen feed."""

from __future__ import annotations

import argparse
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from workstation.cli import CliError
from workstation.cli.common import load_settings, open_store

if TYPE_CHECKING:
    from engine.protocols import Feed
    from workstation.runtime.config import Settings
    from workstation.store import Store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="open the workstation (the default command)")
    add_feed_options(p)
    p.set_defaults(func=cmd_run)


def add_feed_options(p: argparse.ArgumentParser) -> None:
    """The feed options ``qws run`` and ``qws trade`` share."""
    p.add_argument("--feed", default=None, help="demo (default), replay, or an installed feed")
    p.add_argument("--symbols", default=None, help="comma-separated symbols to watch")
    p.add_argument("--timeframe", default=None, help="bar size built from the stream (1m)")
    p.add_argument("--file", default=None, help="replay: the OHLCV file to play")
    p.add_argument("--symbol", default=None, help="replay: the symbol name of the file's bars")
    p.add_argument("--speed", type=float, default=None, help="replay: 1, 10, ... or 0 for max")
    p.add_argument("--url", default=None, help="feeds that connect somewhere: the endpoint")


def symbols_of(args: argparse.Namespace) -> list[str] | None:
    text = getattr(args, "symbols", None)
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def feed_from_args(args: argparse.Namespace, settings: Settings) -> Feed:
    from workstation.runtime.feed_factory import FeedError, make_feed

    name = args.feed or settings.get("app.feed", "demo")
    symbols = symbols_of(args)
    overrides = {
        "path": args.file,
        "symbol": args.symbol,
        "speed": args.speed,
        "url": args.url,
        "symbols": symbols if name not in ("demo", "replay") else None,
    }
    if name == "replay":
        overrides["timeframe"] = args.timeframe
    try:
        return make_feed(name, settings, **overrides)
    except FeedError as exc:
        raise CliError(str(exc)) from exc


def cmd_run(args: argparse.Namespace) -> int:
    settings = load_settings()
    feed = feed_from_args(args, settings)
    summary = getattr(feed, "summary", None)
    if callable(summary):
        print(summary(), flush=True)
    symbols = symbols_of(args)
    timeframe = args.timeframe or _played_timeframe(feed)
    store = _open_store_while_importing(args)
    from workstation.ui.app import QwsApp

    try:
        QwsApp(feed, store, settings, symbols=symbols, timeframe=timeframe).run()
    finally:
        store.close()
    return 0


def _played_timeframe(feed: Feed) -> str | None:
    """The timeframe a replay plays its file at (the screen charts and scans that one, not
    the last one saved), else None: the screen's own choice."""
    if not getattr(feed, "simulated", False):
        return None
    timeframe = getattr(feed, "timeframe", None)
    return str(timeframe) if timeframe else None


def _open_store_while_importing(args: argparse.Namespace) -> Store:
    """The store, opened (integrity check, migrations, interrupted imports completed) in a
    thread while this one imports the screen's modules: SQLite works outside the GIL, so the
    first frame waits for the longer of the two, not their sum. A store that cannot be opened
    is the same :class:`CliError` as before, raised before anything is drawn."""
    with ThreadPoolExecutor(1, thread_name_prefix="open-store") as pool:
        opening = pool.submit(open_store, args)
        try:
            import workstation.ui.app  # noqa: F401  # the import that overlaps the open
        except BaseException:
            with contextlib.suppress(Exception):
                opening.result().close()
            raise
        return opening.result()
