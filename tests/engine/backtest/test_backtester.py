from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
import pytest

from engine.backtest.backtester import BacktestConfig, BacktestError, run_backtest
from engine.strategy import Context, Strategy, StrategyError
from tests.engine.backtest.backtest_reference import (
    PlanStrategy,
    our_trades,
    random_ohlcv,
    random_plan,
    reference_trades,
    run_reference,
    to_polars,
)

CONFIGS: list[dict[str, Any]] = [
    {"commission": 0.002},
    {"commission": 0.002, "trade_on_close": True},
    {"commission": 0.001, "hedging": True},
    {"commission": 0.002, "exclusive_orders": True},
    {"commission": 0.002, "spread": 0.001, "finalize_trades": True},
    {"commission": 0.002, "margin": 0.2},
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("options", CONFIGS, ids=lambda o: ",".join(o))
def test_random_order_plans_trade_exactly_like_backtesting_py(
    seed: int, options: dict[str, Any]
) -> None:
    """Fractional and unit sizes, SL/TP brackets, partial closes, shorts: same trades, same
    equity, same headline stats as backtesting.py."""
    df = random_ohlcv(500, seed)
    plan = random_plan(df, seed)
    ref = run_reference(df, plan, cash=10_000, **options)
    res = run_backtest(PlanStrategy(plan), to_polars(df), BacktestConfig(cash=10_000, **options))

    ours, theirs = our_trades(res.trades), reference_trades(ref)
    assert ours.shape == theirs.shape and len(ours) > 10
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    assert res.stats["equity_final"] == pytest.approx(ref["Equity Final [$]"], rel=1e-9)
    np.testing.assert_allclose(res.equity, ref["_equity_curve"]["Equity"].to_numpy(), rtol=1e-9)
    for ours_key, ref_key in [
        ("return_pct", "Return [%]"),
        ("buy_hold_pct", "Buy & Hold Return [%]"),
        ("sharpe", "Sharpe Ratio"),
        ("sortino", "Sortino Ratio"),
        ("calmar", "Calmar Ratio"),
        ("volatility_pct", "Volatility (Ann.) [%]"),
        ("cagr_pct", "CAGR [%]"),
        ("max_drawdown_pct", "Max. Drawdown [%]"),
        ("win_rate_pct", "Win Rate [%]"),
        ("profit_factor", "Profit Factor"),
        ("expectancy_pct", "Expectancy [%]"),
        ("trades", "# Trades"),
    ]:
        assert res.stats[ours_key] == pytest.approx(ref[ref_key], rel=1e-6, nan_ok=True), ours_key
    if res.open_trades.height == 0:
        assert res.stats["exposure_pct"] == pytest.approx(ref["Exposure Time [%]"])


def _bars(rows: list[tuple[float, float, float, float]]) -> pl.DataFrame:
    o, h, lo, c = (np.array(col, dtype=float) for col in zip(*rows, strict=True))
    day = 86_400_000_000_000
    return pl.DataFrame(
        {
            "ts": np.arange(len(rows), dtype=np.int64) * day,
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume": np.ones(len(rows)),
        }
    )


class OneShot(Strategy):
    """Buy at bar 1 with the given keyword arguments, nothing else."""

    name = "one_shot"
    warmup = 1

    def __init__(self, at: int = 1, side: str = "buy", **order: Any) -> None:
        super().__init__()
        self.at, self.side, self.order = at, side, order
        self.fills: list[Any] = []

    def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
        assert bars.height == ctx.bar_index + 1  # sees bars up to and including t
        if ctx.bar_index == self.at:
            getattr(ctx, self.side)(**self.order)

    def on_fill(self, ctx: Context, fill: Any, **kwargs: Any) -> None:
        self.fills.append(fill)


def test_market_order_fills_at_next_open_with_commission_both_ways() -> None:
    bars = _bars([(10, 11, 9, 10), (10, 11, 9, 10), (12, 13, 11, 12), (14, 15, 13, 15)])
    s = OneShot(qty=10)
    res = run_backtest(s, bars, BacktestConfig(cash=1_000, commission=0.01, finalize_trades=True))
    t = res.trades.row(0, named=True)
    assert (t["entry_bar"], t["entry_price"], t["size"]) == (2, 12.0, 10.0)
    # finalize closes on the last bar at its open (backtesting.py's finalize_trades)
    assert (t["exit_bar"], t["exit_price"]) == (3, 14.0)
    assert t["fees"] == pytest.approx(0.01 * 10 * 12 + 0.01 * 10 * 14)
    assert t["pnl"] == pytest.approx(10 * (14 - 12) - t["fees"])
    assert res.stats["equity_final"] == pytest.approx(1_000 + t["pnl"])
    assert [f.price for f in s.fills] == [12, 14] and float(s.fills[0].fee) == pytest.approx(1.2)


def test_when_stop_and_target_both_hit_in_one_bar_the_stop_is_assumed() -> None:
    bars = _bars([(10, 10, 10, 10), (10, 10, 10, 10), (10, 10.5, 9.5, 10), (10, 12, 8, 10)])
    res = run_backtest(OneShot(qty=1, sl=9.0, tp=11.0), bars, BacktestConfig(cash=100))
    t = res.trades.row(0, named=True)
    assert (t["exit_bar"], t["exit_price"]) == (3, 9.0)


def test_stop_gapped_through_fills_at_the_open() -> None:
    bars = _bars([(10, 10, 10, 10), (10, 10, 10, 10), (10, 10.5, 9.5, 10), (8, 8.5, 7, 8)])
    res = run_backtest(OneShot(qty=1, sl=9.0), bars, BacktestConfig(cash=100))
    assert res.trades["exit_price"].to_list() == [8.0]


def test_fixed_slippage_worsens_market_fills() -> None:
    bars = _bars([(10, 11, 9, 10)] * 3 + [(12, 13, 11, 12)])
    res = run_backtest(
        OneShot(qty=1), bars, BacktestConfig(cash=100, slippage=0.25, finalize_trades=True)
    )
    t = res.trades.row(0, named=True)
    assert (t["entry_price"], t["exit_price"]) == (10.25, 11.75)


def test_fills_keep_the_price_before_slippage_and_spread() -> None:
    bars = _bars([(10.0, 11.0, 9.0, 10.0)] * 3 + [(12.0, 13.0, 11.0, 12.0)])
    config = BacktestConfig(cash=100, slippage=0.25, spread=0.01, finalize_trades=True)
    res = run_backtest(OneShot(qty=1), bars, config)
    f = res.fills
    assert f["bar"].to_list() == [2, 3] and f["exit"].to_list() == [False, True]
    assert f["size"].to_list() == [1.0, -1.0] and f["reference"].to_list() == [10.0, 12.0]
    assert f["price"].to_list() == [pytest.approx(10.25 * 1.01), 11.75]


def test_long_only_turns_a_short_entry_into_nothing() -> None:
    bars = _bars([(10, 11, 9, 10)] * 5)
    res = run_backtest(OneShot(side="sell", qty=1), bars, BacktestConfig(allow_short=False))
    assert res.trades.height == 0 and res.open_trades.height == 0
    res = run_backtest(OneShot(side="sell", qty=1), bars, BacktestConfig())
    assert res.open_trades["size"].to_list() == [-1.0]


def test_fractional_lot_sizes_use_the_lot_grid() -> None:
    bars = _bars([(30_000, 30_100, 29_900, 30_000)] * 4)
    res = run_backtest(OneShot(size=0.5), bars, BacktestConfig(cash=1_000, lot=0.001))
    assert res.open_trades["size"].to_list() == [pytest.approx(0.016)]  # 500/30000 -> 0.016
    res = run_backtest(OneShot(size=0.5), bars, BacktestConfig(cash=1_000))
    assert res.open_trades.height == 0 and res.cancelled_orders == 1  # not even one unit


def test_equity_stops_at_zero_when_the_account_is_wiped_out() -> None:
    bars = _bars([(10, 10, 10, 10)] * 3 + [(30, 30, 30, 30)] * 3)
    res = run_backtest(OneShot(side="sell", size=0.99), bars, BacktestConfig(cash=100, margin=0.5))
    assert res.equity[-1] == 0 and res.equity[2] == pytest.approx(100, rel=0.02)


def test_a_strategy_exception_reports_name_hook_and_traceback() -> None:
    class Broken(Strategy):
        name = "broken"

        def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
            raise ZeroDivisionError("boom")

    with pytest.raises(StrategyError, match=r"(?s)'broken' raised in on_bar.*Traceback") as info:
        run_backtest(Broken(), _bars([(1, 1, 1, 1)] * 3))
    assert "ZeroDivisionError" in str(info.value)


def test_invalid_orders_and_bars_are_rejected_clearly() -> None:
    with pytest.raises(StrategyError, match="SL < price < TP"):
        run_backtest(OneShot(qty=1, sl=11.0), _bars([(10, 11, 9, 10)] * 3))
    bad = _bars([(10, 11, 9, 10)] * 3).with_columns(pl.Series("close", [10.0, math.nan, 10.0]))
    with pytest.raises(BacktestError, match=r"non-positive close.*row 1"):
        run_backtest(OneShot(), bad)
    with pytest.raises(BacktestError, match="margin"):
        BacktestConfig(margin=2)
