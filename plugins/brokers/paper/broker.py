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
its own SQLite file (synchronous=FULL, see ``ledger.py``), so balances, orders and fills survive
restarts and a crash between the broker and the workstation is settled by reconciliation. Every
call is idempotent on the client id.

Several processes may share one account (the workstation and ``qws order`` commands), each
with its own feed. Every step that changes the account (a submit, a cancel, a matching step on
a book or a trade) is one ledger transaction that re-reads the working orders, their filled
quantities, the positions and the cash under the file's write lock, and stamps its time once it
holds the lock; nothing of the account is kept in memory, so an order another process
cancelled never fills here, and one it filled is not filled again. Only market data is per
process. A book snapshot or a trade with a venue timestamp may reach every process from its
own feed: what the account took from it is recorded in the file, so the same snapshot's
liquidity and the same trade's volume are used once, whichever process sees them first. Data
without a timestamp (``ts_ns == 0``) is this process's alone. A matching step that cannot get
the lock in time is dropped (``busy_drops``, logged): the next book or trade retries it. A
submit or cancel that cannot raises :class:`~plugins.brokers.paper.ledger.LedgerBusy`, a
``BrokerUnavailable``, with nothing written.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
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
from plugins.brokers.paper.ledger import LedgerBusy, PaperLedger

ZERO = Decimal(0)
_UNLIMITED = Decimal("Infinity")
DEFAULT_FEES = {"maker": "0.001", "taker": "0.001"}
# how long the file remembers what was taken from a shared book or trade, in venue time
_SHARED_EVENT_MEMORY_NS = 600 * 1_000_000_000

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Level:
    price: Decimal
    size: Decimal  # as published (a shared book), or what this process has left of it


@dataclass(slots=True)
class _Book:
    """A depth snapshot as matched here. ``event`` names a snapshot every process on the
    account may see (its taken liquidity lives in the file); None: this process's own."""

    bids: list[_Level]
    asks: list[_Level]
    ts: int = 0
    event: str | None = None
    sides: tuple[str, str] = field(init=False, default=("", ""))

    def __post_init__(self) -> None:
        if self.event is not None:
            self.sides = (f"{self.event} bid", f"{self.event} ask")


