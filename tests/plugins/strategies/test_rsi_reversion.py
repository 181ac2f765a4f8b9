from __future__ import annotations

import numpy as np
import pytest

from engine.backtest.backtester import BacktestConfig, run_backtest
from engine.strategy import ParamError
from plugins.strategies.rsi_reversion import RsiReversion
from tests.helpers import random_bars


@pytest.mark.parametrize("params", [{}, {"atr_stop": 2.0}, {"short": False, "period": 7}])
def test_vectorized_and_per_bar_paths_agree(params: dict[str, object]) -> None:
    bars = random_bars(3_000, seed=21)
    fast = run_backtest(RsiReversion(**params), bars, BacktestConfig(commission=0.001))
    slow = run_backtest(
        RsiReversion(**params), bars, BacktestConfig(commission=0.001, vectorized=False)
    )
    assert fast.stats["trades"] > 10
    assert fast.trades.equals(slow.trades) and np.array_equal(fast.equity, slow.equity)


def test_long_only_variant_never_shorts_and_stops_are_below_entries() -> None:
    res = run_backtest(RsiReversion(short=False, atr_stop=1.5), random_bars(3_000, seed=22))
    assert (res.trades["size"] > 0).all()
    assert (res.trades["sl"] < res.trades["entry_price"]).all()


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ParamError, match="oversold must be below"):
        RsiReversion(oversold=50, overbought=50)
