"""Replay pacing: how closely ``ReplayFeed`` keeps the file's own time at a speed multiplier,
and how fast it plays at maximum speed.

Paced runs (1x, 10x, 100x): a file of 1-second bars; the figure is the wall time the stream took
against the reference, the file's span divided by the speed (the schedule it must keep), as a
ratio (1.00 = on time; the first bar plays at once, so the span is that of the bars after it).
Maximum speed (speed=0): quotes+bars per second against the reference, iterating the same
frame's rows and building the same Tick and Bar values directly (no feed, no event loop yields),
same data, same number of runs, interleaved A B A B. Every run's events are checked equal to
the reference's.

Run: .venv/bin/python benchmarks/replay_pacing.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

import numpy as np
import polars as pl
from harness import verdict

from engine.model import Bar, Tick
from engine.timeframes import OHLCV_SCHEMA
from feeds.replay import ReplayFeed

SECOND = 1_000_000_000
PACE_TOLERANCE = 0.02  # wall time within 2% of the schedule
MAX_SPEED_AT_LEAST = 0.5  # the feed's own overhead at most doubles the cost of the events
T0 = 1_704_067_200 * SECOND


def bars(n: int, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    return pl.DataFrame(
        {
            "ts": T0 + SECOND * np.arange(n, dtype=np.int64),
            "open": open_,
            "high": np.maximum(open_, close) * 1.001,
            "low": np.minimum(open_, close) * 0.999,
            "close": close,
            "volume": rng.uniform(1, 10, n),
        },
        schema=OHLCV_SCHEMA,
    )


def reference(frame: pl.DataFrame) -> list[Any]:
    out: list[Any] = []
    for ts, o, h, lo, c, v in frame.iter_rows():
        out.append(Tick(ts, "X", c, c, c, v))
        out.append(Bar(ts, "X", "1s", o, h, lo, c, v))
    return out


async def play(frame: pl.DataFrame, speed: float) -> tuple[list[Any], float]:
    feed = ReplayFeed(frame=frame, symbol="X", timeframe="1s", speed=speed, warmup=0)
    start = time.perf_counter()
    events = [e async for e in feed.stream(["X"])]
    return events, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer bars and runs")
    args = parser.parse_args()
    runs = 3 if args.quick else 5
    print(f"cores: {os.cpu_count()}  runs: {runs}")

    for speed, n in ((1.0, 4), (10.0, 21), (100.0, 201)):
        frame = bars(n)
        expected = reference(frame)
        schedule = (n - 1) / speed
        ratios = []
        for _ in range(runs):
            events, elapsed = asyncio.run(play(frame, speed))
            assert events == expected
            ratios.append(elapsed / schedule)
        med = statistics.median(ratios)
        print(
            f"replay {speed:g}x, {n} bars ({schedule:.2f} s of file time / speed):"
            f" wall/schedule median {med:.3f}, max {max(ratios):.3f}  (1.000 = on time)"
        )
        verdict(
            f"replay {speed:g}x keeps the file's time",
            f"wall/schedule {med:.3f} (median of {runs})",
            f"{1 - PACE_TOLERANCE:.2f}..{1 + PACE_TOLERANCE:.2f}",
            abs(med - 1) <= PACE_TOLERANCE,
        )

    n = 20_000 if args.quick else 100_000
    frame = bars(n)
    expected = reference(frame)
    feed_rates, ref_rates = [], []
    for i in range(2 * runs):  # A B B A A B ...: neither side always runs first
        if (i % 2 == 0) == (i // 2 % 2 == 0):
            events, elapsed = asyncio.run(play(frame, 0))
            assert events == expected
            feed_rates.append(len(events) / elapsed)
        else:
            start = time.perf_counter()
            ref = reference(frame)
            ref_rates.append(len(ref) / (time.perf_counter() - start))
            assert ref == expected
    feed_rate, ref_rate = statistics.median(feed_rates), statistics.median(ref_rates)
    print(f"replay max speed, {n:,} bars: {feed_rate:,.0f} events/s (median of {runs})")
    print(f"reference (the same Ticks and Bars built from the rows): {ref_rate:,.0f} events/s")
    print(f"  ratio replay / reference: {feed_rate / ref_rate:.2f}x")
    verdict(
        "replay at maximum speed against building the events alone",
        f"{feed_rate / ref_rate:.2f}x the reference's events/s",
        f">= {MAX_SPEED_AT_LEAST:g}x",
        feed_rate / ref_rate >= MAX_SPEED_AT_LEAST,
    )


if __name__ == "__main__":
    main()