def _book_event(book: OrderBook) -> str | None:
    if book.ts_ns <= 0:
        return None
    digest = hashlib.blake2b(repr((book.bids, book.asks)).encode(), digest_size=8).hexdigest()
    return f"book {book.symbol} {book.ts_ns} {digest}"


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
        lock_timeout_s: float = 30.0,
        **_: object,
    ) -> None:
        self.state_path = Path(state_path)
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        self._instruments = instruments
        self._fees = {v: {k: to_decimal(r) for k, r in d.items()} for v, d in (fees or {}).items()}
        self.clock = clock
        self._ledger = PaperLedger(self.state_path, venue=self.name, lock_timeout_s=lock_timeout_s)
        # one lock: the books, the quotes and the ledger's connection move together
        self._lock = self._ledger.lock
        self._books: dict[str, _Book] = {}
        self._quotes: dict[str, tuple[Decimal, Decimal]] = {}
        self._undo: list[tuple[_Level, Decimal]] = []
        self.busy_drops = 0
        self._ledger.seed_balances(
            {asset: to_decimal(amount) for asset, amount in (starting_balances or {}).items()}
        )

    # -- the state file ----------------------------------------------------------------------
    def close(self) -> None:
        self._ledger.close()

    def integrity_check(self) -> str:
        return self._ledger.integrity_check()

    # -- instruments and fees ----------------------------------------------------------------
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

    # -- one step of the account -------------------------------------------------------------
    @contextmanager
    def _step(self) -> Iterator[int]:
        """One ledger transaction; yields the time, read once the file's lock is held (so fills
        are stamped in the order they commit). Liquidity taken from this process's own books
        is given back if the step does not commit."""
        with self._lock:
            self._undo = []
            try:
                with self._ledger.transaction():
                    yield self.clock()
            except BaseException:
                for lv, q in self._undo:
                    lv.size += q
                raise
            finally:
                self._undo = []

    def _match(self, symbol: str, tick: Tick | None) -> None:
        if not self._may_act(symbol, tick):
            return
        try:
            with self._step() as now:
                self._work(symbol, now, tick)
        except LedgerBusy as exc:
            self.busy_drops += 1
            log.warning("%s; %s market step dropped (%d so far)", exc, symbol, self.busy_drops)

    # -- market data -------------------------------------------------------------------------
    def on_book(self, book: OrderBook) -> None:
        """A new depth snapshot replaces the old one (and its consumed liquidity)."""
        with self._lock:
            bids = [_Level(to_decimal(lv.price), to_decimal(lv.size)) for lv in book.bids]
            asks = [_Level(to_decimal(lv.price), to_decimal(lv.size)) for lv in book.asks]
            self._books[book.symbol] = _Book(bids, asks, book.ts_ns, _book_event(book))
            if bids and asks:
                self._quotes[book.symbol] = (bids[0].price, asks[0].price)
            self._match(book.symbol, None)

    def on_tick(self, tick: Tick) -> None:
        """A quote/trade: re-anchors the book to the new top, triggers stops, fills limits.
        A trade without a finite quote (a venue's trade stream before its first book ticker)
        keeps the last quote and only works the resting limits it trades through."""
        with self._lock:
            if not (math.isfinite(tick.bid) and math.isfinite(tick.ask)):
                self._match(tick.symbol, tick)
                return
            bid, ask = to_decimal(tick.bid), to_decimal(tick.ask)
            book = self._books.get(tick.symbol)
            if book is not None and book.bids and book.asks:
                db, da = bid - book.bids[0].price, ask - book.asks[0].price
                if db or da:
                    for lv in book.bids:
                        lv.price += db
                    for lv in book.asks:
                        lv.price += da
            self._quotes[tick.symbol] = (bid, ask)
            self._match(tick.symbol, tick)

    def quote(self, symbol: str) -> tuple[Decimal, Decimal] | None:
        return self._quotes.get(symbol)

    # -- the Broker protocol -----------------------------------------------------------------
    async def submit(self, order: Order) -> Order:
        return self.submit_now(order)

    def submit_now(self, order: Order) -> Order:
        """One step: an order already in the account (any process's) is answered as it is
        (looked up under the lock, so a retry never makes a second one); a new one is
        validated, executed on arrival and written once, as it ends the step."""
        with self._lock:
            with self._step() as now:
                existing = self._ledger.order(order.client_id)
                if existing is not None:
                    return existing
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
                if reason:
                    rejected = replace(accepted, status=OrderStatus.REJECTED, reason=reason)
                    self._ledger.put_order(rejected)
                    return rejected
                done = self._execute_on_arrival(accepted, now)
            return done

    async def cancel(self, client_id: str) -> Order:
        with self._lock:
            order = self._ledger.order(client_id)
            if order is None:
                raise OrderNotFound(f"paper: no order {client_id}")
            if order.status.is_final:
                return order
            with self._step():
                order = self._ledger.order(client_id)
                assert order is not None  # orders are never deleted
                if order.status.is_final:  # filled or cancelled by another process meanwhile
                    return order
                cancelled = replace(order, status=OrderStatus.CANCELLED, reason="cancelled by user")
                self._ledger.put_order(cancelled)
            return cancelled

    async def open_orders(self) -> list[Order]:
        with self._lock:
            return self._ledger.working_orders()

    async def order(self, client_id: str, symbol: str | None = None) -> Order | None:
        with self._lock:
            return self._ledger.order(client_id)

    async def fills(self, since_ns: int | None = None) -> list[Fill]:
        return self._ledger.fills_since(since_ns)

    async def fill_cursor(self) -> int:
        """Where the account's record of fills ends now: :meth:`fills_after` lists the fills
        recorded after it, so a caller that keeps the cursor reads only new fills instead of
        a look-back window of them (the order manager after every order)."""
        return self._ledger.fill_cursor()

    async def fills_after(self, cursor: int) -> tuple[list[Fill], int]:
        return self._ledger.fills_after(cursor)

    async def positions(self) -> list[Position]:
        return [p for p in self._ledger.positions() if p.qty != 0]

    async def balance(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.balances().items()}

    def balances(self) -> dict[str, Decimal]:
        return self._ledger.balances()

    # -- matching ----------------------------------------------------------------------------
    def _stored_positions(self) -> dict[str, tuple[Decimal, Decimal]]:
        """symbol -> (signed qty, average price), straight from the state file."""
        return {p.symbol: (p.qty, p.avg_price) for p in self._ledger.positions()}

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

    def _execute_on_arrival(self, order: Order, now: int) -> Order:
        """Execute the accepted ``order`` (not stored yet) and store it; returns it as stored.
        A market or limit order is written once, as it ends; a stop is stored first, for the
        matching step that may trigger it with the other working orders."""
        if order.type is OrderType.STOP:
            self._ledger.put_order(order)
            self._work(order.symbol, now, None)
            done = self._ledger.order(order.client_id)
            assert done is not None  # stored above, in this transaction
            return done
        done = self._take(order, order.price if order.type is OrderType.LIMIT else None, now)
        self._ledger.put_order(done)
        return done

    def _depth(
        self, symbol: str, side: Side, limit: Decimal | None
    ) -> tuple[_Book | None, list[tuple[int, _Level, Decimal]]]:
        """The book and the opposite-side levels a ``side`` order may take, best first, up to
        ``limit``, each with its index and the size still there for this account."""
        book = self._books.get(symbol)
        if book is None:
            quote = self._quotes.get(symbol)
            if quote is None:
                return None, []
            # a venue that publishes no depth: the top of book, size unknown, fills in full
            book = _Book([_Level(quote[0], _UNLIMITED)], [_Level(quote[1], _UNLIMITED)])
            self._books[symbol] = book
        buying = side is Side.BUY
        levels = book.asks if buying else book.bids
        taken = self._ledger.taken(book.sides[buying]) if book.event is not None else {}
        out: list[tuple[int, _Level, Decimal]] = []
        for i, lv in enumerate(levels):
            if limit is not None and (lv.price > limit if buying else lv.price < limit):
                break
            left = lv.size - taken.get(i, ZERO)
            if left > 0:
                out.append((i, lv, left))
        return book, out

    def _take(self, order: Order, limit: Decimal | None, now: int) -> Order:
        """Fill ``order`` as a taker against the book, then settle what is left by its TIF;
        returns the order as it is now, for the caller to store (the fills, the position and
        the cash are written here)."""
        remaining = order.qty - order.filled_qty
        book, levels = self._depth(order.symbol, order.side, limit)
        if order.tif is TimeInForce.FOK and sum((left for _, _, left in levels), ZERO) < remaining:
            return _finish(order, OrderStatus.EXPIRED, "fill-or-kill: not enough depth")
        fills: list[tuple[Decimal, Decimal]] = []
        for i, lv, left in levels:
            if remaining <= 0:
                break
            q = min(remaining, left)
            remaining -= q
            fills.append((q, lv.price))
            if book is not None and book.event is not None:
                side = book.sides[order.side is Side.BUY]
                self._ledger.set_taken(side, book.ts, i, lv.size - left + q)
            else:
                lv.size -= q
                self._undo.append((lv, q))
        if fills and book is not None and book.event is not None:
            self._ledger.forget_taken(book.ts - _SHARED_EVENT_MEMORY_NS)
        order = self._record_fills(order, fills, maker=False, now=now)
        if remaining > 0 and order.tif in (TimeInForce.IOC, TimeInForce.FOK):
            status = OrderStatus.CANCELLED if order.filled_qty > 0 else OrderStatus.EXPIRED
            return _finish(order, status, "immediate-or-cancel: rest cancelled")
        return order

    def _record_fills(
        self, order: Order, fills: list[tuple[Decimal, Decimal]], maker: bool, now: int
    ) -> Order:
        """Record ``fills`` of ``order`` (as read in this transaction) with the position and
        cash they move; returns the order after them, for the caller to store. An order with
        nothing filled has no fill yet (each fill adds its quantity to ``filled_qty`` in the
        step that records it), so its fills are numbered from 1 without counting them."""
        if not fills:
            return order
        inst = self.instrument(order.symbol)
        rate = self._fee_rate(inst, maker)
        n = self._ledger.fill_count(order.client_id) if order.filled_qty else 0
        position = self._ledger.position(order.symbol)
        quote_cash = self._ledger.balances().get(inst.quote_ccy, ZERO)
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
            self._ledger.add_fill(fill)
            position = apply_fill(position, fill, self.name, inst)
            quote_cash -= order.side.sign * q * price + fee
            value += q * price
            filled += q
        assert position is not None  # fills is not empty
        self._ledger.put_position(position)
        self._ledger.set_balance(inst.quote_ccy, quote_cash)
        status = OrderStatus.FILLED if filled >= order.qty else OrderStatus.PARTIALLY_FILLED
        return replace(order, filled_qty=filled, avg_price=value / filled, status=status)

    def _trade(self, tick: Tick | None) -> tuple[Decimal, Decimal] | None:
        """The trade in ``tick`` as (price, volume), if it carries one."""
        if tick is None or not (tick.volume > 0 and math.isfinite(tick.last)):
            return None
        return to_decimal(tick.last), to_decimal(tick.volume)

    def _may_act(self, symbol: str, tick: Tick | None) -> bool:
        """A look at the committed working orders by their triggers, so that market data that
        moves none of them takes no write lock and decodes no order; the step itself decides
        again, under the lock."""
        return self._ledger.any_moved(symbol, self._quotes.get(symbol), self._trade(tick))

    def _work(self, symbol: str, now: int, tick: Tick | None) -> None:
        """Advance every working order of ``symbol`` on new market data (in a transaction)."""
        trade = self._trade(tick)
        event = None
        traded = ZERO
        if trade is not None and tick is not None:
            traded = trade[1]
            if tick.ts_ns > 0:
                event = f"trade {symbol} {tick.ts_ns} {trade[0]} {trade[1]}"
                traded -= self._ledger.taken(event).get(0, ZERO)
        volume = traded
        for order in self._ledger.moved_orders(symbol, self._quotes.get(symbol), trade):
            if order.type is not OrderType.LIMIT:
                done = self._take(order, None, now)
            elif traded > 0:
                assert order.price is not None  # a limit moved by a trade has a price
                q = min(traded, order.qty - order.filled_qty)
                traded -= q
                done = self._record_fills(order, [(q, order.price)], maker=True, now=now)
            else:
                continue
            if done is not order:
                self._ledger.put_order(done)
        if event is not None and tick is not None and traded < volume:
            assert trade is not None
            self._ledger.set_taken(event, tick.ts_ns, 0, trade[1] - traded)
            self._ledger.forget_taken(tick.ts_ns - _SHARED_EVENT_MEMORY_NS)


def _finish(order: Order, status: OrderStatus, reason: str) -> Order:
    return replace(order, status=status, reason=reason)
