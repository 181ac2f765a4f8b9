from __future__ import annotations

import asyncio

import numpy as np
import polars as pl
import pytest

from engine.backtest.backtester import BacktestConfig, run_backtest
from feeds.demo import DemoFeed
from plugins.strategies.qpe_cycle import QpeCycle


def _demo(symbol: str, n: int) -> pl.DataFrame:
    return asyncio.run(DemoFeed(seed=7).history(symbol, "1h", limit=n))


def test_vectorized_and_per_bar_paths_agree_and_trade_the_turns() -> None:
    bars = _demo("EURUSD", 600)
    config = BacktestConfig(cash=100_000, commission=0.0002)
    fast = run_backtest(QpeCycle(detector="periodogram"), bars, config)
    slow = run_backtest(
        QpeCycle(detector="periodogram"),
        bars,
        BacktestConfig(cash=100_000, commission=0.0002, vectorized=False),
    )
    assert fast.stats["trades"] > 10
    assert fast.trades.equals(slow.trades) and np.array_equal(fast.equity, slow.equity)
    assert fast.trades["entry_bar"].min() > 64  # never before a full window
    long_only = run_backtest(QpeCycle(detector="periodogram", short=False), bars, config)
    assert (long_only.trades["size"] > 0).all()


def test_the_qpe_detector_on_aer_makes_the_same_trades_as_its_classical_limit() -> None:
    bars = _demo("XAUUSD", 260)
    config = BacktestConfig(cash=1_000_000, commission=0.0002)
    quantum = run_backtest(QpeCycle(window=32), bars, config)
    classical = run_backtest(QpeCycle(window=32, detector="periodogram"), bars, config)
    assert quantum.stats["trades"] > 3
    assert quantum.trades.equals(classical.trades)


def test_window_must_be_a_power_of_two_choice() -> None:
    with pytest.raises(ValueError, match="one of"):
        QpeCycle(window=50)
