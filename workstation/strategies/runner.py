"""Runs a strategy against a broker (paper or live) bar by bar: the same object, unchanged,
that the backtester runs.

On each closed bar the runner reads the account from the broker (position, cash), gives the
strategy a :class:`LiveContext` and the bars so far, and turns its intents into market orders:
``ctx.close()`` is an opposite order for the open quantity, ``ctx.buy``/``ctx.sell`` are sized
like the backtester sizes them (a fraction of the margin available at the current price,
commission included, rounded down to the lot). Orders go out at once, so they fill at the
current quote: the backtest that matches a paper run is ``trade_on_close=True``. Protective
``sl``/``tp`` become a stop and a limit order for the filled quantity; once the position is
flat, whatever is left of them is cancelled on the next bar.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

from engine.model import Bar, Fill, Instrument, Order, OrderType, Side, to_decimal
from engine.protocols import ReconcilingBroker
from engine.strategy import (
    Context,
    Indicators,
    OrderIntent,
    PositionView,
    Strategy,
    StrategyError,
    handle_result,
)
from engine.timeframes import OHLCV_SCHEMA
from workstation.trading.oms import new_client_id


class LiveContext(Context):
    def __init__(self, symbol: str, timeframe: str, risk_per_trade: float) -> None:
        super().__init__()
        self.symbol = symbol
        self.timeframe = timeframe
        self.risk_per_trade = risk_per_trade
        self._i = -1
        self._ts = 0
        self._price = math.nan
        self._position = PositionView()
        self._cash = 0.0
        self._indicators: Indicators | None = None
        self.cycles_provider: Callable[[], Any] | None = None

    @property
    def bar_index(self) -> int:
        return self._i

    @property
    def ts_ns(self) -> int:
        return self._ts

    @property
    def price(self) -> float:
        return self._price

    @property
    def indicators(self) -> Indicators:
        assert self._indicators is not None
        return self._indicators

    @property
    def cycles(self) -> Any:
        return tuple(self.cycles_provider()) if self.cycles_provider else ()

    @property
    def position(self) -> PositionView:
        return self._position

    @property
    def equity(self) -> float:
        return self._cash + self._position.size * self._price

    @property
    def cash(self) -> float:
        return self._cash


class StrategyRunner:
    """Feed it closed bars with :meth:`on_bar`; it keeps the history and places the orders."""

    def __init__(
        self,
        strategy: Strategy,
        broker: ReconcilingBroker,
        instrument: Instrument,
        *,
        fee_rate: float = 0.0,
        history: pl.DataFrame | None = None,
        max_bars: int = 10_000,
        risk_per_trade: float = 0.01,
        client_id: Callable[[], str] = new_client_id,
    ) -> None:
        self.strategy = strategy
        self.broker = broker
        self.instrument = instrument
        self.fee_rate = fee_rate
        self.max_bars = max_bars
        self.client_id = client_id
        self.bars = history if history is not None else pl.DataFrame(schema=OHLCV_SCHEMA)
        self.ctx = LiveContext(instrument.symbol, strategy.timeframe, risk_per_trade)
        self.orders: list[Order] = []
        self._protective: list[str] = []
        self._seen_fills: set[str] = set()
        self._started = False

    # -- account -----------------------------------------------------------------------------
    async def _account(self) -> tuple[float, float, float]:
        """(signed position qty, its average price, cash in the quote currency)."""
        qty, avg = 0.0, math.nan
        for p in await self.broker.positions():
            if p.symbol == self.instrument.symbol:
                qty, avg = float(p.qty), float(p.avg_price)
        cash = (await self.broker.balance()).get(self.instrument.quote_ccy, 0.0)
        return qty, avg, float(cash)

    async def _refresh(self) -> None:
        qty, avg, cash = await self._account()
        price = self.ctx.price
        pl_ = qty * (price - avg) if qty else 0.0
        self.ctx._position = PositionView(qty, avg if qty else math.nan, pl_, 1 if qty else 0)
        self.ctx._cash = cash

    # -- bars --------------------------------------------------------------------------------
    async def on_bar(self, bar: Bar) -> list[Order]:
        """A closed bar: append it, and once past the warm-up run the strategy on it."""
        row = pl.DataFrame(
            {
                "ts": [bar.ts_ns],
                "open": [bar.open],
                "high": [bar.high],
                "low": [bar.low],
                "close": [bar.close],
                "volume": [bar.volume],
            },
            schema=OHLCV_SCHEMA,
        )
        self.bars = pl.concat([self.bars, row]).tail(self.max_bars)
        ctx = self.ctx
        ctx._i += 1
        ctx._ts, ctx._price = bar.ts_ns, bar.close
        cols = {c: self.bars[c].to_numpy() for c in ("open", "high", "low", "close", "volume")}
        ctx._indicators = Indicators(cols, lambda: len(cols["close"]) - 1)
        await self._refresh()
        await self._deliver_fills()
        if ctx.position.size == 0 and self._protective:
            await self._cancel_protective()
        if not self._started:
            self.strategy.on_start(ctx)
            self._started = True
        if self.bars.height <= self.strategy.warmup:
            return []
        handle_result(ctx, self.strategy.on_bar(ctx, self.bars))
        placed: list[Order] = []
        for intent in ctx.take_intents():
            placed += await self._execute(intent)
        await self._refresh()
        await self._deliver_fills()
        return placed

    async def _deliver_fills(self) -> None:
        fills: list[Fill] = await self.broker.fills()
        for f in fills:
            if f.fill_id not in self._seen_fills and f.symbol == self.instrument.symbol:
                self._seen_fills.add(f.fill_id)
                self.strategy.on_fill(self.ctx, f)

    async def _cancel_protective(self) -> None:
        for cid in self._protective:
            await self.broker.cancel(cid)
        self._protective = []

    # -- intents -> orders ----------------------------------------------------------------------
    def _lots(self, units: float) -> Decimal:
        return self.instrument.round_qty(to_decimal(units)) if units > 0 else Decimal(0)

    async def _send(self, side: Side, qty: Decimal, **kw: Any) -> Order | None:
        if qty <= 0:
            return None
        kind = kw.pop("type", OrderType.MARKET)
        order = Order(
            self.client_id(), self.instrument.symbol, side, kind, qty, ts_ns=self.ctx.ts_ns, **kw
        )
        done = await self.broker.submit(order)
        self.orders.append(done)
        return done

    async def _execute(self, intent: OrderIntent) -> list[Order]:
        await self._refresh()
        pos = self.ctx.position.size
        out: list[Order] = []
        if intent.kind == "close":
            if pos:
                qty = abs(pos) if intent.portion >= 1 else abs(pos) * intent.portion
                order = await self._send(Side.SELL if pos > 0 else Side.BUY, self._lots(qty))
                out += [order] if order else []
            return out
        if intent.limit is not None or intent.stop is not None:
            raise StrategyError("limit/stop entries are not supported by the live runner yet")
        price = self.ctx.price
        if intent.qty is not None:
            units = intent.qty
        elif intent.size is not None and intent.size >= 1:
            units = intent.size
        else:
            f = intent.size if intent.size is not None else 1.0
            available = max(0.0, self.ctx.equity - abs(pos) * price)
            # the backtester's sizing: price plus commission per unit, whole lots, rounded down
            per_unit = price + f * price * self.fee_rate / f
            lot = float(self.instrument.lot_size)
            units = (available * f) // per_unit if lot == 1 else (available * f / per_unit)
        side = Side.BUY if intent.side > 0 else Side.SELL
        order = await self._send(side, self._lots(units))
        if order is None:
            return out
        out.append(order)
        filled = order.filled_qty
        if filled > 0:
            exit_side = Side.SELL if side is Side.BUY else Side.BUY
            if intent.sl is not None:
                stop = self.instrument.round_price(intent.sl)
                sl = await self._send(exit_side, filled, type=OrderType.STOP, stop=stop)
                if sl:
                    self._protective.append(sl.client_id)
                    out.append(sl)
            if intent.tp is not None:
                price_tp = self.instrument.round_price(intent.tp)
                tp = await self._send(exit_side, filled, type=OrderType.LIMIT, price=price_tp)
                if tp:
                    self._protective.append(tp.client_id)
                    out.append(tp)
        return out


def fills_by_bar(fills: list[Fill], ts: np.ndarray) -> list[tuple[int, float, float]]:
    """(bar index, signed qty, price) of each fill, for comparing a live run with a backtest."""
    index = {int(t): i for i, t in enumerate(ts)}
    return [(index[f.ts_ns], float(f.side.sign * f.qty), float(f.price)) for f in fills]
