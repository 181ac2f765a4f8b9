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
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
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
from plugins.brokers.paper.ledger import PaperLedger

ZERO = Decimal(0)
_UNLIMITED = Decimal("Infinity")
DEFAULT_FEES = {"maker": "0.001", "taker": "0.001"}


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
        self._ledger = PaperLedger(self.state_path, venue=self.name)
        # one lock: the books, the quotes and the ledger's connection move together
        self._lock = self._ledger.lock
        self._books: dict[str, tuple[list[_Level], list[_Level]]] = {}
        self._quotes: dict[str, tuple[Decimal, Decimal]] = {}
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
            existing = self._ledger.order(order.client_id)
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
            with self._ledger.transaction():
                if reason:
                    rejected = replace(accepted, status=OrderStatus.REJECTED, reason=reason)
                    self._ledger.put_order(rejected)
                    return rejected
                self._ledger.put_order(accepted)
            self._execute_on_arrival(accepted, now)
            done = self._ledger.order(order.client_id)
            assert done is not None  # stored above, in this lock
            return done

    async def cancel(self, client_id: str) -> Order:
        with self._lock:
            order = self._ledger.order(client_id)
            if order is None:
                raise OrderNotFound(f"paper: no order {client_id}")
            if order.status.is_final:
                return order
            cancelled = replace(order, status=OrderStatus.CANCELLED, reason="cancelled by user")
            with self._ledger.transaction():
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
        with self._ledger.transaction():
            self._ledger.put_order(replace(order, status=status, reason=reason))

    def _record_fills(
        self, order: Order, fills: list[tuple[Decimal, Decimal]], maker: bool, now: int
    ) -> Order:
        if not fills:
            return order
        inst = self.instrument(order.symbol)
        rate = self._fee_rate(inst, maker)
        with self._ledger.transaction():
            n = self._ledger.fill_count(order.client_id)
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
            order = replace(order, filled_qty=filled, avg_price=value / filled, status=status)
            self._ledger.put_order(order)
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
        for order in self._ledger.working_orders(symbol):
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
