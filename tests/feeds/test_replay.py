"""The replay feed plays a file's bars in order, each as a quote then its closed bar. How close
its pacing keeps to the file's time at a speed multiplier is measured, not asserted:
``benchmarks/replay_pacing.py`` prints the figures."""

from __future__ import annotations

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


@pytest.mark.parametrize("speed,bars", [(20.0, 3), (0, 5000)])
async def test_replay_plays_every_bar_in_order_as_a_quote_then_the_bar(
    speed: float, bars: int
) -> None:
    feed = _feed(bars, speed)
    events = [e async for e in feed.stream(["X"])]
    assert len(events) == 2 * bars
    ticks, closed = events[0::2], events[1::2]
    assert all(isinstance(t, Tick) for t in ticks) and all(isinstance(b, Bar) for b in closed)
    assert [b.ts_ns for b in closed] == feed.frame["ts"].to_list()
    assert all(t.ts_ns == b.ts_ns and t.last == b.close for t, b in zip(ticks, closed, strict=True))


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
