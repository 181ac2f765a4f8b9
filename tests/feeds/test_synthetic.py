"""The load generator: never more quotes than its rate allows, spread over every symbol. How
closely it keeps the rate on a given machine is a benchmark's figure (benchmarks/tui.py)."""

from __future__ import annotations

from feeds.synthetic import SyntheticFeed


async def test_it_spreads_its_rate_over_all_symbols_and_ends_after_its_duration() -> None:
    feed = SyntheticFeed(symbols=5, rate=1000, duration_s=1.0)
    assert feed.finite  # a stream that ends by design: the runtime does not restart it
    ticks = [t async for t in feed.stream(feed.symbols())]
    assert 0 < len(ticks) <= 1000 and len(ticks) == feed.sent
    assert {t.symbol for t in ticks} == set(feed.symbols())
    assert all(t.bid < t.ask for t in ticks)
    history = await feed.history("SYM00", "1m", limit=50)
    assert history.height == 50 and (history["high"] >= history["low"]).all()
