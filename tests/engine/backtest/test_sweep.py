from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from engine.backtest import sweep as sweep_module
from engine.backtest.backtester import BacktestConfig, run_backtest
from engine.backtest.sweep import SweepError, combinations, parse_axis, run_sets, score, sweep
from engine.strategy import Context, Indicators, Param, Params, Strategy, VectorOrders
from feeds.ohlcv_file import read_ohlcv
from plugins.strategies.sma_cross import SmaCross
from tests.helpers import assert_same_stats, random_bars

DATA = Path(__file__).resolve().parents[2] / "data"


def _alone(cls: type[Strategy], params: dict[str, Any], bars: pl.DataFrame, config: Any) -> Any:
    return run_backtest(cls(**params), bars, config)


def _assert_as_alone(
    cls: type[Strategy], bars: pl.DataFrame, config: BacktestConfig, runs: Any
) -> None:
    for run in runs:
        alone = _alone(cls, run.params, bars, config)
        assert_same_stats(run.stats, alone.stats)
        assert run.trades.equals(alone.trades), run.params
        assert run.open_trades.equals(alone.open_trades), run.params


class Bracketed(Strategy):
    """A vectorised strategy with everything the kernel takes per bar: a size that changes
    bar by bar, stop-loss and take-profit prices, and an RSI rule beside an SMA one."""

    name = "bracketed"
    params = Params(
        length=Param(14, low=2, high=50),
        band=Param(0.02, low=0.0, high=0.2),
    )

    @property
    def warmup(self) -> int:  # type: ignore[override]
        return int(self.params["length"]) + 1

    def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
        raise AssertionError("the sweep runs the vectorised path")

    def vectorized(self, bars: pl.DataFrame, indicators: Indicators) -> VectorOrders:
        close = bars["close"].to_numpy()
        sma = indicators.sma(self.params["length"])
        band = float(self.params["band"])
        with np.errstate(invalid="ignore"):
            side = np.where(close < sma * (1 - band), 1, np.where(close > sma * (1 + band), -1, 0))
        size = np.where(np.arange(len(close)) % 2 == 0, 0.5, 3.0)
        return VectorOrders(
            side=side.astype(np.int8),
            close=side != 0,
            size=size,
            sl=np.where(side > 0, close * 0.97, close * 1.03),
            tp=np.where(side > 0, close * 1.05, close * 0.95),
        )


class PerBar(SmaCross):
    """sma_cross without its vectorised form: a sweep runs it one combination at a time."""

    name = "per_bar"

    def vectorized(self, bars: pl.DataFrame, indicators: Indicators) -> None:  # type: ignore[override]
        return None


def test_every_combination_is_what_it_is_alone_on_generated_bars() -> None:
    bars = random_bars(3_000, seed=7)
    config = BacktestConfig(commission=0.001, cash=100_000, finalize_trades=True)
    axes = {"fast": [2, 3, 5, 10], "slow": [5, 8, 20, 40]}
    result = sweep(SmaCross, bars, axes, config, metric="return_pct")
    assert result.batched
    assert len(result.runs) + len(result.skipped) == 16
    assert {(r.params["fast"], r.params["slow"]) for r in result.runs} == {
        (f, s) for f in axes["fast"] for s in axes["slow"] if f < s
    }
    # fast=2 slow=5 over 3,000 bars closes more trades than the tables start with (256)
    assert max(r.stats["trades"] for r in result.runs) > 256
    _assert_as_alone(SmaCross, bars, config, result.runs)


def test_every_combination_is_what_it_is_alone_on_wti_daily_closes() -> None:
    bars = read_ohlcv(DATA / "wti_daily.csv").frame
    config = BacktestConfig(commission=0.002)
    axes = dict([parse_axis("fast=5:30:5"), parse_axis("slow=20:100:20")])
    result = sweep(SmaCross, bars, axes, config)
    assert len(result.runs) == 27 and all(r.stats["bars"] == bars.height for r in result.runs)
    _assert_as_alone(SmaCross, bars, config, result.runs)


def test_per_bar_sizes_and_brackets_batch_as_they_run_alone() -> None:
    bars = random_bars(2_000, seed=3)
    config = BacktestConfig(cash=50_000, commission=0.0005, lot=0.1)
    result = sweep(Bracketed, bars, {"length": [5, 14, 30], "band": [0.0, 0.01, 0.03]}, config)
    assert result.batched and len(result.runs) == 9
    assert any(r.stats["trades"] > 0 for r in result.runs)
    _assert_as_alone(Bracketed, bars, config, result.runs)


def test_chunks_and_threads_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    bars = random_bars(1_500, seed=11)
    axes = {"fast": [2, 4, 6, 8], "slow": [10, 20, 30]}
    whole = sweep(SmaCross, bars, axes, threads=1)
    monkeypatch.setattr(sweep_module, "EQUITY_BYTES", 8 * 1_500 * 2)  # two combinations a chunk
    seen: list[tuple[int, int]] = []
    chunked = sweep(SmaCross, bars, axes, threads=2, progress=lambda d, t: seen.append((d, t)))
    assert [r.params for r in chunked.runs] == [r.params for r in whole.runs]
    for a, b in zip(chunked.runs, whole.runs, strict=True):
        assert_same_stats(a.stats, b.stats)
        assert a.trades.equals(b.trades)
    assert seen == [(2 * k, 12) for k in range(1, 7)]


