"""Trading from the command line: ``qws order``, ``orders``, ``positions``, ``cancel``,
``flatten``, ``pnl``, ``kill``, ``reconcile`` and ``risk``.

Every command first reconciles with the configured broker (paper by default), so what it
prints is the venue's truth; discrepancies are printed and kept in the audit log. Commands that
send or cancel orders ask for confirmation unless ``--yes`` is given.

``qws order ... --check`` prints the pre-trade verdict (:meth:`OrderManager.preview`, the same
check the ticket, Telegram and the order manager itself make) and sends nothing. Fills,
rejections and the kill switch are queued as alerts through the one
:class:`~workstation.alerts.announcer.Announcer`, for the configured Telegram chats (whichever
process runs the relay delivers them).

``qws order`` exits 0 when the venue took the order, 1 when it was refused (pre-trade check,
venue, not confirmed), 2 on a usage or setup error (nothing sent), and
:data:`EXIT_UNKNOWN` (3) when the outcome is unknown: the order may be at the venue (a timeout,
or a store that could not record the answer). Then run ``qws reconcile`` before retrying, and
retry with the same ``--client-id``: an order whose client id is known is never placed twice.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from workstation.cli import CliError
from workstation.cli.common import db_path, load_settings, open_store

if TYPE_CHECKING:
    from workstation.trading.attribution_report import AttributionReport

EXIT_UNKNOWN = 3
"""``qws order``: the outcome is unknown (the order may be at the venue)."""
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,30}")
PNL_ATTRIBUTION = """--attribution: every (strategy, symbol) keeps its own average-cost book
("manual" is your own orders; a stop-loss or take-profit leg is its parent's strategy's);
the books' totals add up exactly to the account's. Side: closing a long is long P&L, an open
short's unrealised P&L is short P&L. Slippage = side * (fill price - the price asked for) *
qty, positive a cost, from the order's arrival price (the mark when its intent was
recorded; a resting limit or stop from its own price); fills without one count 0 and are
listed. Market = beta to the benchmark (from aligned daily close-to-close returns in the
store) * the benchmark's daily return * the exposure at the previous close; rest = the P&L
at the prices asked for minus market. net = realised + unrealised - fees = market + rest -
slippage - fees, exactly; the printed figures are rounded so that they still add up, --json
has them exact. With --since, positions held at DATE enter at their last daily close at or
before DATE. Every symbol is converted to trading.account_ccy with the rates `qws positions`
uses; one without a rate is listed apart, in its own currency."""
ORDER_EXITS = """exit status: 0 placed, 1 refused (risk check, venue, not confirmed),
2 usage or setup error (nothing sent), 3 outcome unknown: the order may be at the venue;
run `qws reconcile` before retrying, and retry with the same --client-id (a known client id
is never placed twice)"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "order",
        help="place an order (paper by default) at the current quote",
        epilog=ORDER_EXITS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("side", choices=["buy", "sell"])
    p.add_argument("qty", help="quantity in the instrument's base unit, on its lot grid")
    p.add_argument("symbol")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--limit", metavar="PRICE", help="limit order at PRICE")
    kind.add_argument("--stop", metavar="PRICE", help="stop order triggered at PRICE (bid/ask)")
    p.add_argument("--sl", metavar="PRICE", help="stop-loss placed once the order fills")
    p.add_argument("--tp", metavar="PRICE", help="take-profit placed once the order fills")
    p.add_argument("--tif", choices=["GTC", "IOC", "FOK"], default="GTC")
    p.add_argument(
        "--client-id",
        metavar="ID",
        help="the order's client id (1-30 of A-Z a-z 0-9 _ -; default: a fresh one): an order"
        " is placed once per client id, so a retry with the same one is safe",
    )
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--check",
        action="store_true",
        help="only print the pre-trade verdict (exit 0 if it would pass, 1 if refused)",
    )
    from workstation.cli.algo import add_algo_options

    add_algo_options(p)
    p.set_defaults(func=_order)

    p = sub.add_parser("orders", help="list orders (newest first)")
    p.add_argument("--open", action="store_true", help="only orders that are still working")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=_orders)

    p = sub.add_parser("positions", help="open positions with average price and P&L")
    p.set_defaults(func=_positions)

    p = sub.add_parser("cancel", help="cancel an order by client id")
    p.add_argument("client_id")
    p.set_defaults(func=_cancel)

    p = sub.add_parser("flatten", help="cancel open orders and close positions (all or one)")
    p.add_argument("symbol", nargs="?")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=_flatten)

    p = sub.add_parser(
        "pnl",
        help="realized and unrealized P&L, fees; --attribution: by strategy, symbol and side,"
        " market vs the rest, slippage",
        epilog=PNL_ATTRIBUTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--since", metavar="DATE", help="only fills from DATE (YYYY-MM-DD, UTC)")
    p.add_argument(
        "--attribution",
        action="store_true",
        help="split the P&L by strategy, symbol and side, and into market, rest, slippage and"
        " fees (see below)",
    )
    p.add_argument(
        "--benchmark",
        metavar="SYMBOL",
        help="with --attribution: the market's benchmark (default: risk.benchmark, else the"
        " most traded symbol)",
    )
    p.add_argument(
        "--json", action="store_true", help="with --attribution: one JSON object, figures exact"
    )
    p.set_defaults(func=_pnl)

    p = sub.add_parser(
        "kill",
        help="kill switch: block new orders and cancel working entry orders; the stop-loss and"
        " take-profit orders of open positions keep working (or everything is closed when"
        " risk.kill_flattens = true)",
    )
    p.add_argument("state", choices=["on", "off", "status"], nargs="?", default="status")
    p.set_defaults(func=_kill)

    p = sub.add_parser("reconcile", help="settle orders, fills and positions with the broker")
    p.set_defaults(func=_reconcile)

    p = sub.add_parser(
        "risk",
        help="historical VaR and CVaR (95%%, 99%%) of the open positions, in the account"
        " currency (trading.account_ccy)",
    )
    p.add_argument("--timeframe", default="1h")
    p.add_argument("--bars", type=int, default=500)
    p.add_argument(
        "--stress",
        action="store_true",
        help="also revalue the positions under the worst historical moves of their daily"
        " closes (see --days) and the named windows their history covers (2008-10, 2015-01,"
        " 2020-03, 2022-05, 2022-11): P&L per position and in total",
    )
    p.add_argument(
        "--days",
        metavar="N[,N...]",
        help="the spans of the worst historical moves, in daily closes (default 1,5);"
        " implies --stress",
    )
    p.add_argument(
        "--shock",
        metavar="SPEC",
        action="append",
        help="revalue under shocks TARGET=MOVE%%,... (repeatable); a target is a symbol, a base"
        " asset or an asset class, the most specific one winning: BTC/USDT=-30%%,EURUSD=+2%%,"
        "BTC=-20%%,crypto=-10%% (moves are percentages)",
    )
    p.add_argument(
        "--propagate",
        action="store_true",
        help="with --shock: move the unshocked positions too, by their correlation with the"
        " shocked ones in aligned daily returns (beta times the shock, for one)",
    )
    p.set_defaults(func=_risk)


class _Session:
    """Store + broker + order manager for one command, with marks from the configured feed,
    and the announcer that queues its fills, rejections and kill-switch changes as alerts."""

    def __init__(self, args: argparse.Namespace, confirm: Callable[[Any], bool] | None = None):
        from workstation.alerts.announcer import Announcer
        from workstation.trading.broker_factory import BrokerConfigError, open_broker, open_oms

        self.settings = load_settings()
        self.store = open_store(args)
        try:
            self.broker = open_broker(self.settings, self.store, db_path(args))
        except (BrokerConfigError, ImportError, ValueError) as exc:
            self.store.close()
            raise CliError(str(exc)) from exc
        self._demo: Any = None
        if self.settings.get("app.feed") == "demo":
            from feeds.demo import DemoFeed

            self._demo = DemoFeed(seed=int(self.settings.get("demo.seed", 7)))
        self.oms = oms = open_oms(self.settings, self.store, self.broker, self.mark, confirm)
        self.announcer = Announcer.from_settings(self.store, self.settings, oms.instruments)
        oms.listeners.append(self._order_event)

    def _order_event(self, event: Any) -> None:
        from engine.model import Alert

        if isinstance(event, Alert):  # a protective order re-placed, a position closed
            self.announcer.publish(event)
            print(f"{event.title}: {event.body}", file=sys.stderr)
        else:
            self.announcer.order_event(event, self.oms.clock())

    def symbol(self, token: str) -> str:
        """The known symbol a typed ``token`` names, as the command bar reads it (``btc``)."""
        from engine.commands import CommandError
        from workstation.trading.broker_factory import canonical_symbol

        held = [p.symbol for p in self.store.positions.find(self.oms.venue)]
        try:
            symbol = canonical_symbol(self.store, token, held)
        except CommandError as exc:
            raise CliError(str(exc)) from exc
        if symbol != token:
            print(f"symbol: {token} is {symbol}", file=sys.stderr)
        return symbol

    def prime(self, symbol: str) -> None:
        """Hand the paper broker the feed's current book and quote for ``symbol``."""
        on_book = getattr(self.broker, "on_book", None)
        on_tick = getattr(self.broker, "on_tick", None)
        if self._demo is None or on_book is None or on_tick is None:
            return
        try:
            book = self._demo.book(symbol)
        except KeyError:
            return
        from engine.model import Tick

        on_book(book)
        on_tick(Tick(book.ts_ns, symbol, book.bids[0].price, book.asks[0].price, math.nan, 0.0))

    def mark(self, symbol: str) -> float | None:
        if self._demo is not None:
            try:
                book = self._demo.book(symbol, levels=1)
                return (book.bids[0].price + book.asks[0].price) / 2
            except KeyError:
                pass
        timeframe = str(self.settings.get("app.timeframe", "1m"))
        try:
            bars = self.store.candles.last(symbol, timeframe, 1)
        except Exception:
            return None
        return float(bars["close"][0]) if bars.height else None

    def close(self) -> None:
        closer = getattr(self.broker, "close", None)
        if closer is not None:
            result = closer()
            if asyncio.iscoroutine(result):
                asyncio.run(result)
        self.store.close()


def _run(args: argparse.Namespace, body: Callable[[_Session], Coroutine[Any, Any, int]]) -> int:
    from workstation.trading.oms import STORE_ERRORS, OmsError

    session = _Session(args, confirm=getattr(args, "_confirm", None))
    try:
        return asyncio.run(_with_reconcile(session, body))
    except OmsError as exc:
        raise CliError(str(exc)) from exc
    except STORE_ERRORS as exc:
        raise CliError(f"the database {db_path(args)} cannot be written now ({exc}): another"
                       " process holds it; nothing more was done") from exc  # fmt: skip
    finally:
        session.close()


async def _with_reconcile(
    session: _Session, body: Callable[[_Session], Coroutine[Any, Any, int]]
) -> int:
    from engine.protocols import BrokerError

    try:
        found = await session.oms.reconcile()
    except (BrokerError, OSError) as exc:
        print(f"warning: could not reconcile with {session.broker.name}: {exc}", file=sys.stderr)
        found = []
    for d in found:
        print(f"reconciled: {d.kind} {d.subject}: {d.detail}", file=sys.stderr)
    return await body(session)


def _confirm(question: str, assume_yes: bool) -> bool:
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        raise CliError(f"{question} needs confirmation: run it in a terminal or pass --yes")
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def _fmt(value: Decimal | float | None, places: int | None = None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else f"{value:,.{places or 2}f}"
    return f"{value.normalize():f}" if places is None else f"{value:,.{places}f}"


def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


# -- commands ----------------------------------------------------------------------------------
def _order(args: argparse.Namespace) -> int:
    from engine.model import ModelError, OrderType, Side, TimeInForce
    from workstation.trading.oms import is_unknown

    if args.algo:
        from workstation.cli.algo import order_algo

        return order_algo(args)
    if args.client_id is not None and not CLIENT_ID.fullmatch(args.client_id):
        raise CliError(f"--client-id: 1-30 of A-Z a-z 0-9 _ - wanted, got {args.client_id!r}")
    side = Side(args.side)
    otype = OrderType.LIMIT if args.limit else OrderType.STOP if args.stop else OrderType.MARKET
    at = f" @ {args.limit or args.stop}" if args.limit or args.stop else ""
    what = {"text": f"{side.upper()} {args.qty} {args.symbol} {otype}{at}"}

    def confirm_live(order: Any) -> bool:
        return _confirm(f"LIVE order: {what['text']}?", args.yes)

    args._confirm = confirm_live

    async def body(s: _Session) -> int:
        symbol = s.symbol(args.symbol)
        what["text"] = f"{side.upper()} {args.qty} {symbol} {otype}{at}"
        s.prime(symbol)
        try:
            order = s.oms.build(
                symbol,
                side,
                args.qty,
                otype,
                price=args.limit,
                stop=args.stop,
                tif=TimeInForce(args.tif),
                sl=args.sl,
                tp=args.tp,
                client_id=args.client_id,
            )
        except ModelError as exc:
            raise CliError(str(exc)) from exc
        known = s.store.orders.get(order.client_id)
        if args.check:
            verdict = s.oms.preview(order)
            print("risk: OK" if verdict.ok else f"refused: {verdict.reason}")
            return 0 if verdict.ok else 1
        live = getattr(s.broker, "live", True)
        if not live and not _confirm(f"Place {what['text']} on {s.broker.name}?", args.yes):
            print("not placed")
            return 1
        result = known if known is not None else await s.oms.submit(order)
        print(
            f"{result.client_id} {result.status} filled {_fmt(result.filled_qty)}"
            f" avg {_fmt(result.avg_price)}"
            + (f" ({result.reason})" if result.reason else "")
            + (" (already placed: client ids are placed once)" if known is not None else "")
        )
        if is_unknown(result):
            print(
                f"outcome unknown: {result.client_id} may be at {s.broker.name} ("
                f"{result.reason or 'no answer yet'}). Run `qws reconcile` before retrying;"
                f" retry with --client-id {result.client_id}: it is never placed twice.",
                file=sys.stderr,
            )
            return EXIT_UNKNOWN
        return 0 if result.status.name not in ("REJECTED", "EXPIRED") else 1

    return _run(args, body)


def _orders(args: argparse.Namespace) -> int:
    async def body(s: _Session) -> int:
        rows = [
            [
                o.client_id,
                datetime.fromtimestamp(o.ts_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S"),
                o.symbol,
                str(o.side),
                str(o.type),
                _fmt(o.qty),
                _fmt(o.price or o.stop),
                str(o.status),
                _fmt(o.filled_qty),
                _fmt(o.avg_price),
                o.reason,
            ]
            for o in s.store.orders.find(open_only=args.open, venue=s.oms.venue, limit=args.limit)
        ]
        if not rows:
            print("no open orders" if args.open else "no orders")
            return 0
        _table(
            [
                "client id",
                "created (UTC)",
                "symbol",
                "side",
                "type",
                "qty",
                "price",
                "status",
                "filled",
                "avg",
                "reason",
            ],
            rows,
        )
        return 0

    return _run(args, body)


def _positions(args: argparse.Namespace) -> int:
    from engine.trading.portfolio import unrealized_pnl

    async def body(s: _Session) -> int:
        rows = []
        for p in s.store.positions.find(s.oms.venue):
            if p.qty == 0:
                continue
            mark = s.mark(p.symbol)
            upnl = unrealized_pnl(p, mark) if mark is not None else math.nan
            rows.append(
                [
                    p.symbol,
                    _fmt(p.qty),
                    _fmt(p.avg_price, 6).rstrip("0").rstrip("."),
                    _fmt(mark, 6).rstrip("0").rstrip(".") if mark else "-",
                    _fmt(upnl),
                    _fmt(p.realized_pnl, 2),
                    _fmt(p.fees, 4),
                ]
            )
        if not rows:
            print("no open positions")
        else:
            _table(["symbol", "qty", "avg price", "mark", "unrealized", "realized", "fees"], rows)
        balances = s.store.balances.get(s.oms.venue)
        if balances:
            print("balances: " + ", ".join(f"{a} {_fmt(v, 2)}" for a, v in balances.items()))
        ccy = str(s.settings.get("trading.account_ccy", "USD"))
        equity = s.oms.equity(ccy, s.oms.rates(s.settings.get("trading.fx_pegs")))
        if equity is not None:
            print(f"equity: {equity:,.2f} {ccy}")
        return 0

    return _run(args, body)


def _cancel(args: argparse.Namespace) -> int:
    from workstation.trading.oms import OmsError

    async def body(s: _Session) -> int:
        try:
            o = await s.oms.cancel(args.client_id)
        except OmsError as exc:
            raise CliError(str(exc)) from exc
        print(f"{o.client_id} {o.status} filled {_fmt(o.filled_qty)}")
        return 0

    return _run(args, body)


def _flatten(args: argparse.Namespace) -> int:
    async def body(s: _Session) -> int:
        symbol = s.symbol(args.symbol) if args.symbol else None
        if symbol:
            s.prime(symbol)
        else:
            for p in s.store.positions.find(s.oms.venue):
                s.prime(p.symbol)
        scope = symbol or "ALL symbols"
        if not _confirm(f"Cancel open orders and close positions in {scope}?", args.yes):
            print("nothing done")
            return 1
        for o in await s.oms.flatten(symbol):
            print(f"{o.client_id} {o.symbol} {o.side} {_fmt(o.qty)} {o.status}")
        return 0

    args._confirm = lambda _o: True  # the flatten confirmation above covers its live orders
    return _run(args, body)


def _pnl(args: argparse.Namespace) -> int:
    from engine.trading.portfolio import apply_fill, unrealized_pnl

    since_ns = 0
    if args.since:
        try:
            since = datetime.strptime(args.since, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError as exc:
            raise CliError(f"--since wants YYYY-MM-DD, got {args.since!r}") from exc
        since_ns = int(since.timestamp() * 1e9)
    if not args.attribution and (args.json or args.benchmark):
        raise CliError("--json and --benchmark go with --attribution")

    async def attribution(s: _Session) -> int:
        import json

        from engine.trading.attribution import AttributionError
        from workstation.trading.attribution_report import render, report_json

        try:
            report = await account_attribution(s, since_ns if args.since else None, args.benchmark)
        except AttributionError as exc:
            raise CliError(f"--since {args.since}: {exc}") from exc
        if report is None:
            if args.json:
                print(json.dumps({"fills": 0, "since": args.since}))
            else:
                print("no fills" + (f" since {args.since}" if args.since else ""))
            return 0
        if args.json:
            print(json.dumps(report_json(report)))
        else:
            print("\n".join(render(report)))
        return 0

    if args.attribution:
        return _run(args, attribution)

    async def body(s: _Session) -> int:
        per: dict[str, list[Decimal]] = {}
        state: dict[str, Any] = {}
        for f in s.store.fills.find(venue=s.oms.venue):
            before = state.get(f.symbol)
            after = apply_fill(before, f, s.oms.venue)
            state[f.symbol] = after
            if f.ts_ns >= since_ns:
                acc = per.setdefault(f.symbol, [Decimal(0), Decimal(0)])
                acc[0] += after.realized_pnl - (before.realized_pnl if before else 0)
                acc[1] += after.fees - (before.fees if before else 0)
        rows, total = [], 0.0
        for symbol in sorted(set(per) | {k for k, v in state.items() if v.qty}):
            realized, fees = per.get(symbol, [Decimal(0), Decimal(0)])
            pos = state.get(symbol)
            mark = s.mark(symbol)
            upnl = unrealized_pnl(pos, mark) if pos is not None and mark is not None else 0.0
            net = float(realized - fees) + upnl
            total += net
            rows.append([symbol, _fmt(realized, 2), _fmt(fees, 4), _fmt(upnl), _fmt(net)])
        if not rows:
            print("no fills" + (f" since {args.since}" if args.since else ""))
            return 0
        _table(["symbol", "realized", "fees", "unrealized", "net"], rows)
        print(f"total net (quote currencies summed as-is): {total:,.2f}")
        return 0

    return _run(args, body)


async def account_attribution(
    s: _Session, since_ns: int | None, benchmark: str | None = None, venue: str | None = None
) -> AttributionReport | None:
    """The attribution of the fills of ``venue`` (default: the broker's) since ``since_ns``
    (None when there is nothing in the period), in ``trading.account_ccy`` with the rates of
    ``qws positions``; ``qws pnl --attribution`` and ``qws report`` print it. Raises
    ``AttributionError``."""
    from workstation.trading.attribution_report import DAY_NS, attribution_report

    venue = venue or s.oms.venue
    ccy = str(s.settings.get("trading.account_ccy", "USD"))
    rates = dict(s.oms.rates(s.settings.get("trading.fx_pegs")))
    fills = s.store.fills.find(venue=venue)
    now = s.oms.clock()
    for symbol in sorted({f.symbol for f in fills}):  # the rates of flat symbols too
        try:
            inst = s.oms.instruments(symbol)
        except (KeyError, LookupError, ValueError):
            continue
        mark = s.mark(symbol)
        if mark and inst.base_ccy and inst.quote_ccy:
            rates.setdefault(f"{inst.base_ccy}/{inst.quote_ccy}", mark)
    setting = str(s.settings.get("risk.benchmark", "") or "")
    frames: dict[str, Any] = {}
    if s._demo is not None and fills:
        days = int((now - fills[0].ts_ns) // DAY_NS) + 2
        wanted = {f.symbol for f in fills} | {benchmark or setting} - {""}
        for symbol in sorted(wanted & set(s._demo.symbols())):
            frames[symbol] = await s._demo.history(symbol, "1d", limit=max(days, 90))
    return attribution_report(
        s.store,
        venue,
        account_ccy=ccy,
        rates=rates,
        marks=s.mark,
        instruments=s.oms.instruments,
        now_ns=now,
        since_ns=since_ns,
        benchmark=benchmark,
        benchmark_setting=setting,
        history=frames.get,
    )


def _kill(args: argparse.Namespace) -> int:
    async def body(s: _Session) -> int:
        if args.state == "status":
            print("kill switch: " + ("ON" if s.oms.kill_switch else "off"))
            return 0
        on = args.state == "on"
        for p in s.store.positions.find(s.oms.venue):  # the market a flatten closes at
            s.prime(p.symbol)
        cancelled = await s.oms.set_kill_switch(on, reason="cli")
        if on:
            s.announcer.kill("cli", "", s.oms.clock(), len(cancelled))
        else:
            s.announcer.kill_released("cli", s.oms.clock())
        if not on:
            print("kill switch off; new orders are accepted again")
        elif s.oms.kill_flattens:
            print(
                f"kill switch on; cancelled {len(cancelled)} open order(s) and closed"
                f" {len(s.oms.last_closed)} position(s) at market (risk.kill_flattens = true)"
            )
        else:
            print(
                f"kill switch on; cancelled {len(cancelled)} open order(s); kept"
                f" {len(s.oms.last_kept)} protective order(s) working: the stop-loss and"
                " take-profit orders of open positions stay (set risk.kill_flattens = true to"
                " close the positions instead)"
            )
        return 0

    return _run(args, body)


def _reconcile(args: argparse.Namespace) -> int:
    async def body(s: _Session) -> int:
        print(f"reconciled with {s.broker.name}")
        return 0

    return _run(args, body)


def _risk(args: argparse.Namespace) -> int:
    from engine.trading.portfolio import fx_rate
    from workstation.cli.risk import StressArgs, print_stress
    from workstation.trading.risk_report import var_report

    stress = StressArgs.of(args)  # a bad --shock or --days: one line, before any work

    async def body(s: _Session) -> int:
        positions = [p for p in s.store.positions.find(s.oms.venue) if p.qty != 0]
        if not positions:
            print("no open positions: nothing at risk")
            return 0
        ccy = str(s.settings.get("trading.account_ccy", "USD"))
        rates = s.oms.rates(s.settings.get("trading.fx_pegs"))
        no_rate: dict[str, str] = {}

        def mark_in_ccy(symbol: str) -> float | None:
            """The mark in the account currency, so exposures (and the loss) are in it too."""
            mark = s.mark(symbol)
            if mark is None:
                return None
            try:
                return mark * fx_rate(s.oms.instruments(symbol).quote_ccy, ccy, rates)
            except (KeyError, LookupError, ValueError) as exc:
                no_rate[symbol] = str(exc).strip("'\"")
                return None

        demo_frames: dict[str, Any] = {}
        if s._demo is not None:
            for p in positions:
                if p.symbol in s._demo.symbols():
                    demo_frames[p.symbol] = await s._demo.history(
                        p.symbol, args.timeframe, limit=args.bars
                    )
        report = var_report(
            s.store,
            positions,
            mark_in_ccy,
            args.timeframe,
            args.bars,
            history=lambda sym, _tf, _n: demo_frames.get(sym),
        )
        for symbol, exposure in report.exposures.items():
            print(f"{symbol:<10} exposure {exposure:>14,.2f} {ccy}")
        for level, (var, cvar) in report.levels.items():
            print(
                f"{level:.0%} one-{report.timeframe}-bar VaR {var:,.2f} {ccy}"
                f"  CVaR {cvar:,.2f} {ccy}  ({report.bars} bars)"
            )
        for symbol, reason in no_rate.items():
            print(f"left out {symbol}: no rate to {ccy} ({reason})")
        missing = [m for m in report.missing if m not in no_rate]
        if missing:
            print("not enough bars for: " + ", ".join(missing))
        if stress.wanted:
            await print_stress(s, stress, positions, mark_in_ccy, ccy)
        return 0

    return _run(args, body)
