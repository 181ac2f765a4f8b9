"""``qws fetch SYMBOL --venue binance --timeframe 1h --since 2024-01-01``: history into the store.

Bars already in the store are not asked for again; only missing ranges go to the exchange
(through ccxt, rate limiter on). The venue's REST endpoint is the setting
``feeds.<venue>.rest_url`` (or ``brokers.ccxt.urls`` for other ccxt exchanges).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from workstation.cli.common import load_settings, open_store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fetch", help="download exchange history into the store (only the gaps)")
    p.add_argument("symbol", help="e.g. BTC/USDT")
    p.add_argument("--venue", default="binance", help="ccxt exchange id (default: binance)")
    p.add_argument("--timeframe", "-t", default="1h", help="bar size, e.g. 1m, 1h, 1d")
    p.add_argument("--since", required=True, help="start date/time, UTC (2024-01-01[T12:00])")
    p.add_argument("--until", help="end date/time, UTC (default: now)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=_fetch)


def parse_utc(text: str) -> int:
    """ISO date or date-time (UTC unless an offset is given) -> ns since the epoch."""
    from workstation.cli import CliError

    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"not a date: {text!r} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000_000


def _fetch(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from engine.timeframes import TimeframeError, parse
    from feeds.errors import FeedError
    from feeds.exchanges.ccxt_feed import CcxtFeed
    from workstation.cli import CliError

    try:
        tf = str(parse(args.timeframe))
    except TimeframeError as exc:
        raise CliError(str(exc)) from None
    start = parse_utc(args.since)
    end = parse_utc(args.until) if args.until else None
    if end is not None and end <= start:
        raise CliError("--until must be after --since")
    settings = load_settings()
    store = open_store(args)
    feed = CcxtFeed(
        args.venue,
        settings.get(f"feeds.{args.venue}.rest_url", ""),
        cache=store.candles,
        urls=settings.get("brokers.ccxt.urls", {}) if args.venue != "binance" else None,
    )
    progress = Progress(
        TextColumn(f"{args.symbol} {tf}"), BarColumn(), MofNCompleteColumn(), disable=args.quiet
    )
    task = progress.add_task("fetch", total=None)

    def on_progress(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    async def run() -> int:
        try:
            frame = await feed.fetch_range(args.symbol, tf, start, end, on_progress=on_progress)
        finally:
            await feed.close()
        return frame.height

    try:
        with progress:
            rows = asyncio.run(run())
    except FeedError as exc:
        raise CliError(str(exc)) from None
    finally:
        store.close()
    fetched = feed.requests
    print(f"{args.symbol} {tf} on {args.venue}: {rows} bars in the store for the range"
          f" ({fetched} request(s) to the exchange)")  # fmt: skip
    return 0
