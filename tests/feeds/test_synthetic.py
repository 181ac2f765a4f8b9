from __future__ import annotations

import time

from feeds.synthetic import SyntheticFeed


async def test_it_keeps_the_rate_over_all_symbols() -> None:
    feed = SyntheticFeed(symbols=5, rate=1000, duration_s=0.5)
    start = time.perf_counter()
    ticks = [t async for t in feed.stream(feed.symbols())]
    elapsed = time.perf_counter() - start
    assert 400 <= len(ticks) <= 520 and elapsed < 1.0
    assert {t.symbol for t in ticks} == set(feed.symbols())
    assert all(t.bid < t.ask for t in ticks)
    history = await feed.history("SYM00", "1m", limit=50)
    assert history.height == 50 and (history["high"] >= history["low"]).all()
