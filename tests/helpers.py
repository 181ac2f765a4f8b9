"""Small data generators shared by tests."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.model import Fill, Order, OrderStatus, OrderType, Side
from engine.timeframes import OHLCV_SCHEMA
from workstation.store import Store

T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
HOUR = 3_600_000_000_000


def random_bars(n: int, seed: int = 1, step_ns: int = HOUR, t0: int = T0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.005, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.005, n))
    return pl.DataFrame(
        {
            "ts": t0 + step_ns * np.arange(n, dtype=np.int64),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.uniform(1, 100, n),
        },
        schema=OHLCV_SCHEMA,
    )


def write_csv(path: Path, n: int = 2000, seed: int = 1) -> Path:
    """A CSV as pandas writes one: ISO dates in an index column named Date, titled columns."""
    bars = random_bars(n, seed)
    out = bars.with_columns(
        pl.from_epoch("ts", time_unit="ns").dt.strftime("%Y-%m-%d %H:%M:%S").alias("Date")
    ).select(
        "Date",
        pl.col("open").alias("Open"),
        pl.col("high").alias("High"),
        pl.col("low").alias("Low"),
        pl.col("close").alias("Close"),
        pl.col("volume").alias("Volume"),
    )
    out.write_csv(path)
    return path


def flat_bars(closes: list[float], step: int, t0: int = T0) -> pl.DataFrame:
    """Bars whose open, high, low and close are all ``closes`` (volume 1), ``step`` ns apart."""
    c = np.array(closes)
    return pl.DataFrame(
        {
            "ts": t0 + step * np.arange(len(c), dtype=np.int64),
            "open": c,
            "high": c,
            "low": c,
            "close": c,
            "volume": np.ones(len(c)),
        },
        schema=OHLCV_SCHEMA,
    )


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``qws ARGS`` in this process: exit code, stdout, stderr."""
    from workstation.cli import main

    capsys.readouterr()
    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def store_filled_order(
    store: Store,
    cid: str,
    symbol: str,
    side: Side,
    qty: str,
    price: str,
    fee: str,
    ts: int,
    *,
    arrival: str,
    strategy: str = "",
) -> None:
    """A market order filled at once in one fill, stored as the OMS stores one (with its
    arrival price), on the paper account, fees in USD."""
    order = Order(
        cid,
        symbol,
        side,
        OrderType.MARKET,
        D(qty),
        status=OrderStatus.FILLED,
        filled_qty=D(qty),
        avg_price=D(price),
        ts_ns=ts,
        strategy=strategy,
    )
    store.orders.save(order, arrival=D(arrival))
    store.fills.add(Fill(cid, symbol, side, D(qty), D(price), D(fee), ts, cid, "USD"), "paper")


def assert_same_stats(a: dict[str, object], b: dict[str, object]) -> None:
    """Two runs' stats equal key for key and exactly, NaN equal to NaN (``==`` on the dicts
    fails on NaN, which a run with an undefined statistic has)."""
    assert a.keys() == b.keys()
    for key, x in a.items():
        y = b[key]
        both_nan = isinstance(x, float) and isinstance(y, float) and x != x and y != y
        assert both_nan or x == y, f"{key}: {x!r} != {y!r}"
