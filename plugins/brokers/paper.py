"""The paper broker: a simulated venue that fills the way a real book would, not the way a chart
suggests.

- Market orders (and triggered stops) walk the order-book levels the feed provides, best first;
  liquidity taken from a snapshot stays taken until the next snapshot. What exceeds the depth
  stays working (GTC) and fills against later books, or is cancelled (IOC); a FOK that the book
  cannot fill entirely expires untouched.
- Limit orders take liquidity up to their price on arrival; the rest rests and fills only when
  the market *trades through* the price (a trade strictly beyond it), at the limit price and
  only up to the traded volume, shared in time priority. A trade *at* the price does not fill:
  queue position is unknown, and assuming the front of the queue is the classic paper lie.
- Stop orders trigger on the bid/ask (a buy stop when the ask reaches it, a sell stop when the
  bid does), never on the last trade, then execute as market orders.
- Fees per venue (maker for resting fills, taker otherwise), charged in the quote currency.

The account is margin-style: cash per currency, signed positions per symbol. All state lives in
its own SQLite file (synchronous=FULL), so balances, orders and fills survive restarts and a
crash between the broker and the workstation is settled by reconciliation. Every call is
idempotent on the client id.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

from engine.model import (
    Fill,
    Instrument,
    ModelError,
    Order,
    OrderBook,
    OrderStatus,
    OrderType,
    Position,
    Side,
    Tick,
    TimeInForce,
    to_decimal,
)
from engine.protocols import OrderNotFound
from engine.trading.portfolio import apply_fill

ZERO = Decimal(0)
_UNLIMITED = Decimal("Infinity")
DEFAULT_FEES = {"maker": "0.001", "taker": "0.001"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
  seq INTEGER PRIMARY KEY, client_id TEXT NOT NULL UNIQUE, symbol TEXT NOT NULL,
  working INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_working ON orders (working, symbol);
CREATE TABLE IF NOT EXISTS fills (
  seq INTEGER PRIMARY KEY, fill_id TEXT NOT NULL UNIQUE, client_id TEXT NOT NULL,
  ts INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS balances (asset TEXT PRIMARY KEY, total TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (symbol TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_DEC_FIELDS = ("qty", "price", "stop", "filled_qty", "avg_price", "sl", "tp")


def order_to_json(order: Order) -> str:
    body = {
        "client_id": order.client_id,
        "symbol": order.symbol,
        "side": str(order.side),
        "type": str(order.type),
        "tif": str(order.tif),
        "status": str(order.status),
        "venue": order.venue,
        "broker_id": order.broker_id,
        "reason": order.reason,
        "ts_ns": order.ts_ns,
    }
    for name in _DEC_FIELDS:
        value = getattr(order, name)
        body[name] = None if value is None else str(value)
    return json.dumps(body)


def order_from_json(text: str) -> Order:
    b = json.loads(text)
    decs = {n: (None if b[n] is None else Decimal(b[n])) for n in _DEC_FIELDS}
    return Order(
        b["client_id"],
        b["symbol"],
        Side(b["side"]),
        OrderType(b["type"]),
        decs["qty"],  # type: ignore[arg-type]
        decs["price"],
        decs["stop"],
        TimeInForce(b["tif"]),
        OrderStatus(b["status"]),
        b["venue"],
        decs["filled_qty"],  # type: ignore[arg-type]
        decs["avg_price"],
        decs["sl"],
        decs["tp"],
        b["broker_id"],
        b["reason"],
        b["ts_ns"],
    )


def _fill_to_json(fill: Fill) -> str:
    return json.dumps(
        {
            "client_id": fill.client_id,
            "symbol": fill.symbol,
            "side": str(fill.side),
            "qty": str(fill.qty),
            "price": str(fill.price),
            "fee": str(fill.fee),
            "ts_ns": fill.ts_ns,
            "fill_id": fill.fill_id,
            "fee_ccy": fill.fee_ccy,
        }
    )


def _fill_from_json(text: str) -> Fill:
    b = json.loads(text)
    return Fill(
        b["client_id"],
        b["symbol"],
        Side(b["side"]),
        Decimal(b["qty"]),
        Decimal(b["price"]),
        Decimal(b["fee"]),
        b["ts_ns"],
        b["fill_id"],
        b["fee_ccy"],
    )


@dataclass(slots=True)
class _Level:
    price: Decimal
    size: Decimal


class PaperBroker:
    """Registered as entry point ``qws.brokers:paper``."""

    name = "paper"
    live = False

    def __init__(
        self,
        state_path: str | Path,
        instruments: Mapping[str, Instrument] | Callable[[str], Instrument],
        fees: Mapping[str, Mapping[str, str | float]] | None = None,
        starting_balances: Mapping[str, str | float | int] | None = None,
        clock: Callable[[], int] = time.time_ns,
        **_: object,
    ) -> None:
        self.state_path = Path(state_path)
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        self._instruments = instruments
        self._fees = {v: {k: to_decimal(r) for k, r in d.items()} for v, d in (fees or {}).items()}
        self.clock = clock
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            str(self.state_path), check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        self._live: dict[str, Order] = {
            o.client_id: o
            for o in (
                order_from_json(r[0])
                for r in self._conn.execute(
                    "SELECT body FROM orders WHERE working = 1 ORDER BY seq"
                ).fetchall()
            )
        }
        self._pending: list[Order] = []
        self._books: dict[str, tuple[list[_Level], list[_Level]]] = {}

        self._quotes: dict[str, tuple[Decimal, Decimal]] = {}
        with self._tx() as c:
            seeded = c.execute("SELECT value FROM meta WHERE key='seeded'").fetchone()
            if seeded is None:
                for asset, amount in (starting_balances or {}).items():
                    c.execute(
                        "INSERT INTO balances (asset, total) VALUES (?, ?)",
                        (asset, str(to_decimal(amount))),
                    )
                c.execute("INSERT INTO meta (key, value) VALUES ('seeded', '1')")

    # -- persistence -------------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One FULL-synchronous transaction; the working-order cache follows only on commit."""
        with self._lock:
            self._pending = []
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            for order in self._pending:
                if order.status.is_final:
                    self._live.pop(order.client_id, None)
                else:
                    self._live[order.client_id] = order

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def integrity_check(self) -> str:
        with self._lock:
            return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    def _get(self, client_id: str) -> Order | None:
        row = self._conn.execute(
            "SELECT body FROM orders WHERE client_id = ?", (client_id,)
        ).fetchone()
        return order_from_json(row[0]) if row else None

    def _put(self, c: sqlite3.Connection, order: Order) -> None:
        c.execute(
            "INSERT INTO orders (client_id, symbol, working, body) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (client_id) DO UPDATE SET working = excluded.working,"
            " body = excluded.body",
            (order.client_id, order.symbol, int(not order.status.is_final), order_to_json(order)),
        )
        self._pending.append(order)

    def _working(self, symbol: str | None = None) -> list[Order]:
        """Orders still working, in arrival (time-priority) order."""
        return [o for o in self._live.values() if symbol is None or o.symbol == symbol]

    def instrument(self, symbol: str) -> Instrument:
        if callable(self._instruments):
            return self._instruments(symbol)
        try:
            return self._instruments[symbol]
        except KeyError:
            raise ModelError(f"paper: unknown instrument {symbol!r}") from None

    def _fee_rate(self, inst: Instrument, maker: bool) -> Decimal:
        rates = self._fees.get(inst.venue) or self._fees.get("default") or {}
        key = "maker" if maker else "taker"
        return rates.get(key, to_decimal(DEFAULT_FEES[key]))

    # -- market data -------------------------------------------------------------------------
    def on_book(self, book: OrderBook) -> None:
        """A new depth snapshot replaces the old one (and its consumed liquidity)."""
        with self._lock:
            bids = [_Level(to_decimal(lv.price), to_decimal(lv.size)) for lv in book.bids]
            asks = [_Level(to_decimal(lv.price), to_decimal(lv.size)) for lv in book.asks]
            self._books[book.symbol] = (bids, asks)
            if bids and asks:
                self._quotes[book.symbol] = (bids[0].price, asks[0].price)
            self._work(book.symbol, self.clock(), None)

    def on_tick(self, tick: Tick) -> None:
        """A quote/trade: re-anchors the book to the new top, triggers stops, fills limits."""
        with self._lock:
            bid, ask = to_decimal(tick.bid), to_decimal(tick.ask)
            book = self._books.get(tick.symbol)
            if book is not None and book[0] and book[1]:
                db, da = bid - book[0][0].price, ask - book[1][0].price
                if db or da:
                    for lv in book[0]:
                        lv.price += db
                    for lv in book[1]:
                        lv.price += da
            self._quotes[tick.symbol] = (bid, ask)
            self._work(tick.symbol, self.clock(), tick)

    def quote(self, symbol: str) -> tuple[Decimal, Decimal] | None:
        return self._quotes.get(symbol)

    # -- the Broker protocol -----------------------------------------------------------------
    async def submit(self, order: Order) -> Order:
        return self.submit_now(order)

    def submit_now(self, order: Order) -> Order:
        with self._lock:
            existing = self._get(order.client_id)
            if existing is not None:
                return existing
            now = self.clock()
            accepted = replace(
                order,
                status=OrderStatus.OPEN,
                venue=self.name,
                filled_qty=ZERO,
                avg_price=None,
                broker_id=f"P{now}",
                ts_ns=order.ts_ns or now,
            )
            reason = self._validate(accepted)
            with self._tx() as c:
                if reason:
                    rejected = replace(accepted, status=OrderStatus.REJECTED, reason=reason)
                    self._put(c, rejected)
                    return rejected
                self._put(c, accepted)
            self._execute_on_arrival(accepted, now)
            return self._get(order.client_id)  # type: ignore[return-value]

    async def cancel(self, client_id: str) -> Order:
        with self._lock:
            order = self._get(client_id)
            if order is None:
                raise OrderNotFound(f"paper: no order {client_id}")
            if order.status.is_final:
                return order
            cancelled = replace(order, status=OrderStatus.CANCELLED, reason="cancelled by user")
            with self._tx() as c:
                self._put(c, cancelled)
            return cancelled

    async def open_orders(self) -> list[Order]:
        with self._lock:
            return self._working()

    async def order(self, client_id: str, symbol: str | None = None) -> Order | None:
        with self._lock:
            return self._get(client_id)

    async def fills(self, since_ns: int | None = None) -> list[Fill]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT body FROM fills WHERE ts >= ? ORDER BY seq", (since_ns or 0,)
            ).fetchall()
        return [_fill_from_json(r[0]) for r in rows]

    async def positions(self) -> list[Position]:
        with self._lock:
            rows = self._conn.execute("SELECT body FROM positions ORDER BY symbol").fetchall()
        out = []
        for (body,) in rows:
            b = json.loads(body)
            pos = Position(
                b["symbol"],
                Decimal(b["qty"]),
                Decimal(b["avg_price"]),
                self.name,
                Decimal(b["realized_pnl"]),
                Decimal(b["fees"]),
            )
            if pos.qty != 0:
                out.append(pos)
        return out

    async def balance(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.balances().items()}

    def balances(self) -> dict[str, Decimal]:
        with self._lock:
            rows = self._conn.execute("SELECT asset, total FROM balances ORDER BY asset").fetchall()
        return {a: Decimal(t) for a, t in rows}

    # -- matching ----------------------------------------------------------------------------
    def _stored_positions(self) -> dict[str, tuple[Decimal, Decimal]]:
        """symbol -> (signed qty, average price), straight from the state file."""
        with self._lock:
            rows = self._conn.execute("SELECT body FROM positions").fetchall()
        out = {}
        for (body,) in rows:
            b = json.loads(body)
            out[b["symbol"]] = (Decimal(b["qty"]), Decimal(b["avg_price"]))
        return out

    def _position_qty(self, symbol: str) -> Decimal:
        return self._stored_positions().get(symbol, (ZERO, ZERO))[0]

    def _short_collateral(self, quote_ccy: str) -> Decimal:
        """Cash in ``quote_ccy`` not already backing open shorts: a short is held at 1x margin,
        so selling short needs free cash equal to its notional (plus the fee)."""
        cash = self.balances().get(quote_ccy, ZERO)
        for symbol, (qty, avg) in self._stored_positions().items():
            if qty < 0 and self._quote_ccy_of(symbol) in (quote_ccy, None):
                cash -= 2 * -qty * avg  # the proceeds credited at the sale, and the margin
        return cash

    def _quote_ccy_of(self, symbol: str) -> str | None:
        try:
            return self.instrument(symbol).quote_ccy
        except (KeyError, LookupError, ValueError):
            return None  # unknown now: count its short against every currency, to be safe

    def _validate(self, order: Order) -> str:
        try:
            inst = self.instrument(order.symbol)
            inst.check_qty(order.qty)
            if order.type is OrderType.LIMIT:
                if order.price is None:
                    return "limit order without a price"
                inst.check_price(order.price)
            if order.type is OrderType.STOP:
                if order.stop is None:
                    return "stop order without a stop price"
                inst.check_price(order.stop)
        except ModelError as exc:
            return str(exc)
        quote = self._quotes.get(order.symbol)
        if order.side is Side.BUY:
            ref = order.price or order.stop or (quote[1] if quote else None)
            if ref is not None:
                cash = self.balances().get(inst.quote_ccy, ZERO)
                cost = order.qty * ref * (1 + self._fee_rate(inst, maker=False))
                if cost > cash:
                    return (
                        f"insufficient funds: {cost:.2f} {inst.quote_ccy} needed,"
                        f" {cash:.2f} available"
                    )
        else:
            ref = order.price or order.stop or (quote[0] if quote else None)
            opening = order.qty - max(self._position_qty(order.symbol), ZERO)
            if ref is not None and opening > 0:
                free = self._short_collateral(inst.quote_ccy)
                need = opening * ref * (1 + self._fee_rate(inst, maker=False))
                if need > free:
                    return (
                        f"insufficient margin to sell short {opening} {order.symbol}:"
                        f" {need:.2f} {inst.quote_ccy} needed, {free:.2f} free"
                    )
        if order.type is OrderType.MARKET and order.symbol not in self._quotes:
            return f"no market data for {order.symbol} yet"
        return ""

    def _execute_on_arrival(self, order: Order, now: int) -> None:
        if order.type is OrderType.MARKET:
            self._take(order, None, now)
        elif order.type is OrderType.LIMIT:
            self._take(order, order.price, now)
        elif order.type is OrderType.STOP:
            self._work(order.symbol, now, None)

    def _depth(self, symbol: str, side: Side, limit: Decimal | None) -> list[_Level]:
        """Opposite-side levels a ``side`` order may take, best first, up to ``limit``."""
        book = self._books.get(symbol)
        if book is None:
            quote = self._quotes.get(symbol)
            if quote is None:
                return []
            # a venue that publishes no depth: the top of book, size unknown, fills in full
            book = ([_Level(quote[0], _UNLIMITED)], [_Level(quote[1], _UNLIMITED)])
            self._books[symbol] = book
        levels = book[1] if side is Side.BUY else book[0]
        if limit is None:
            return [lv for lv in levels if lv.size > 0]
        ok = (lambda p: p <= limit) if side is Side.BUY else (lambda p: p >= limit)
        return [lv for lv in levels if lv.size > 0 and ok(lv.price)]

    def _take(self, order: Order, limit: Decimal | None, now: int) -> None:
        """Fill ``order`` as a taker against the book, then settle what is left by its TIF."""
        remaining = order.qty - order.filled_qty
        levels = self._depth(order.symbol, order.side, limit)
        if order.tif is TimeInForce.FOK and sum((lv.size for lv in levels), ZERO) < remaining:
            self._finish(order, OrderStatus.EXPIRED, "fill-or-kill: not enough depth")
            return
        fills: list[tuple[Decimal, Decimal]] = []
        for lv in levels:
            if remaining <= 0:
                break
            q = min(remaining, lv.size)
            lv.size -= q
            remaining -= q
            fills.append((q, lv.price))
        order = self._record_fills(order, fills, maker=False, now=now)
        if remaining > 0 and order.tif in (TimeInForce.IOC, TimeInForce.FOK):
            status = OrderStatus.CANCELLED if order.filled_qty > 0 else OrderStatus.EXPIRED
            self._finish(order, status, "immediate-or-cancel: rest cancelled")

    def _finish(self, order: Order, status: OrderStatus, reason: str) -> None:
        with self._tx() as c:
            self._put(c, replace(order, status=status, reason=reason))

    def _record_fills(
        self, order: Order, fills: list[tuple[Decimal, Decimal]], maker: bool, now: int
    ) -> Order:
        if not fills:
            return order
        inst = self.instrument(order.symbol)
        rate = self._fee_rate(inst, maker)
        with self._tx() as c:
            n = c.execute(
                "SELECT count(*) FROM fills WHERE client_id = ?", (order.client_id,)
            ).fetchone()[0]
            pos_row = c.execute(
                "SELECT body FROM positions WHERE symbol = ?", (order.symbol,)
            ).fetchone()
            position = None
            if pos_row:
                b = json.loads(pos_row[0])
                position = Position(
                    b["symbol"],
                    Decimal(b["qty"]),
                    Decimal(b["avg_price"]),
                    self.name,
                    Decimal(b["realized_pnl"]),
                    Decimal(b["fees"]),
                )
            cash = dict(c.execute("SELECT asset, total FROM balances").fetchall())
            quote_cash = Decimal(cash.get(inst.quote_ccy, "0"))
            value = order.avg_price * order.filled_qty if order.avg_price else ZERO
            filled = order.filled_qty
            for q, price in fills:
                n += 1
                fee = q * price * rate
                fill = Fill(
                    order.client_id,
                    order.symbol,
                    order.side,
                    q,
                    price,
                    fee,
                    now,
                    f"{order.client_id}-{n}",
                    inst.quote_ccy,
                )
                c.execute(
                    "INSERT INTO fills (fill_id, client_id, ts, body) VALUES (?, ?, ?, ?)",
                    (fill.fill_id, fill.client_id, fill.ts_ns, _fill_to_json(fill)),
                )
                position = apply_fill(position, fill, self.name, inst)
                quote_cash -= order.side.sign * q * price + fee
                value += q * price
                filled += q
            c.execute(
                "INSERT INTO positions (symbol, body) VALUES (?, ?) ON CONFLICT (symbol)"
                " DO UPDATE SET body = excluded.body",
                (
                    order.symbol,
                    json.dumps(
                        {
                            "symbol": order.symbol,
                            "qty": str(position.qty),  # type: ignore[union-attr]
                            "avg_price": str(position.avg_price),  # type: ignore[union-attr]
                            "realized_pnl": str(position.realized_pnl),  # type: ignore[union-attr]
                            "fees": str(position.fees),  # type: ignore[union-attr]
                        }
                    ),
                ),
            )
            c.execute(
                "INSERT INTO balances (asset, total) VALUES (?, ?) ON CONFLICT (asset)"
                " DO UPDATE SET total = excluded.total",
                (inst.quote_ccy, str(quote_cash)),
            )
            status = OrderStatus.FILLED if filled >= order.qty else OrderStatus.PARTIALLY_FILLED
            order = replace(order, filled_qty=filled, avg_price=value / filled, status=status)
            self._put(c, order)
        return order

    def _work(self, symbol: str, now: int, tick: Tick | None) -> None:
        """Advance every working order of ``symbol`` on new market data."""
        quote = self._quotes.get(symbol)
        traded = to_decimal(tick.volume) if tick is not None and tick.volume > 0 else ZERO
        last = (
            to_decimal(tick.last)
            if tick is not None and math.isfinite(tick.last) and traded > 0
            else None
        )
        for order in self._working(symbol):
            if order.type is OrderType.MARKET:
                self._take(order, None, now)
            elif order.type is OrderType.STOP and quote is not None and order.stop is not None:
                bid, ask = quote
                hit = ask >= order.stop if order.side is Side.BUY else bid <= order.stop
                if hit:
                    self._take(order, None, now)
            elif order.type is OrderType.LIMIT and last is not None and order.price is not None:
                if traded <= 0:
                    continue
                through = last < order.price if order.side is Side.BUY else last > order.price
                if through:
                    q = min(traded, order.qty - order.filled_qty)
                    traded -= q
                    self._record_fills(order, [(q, order.price)], maker=True, now=now)
