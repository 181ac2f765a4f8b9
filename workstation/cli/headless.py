"""``qws trade``: the trading runtime without a screen, until SIGINT/SIGTERM (or the end of a
replay). Strategies run on their symbols, signals are scanned on every closed bar, orders go
through the one order manager, and Telegram runs inside it when configured. One line per
signal, order and fill on stdout; warnings and errors on stderr.

``qws telegram serve`` is this runtime without strategies (see :mod:`workstation.cli.telegram_cmd`).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import UTC, datetime
from typing import Any

from workstation.cli import CliError
from workstation.cli.common import db_path, load_settings, open_store
from workstation.cli.run import add_feed_options, feed_from_args, symbols_of
from workstation.trader.events import Listener


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "trade",
        help="run strategies headless (paper by default) until ^C",
        description="Run the trading runtime without a screen: strategies on the given symbols,"
        " signals on every closed bar, orders through the order manager, Telegram if"
        " configured. Stops on SIGINT/SIGTERM, or at the end of a replay.",
    )
    p.add_argument(
        "--strategy",
        action="append",
        default=[],
        metavar="NAME[:k=v,...]",
        help="strategy to run on every --symbols symbol (repeatable)",
    )
    p.add_argument("--broker", default=None, help="paper (default) or an installed broker")
    p.add_argument("--no-signals", action="store_true", help="do not scan closed bars")
    p.add_argument(
        "--stay", action="store_true", help="keep running after a replay ends (until ^C)"
    )
    add_feed_options(p)
    p.set_defaults(func=cmd_trade)


def _ts(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def printer(out: Any = None, err: Any = None) -> Listener:
    """The headless client: a line per signal, order, fill and state change."""
    from widgets.prices import price_text
    from workstation.trader import events as ev

    out = out or sys.stdout
    err = err or sys.stderr

    def show(event: ev.RuntimeEvent) -> None:
        line = ""
        stream = out
        if isinstance(event, ev.SignalEmitted):
            s = event.signal
            conf = s.evidence.text() if s.evidence else f"conf {s.confidence:.2f} (rule-made)"
            line = (
                f"{_ts(s.ts_ns)} signal {s.symbol} {s.timeframe} {s.action}"
                f" {conf} @ {price_text(s.price, None)}"
                f"{' (relayed)' if event.relayed else ''}"
            )
        elif isinstance(event, ev.OrderChanged):
            o = event.order
            why = f" — {o.reason}" if o.reason else ""
            line = f"{_ts(o.ts_ns)} order {o.client_id} {o.side} {o.qty:f} {o.symbol} {o.type}"
            line += f" {o.status}{why}"
        elif isinstance(event, ev.Filled):
            f = event.fill
            line = (
                f"{_ts(f.ts_ns)} fill {f.side} {f.qty:f} {f.symbol} @ {f.price:f} fee {f.fee_text}"
            )
        elif isinstance(event, ev.KillChanged):
            state = "ENGAGED" if event.engaged else "released"
            line = f"kill switch {state} by {event.actor}: {event.reason}".rstrip(": ")
            stream = err
        elif isinstance(event, ev.PauseChanged):
            line = f"{'paused' if event.paused else 'resumed'} by {event.actor}"
        elif isinstance(event, ev.StrategyChanged):
            line = f"strategy {event.key} {'started' if event.running else 'stopped'}"
            line += f": {event.reason}" if event.reason else ""
        elif isinstance(event, ev.AlgoChanged):
            p = event.parent
            line = (
                f"algo {p.id} {p.params.algo.upper()} {p.side} {p.qty:f} {p.symbol}: {event.what}"
            )
        elif isinstance(event, ev.Logged) and event.severity in ("warning", "error"):
            line, stream = f"{event.severity}: {event.text}", err
        if line:
            print(line, file=stream, flush=True)

    return show


def run_headless(
    args: argparse.Namespace, strategies: list[str], config_strategies: bool = True
) -> int:
    """``strategies`` from the command line, else (with ``config_strategies``) those of
    ``[[strategies.run]]`` in the config."""
    from workstation.trader.runtime import Runtime
    from workstation.trader.specs import SpecError, from_config, specs_for

    settings = load_settings()
    if args.broker:
        settings = settings.with_values({"trading.broker": args.broker})
    feed = feed_from_args(args, settings)
    timeframe = args.timeframe or str(
        getattr(feed, "timeframe", None) or settings.get("app.timeframe", "1m")
    )
    symbols = symbols_of(args) or list(settings.get("watchlist.default", []) or [])
    known = feed.symbols()
    symbols = [s for s in symbols if s in known] or list(known)
    missing = [s for s in symbols_of(args) or [] if s not in known]
    if missing:
        raise CliError(f"not symbols of the {feed.name} feed: {', '.join(missing)}")
    auto = [str(e.get("name")) for e in settings.get("strategies.run", []) or [] if e.get("auto")]
    try:
        specs = specs_for(strategies, symbols, timeframe, auto)
        if not strategies and config_strategies:
            specs = from_config(settings.get("strategies.run", []) or [], timeframe)
    except SpecError as exc:
        raise CliError(str(exc)) from exc
    from engine.strategy import StrategyError
    from workstation.strategies.discovery import StrategyNotFound, create

    for spec in {s.name: s for s in specs}.values():
        try:
            create(spec.name, dict(spec.params))
        except (StrategyNotFound, StrategyError, TypeError, ValueError) as exc:
            raise CliError(f"strategy {spec.name}: {exc}") from exc
    store = open_store(args)
    runtime = Runtime(
        feed,
        store,
        settings,
        symbols,
        timeframe,
        db_path=db_path(args),
        strategies=specs,
        signals=False if getattr(args, "no_signals", False) else None,
        stop_at_end=not getattr(args, "stay", False),
    )
    runtime.listeners.append(printer())
    try:
        code = asyncio.run(_serve(runtime))
    finally:
        store.close()
    return code


async def _serve(runtime: Any) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"qws trade: {runtime.feed.name} {','.join(runtime.symbols)} {runtime.timeframe};"
        f" {len(runtime.configured)} strategy run(s); ^C to stop",
        file=sys.stderr,
        flush=True,
    )
    await runtime.run(stop, require_broker=True)
    if runtime.broker is None:
        raise CliError(f"no broker: {runtime.broker_error}")
    print(
        f"qws trade: stopped ({runtime.bars_stored} bars, {runtime.quotes} quotes"
        + (f"; feed: {runtime.feed_error}" if runtime.feed_error else "")
        + ")",
        file=sys.stderr,
        flush=True,
    )
    return 0


def cmd_trade(args: argparse.Namespace) -> int:
    return run_headless(args, list(args.strategy))
