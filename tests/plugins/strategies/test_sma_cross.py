from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from engine.backtest.backtester import BacktestConfig, run_backtest
from engine.strategy import ParamError
from plugins.strategies.sma_cross import SmaCross
from tests.engine.backtest.backtest_reference import (
    our_trades,
    random_ohlcv,
    reference_trades,
    to_polars,
)


def _reference_sma_cross(df: pd.DataFrame, **kwargs: float) -> pd.Series:
    """backtesting.py's own SmaCross example (its SMA, its crossover), run by backtesting.py."""
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class RefSmaCross(Strategy):
        n1 = 10
        n2 = 20

        def init(self) -> None:
            self.sma1 = self.I(SMA, self.data.Close, self.n1)
            self.sma2 = self.I(SMA, self.data.Close, self.n2)

        def next(self) -> None:
            if crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy()
            elif crossover(self.sma2, self.sma1):
                self.position.close()
                self.sell()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Backtest(df, RefSmaCross, cash=10_000, commission=0.002, **kwargs).run()


def _datasets() -> list[tuple[str, pd.DataFrame]]:
    from backtesting.test import EURUSD, GOOG

    return [
        ("GOOG", GOOG),
        (
            "EURUSD",
            EURUSD.assign(
                Open=EURUSD.Open * 1e3,
                High=EURUSD.High * 1e3,
                Low=EURUSD.Low * 1e3,
                Close=EURUSD.Close * 1e3,
            ),
        ),
        ("random-daily", random_ohlcv(3_000, seed=11)),
        ("random-hourly", random_ohlcv(5_000, seed=12, freq="h")),
    ]


@pytest.mark.parametrize("vectorized", [True, False], ids=["vectorized", "per-bar"])
@pytest.mark.parametrize(
    ("label", "df"), _datasets(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_sma_cross_10_20_equals_backtesting_py(
    label: str, df: pd.DataFrame, vectorized: bool
) -> None:
    ref = _reference_sma_cross(df)
    res = run_backtest(
        SmaCross(fast=10, slow=20),
        to_polars(df),
        BacktestConfig(cash=10_000, commission=0.002, vectorized=vectorized),
    )
    ours, theirs = our_trades(res.trades), reference_trades(ref)
    assert len(theirs) > 20 and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours[:, :2], theirs[:, :2])  # entry and exit bars
    assert np.abs(ours[:, 2] - theirs[:, 2]).max() <= 1  # sizes within one unit
    assert res.stats["equity_final"] == pytest.approx(ref["Equity Final [$]"], rel=1e-3)
    assert res.stats["trades"] == ref["# Trades"]
    assert res.stats["buy_hold_pct"] == pytest.approx(ref["Buy & Hold Return [%]"])


def test_vectorized_and_per_bar_paths_agree_bit_for_bit() -> None:
    bars = to_polars(random_ohlcv(2_000, seed=5))
    config = BacktestConfig(commission=0.001, trade_on_close=True, spread=0.0005)
    a = run_backtest(SmaCross(fast=5, slow=30), bars, config)
    b = run_backtest(
        SmaCross(fast=5, slow=30), bars, BacktestConfig(**{**_fields(config), "vectorized": False})
    )
    assert a.trades.equals(b.trades) and np.array_equal(a.equity, b.equity)


def _fields(config: BacktestConfig) -> dict[str, object]:
    return {f: getattr(config, f) for f in config.__dataclass_fields__}


def test_params_are_typed_ranged_and_checked() -> None:
    s = SmaCross(fast="7", slow=30)
    assert s.params == {"fast": 7, "slow": 30} and s.warmup == 30 and s.fast == 7
    with pytest.raises(ParamError, match="shorter"):
        SmaCross(fast=30, slow=20)
    with pytest.raises(ParamError, match="must be int"):
        SmaCross(fast="x")
    with pytest.raises(ParamError, match="unknown parameter"):
        SmaCross(speed=3)
    assert SmaCross.param_spec()["fast"].grid()[:3] == [2, 4, 6]
