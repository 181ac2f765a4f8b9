"""``qws scan --feed db`` as the command line runs it: ``workstation.cli.main`` in process, on a
real SQLite file in a temp dir holding SIZES[i] symbols x 1,000 1h bars (the store read, the
encoding, QPE on Aer, indicators, the ensemble, the signals stored), at four sizes.

Targets:
- 100 symbols in under 1 s (DESIGN.md: "100 symbols x 256-bar windows ... well under 1 s";
  here with the store read and the signals stored too);
- linear growth: seconds per symbol at 1,000 symbols within 1.3x of that at 250 (before the
  store found a symbol's venue along its key, it read the whole table per symbol);
- a scan without ``--venue`` costs what one with it does: within 1.2x, interleaved, at 1,000.
Each run's JSON output is parsed and checked: every symbol has a signal, and the runs with and
without ``--venue`` print the same records.

The window is the scan's own: ``scan.bars`` bars read per symbol (default 256), of which the
QPE sees the last ``signals.cycle_window`` log-returns (default 64).
Run: .venv/bin/python benchmarks/scan.py
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
from harness import interleave, ratio_verdict, verdict

SIZES = (100, 250, 500, 1000)
BARS_STORED = 1000
RUNS = 3
VENUE = "bench"
HOUR_NS = 3_600 * 10**9
END_NS = 1_790_000_000 * 10**9


def bars(n: int, seed: int) -> pl.DataFrame:
    from engine.timeframes import OHLCV_SCHEMA

    rng = np.random.default_rng(seed)
    t = np.arange(n)
    period = rng.uniform(12, 40)
    drift = 0.004 * np.sin(2 * np.pi * t / period) + rng.normal(0, 0.006, n)
    close = 100 * np.exp(np.cumsum(drift))
    spread = close * rng.uniform(0.001, 0.01, n)
    return pl.DataFrame(
        {
            "ts": END_NS - HOUR_NS * (n - t),
            "open": np.roll(close, 1),
            "high": close + spread,
            "low": close - spread,
            "close": close,
            "volume": rng.uniform(1, 100, n),
        },
        schema=OHLCV_SCHEMA,
    ).with_columns(
        pl.max_horizontal("open", "close", "high").alias("high"),
        pl.min_horizontal("open", "close", "low").alias("low"),
    )


def fill(db: Path, start: int, stop: int) -> None:
    from workstation.store import Store

    with Store(db) as store:
        for i in range(start, stop):
            store.candles.upsert(bars(BARS_STORED, i), f"S{i:04d}", "1h", VENUE)


def scan(db: Path, venue: str | None) -> list[dict[str, object]]:
    from workstation.cli import main

    argv = ["--db", str(db), "scan", "--feed", "db", "--json"]
    if venue is not None:
        argv += ["--venue", venue]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    records = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    failed = [r for r in records if "error" in r]
    if code != 0 or failed:
        raise AssertionError(f"scan exit {code}; {len(failed)} symbols failed: {failed[:3]}")
    return records


def per_symbol(seconds: float, symbols: int) -> str:
    return f"{seconds / symbols * 1e3:.2f} ms/symbol"


def main() -> None:
    runs = 1 if "--quick" in sys.argv else RUNS
    with tempfile.TemporaryDirectory(prefix="qws-scan-") as tmp:
        home = Path(tmp)
        os.environ.update(
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_DATA_HOME=str(home / "data"),
            PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        )
        os.environ.pop("QWS_CONFIG", None)
        from engine.signals.ensemble import EnsembleSettings
        from workstation.runtime.config import Settings
        from workstation.store import Store

        settings = Settings.load()
        window = int(settings.get("scan.bars", 256))
        qpe_window = EnsembleSettings.from_mapping(settings.section("signals")).cycle_window
        print(
            f"cores: {os.cpu_count()}  {BARS_STORED:,} 1h bars stored per symbol; scan window"
            f" {window} bars, QPE window {qpe_window} log-returns; {runs} runs a size"
        )
        db = home / "scan.db"
        t0 = time.perf_counter()
        # a second venue with another timeframe: finding a symbol's venue has something to skip
        with Store(db) as store:
            for i in range(10):
                store.candles.upsert(bars(BARS_STORED, 10_000 + i), f"S{i:04d}", "4h", "other")
        fill(db, 0, 10)
        scan(db, None)  # warm-up: numba, qiskit, the QPE template
        print(f"  set-up and warm-up scan: {time.perf_counter() - t0:.1f} s")

        stored = 10
        seconds: dict[int, float] = {}
        for size in SIZES:
            t0 = time.perf_counter()
            fill(db, stored, size)
            stored = size
            built = time.perf_counter() - t0
            if size != SIZES[-1]:
                times = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    records = scan(db, None)
                    times.append(time.perf_counter() - t0)
                assert len(records) == size
                seconds[size] = statistics.median(times)
                print(
                    f"{size:>5} symbols ({size * BARS_STORED:,} rows, +{built:.1f} s to store):"
                    f" scan {seconds[size]:.2f} s = {per_symbol(seconds[size], size)}"
                )
                continue
            t = interleave(
                lambda: scan(db, None), lambda: scan(db, VENUE), runs, warmup=0
            )  # every round: the same records with and without --venue
            seconds[size] = t.a_median
            print(
                f"{size:>5} symbols ({size * BARS_STORED:,} rows, +{built:.1f} s to store):"
                f" scan {t.a_median:.2f} s = {per_symbol(t.a_median, size)};"
                f" with --venue {t.b_median:.2f} s = {per_symbol(t.b_median, size)}"
            )
            print(
                f"  runs without --venue {', '.join(f'{x:.2f}' for x in t.a)} s;"
                f" with {', '.join(f'{x:.2f}' for x in t.b)} s"
            )

    verdict(
        f"scan --feed db, {SIZES[0]} symbols",
        f"{seconds[SIZES[0]]:.2f} s",
        "< 1 s",
        seconds[SIZES[0]] < 1.0,
    )
    small, large = 250, SIZES[-1]
    growth = (seconds[large] / large) / (seconds[small] / small)
    verdict(
        f"scan --feed db per symbol, {large} vs {small} symbols",
        f"{per_symbol(seconds[large], large)} vs {per_symbol(seconds[small], small)}"
        f" = {growth:.2f}x",
        "<= 1.3x (linear)",
        growth <= 1.3,
    )
    ratio_verdict(
        f"scan --feed db without vs with --venue, {large} symbols", t, at_most=1.2, unit="s"
    )


if __name__ == "__main__":
    main()
