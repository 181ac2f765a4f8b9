from __future__ import annotations

import asyncio

import numpy as np
import polars as pl

from engine.backtest.backtester import BacktestConfig, run_backtest
from engine.model import Action
from engine.signals import ensemble as en
from engine.strategy import Indicators
from feeds.demo import DemoFeed
from plugins.strategies.ensemble import Ensemble


def _demo(symbol: str, n: int) -> pl.DataFrame:
    return asyncio.run(DemoFeed(seed=7).history(symbol, "1h", limit=n))


def test_vectorized_and_per_bar_paths_agree() -> None:
    bars = _demo("EURUSD", 400)
    config = BacktestConfig(cash=100_000, commission=0.0002)
    fast = run_backtest(Ensemble(gate=0.6), bars, config)
    slow = run_backtest(
        Ensemble(gate=0.6), bars, BacktestConfig(cash=100_000, commission=0.0002, vectorized=False)
    )
    assert fast.stats["trades"] > 3
    assert fast.trades.equals(slow.trades) and np.array_equal(fast.equity, slow.equity)


def test_entries_happen_only_on_signals_at_or_above_the_gate() -> None:
    bars = _demo("XAUUSD", 1_500)
    strategy = Ensemble(gate=0.7, exit_on_close=False)
    res = run_backtest(strategy, bars, BacktestConfig(cash=1_000_000))
    sigs = en.signals_over(bars, "1h", en.EnsembleSettings())
    first = bars.height - len(sigs)
    by_bar = {first + k: s for k, s in enumerate(sigs)}
    assert res.stats["trades"] > 0
    for row in res.trades.iter_rows(named=True):
        sig = by_bar[row["entry_bar"] - 1]  # decided at the close before the fill
        want = Action.OPEN_LONG if row["size"] > 0 else Action.OPEN_SHORT
        assert sig.action is want and sig.confidence >= 0.7
    cols = {c: bars[c].to_numpy() for c in ("open", "high", "low", "close", "volume")}
    vec = strategy.vectorized(bars, Indicators(cols, lambda: bars.height - 1))
    assert vec.confidence is not None and vec.direction is not None
    opens = [s for s in sigs if s.action in (Action.OPEN_LONG, Action.OPEN_SHORT)]
    assert int((vec.direction != 0).sum()) == len(opens)
