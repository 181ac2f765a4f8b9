"""engine/strategy/context.py: what a strategy sees and does on each bar, through the backtester."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

from engine.backtest.backtester import BacktestConfig, run_backtest
from engine.model import Action, Signal
from engine.strategy import (
    Context,
    Indicators,
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
