"""Runs a strategy live (paper or a real venue) bar by bar: the same object, unchanged, that the
backtester runs, with its orders going through the order manager like every other order (the
kill switch, the pre-trade check, durable state, brackets, alerts).

On each closed bar the runner reads the account from the broker (position, cash), gives the
strategy a :class:`LiveContext` and the bars so far, and turns its intents into market orders:
``ctx.close()`` is a reduce-only order for the open quantity; ``ctx.buy``/``ctx.sell`` are sized
like the backtester sizes them (a fraction of the margin available at the current price,
commission included), or by ``qty`` / ``risk=`` (the quantity whose loss at the stop is that
fraction of equity), always rounded *down* to the lot. Orders go out at once, so they fill at
the current quote: the backtest that matches a paper run is ``trade_on_close=True``.
Protective ``sl``/``tp`` ride on the entry as a bracket (the order manager places them once it
fills, one-cancels-other); once the position is flat, whatever is left of them is cancelled.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

from engine.model import Bar, Fill, Instrument, Order, OrderType, Side, to_decimal
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
from workstation.trading.oms import OrderManager, new_client_id

RECHUNK_AFTER = 32
"""Every appended bar adds a chunk to the frame; past this many they are made one again, so
reading a column (the strategy's, the indicators') does not slow down with every bar run."""


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
    """Feed it closed bars with :meth:`on_bar` and the fills of its symbol with :meth:`on_fill`;
    it keeps the history and places the orders through ``oms``."""

    def __init__(
        self,
        strategy: Strategy,
        oms: OrderManager,
        instrument: Instrument,
        *,
        fee_rate: float = 0.0,
        history: pl.DataFrame | None = None,
        max_bars: int = 10_000,
        risk_per_trade: float = 0.01,
        client_id: Callable[[], str] = new_client_id,
        on_order: Callable[[Order], None] | None = None,
        tag: str = "",
    ) -> None:
        """``tag`` names the strategy on its orders (P&L attribution); its name by default."""
        self.strategy = strategy
        self.tag = tag or str(getattr(strategy, "name", "") or type(strategy).__name__)
        self.on_order = on_order
        self.oms = oms
        self.instrument = instrument
        self.fee_rate = fee_rate
        self.max_bars = max_bars
        self.client_id = client_id
        self.bars = history if history is not None else pl.DataFrame(schema=OHLCV_SCHEMA)
        self.ctx = LiveContext(instrument.symbol, strategy.timeframe, risk_per_trade)
        self.ctx._i = self.bars.height - 1
        self.orders: list[Order] = []
        self.paused = False
        """While paused, entries are skipped (and counted); closes still go out."""
        self.skipped_entries = 0
        self.notes: list[str] = []
        """Why an intent did not become an order (below the lot, paused...), newest last."""
        self._brackets: list[str] = []
        self._started = False

    # -- account -----------------------------------------------------------------------------
    async def _account(self) -> tuple[float, float, float]:
        """(signed position qty, its average price, cash in the quote currency)."""
        qty, avg = 0.0, math.nan
        for p in await self.oms.broker.positions():
            if p.symbol == self.instrument.symbol:
                qty, avg = float(p.qty), float(p.avg_price)
        cash = (await self.oms.broker.balance()).get(self.instrument.quote_ccy, 0.0)
        return qty, avg, float(cash)

    async def _refresh(self) -> None:
        qty, avg, cash = await self._account()
        price = self.ctx.price
        pl_ = qty * (price - avg) if qty else 0.0
        self.ctx._position = PositionView(qty, avg if qty else math.nan, pl_, 1 if qty else 0)
        self.ctx._cash = cash

    # -- bars and fills ----------------------------------------------------------------------
    def append(self, bar: Bar) -> None:
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
        if self.bars.n_chunks() > RECHUNK_AFTER:
            self.bars = self.bars.rechunk()

    async def on_bar(self, bar: Bar) -> list[Order]:
        """A closed bar: append it, and once past the warm-up run the strategy on it."""
        self.append(bar)
        ctx = self.ctx
        ctx._i += 1
        ctx._ts, ctx._price = bar.ts_ns, bar.close
        cols = {c: self.bars[c].to_numpy() for c in ("open", "high", "low", "close", "volume")}
        ctx._indicators = Indicators(cols, lambda: len(cols["close"]) - 1)
        await self._refresh()
        if ctx.position.size == 0 and self._brackets:
            await self._cancel_brackets()
        if not self._started:
            self.strategy.on_start(ctx)
            self._started = True
        if self.bars.height <= self.strategy.warmup:
            return []
        handle_result(ctx, self.strategy.on_bar(ctx, self.bars))
        placed: list[Order] = []
        for intent in ctx.take_intents():
            placed += await self._execute(intent)
        return placed

    def on_fill(self, fill: Fill) -> None:
        if fill.symbol == self.instrument.symbol:
            self.strategy.on_fill(self.ctx, fill)

    def stop(self) -> None:
        if self._started:
            self.strategy.on_stop(self.ctx)

    async def _cancel_brackets(self) -> None:
        """The position is flat: its protective orders must not open a new one."""
        working = {o.client_id for o in self.oms.store.orders.find(open_only=True)}
        for parent in self._brackets:
            for cid in (f"{parent}-sl", f"{parent}-tp"):
                if cid in working:
                    await self.oms.cancel(cid)
        self._brackets = []

    # -- intents -> orders ----------------------------------------------------------------------
    def _lots(self, units: float) -> Decimal:
        if not (units > 0 and math.isfinite(units)):
            return Decimal(0)
        qty = self.instrument.round_qty(to_decimal(units))
        return qty if qty >= self.instrument.min_qty else Decimal(0)

    async def _send(self, side: Side, qty: Decimal, reduce_only: bool = False, **kw: Any) -> Order:
        order = Order(
            self.client_id(),
            self.instrument.symbol,
            side,
            OrderType.MARKET,
            qty,
            ts_ns=self.ctx.ts_ns,
            strategy=self.tag,
            **kw,
        )
        done = await self.oms.submit(order, reduce_only=reduce_only)
        self.orders.append(done)
        if self.on_order is not None:
            self.on_order(done)
        return done

    def _note(self, text: str) -> None:
        self.notes = [*self.notes[-49:], text]

    async def _execute(self, intent: OrderIntent) -> list[Order]:
        await self._refresh()
        pos = self.ctx.position.size
        if intent.kind == "close":
            if not pos:
                return []
            qty = self._lots(abs(pos) if intent.portion >= 1 else abs(pos) * intent.portion)
            if qty <= 0:
                return []
            side = Side.SELL if pos > 0 else Side.BUY
            return [await self._send(side, qty, reduce_only=True)]
        if self.paused:
            self.skipped_entries += 1
            self._note("paused: entry skipped")
            return []
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
            # the backtester's sizing: price plus commission per unit, rounded down
            per_unit = price + price * self.fee_rate
            lot = float(self.instrument.lot_size)
            units = (available * f) // per_unit if lot == 1 else (available * f / per_unit)
        qty = self._lots(units)
        if qty <= 0:
            self._note(
                f"entry of {units:.8g} units is below the lot {self.instrument.lot_size}"
                f" / minimum {self.instrument.min_qty}: not sent"
            )
            return []
        side = Side.BUY if intent.side > 0 else Side.SELL
        sl = None if intent.sl is None else self.instrument.round_price(intent.sl)
        tp = None if intent.tp is None else self.instrument.round_price(intent.tp)
        order = await self._send(side, qty, sl=sl, tp=tp)
        if sl is not None or tp is not None:
            self._brackets.append(order.client_id)
        return [order]


def fills_by_bar(fills: list[Fill], ts: np.ndarray) -> list[tuple[int, float, float]]:
    """(bar index, signed qty, price) of each fill, for comparing a live run with a backtest."""
    index = {int(t): i for i, t in enumerate(ts)}
    return [(index[f.ts_ns], float(f.side.sign * f.qty), float(f.price)) for f in fills]
