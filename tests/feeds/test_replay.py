from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.model import Bar, Tick
from feeds.replay import ReplayFeed
from tests.helpers import random_bars, write_csv


def _feed(n: int, speed: float, warmup: int = 0) -> ReplayFeed:
    return ReplayFeed(
        frame=random_bars(n, step_ns=1_000_000_000),
        symbol="X",
        timeframe="1s",
        speed=speed,
        warmup=warmup,
    )


async def _play(feed: ReplayFeed) -> tuple[list[object], float]:
    start = time.perf_counter()
    events = [e async for e in feed.stream(["X"])]
    return events, time.perf_counter() - start


@pytest.mark.parametrize("speed,bars,expected", [(1.0, 3, 2.0), (10.0, 11, 1.0)])
async def test_replay_keeps_the_file_time_at_the_speed_multiplier(
    speed: float, bars: int, expected: float
) -> None:
    events, elapsed = await _play(_feed(bars, speed))
    assert len([e for e in events if isinstance(e, Bar)]) == bars
    assert expected <= elapsed < expected + 0.5


async def test_max_speed_does_not_wait() -> None:
    events, elapsed = await _play(_feed(5000, 0))
    assert len(events) == 10_000 and elapsed < 2.0
    tick, bar = events[0], events[1]
    assert isinstance(tick, Tick) and isinstance(bar, Bar) and tick.last == bar.close


async def test_history_is_the_warmup_and_the_stream_is_the_rest(tmp_path: Path) -> None:
    feed = ReplayFeed(
        write_csv(tmp_path / "x.csv", 100), symbol="X", timeframe="1h", speed=0, warmup=60
    )
    history = await feed.history("X", "1h")
    assert history.height == 60
    daily = await feed.history("X", "1d")
    assert daily.height == 3
    bars = [e async for e in feed.stream(["X"]) if isinstance(e, Bar)]
    assert len(bars) == 40 and bars[0].ts_ns > history["ts"][-1]
    with pytest.raises(ValueError, match="cannot serve 1m"):
        await feed.history("X", "1m")
    with pytest.raises(KeyError, match="plays 'X'"):
        await feed.history("Y", "1h")
