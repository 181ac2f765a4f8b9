"""Statistics that the data cannot define say why; durations are calendar time."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl

from engine.backtest.backtester import BacktestConfig, run_backtest
from engine.backtest.performance import DAY_NS, STAT_LABELS, UNDEFINED, compute_stats
from plugins.strategies.sma_cross import SmaCross
from tests.engine.backtest.backtest_reference import to_polars

MINUTE_NS = 60_000_000_000
NO_TRADES = pl.DataFrame(
    {
        "pnl": [],
        "return_pct": [],
        "entry_bar": [],
        "exit_bar": [],
        "fees": [],
    },
    schema={
        "pnl": pl.Float64,
        "return_pct": pl.Float64,
        "entry_bar": pl.Int64,
        "exit_bar": pl.Int64,
        "fees": pl.Float64,
    },
)


def _longest_drawdown_days(equity: np.ndarray, dates: list[dt.date]) -> int:
    """Peak to recovery (or to the last bar) in calendar days, the slow obvious way."""
    longest, peak, peak_value = 0, 0, equity[0]
    for i in range(1, len(equity)):
        if equity[i] >= peak_value:
            if i > peak + 1:
                longest = max(longest, (dates[i] - dates[peak]).days)
            peak, peak_value = i, equity[i]
    if len(equity) - 1 > peak + 1:
        longest = max(longest, (dates[-1] - dates[peak]).days)
    return longest


def test_max_drawdown_duration_in_days_is_calendar_time_on_goog() -> None:
    from backtesting.test import GOOG

    res = run_backtest(
        SmaCross(fast=10, slow=20), to_polars(GOOG), BacktestConfig(cash=10_000, commission=0.002)
    )
    dates = [ts.date() for ts in GOOG.index]
    expected = _longest_drawdown_days(res.equity, dates)
    assert expected == 830  # backtesting.py's Max. Drawdown Duration on the same run
    assert res.stats["max_drawdown_days"] == expected
    assert res.stats["max_drawdown_bars"] == 570  # trading days below the peak


def test_an_unrecovered_drawdown_lasts_to_the_last_bar() -> None:
    ts = np.array([0, 1, 3, 10, 40], dtype=np.int64) * DAY_NS
    equity = np.array([100.0, 120.0, 110.0, 115.0, 90.0])
    stats = compute_stats(equity=equity, ts=ts, close=equity, trades=NO_TRADES)
    assert stats["max_drawdown_days"] == 39.0
    assert stats["max_drawdown_bars"] == 3


def _flat(n: int) -> pl.DataFrame:
    price = np.full(n, 10.0)
    return pl.DataFrame(
        {
            "ts": np.arange(n, dtype=np.int64) * DAY_NS,
            "open": price,
            "high": price,
            "low": price,
            "close": price,
            "volume": np.ones(n),
        }
    )


def test_no_trades_leave_ratios_undefined_with_the_reason() -> None:
    res = run_backtest(SmaCross(fast=5, slow=20), _flat(200), BacktestConfig())
    stats, why = res.stats, res.stats[UNDEFINED]
    assert stats["trades"] == 0 and stats["volatility_pct"] == 0.0
    assert math.isnan(stats["sharpe"]) and why["sharpe"] == "no trades"
    assert why["calmar"] == "no trades" and why["sortino"] == "no trades"
    for key in ("win_rate_pct", "best_trade_pct", "worst_trade_pct", "expectancy_pct"):
        assert why[key] == "no closed trades"
    assert why["profit_factor"] == "no closed trades"
    nans = {k for k in STAT_LABELS if isinstance(stats[k], float) and math.isnan(stats[k])}
    assert nans == set(why)
    report = res.to_dict()
    assert report["stats"]["sharpe"] is None
    assert report["stats"][UNDEFINED]["sharpe"] == "no trades"


def _minutes(n: int, start_ns: int) -> np.ndarray:
    return start_ns + np.arange(n, dtype=np.int64) * MINUTE_NS


def test_four_hundred_one_minute_bars_do_not_overflow() -> None:
    """A strong run over 400 1m bars once raised OverflowError while annualising."""
    n = 400
    close = np.r_[np.linspace(110, 100, 40), np.linspace(100, 1000, n - 40)]
    bars = pl.DataFrame(
        {
            "ts": _minutes(n, 1_700_002_800_000_000_000),  # 23:00 UTC: two calendar days
            "open": close,
            "high": close * 1.001,
            "low": close * 0.999,
            "close": close,
            "volume": np.ones(n),
        }
    )
    stats = run_backtest(SmaCross(fast=5, slow=20), bars, BacktestConfig()).stats
    why = stats[UNDEFINED]
    assert stats["return_pct"] > 700
    for key in STAT_LABELS:
        value = stats[key]
        assert not (isinstance(value, float) and math.isinf(value)), key
    assert math.isnan(stats["volatility_pct"])
    assert why["volatility_pct"] == "too few bars (2 days; needs 3)"
    assert why["sharpe"] == "too few bars (2 days; needs 3)"
    assert why["cagr_pct"] == "too short a sample to annualise"
    assert why["win_rate_pct"] == "no closed trades (1 still open)"


def test_annualising_past_a_floats_range_is_undefined_not_infinite() -> None:
    day = _minutes(3 * 1440, 0)
    equity = 10_000.0 * 9.0 ** (day // DAY_NS).astype(float)  # x9 a day
    stats = compute_stats(equity=equity, ts=day, close=equity, trades=NO_TRADES)
    why = stats[UNDEFINED]
    for key in ("return_ann_pct", "volatility_pct", "sharpe", "sortino", "calmar"):
        assert math.isnan(stats[key]), key
        assert why[key] == "too short a sample to annualise", key
    assert stats["return_pct"] == 8_000.0