def test_the_combinations_are_shared_out_so_every_thread_has_a_chunk() -> None:
    bars = random_bars(1_500, seed=11)
    axes = {"fast": [2, 4, 6, 8], "slow": [10, 20, 30]}
    seen: list[tuple[int, int]] = []
    three = sweep(SmaCross, bars, axes, threads=3, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(4, 12), (8, 12), (12, 12)]
    one = sweep(SmaCross, bars, axes, threads=1)
    for a, b in zip(three.runs, one.runs, strict=True):
        assert a.params == b.params
        assert_same_stats(a.stats, b.stats)


def test_a_strategy_without_vectorized_runs_one_at_a_time_with_the_same_results() -> None:
    bars = random_bars(800, seed=5)
    runs, batched = run_sets(PerBar, bars, [{"fast": 3, "slow": 9}, {"fast": 5, "slow": 20}])
    assert not batched and [r.params for r in runs] == [
        {"fast": 3, "slow": 9},
        {"fast": 5, "slow": 20},
    ]
    _assert_as_alone(PerBar, bars, BacktestConfig(), runs)


def test_runs_are_ranked_by_the_metric_and_runs_without_trades_come_last() -> None:
    bars = random_bars(401, seed=9)
    # slow=400 leaves one bar after the warm-up: no trade
    result = sweep(SmaCross, bars, {"fast": [3, 5, 8], "slow": [13, 21, 400]}, metric="sharpe")
    scores = [score(r.stats, "sharpe") for r in result.runs]
    assert scores == sorted(scores, reverse=True)
    idle = [r for r in result.runs if r.stats["trades"] == 0]
    assert idle and result.runs[-len(idle) :] == tuple(idle)
    assert result.best.stats["sharpe"] == max(s for s in scores if math.isfinite(s))


def test_the_grid_is_the_metric_over_two_axes_with_holes_for_refused_combinations() -> None:
    bars = random_bars(1_200, seed=2)
    result = sweep(SmaCross, bars, {"fast": [5, 10, 20], "slow": [10, 30]}, metric="return_pct")
    xs, ys, grid = result.grid("fast", "slow")
    assert xs == [5, 10, 20] and ys == [10, 30] and grid.shape == (2, 3)
    assert np.isnan(grid[0, 1]) and np.isnan(grid[0, 2])  # fast 10, 20 >= slow 10: refused
    by = {(r.params["fast"], r.params["slow"]): r.stats["return_pct"] for r in result.runs}
    assert grid[0, 0] == by[(5, 10)] and grid[1, 2] == by[(20, 30)]
    assert [p for p, _ in result.skipped] == [{"fast": 10, "slow": 10}, {"fast": 20, "slow": 10}]
    assert "must be shorter" in result.skipped[0][1]


@pytest.mark.parametrize(
    ("text", "axis"),
    [
        ("fast=5:50:5", ("fast", list(range(5, 55, 5)))),
        ("fast=5:12:5", ("fast", [5, 10])),
        ("band=0.1:0.3:0.1", ("band", [0.1, 0.2, 0.3])),
        ("fast=5,8,13,8", ("fast", [5, 8, 13])),
        (" slow = 20:20:1", ("slow", [20])),
    ],
)
def test_an_axis_is_read_exactly(text: str, axis: tuple[str, list[Any]]) -> None:
    assert parse_axis(text) == axis


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("fast", "NAME=START:STOP:STEP"),
        ("fast=", "NAME=START:STOP:STEP"),
        ("fast=a:b:c", "cannot read"),
        ("fast=1:2", "START:STOP:STEP"),
        ("fast=50:5:5", "STOP >= START"),
        ("fast=5:50:0", "STEP > 0"),
        ("fast=1:10000000:1", "at most 100,000"),
        ("fast=nan,1", "not finite"),
    ],
)
def test_an_axis_that_cannot_be_read_is_refused(text: str, says: str) -> None:
    with pytest.raises(SweepError, match=says):
        parse_axis(text)


def test_unknown_or_doubly_given_parameters_and_empty_grids_are_refused() -> None:
    bars = random_bars(300)
    with pytest.raises(SweepError, match="no parameter nope"):
        combinations(SmaCross, {"nope": [1]})
    with pytest.raises(SweepError, match="fast both swept and fixed"):
        combinations(SmaCross, {"fast": [1]}, {"fast": 2})
    with pytest.raises(SweepError, match="no valid combination"):
        sweep(SmaCross, bars, {"fast": [30, 40], "slow": [10, 20]})
    with pytest.raises(SweepError, match="unknown metric"):
        sweep(SmaCross, bars, {"fast": [3]}, metric="luck")


def test_fixed_parameters_hold_for_every_combination() -> None:
    valid, skipped = combinations(SmaCross, {"fast": [3, 8, 30]}, {"slow": 25})
    assert valid == [{"fast": 3, "slow": 25}, {"fast": 8, "slow": 25}]
    assert [p for p, _ in skipped] == [{"fast": 30}]
