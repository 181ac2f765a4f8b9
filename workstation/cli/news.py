"""``qws news``: the stored news with their sentiment, and one poll of the sources.

    qws news [--symbol S] [--limit N]     stored items, newest first
    qws news fetch [--url URL]            poll every configured source once (or just URL)

``fetch`` polls what the runtime polls (``news.sources``, ``news.urls``; the demo source with
the demo feed, ``app.feed``) and prints, per source, the new items, those seen before, or why it
failed; its exit status is 1 when every source failed.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from workstation.cli.common import load_settings, open_store

if TYPE_CHECKING:
    from engine.model import NewsItem
    from workstation.news.poller import PollResult


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "news",
        help="stored news with sentiment scores; `qws news fetch` polls the sources",
        description="List the stored news items (newest first) with their sentiment score and"
        " the symbols they concern; `qws news fetch` polls every configured source once.",
    )
    p.add_argument("--symbol", help="only the items concerning this symbol")
    p.add_argument("--limit", type=int, default=50, help="how many items (default 50)")
    p.set_defaults(func=cmd_list)
    actions = p.add_subparsers(dest="news_command", metavar="ACTION")
    f = actions.add_parser("fetch", help="poll every configured news source once")
    f.add_argument("--url", action="append", help="poll just this RSS/Atom URL (repeatable)")
    f.set_defaults(func=cmd_fetch)


def _time(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M")


def _score(item: NewsItem) -> str:
    return "   n/a" if item.score is None else f"{item.score:+6.2f}"


def line(item: NewsItem) -> str:
    """One item as ``qws news`` prints it: time (UTC), score, symbols, source, headline."""
    symbols = ",".join(item.symbols) or "-"
    source = item.source or item.key
    return f"{_time(item.ts_ns)}  {_score(item)}  {symbols:<14} {source}: {item.headline}"


def cmd_list(args: argparse.Namespace) -> int:
    from workstation.cli import CliError

    if args.limit < 1:
        raise CliError(f"--limit must be at least 1, got {args.limit}")
    store = open_store(args)
    try:
        items = store.news.recent(args.symbol, args.limit)
    finally:
        store.close()
    if not items:
        where = f" concerning {args.symbol}" if args.symbol else ""
        print(f"no news stored{where} (qws news fetch polls the sources)")
        return 0
    for item in items:
        print(line(item))
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    import asyncio

    from workstation.cli import CliError
    from workstation.news.poller import NewsPoller
    from workstation.news.sources import build_sources

    settings = load_settings()
    for url in args.url or ():
        if not url.lower().startswith(("http://", "https://")):
            raise CliError(f"--url must be an http:// or https:// URL: {url!r}")
    sources, problems = build_sources(
        settings,
        demo_feed=str(settings.get("app.feed", "demo")) == "demo",
        urls=args.url,
    )
    for problem in problems:
        print(f"qws news: {problem}")
    if not sources:
        raise CliError(
            "no news source to poll: add RSS/Atom URLs to news.urls, or a plugin to news.sources"
        )
    store = open_store(args)
    try:
        poller = NewsPoller(store, settings, sources)

        async def poll() -> list[PollResult]:
            try:
                return list(await poller.poll_all())
            finally:
                await poller.close()

        results = asyncio.run(poll())
    finally:
        store.close()
    failed = 0
    for result in results:
        if result.error:
            failed += 1
            print(f"{result.key}: failed: {result.error}")
        else:
            unchanged = " (not modified since the last poll)" if result.not_modified else ""
            print(f"{result.key}: {len(result.new)} new, {result.seen} seen before{unchanged}")
        if result.warning:
            print(f"{result.key}: {result.warning}")
    if failed:
        print(f"{failed} of {len(results)} source(s) failed")
    return 1 if failed == len(results) else 0
