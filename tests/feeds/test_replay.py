"""The replay feed plays a file's bars in order, each as a quote then its closed bar. How close
its pacing keeps to the file's time at a speed multiplier is measured, not asserted:
``benchmarks/replay_pacing.py`` prints the figures."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import backtesting
import polars as pl
import pytest

from engine.model import Bar, Tick
from feeds.replay import ReplayFeed, wall_time
from tests.helpers import random_bars, write_csv


def _feed(n: int, speed: float, warmup: int = 0) -> ReplayFeed:
    return ReplayFeed(
        frame=random_bars(n, step_ns=1_000_000_000),
        symbol="X",
        timeframe="1s",
        speed=speed,
        warmup=warmup,
    )


@pytest.mark.parametrize("speed,bars", [(20.0, 3), (0, 5000)])
async def test_replay_plays_every_bar_in_order_as_a_quote_then_the_bar(
    speed: float, bars: int
) -> None:
    feed = _feed(bars, speed)
    events = [e async for e in feed.stream(["X"])]
    assert len(events) == 2 * bars
    ticks = [t for t in events[0::2] if isinstance(t, Tick)]
    closed = [b for b in events[1::2] if isinstance(b, Bar)]
    assert len(ticks) == len(closed) == bars
    assert [b.ts_ns for b in closed] == feed.frame["ts"].to_list()
    assert all(t.ts_ns == b.ts_ns and t.last == b.close for t, b in zip(ticks, closed, strict=True))


async def test_history_is_the_warmup_and_the_stream_is_the_rest(tmp_path: Path) -> None:
    feed = ReplayFeed(
        write_csv(tmp_path / "x.csv", 100), symbol="X", timeframe="1h", speed=0, warmup=60
    )
    history = await feed.history("X", "1h")
    assert history.height == 60
    daily = await feed.history("X", "1d")
    assert daily.height == 2  # 60 hours from midnight: two whole days, the third still forming
    bars = [e async for e in feed.stream(["X"]) if isinstance(e, Bar)]
    assert len(bars) == 40 and bars[0].ts_ns > history["ts"][-1]
    with pytest.raises(ValueError, match="cannot serve 1m"):
        await feed.history("X", "1m")
    with pytest.raises(KeyError, match="plays 'X'"):
        await feed.history("Y", "1h")


EURUSD = Path(backtesting.__file__).parent / "test" / "EURUSD.csv"
"""A real hourly file (backtesting.py's EURUSD sample: 5,000 bars, 2017-04-19 to 2018-02-07)."""


def test_the_summary_says_what_the_speed_means_in_wall_time() -> None:
    paced = ReplayFeed(EURUSD, timeframe="1h", speed=10)
    assert paced.summary() == (
        "replay EURUSD.csv at 10x: one 1h bar every 6 min; 4,000 bars after 1,000 warm-up bars"
        " (2017-06-16 01:00 to 2018-02-07 15:00 UTC); --speed 0 for as fast as possible"
    )
    fast = ReplayFeed(EURUSD, timeframe="1h", speed=0)
    assert fast.summary().startswith("replay EURUSD.csv as fast as possible: 4,000 bars")
    real_time = ReplayFeed(EURUSD, timeframe="1h", speed=1, warmup=10)
    assert "at 1x: one 1h bar every 1 h; 4,990 bars after 10 warm-up bars" in real_time.summary()


def test_the_summary_names_a_timeframe_other_than_the_files_spacing() -> None:
    feed = ReplayFeed(EURUSD, timeframe="1m", speed=60)
    text = feed.summary()
    assert "one 1h bar every 1 min" in text
    assert "the file's bars are 1h apart but they are replayed as 1m bars" in text
    assert text.endswith("pass --timeframe 1h)")


async def test_progress_counts_the_bars_played_and_their_time() -> None:
    feed = ReplayFeed(EURUSD, timeframe="1h", speed=0, warmup=1000)
    start = feed.progress()
    assert (start.bar, start.bars, start.ts_ns) == (0, 4000, feed.frame["ts"][999])
    assert start.describe() == "bar 0 of 4,000 · 2017-06-16 00:00"
    played = 0
    async for event in feed.stream(["EURUSD"]):
        if isinstance(event, Bar):
            played += 1
            if played == 25:
                break
    now = feed.progress()
    assert (now.bar, now.ts_ns, now.next_in_s) == (25, feed.frame["ts"][1024], None)
    assert now.describe() == "bar 25 of 4,000 · 2017-06-19 01:00"


async def test_progress_says_when_the_next_bar_comes_while_it_waits() -> None:
    feed = ReplayFeed(EURUSD, timeframe="1h", speed=0.001, warmup=1000)
    stream = feed.stream(["EURUSD"])
    assert isinstance(await anext(stream), Tick)
    assert isinstance(await anext(stream), Bar)
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    try:
        progress = feed.progress()
        assert progress.bar == 1 and progress.next_in_s is not None
        assert 3_000_000 < progress.next_in_s <= 3_600_000  # one hour of file time at 0.001x
        assert progress.describe() == "bar 1 of 4,000 · 2017-06-16 01:00 · next in 41.7 days"
    finally:
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
    assert feed.progress().next_in_s is None


async def test_history_includes_the_bars_played_so_far() -> None:
    feed = ReplayFeed(EURUSD, timeframe="1h", speed=0, warmup=1000)
    assert (await feed.history("EURUSD", "1h")).height == 1000
    bars = 0
    async for event in feed.stream(["EURUSD"]):
        bars += isinstance(event, Bar)
        if bars == 300:
            break
    history = await feed.history("EURUSD", "1h")
    assert history.equals(feed.frame.head(1300))
    assert (await feed.history("EURUSD", "1h", limit=600))["ts"][-1] == feed.frame["ts"][1299]


async def test_coarser_history_serves_closed_bars_only_as_a_live_feed_does() -> None:
    """The day the replay is inside is still forming: its daily bar is not served, so the last
    daily close is the previous day's (what the watchlist's change % is measured from)."""
    feed = ReplayFeed(EURUSD, timeframe="1h", speed=0, warmup=1001)
    last = int(feed.frame["ts"][1000])  # 2017-06-16 01:00, the second bar of its day
    daily = await feed.history("EURUSD", "1d")
    day = 86_400 * 10**9
    assert int(daily["ts"][-1]) == last // day * day - day
    hourly = feed.frame.head(1001)
    yesterday = hourly.filter(pl.col("ts") < last // day * day)
    assert daily["close"][-1] == yesterday["close"][-1]
    assert daily["high"][-1] == yesterday.filter(pl.col("ts") >= daily["ts"][-1])["high"].max()
    four_hourly = await feed.history("EURUSD", "4h")
    assert int(four_hourly["ts"][-1]) + 4 * 3_600 * 10**9 <= last + 3_600 * 10**9
    hour = 3_600 * 10**9
    eleven = next(i for i in range(1001, 1100) if int(feed.frame["ts"][i]) % day == 23 * hour)
    whole_day = ReplayFeed(EURUSD, timeframe="1h", speed=0, warmup=eleven + 1)
    closed = await whole_day.history("EURUSD", "1d")  # its last bar ends its day: served
    assert int(closed["ts"][-1]) == int(feed.frame["ts"][eleven]) // day * day
    assert closed["close"][-1] == feed.frame["close"][eleven]


def test_a_file_of_bars_has_no_depth() -> None:
    assert ReplayFeed(EURUSD, timeframe="1h").depth is False


def test_a_replay_without_a_timeframe_plays_at_its_file_s_spacing() -> None:
    hourly = ReplayFeed(frame=random_bars(50, step_ns=3_600 * 10**9), symbol="X")
    assert hourly.timeframe == "1h"
    assert "one 1h bar every 6 min" in hourly.summary()
    daily = ReplayFeed(frame=random_bars(50, step_ns=86_400 * 10**9), symbol="X", speed=1)
    assert daily.timeframe == "1d" and "(the file's bars" not in daily.summary()
    odd = ReplayFeed(frame=random_bars(50, step_ns=90 * 10**9), symbol="X")
    assert odd.timeframe == "90s"
    said = ReplayFeed(frame=random_bars(50, step_ns=3_600 * 10**9), symbol="X", timeframe="1m")
    assert said.timeframe == "1m" and "pass --timeframe 1h" in said.summary()


@pytest.mark.parametrize(
    "seconds,text", [(0.36, "0.36 s"), (360, "6 min"), (8_640, "2.4 h"), (3_600_000, "41.7 days")]
)
def test_wall_time(seconds: float, text: str) -> None:
    assert wall_time(seconds) == text
