"""Execution algorithms from the command line: ``qws order ... --algo twap|vwap`` and
``qws algo`` (list, show, cancel).

``qws order buy 5 BTC/USDT --algo twap --over 30m`` checks and plans the parent, then works it
in the foreground on the configured feed (the replay options work too) and prints each child
and, at the end, the average price, the slippage against the arrival price and the interval's
market VWAP, and the participation. ^C stops the process and leaves the parent working in the
store: the next runtime of the account (``qws run``, ``qws trade``, or this command again with
``--resume``) takes it over where it was, without sending a child twice. ``--detach`` only
queues it for the workstation that is running.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from workstation.cli import CliError
from workstation.cli.common import db_path, load_settings, open_store

ENDED = ("done", "cancelled", "stopped")
"""How an ended parent's :class:`~workstation.trader.events.AlgoChanged` line begins."""


def add_algo_options(p: argparse.ArgumentParser) -> None:
    """The options of ``qws order`` that make it a parent order (and the feed it is worked
    on: the order's symbol names a replay's bars)."""
    g = p.add_argument_group("execution algorithm (a parent order worked over time)")
    g.add_argument("--algo", choices=["twap", "vwap"], help="work the order over --over")
    g.add_argument("--over", metavar="DURATION", help="the horizon: 30m, 2h, 1h30m")
    g.add_argument("--slices", type=int, help="child orders (default: one a bar, 1m at least)")
    g.add_argument(
        "--max-participation",
        metavar="PCT",
        help="at most this share of the market's volume since the start (10%%)",
    )
    g.add_argument(
        "--child",
        choices=["market", "limit"],
        help="child order type (default: execution.child_type)",
    )
    g.add_argument(
        "--limit-offset",
        type=int,
        metavar="TICKS",
        help="limit children: ticks through the mark (negative: rest behind it)",
    )
    g.add_argument(
        "--detach",
        action="store_true",
        help="only queue it: the running workstation works it",
    )
    g.add_argument("--feed", default=None, help="the feed to work it on (default: app.feed)")
    g.add_argument("--timeframe", default=None, help="the bars whose volume is counted (1m)")
    g.add_argument("--file", default=None, help="replay: the OHLCV file to play")
    g.add_argument("--speed", type=float, default=None, help="replay: 1, 10, ... or 0 for max")
    g.add_argument("--url", default=None, help="feeds that connect somewhere: the endpoint")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "algo",
        help="TWAP/VWAP parent orders: list, show ID, cancel ID, resume",
        description="Parent orders placed with `qws order ... --algo`. `resume` works the"
        " parents left working by a process that stopped, in the foreground.",
    )
    p.add_argument(
        "action", nargs="?", default="list", choices=["list", "show", "cancel", "resume"]
    )
    p.add_argument("id", nargs="?", help="the parent's id (show, cancel)")
    p.add_argument("--limit", type=int, default=20)
    from workstation.cli.run import add_feed_options

    add_feed_options(p)
    p.set_defaults(func=cmd_algo)


def params_from(args: argparse.Namespace, settings: Any) -> Any:
    from engine.trading.schedule import ScheduleError
    from workstation.trading.algos import algo_params

    if not args.over:
        raise CliError("--algo needs --over DURATION (e.g. --over 30m)")
    try:
        timeframe = args.timeframe or str(settings.get("app.timeframe", "1m"))
        return algo_params(settings, args.algo, args.over, args.slices, args.max_participation,
                           args.child, args.limit_offset, timeframe)  # fmt: skip
    except ScheduleError as exc:
        raise CliError(str(exc)) from exc


def _runtime(args: argparse.Namespace, settings: Any, symbols: list[str], store: Any) -> Any:
    from workstation.cli.run import feed_from_args
    from workstation.trader.runtime import Runtime

    feed = feed_from_args(args, settings)
    timeframe = args.timeframe or str(
        getattr(feed, "timeframe", None) or settings.get("app.timeframe", "1m")
    )
    known = feed.symbols()
    missing = [s for s in symbols if s not in known]
    if missing:
        raise CliError(f"not symbols of the {feed.name} feed: {', '.join(missing)}")
    return Runtime(
        feed,
        store,
        settings,
        symbols,
        timeframe,
        db_path=db_path(args),
        signals=False,
        telegram=False,
        news=False,
        stop_at_end=True,
    )


def order_algo(args: argparse.Namespace) -> int:
    """``qws order ... --algo``: exit 0 when the whole quantity filled, 1 when it ended short
    (cancelled, stopped, the cap or the horizon), 3 when it is still working (the process was
    stopped, or the replay ended): the next runtime resumes it."""
    from engine.model import Side
    from workstation.cli.trade import CLIENT_ID, _confirm

    if args.limit or args.stop or args.sl or args.tp or args.check:
        raise CliError("--algo works market or limit children: --limit/--stop/--sl/--tp/--check"
                       " do not apply (use --child limit)")  # fmt: skip
    if args.client_id is not None and not CLIENT_ID.fullmatch(args.client_id):
        raise CliError(f"--client-id: 1-30 of A-Z a-z 0-9 _ - wanted, got {args.client_id!r}")
    settings = load_settings()
    params = params_from(args, settings)
    try:
        qty = Decimal(args.qty)
    except ArithmeticError as exc:
        raise CliError(f"quantity: a number wanted, got {args.qty!r}") from exc
    side = Side(args.side)
    what = f"{args.algo.upper()} {side.upper()} {args.qty} {args.symbol} over {args.over}"
    if not _confirm(f"Work {what}?", args.yes):
        print("not placed")
        return 1
    if args.detach:
        return _detach(args, settings, side, qty, params)
    store = open_store(args)
    try:
        runtime = _runtime(args, settings, [args.symbol], store)
        return asyncio.run(_work(runtime, args.symbol, side, qty, params, args.client_id))
    finally:
        store.close()


