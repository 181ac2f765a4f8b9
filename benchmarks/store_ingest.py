"""SQLite store: candle ingest rate, and the latency of the 1,000-bar read callers make.

Targets (DESIGN.md): >= 200k candle rows/s ingest; last 1,000 bars of a symbol in < 5 ms.

Ingest: ``store.candles.upsert`` (A) against plain ``sqlite3`` ``executemany`` of the same
upsert statement (B), the same rows from the same polars frames, each into a fresh file of the
same schema (opened by ``Store``: WAL, ``synchronous=NORMAL``) in the same directory, one
transaction a symbol; interleaved A B A B, medians, and after every round both tables are read
back in full and compared.

Read: ``store.candles.last(symbol, "1m", 1000)`` without a venue, as the scan, the signal
pipeline and the Telegram bot call it (the store finds the venue first), on a 1M-row table with
two venues, beside the same read with the venue named.

Run: .venv/bin/python benchmarks/store_ingest.py
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time
from itertools import repeat
from pathlib import Path

import numpy as np
import polars as pl
from harness import Timings, interleave, percentile, ratio_verdict, verdict
from harness import repeat as repeat_runs

from engine.timeframes import OHLCV_SCHEMA
from workstation.store import Store

ROWS = 1_000_000
SYMBOLS = 10
RUNS = 3
READS = 300
VENUE = "bench"
PLAIN_UPSERT = (
    "INSERT INTO candles (venue, symbol, timeframe, ts, open, high, low, close, volume) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (venue, symbol, timeframe, ts) DO UPDATE SET "
    "open=excluded.open, high=excluded.high, low=excluded.low, close=excluded.close, "
    "volume=excluded.volume"
)


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


class Files:
    """A fresh file of the store's schema for every run, in one directory."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.n = 0

    def fresh(self, name: str) -> Path:
        self.n += 1
        path = self.folder / f"{name}{self.n}.db"
        Store(path).close()
        return path


def ingest_store(path: Path, frames: list[pl.DataFrame]) -> Path:
    with Store(path) as store:
        for i, f in enumerate(frames):
            store.candles.upsert(f, f"SYM{i}", "1m", VENUE)
    return path


def ingest_plain(path: Path, frames: list[pl.DataFrame]) -> Path:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for i, f in enumerate(frames):
        conn.execute("BEGIN IMMEDIATE")
        columns = (f[c].to_list() for c in OHLCV_SCHEMA)
        conn.executemany(
            PLAIN_UPSERT, zip(repeat(VENUE), repeat(f"SYM{i}"), repeat("1m"), *columns)
        )
        conn.execute("COMMIT")
    conn.close()
    return path


def same_tables(a: Path, b: Path, rows: int) -> None:
    """Raise unless the candles of the two files are equal in full (every row, every column:
    each row of one found by its key in the other with the same values, and the same counts),
    then delete both files."""
    conn = sqlite3.connect(a)
    try:
        conn.execute("ATTACH DATABASE ? AS b", (str(b),))
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM main.candles), (SELECT count(*) FROM b.candles),"
            " (SELECT count(*) FROM main.candles AS x JOIN b.candles AS y"
            " USING (venue, symbol, timeframe, ts) WHERE x.open IS y.open AND x.high IS y.high"
            " AND x.low IS y.low AND x.close IS y.close AND x.volume IS y.volume)"
        ).fetchone()
    finally:
        conn.close()
    if counts != (rows, rows, rows):
        raise AssertionError(f"tables differ: rows {counts[:2]}, {counts[2]} equal")
    for path in (a, b):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def same_contents(a: Path, b: Path) -> None:
    same_tables(a, b, ROWS)


def rate(t: Timings) -> tuple[float, float]:
    return ROWS / t.a_median, ROWS / t.b_median


def main() -> None:
    quick = "--quick" in sys.argv
    runs = 1 if quick else RUNS
    print(f"cores: {os.cpu_count()}  rows: {ROWS:,} over {SYMBOLS} symbols, {runs} runs each")
    per = ROWS // SYMBOLS
    frames = [frame(per, i) for i in range(SYMBOLS)]
    with tempfile.TemporaryDirectory() as tmp:
        files = Files(Path(tmp))
        t = interleave(
            lambda: ingest_store(files.fresh("a"), frames),
            lambda: ingest_plain(files.fresh("b"), frames),
            runs,
            warmup=0,
            check=same_contents,
        )
        a_rate, b_rate = rate(t)
        print(f"ingest, store.candles.upsert:   {a_rate:,.0f} rows/s (median of {runs})")
        print(f"ingest, plain executemany:      {b_rate:,.0f} rows/s (median of {runs})")
        print(
            f"  runs: store {', '.join(f'{x:.2f}' for x in t.a)} s;"
            f" plain {', '.join(f'{x:.2f}' for x in t.b)} s"
        )
        print("  tables read back and compared in full after every round: equal")

        with Store(ingest_store(files.fresh("r"), frames)) as store:
            again = repeat_runs(lambda: store.candles.upsert(frames[0], "SYM0", "1m", VENUE), 3)
            print(f"re-ingest of {per:,} stored rows: {per / np.median(again):,.0f} rows/s")
            # a second venue, so finding the venue is not trivially "the only one"
            store.candles.upsert(frames[1].head(1000), "OTHER", "1m", "elsewhere")

            def read(venue: str | None) -> list[float]:
                out = []
                for i in range(READS):
                    t0 = time.perf_counter()
                    store.candles.last(f"SYM{i % SYMBOLS}", "1m", 1000, venue)
                    out.append(time.perf_counter() - t0)
                return out

            read(None)
            plain, named = [], []
            for _ in range(3):  # interleaved: no venue, venue, no venue, ...
                plain += read(None)
                named += read(VENUE)
            bars = store.candles.last("SYM3", "1m", 1000)
            assert bars.equals(frames[3].tail(1000)), "last() returned other bars"
            assert bars.equals(store.candles.last("SYM3", "1m", 1000, VENUE))
        ms = [x * 1e3 for x in plain]
        ms_named = [x * 1e3 for x in named]
        print(
            f"candles.last(sym, '1m', 1000) on {ROWS:,} rows, no venue (what callers do):"
            f" median {percentile(ms, 50):.2f} ms, p99 {percentile(ms, 99):.2f} ms"
            f"  ({len(ms)} reads)"
        )
        print(
            f"  the same with the venue named: median {percentile(ms_named, 50):.2f} ms,"
            f" p99 {percentile(ms_named, 99):.2f} ms"
        )

    verdict("candle ingest", f"{a_rate:,.0f} rows/s", ">= 200,000 rows/s", a_rate >= 200_000)
    ratio_verdict("ingest time vs plain executemany", t, at_most=1.0, unit="s")
    verdict(
        "last 1,000 bars, no venue (median)",
        f"{percentile(ms, 50):.2f} ms (p99 {percentile(ms, 99):.2f} ms)",
        "< 5 ms",
        percentile(ms, 50) < 5,
    )


if __name__ == "__main__":
    main()
