"""Backtest throughput: sma_cross(10, 20) on 1M bars against backtesting.py in the same run.

backtesting.py runs its Python loop per bar, so it gets a 100k-bar prefix of the same data and
the comparison is per-bar throughput (bars/s); both engines are checked to make the same trades
on that prefix. Our figures are the best of 3 after a warm-up run (numba compile excluded and
reported separately), and include computing the indicators and the stats.

Run: .venv/bin/python benchmarks/backtest.py
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import polars as pl

from engine.backtest.backtester import BacktestConfig, run_backtest
from plugins.strategies.sma_cross import SmaCross

BARS = 1_000_000
REFERENCE_BARS = 100_000
REPEAT = 3


def make_bars(n: int) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    c = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    o = np.concatenate(([100.0], c[:-1]))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.001, n)))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.001, n)))
    ts = 1_700_000_000_000_000_000 + np.arange(n, dtype=np.int64) * 60_000_000_000
    return pl.DataFrame(
        {"ts": ts, "open": o, "high": h, "low": lo, "close": c, "volume": np.ones(n)}
    )


def best_of(fn, repeat: int = REPEAT) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def reference(bars: pl.DataFrame) -> tuple[float, object]:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class RefSmaCross(Strategy):
        def init(self) -> None:
            self.sma1 = self.I(SMA, self.data.Close, 10)
            self.sma2 = self.I(SMA, self.data.Close, 20)

        def next(self) -> None:
            if crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy()
            elif crossover(self.sma2, self.sma1):
                self.position.close()
                self.sell()

    df = pd.DataFrame(
        {
            "Open": bars["open"].to_numpy(),
            "High": bars["high"].to_numpy(),
            "Low": bars["low"].to_numpy(),
            "Close": bars["close"].to_numpy(),
            "Volume": bars["volume"].to_numpy(),
        },
        index=pd.to_datetime(bars["ts"].to_numpy(), unit="ns"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(df, RefSmaCross, cash=10_000, commission=0.002)
        return best_of(bt.run, repeat=1)


def main() -> None:
    bars = make_bars(BARS)
    prefix = bars.head(REFERENCE_BARS)
    config = BacktestConfig(cash=10_000, commission=0.002)
    slow_config = BacktestConfig(cash=10_000, commission=0.002, vectorized=False)

    t0 = time.perf_counter()
    run_backtest(SmaCross(), bars.head(1_000), config)
    run_backtest(SmaCross(), bars.head(1_000), slow_config)
    warm = time.perf_counter() - t0

    t_vec, res = best_of(lambda: run_backtest(SmaCross(), bars, config))
    t_vec_prefix, res_prefix = best_of(lambda: run_backtest(SmaCross(), prefix, config))
    t_bar, _ = best_of(lambda: run_backtest(SmaCross(), prefix, slow_config), repeat=1)
    t_ref, ref = reference(prefix)

    ours = res_prefix.trades  # type: ignore[attr-defined]
    theirs = ref["_trades"]  # type: ignore[index]
    same = ours.height == len(theirs) and np.array_equal(
        np.sort(ours["entry_bar"].to_numpy()), np.sort(theirs["EntryBar"].to_numpy())
    )
    rate_vec = BARS / t_vec
    rate_ref = REFERENCE_BARS / t_ref
    print(f"first calls (numba compile or cache load): {warm:.2f} s")
    print(
        f"qws vectorised  sma_cross(10,20) {BARS:>9,} bars: {t_vec * 1e3:8.1f} ms "
        f"= {rate_vec / 1e6:6.2f} M bars/s ({res.stats['trades']:,} trades)"  # type: ignore[attr-defined]
    )
    print(
        f"qws vectorised  sma_cross(10,20) {REFERENCE_BARS:>9,} bars: {t_vec_prefix * 1e3:8.1f} ms "
        f"= {REFERENCE_BARS / t_vec_prefix / 1e6:6.2f} M bars/s"
    )
    print(
        f"qws per-bar     sma_cross(10,20) {REFERENCE_BARS:>9,} bars: {t_bar * 1e3:8.1f} ms "
        f"= {REFERENCE_BARS / t_bar / 1e3:6.1f} k bars/s (Python on_bar each bar)"
    )
    print(
        f"backtesting.py  SmaCross(10,20)  {REFERENCE_BARS:>9,} bars: {t_ref * 1e3:8.1f} ms "
        f"= {rate_ref / 1e3:6.1f} k bars/s ({len(theirs):,} trades)"
    )
    print(f"same trades as backtesting.py on the {REFERENCE_BARS:,}-bar prefix: {same}")
    print(f"ratio (bars/s, qws vectorised 1M vs backtesting.py 100k): {rate_vec / rate_ref:,.0f}x")
    print(
        f"ratio (bars/s, qws per-bar vs backtesting.py, both 100k): "
        f"{REFERENCE_BARS / t_bar / rate_ref:,.1f}x"
    )


if __name__ == "__main__":
    main()
