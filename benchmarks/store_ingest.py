"""SQLite store: candle ingest rate, and the latency of ``store.candles.last(…, 1000)`` on a
1M-row table.

Targets (DESIGN.md): >= 200k candle rows/s ingest; last 1,000 bars of a symbol in < 5 ms.
Reference: the same rows through sqlite-utils' own ``upsert_all`` in the same run.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from engine.timeframes import OHLCV_SCHEMA
from workstation.store import Store

ROWS = 1_000_000
SYMBOLS = 10


def frame(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    return pl.DataFrame(
        {
            "ts": 1_600_000_000_000_000_000 + 60_000_000_000 * np.arange(n, dtype=np.int64),
            "open": close,
            "high": close * 1.001,
            "low": close * 0.999,
            "close": close,
            "volume": rng.uniform(1, 10, n),
        },
        schema=OHLCV_SCHEMA,
    )


def main() -> None:
    print(f"cores: {os.cpu_count()}  rows: {ROWS:,} over {SYMBOLS} symbols")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        per = ROWS // SYMBOLS
        frames = [frame(per, i) for i in range(SYMBOLS)]
        start = time.perf_counter()
        for i, f in enumerate(frames):
            store.candles.upsert(f, f"SYM{i}", "1m", "bench")
        elapsed = time.perf_counter() - start
        rate = ROWS / elapsed
        print(f"ingest (store.candles.upsert): {rate:,.0f} rows/s ({elapsed:.2f} s)")
        print("  target >= 200,000 rows/s")

        again = time.perf_counter()
        store.candles.upsert(frames[0], "SYM0", "1m", "bench")
        rerate = per / (time.perf_counter() - again)
        print(f"re-ingest of {per:,} existing rows (upsert): {rerate:,.0f} rows/s")

        ref_rows = [
            {
                "venue": "ref",
                "symbol": "R",
                "timeframe": "1m",
                "ts": ts,
                "open": o,
                "high": h,
                "low": lo,
                "close": c,
                "volume": v,
            }
            for ts, o, h, lo, c, v in frames[1].head(100_000).iter_rows()
        ]
        ref_start = time.perf_counter()
        pk = ("venue", "symbol", "timeframe", "ts")
        store.db["candles"].upsert_all(ref_rows, pk=pk)
        ref_rate = len(ref_rows) / (time.perf_counter() - ref_start)
        print(f"reference sqlite-utils upsert_all: {ref_rate:,.0f} rows/s")
        print(f"  ratio store.candles.upsert / sqlite-utils: {rate / ref_rate:.1f}x")

        timings = []
        for i in range(200):
            t = time.perf_counter()
            bars = store.candles.last(f"SYM{i % SYMBOLS}", "1m", 1000, venue="bench")
            timings.append((time.perf_counter() - t) * 1000)
        assert bars.height == 1000
        timings.sort()
        print(
            f"candles.last(…, 1000) on {ROWS:,} rows: median {statistics.median(timings):.2f} ms,"
            f" p99 {timings[int(len(timings) * 0.99) - 1]:.2f} ms  target < 5 ms"
        )
        store.close()


if __name__ == "__main__":
    main()
