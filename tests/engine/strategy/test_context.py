"""engine/strategy/context.py: what a strategy sees and does on each bar, through the backtester."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
import pytest

from engine.backtest.backtester import BacktestConfig, run_backtest
from engine.model import Action, Signal
from engine.strategy import (
    Context,
    Indicators,
    OrderIntent,
    Param,
    Params,
    Strategy,
    StrategyError,
)
from tests.helpers import random_bars


def test_indicators_are_sliced_to_the_current_bar_and_read_only() -> None:
    close = np.arange(1.0, 11.0)
    t = 4
    ind = Indicators({"close": close, "high": close, "low": close, "volume": close}, lambda: t)
    sma = ind.sma(3)
    assert len(sma) == 5 and sma[-1] == pytest.approx(4.0)
    with pytest.raises(ValueError):
        sma[0] = 1.0
    t = 9
    assert ind.sma(3)[-1] == pytest.approx(9.0)  # cached full series, new cut


class Recorder(Strategy):
    name = "recorder"
    params = Params(n=Param(5, low=1, high=50))
    warmup = 5

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.seen: list[tuple[int, int, float]] = []

    def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> Signal | None:
        self.seen.append((ctx.bar_index, bars.height, ctx.indicators.sma(self.n)[-1]))
        if ctx.bar_index == 10:
            return Signal(ctx.ts_ns, "X", "1h", Action.OPEN_SHORT, 0.9, ctx.price)
        if ctx.bar_index == 20:
            assert ctx.position.is_short and ctx.position.trades == 1
            assert ctx.cycles == ()  # fewer than 64 returns so far
            assert ctx.risk_budget == pytest.approx(ctx.equity * 0.01)
            return Signal(ctx.ts_ns, "X", "1h", Action.CLOSE, 0.9, ctx.price)
        return None


def test_on_bar_sees_bars_up_to_t_and_returned_signals_become_orders() -> None:
    bars = random_bars(40)
    s = Recorder(n=3)
    res = run_backtest(s, bars, BacktestConfig(cash=100_000))
    assert s.seen[0][:2] == (5, 6) and all(i + 1 == h for i, h, _ in s.seen)
    closes = bars["close"].to_numpy()
    assert s.seen[-1][2] == pytest.approx(closes[-3:].mean())
    trade = res.trades.row(0, named=True)
    assert (trade["entry_bar"], trade["exit_bar"]) == (11, 21) and trade["size"] < 0


def test_context_rejects_orders_that_cannot_exist() -> None:
    class Bad(Strategy):
        name = "bad"

        def __init__(self, **order: Any) -> None:
            super().__init__()
            self.order = order

        def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
            ctx.buy(**self.order)

    bars = random_bars(5)
    for order, msg in [
        ({"size": 1.5}, "whole number"),
        ({"size": 0.5, "qty": 1.0}, "either"),
        ({"qty": -1.0}, "positive"),
        ({"tp": 1.0}, "SL < price < TP"),
    ]:
        with pytest.raises(StrategyError, match=msg):
            run_backtest(Bad(**order), bars)


class RiskEntry(Strategy):
    """One ``risk=`` entry on bar 5 with its stop ``stop`` × price away, then nothing."""

    name = "risk_entry"

    def __init__(self, side: str = "buy", risk: float = 0.02, stop: float = 0.95) -> None:
        super().__init__()
        self.side, self.risk, self.stop = side, risk, stop
        self.intent: OrderIntent | None = None
        self.equity = 0.0

    def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
        if ctx.bar_index == 5:
            self.equity = ctx.equity
            order = ctx.buy if self.side == "buy" else ctx.sell
            self.intent = order(risk=self.risk, sl=ctx.price * self.stop)


@pytest.mark.parametrize("lot", [1.0, 0.01])
def test_risk_sizing_loses_the_risk_fraction_at_the_stop_rounded_down_to_the_lot(
    lot: float,
) -> None:
    bars = random_bars(30, seed=4)
    s = RiskEntry(risk=0.02, stop=0.95)
    config = BacktestConfig(cash=10_000, trade_on_close=True, finalize_trades=True, lot=lot)
    res = run_backtest(s, bars, config)
    intent = s.intent
    assert intent is not None and intent.risk == 0.02 and intent.size is None
    price = float(bars["close"][5])
    sl = price * 0.95
    # the intent carries the exact, unrounded quantity: 2 % of equity lost at the stop
    assert s.equity == pytest.approx(10_000)
    assert intent.qty == pytest.approx(0.02 * s.equity / (price - sl), rel=1e-12)
    trade = res.trades.row(0, named=True)
    assert trade["entry_bar"] == 5 and trade["entry_price"] == pytest.approx(price)
    assert trade["sl"] == pytest.approx(sl)
    at_risk = trade["size"] * (trade["entry_price"] - trade["sl"])
    budget = 0.02 * s.equity
    assert at_risk <= budget * (1 + 1e-12)  # rounded down: never more than 2 %
    assert at_risk > budget - lot * (price - sl)  # ...and by less than one lot
    assert trade["size"] == pytest.approx(math.floor(intent.qty / lot) * lot)
    assert trade["size"] != intent.qty  # the price is random: the lot did round it


def test_a_short_risk_entry_is_sized_from_a_stop_above_the_price() -> None:
    bars = random_bars(30, seed=4)
    s = RiskEntry(side="sell", risk=0.01, stop=1.02)
    config = BacktestConfig(cash=10_000, trade_on_close=True, finalize_trades=True, lot=0.001)
    trade = run_backtest(s, bars, config).trades.row(0, named=True)
    assert trade["size"] < 0 and trade["sl"] > trade["entry_price"]
    at_risk = -trade["size"] * (trade["sl"] - trade["entry_price"])
    assert 100 - 0.001 * (trade["sl"] - trade["entry_price"]) < at_risk <= 100 * (1 + 1e-12)


def test_a_risk_entry_below_one_lot_is_not_placed() -> None:
    bars = random_bars(30, seed=4)
    # 1 % of 100 at a 5 % stop on a ~100 price is about 0.2 units: below the lot of 1
    res = run_backtest(RiskEntry(risk=0.01), bars, BacktestConfig(cash=100, trade_on_close=True))
    assert res.trades.is_empty() and res.open_trades.is_empty()
    assert res.cancelled_orders == 1


@pytest.mark.parametrize(
    ("order", "msg"),
    [
        ({"risk": 0.01}, "give sl= too"),
        ({"risk": 0.01, "sl": 1.0, "size": 0.5}, "one of size, qty or risk"),
        ({"risk": 0.01, "sl": 1.0, "qty": 2.0}, "one of size, qty or risk"),
        ({"risk": 0.0, "sl": 1.0}, r"risk must be a fraction of equity in \(0, 1\]"),
        ({"risk": 1.5, "sl": 1.0}, r"risk must be a fraction of equity in \(0, 1\]"),
        ({"risk": -0.01, "sl": 1.0}, r"risk must be a fraction of equity in \(0, 1\]"),
        ({"risk": 0.01, "sl": 1e9}, "SL < price < TP"),  # a long's stop above the price
    ],
)
def test_risk_sizing_refuses_orders_that_cannot_be_sized(order: dict[str, Any], msg: str) -> None:
    class Bad(Strategy):
        name = "bad"

        def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
            ctx.buy(**order)

    with pytest.raises(StrategyError, match=msg):
        run_backtest(Bad(), random_bars(5))


def test_a_short_risk_entry_needs_its_stop_above_the_price() -> None:
    class Bad(Strategy):
        name = "bad"

        def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
            ctx.sell(risk=0.01, sl=ctx.price * 0.9)

    with pytest.raises(StrategyError, match="TP < price < SL"):
        run_backtest(Bad(), random_bars(5))


def test_ctx_cycles_finds_an_embedded_cycle_without_looking_ahead() -> None:
    n = 200
    t = np.arange(n)
    close = 100 * np.exp(0.02 * np.sin(2 * np.pi * t / 16))
    bars = pl.DataFrame(
        {
            "ts": t * 3_600_000_000_000,
            "open": close,
            "high": close * 1.001,
            "low": close * 0.999,
            "close": close,
            "volume": np.ones(n),
        }
    )
    seen: dict[int, tuple[Any, ...]] = {}

    class Looker(Strategy):
        name = "looker"
        warmup = 64

        def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
            seen[ctx.bar_index] = tuple(ctx.cycles)

    run_backtest(Looker(), bars)
    assert seen[64] and seen[199][0].period_bars == pytest.approx(16)


def test_indicators_of_caller_arrays_are_not_cached_by_identity() -> None:
    close = np.arange(1.0, 11.0)
    ind = Indicators({"close": close, "high": close, "low": close, "volume": close}, lambda: 9)
    first = ind.call("sma", np.full(10, 2.0), 3)
    second = ind.call("sma", np.full(10, 5.0), 3)  # may reuse the freed array's id
    assert first[-1] == pytest.approx(2.0) and second[-1] == pytest.approx(5.0)


def test_used_lists_each_indicator_asked_for_with_its_full_arrays() -> None:
    close = np.arange(1.0, 41.0)
    cols = {"close": close, "high": close + 1, "low": close - 1, "volume": close}
    t = 10
    ind = Indicators(cols, lambda: t)
    ind.sma(5)
    ind.sma(5)  # asked again: listed once
    ind.macd(3, 6, 2)
    ind.atr(4)
    ind.call("sma", cols["high"], 3)
    ind.call("ema", close * 2, 3)  # over an array of the strategy's own: not kept
    used = ind.used()
    assert [s.label for s in used] == ["sma(5)", "macd(3, 6, 2)", "atr(4)", "sma(high, 3)"]
    assert [s.inputs for s in used] == [("close",), ("close",), ("high", "low", "close"), ("high",)]
    assert all(len(v) == 40 for s in used for v in s.values)  # full length, not cut at t
    assert len(used[1].values) == 3
    from engine.signals.indicators import sma

    np.testing.assert_array_equal(used[0].values[0], sma(close, 5))


def test_a_backtest_carries_the_indicators_of_both_runners_outside_its_json() -> None:
    from plugins.strategies.rsi_reversion import RsiReversion
    from plugins.strategies.sma_cross import SmaCross

    bars = random_bars(400, seed=3)
    for vectorized in (True, False):
        config = BacktestConfig(vectorized=vectorized)
        result = run_backtest(SmaCross(fast=5, slow=30), bars, config)
        assert [s.label for s in result.indicators] == ["sma(5)", "sma(30)"]
        assert "indicators" not in result.to_dict()
        result = run_backtest(RsiReversion(atr_stop=1.5), bars, config)
        assert [s.label for s in result.indicators] == ["rsi(14)", "atr(14)"]