def _detach(args: argparse.Namespace, settings: Any, side: Any, qty: Decimal, params: Any) -> int:
    from engine.trading.schedule import ScheduleError
    from workstation.cli.trade import _run, _Session
    from workstation.trading.algos import AlgoDesk

    async def body(s: _Session) -> int:
        symbol = s.symbol(args.symbol)
        timeframe = args.timeframe or str(settings.get("app.timeframe", "1m"))
        desk = AlgoDesk(s.store, s.oms, timeframe, s.oms.clock)
        try:
            parent = desk.new(symbol, side, qty, params, parent_id=args.client_id, work=False)
        except ScheduleError as exc:
            raise CliError(str(exc)) from exc
        print(f"{parent.id} queued: the running workstation of this account works it")
        return 0

    return _run(args, body)


async def _work(
    runtime: Any,
    symbol: str,
    side: Any,
    qty: Decimal | None,
    params: Any,
    parent_id: str | None,
) -> int:
    """Run ``runtime`` until the parent (or, with ``qty`` None, every resumed parent) ends."""
    from engine.trading.schedule import ScheduleError
    from workstation.cli.headless import printer
    from workstation.trader import events as ev
    from workstation.trading.algos import report

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    show = printer()
    watched: set[str] = set()

    def listen(event: ev.RuntimeEvent) -> None:
        if not isinstance(event, ev.Logged):
            show(event)
        if not isinstance(event, ev.AlgoChanged) or event.what.split(":")[0] not in ENDED:
            return
        watched.discard(event.parent.id)
        if not watched:
            stop.set()

    runtime.listeners.append(listen)
    ids: list[str] = []
    problem: list[str] = []

    async def queue() -> None:
        """Before the feed streams: plan the parent (or take the ones left working)."""
        assert runtime.algos is not None
        try:
            if qty is not None:
                parent = await runtime.start_algo(symbol, side, qty, params, "cli", parent_id)
                ids.append(parent.id)
                print(f"{parent.id}: queued, {params.slices} slices", flush=True)
            else:
                runtime.algos.take()
                ids.extend(p.id for p in runtime.algos.working() if runtime.algos.owns(p.id))
        except ScheduleError as exc:
            problem.append(str(exc))
        watched.update(ids)
        if not ids:
            stop.set()

    runtime.before_feed.append(queue)
    await runtime.run(stop, require_broker=True)
    if runtime.oms is None:
        raise CliError(f"no broker: {runtime.broker_error}")
    if problem:
        raise CliError(problem[0])
    if not ids:
        print("no parent orders left working")
        return 0
    code = 0
    for pid in ids:
        parent = runtime.store.algos.get(pid)
        result = report(runtime.store, parent)
        for line in result.lines():
            print(line)
        if not parent.status.is_final:
            print(f"{pid} is still working: the next runtime of this account resumes it"
                  f" (qws algo resume, qws run, qws trade)", file=sys.stderr)  # fmt: skip
            code = max(code, 3)
        elif result.filled < parent.qty:
            code = max(code, 1)
    return code


def cmd_algo(args: argparse.Namespace) -> int:
    from engine.trading.schedule import ScheduleError
    from workstation.trading.algos import report

    if args.action == "resume":
        settings = load_settings()
        store = open_store(args)
        try:
            symbols = sorted({p.symbol for p in store.algos.find(working_only=True)})
            if not symbols:
                print("no parent orders left working")
                return 0
            runtime = _runtime(args, settings, symbols, store)
            return asyncio.run(_work(runtime, symbols[0], None, None, None, None))
        finally:
            store.close()
    if args.action in ("show", "cancel") and not args.id:
        raise CliError(f"qws algo {args.action} needs the parent's id (qws algo list)")
    if args.action == "cancel":
        from workstation.cli.trade import _run, _Session
        from workstation.trading.algos import AlgoDesk

        async def body(s: _Session) -> int:
            desk = AlgoDesk(s.store, s.oms, str(s.settings.get("app.timeframe", "1m")), s.oms.clock)
            try:
                ended = await desk.cancel(args.id)
            except ScheduleError as exc:
                raise CliError(str(exc)) from exc
            for line in report(s.store, ended).lines():
                print(line)
            return 0

        return _run(args, body)
    store = open_store(args)
    try:
        if args.action == "show":
            parent = store.algos.get(args.id)
            if parent is None:
                raise CliError(f"no algorithm order {args.id} (qws algo list)")
            r = report(store, parent)
            for line in r.lines():
                print(line)
            for c in r.children:
                at = datetime.fromtimestamp(c.ts_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")
                avg = "-" if c.avg_price is None else f"{c.avg_price:f}"
                print(f"  {c.client_id}  {at}  {c.type} {c.qty:f}  {c.status}"
                      f"  filled {c.filled_qty:f} @ {avg}")  # fmt: skip
            return 0
        parents = store.algos.find(limit=args.limit)
        if not parents:
            print("no algorithm orders")
            return 0
        for parent in parents:
            r = report(store, parent)
            why = f"  ({parent.reason})" if parent.reason else ""
            print(f"{parent.id}  {parent.params.algo.upper()}  {parent.side} {parent.qty:f}"
                  f" {parent.symbol}  {parent.status}  filled {r.filled:f}"
                  f"  children {len(r.children)}{why}")  # fmt: skip
        return 0
    finally:
        store.close()
