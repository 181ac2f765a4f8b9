"""Shared by the backtester tests: generated OHLCV data, and the same order plan run through
backtesting.py (the reference) and through :func:`engine.backtest.backtester.run_backtest`."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from engine.strategy import Context, Strategy

Plan = dict[int, list[tuple[str, dict[str, Any]]]]


def random_ohlcv(n: int, seed: int, start: str = "2020-01-01", freq: str = "D") -> pd.DataFrame:
    """A random walk with realistic wicks and gaps, indexed by time (pandas, reference layout)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, n)))
    index = pd.date_range(start, periods=n, freq=freq)
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": rng.uniform(1, 9, n)},
        index=index,
    )


def to_polars(df: pd.DataFrame) -> pl.DataFrame:
    ts = df.index.as_unit("ns").asi8 if isinstance(df.index, pd.DatetimeIndex) else df.index
    return pl.DataFrame(
        {
            "ts": np.asarray(ts, dtype=np.int64),
            "open": df["Open"].to_numpy(dtype=float),
            "high": df["High"].to_numpy(dtype=float),
            "low": df["Low"].to_numpy(dtype=float),
            "close": df["Close"].to_numpy(dtype=float),
            "volume": df["Volume"].to_numpy(dtype=float),
        }
    )


def random_plan(df: pd.DataFrame, seed: int, p: float = 0.08, brackets: bool = True) -> Plan:
    """Random buys/sells (fractional or whole-unit sizes, some with SL/TP) and closes."""
    rng = np.random.default_rng(seed)
    close = df["Close"].to_numpy()
    plan: Plan = {}
    for i in range(1, len(df)):
        if rng.random() > p:
            continue
        ops: list[tuple[str, dict[str, Any]]] = []
        r = rng.random()
        if r < 0.2:
            ops.append(("close", {"portion": float(rng.choice([1.0, 0.5]))}))
        else:
            side = "buy" if r < 0.6 else "sell"
            kw: dict[str, Any] = {}
            if rng.random() < 0.5:
                kw["size"] = float(rng.choice([0.2, 0.5, 0.9999]))
            else:
                kw["size"] = int(rng.integers(1, 20))
            if brackets and rng.random() < 0.6:
                d = close[i] * rng.uniform(0.01, 0.06)
                up, down = close[i] + d, close[i] - d * rng.uniform(0.5, 1.5)
                if side == "buy":
                    kw["sl"], kw["tp"] = down, up
                else:
                    kw["sl"], kw["tp"] = close[i] + d * rng.uniform(0.5, 1.5), close[i] - d
                if rng.random() < 0.3:
                    kw.pop("tp" if rng.random() < 0.5 else "sl")
            if rng.random() < 0.3:
                ops.append(("close", {"portion": 1.0}))
            ops.append((side, kw))
        plan[i] = ops
    return plan


def run_reference(df: pd.DataFrame, plan: Plan, **kwargs: Any) -> pd.Series:
    from backtesting import Backtest
    from backtesting import Strategy as RefStrategy

    class Planned(RefStrategy):
        def init(self) -> None:
            pass

        def next(self) -> None:
            for op, kw in plan.get(len(self.data) - 1, ()):
                if op == "close":
                    self.position.close(kw["portion"])
                else:
                    getattr(self, op)(**kw)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Backtest(df, Planned, **kwargs).run()


class PlanStrategy(Strategy):
    """Our side of the plan: the same calls through ``ctx``."""

    name = "plan"
    warmup = 1

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan

    def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
        for op, kw in self.plan.get(ctx.bar_index, ()):
            if op == "close":
                ctx.close(kw["portion"])
            else:
                getattr(ctx, op)(**kw)


def reference_trades(stats: pd.Series) -> np.ndarray:
    t = stats["_trades"]
    rows = np.c_[
        t["EntryBar"].to_numpy(),
        t["ExitBar"].to_numpy(),
        t["Size"].to_numpy(),
        t["EntryPrice"].to_numpy(),
        t["ExitPrice"].to_numpy(),
        t["PnL"].to_numpy(),
    ].astype(float)
    return rows[np.lexsort(rows[:, ::-1].T)] if len(rows) else rows.reshape(0, 6)


def our_trades(trades: pl.DataFrame) -> np.ndarray:
    rows = np.c_[
        trades["entry_bar"].to_numpy(),
        trades["exit_bar"].to_numpy(),
        trades["size"].to_numpy(),
        trades["entry_price"].to_numpy(),
        trades["exit_price"].to_numpy(),
        trades["pnl"].to_numpy(),
    ].astype(float)
    return rows[np.lexsort(rows[:, ::-1].T)] if len(rows) else rows.reshape(0, 6)
