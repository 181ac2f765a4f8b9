"""The demo market's news: deterministic, a few items an hour, never from the future."""

from __future__ import annotations

from feeds.news.demo import HEADLINES, HOUR_NS, DemoNewsSource

NOW = 480_000 * HOUR_NS + HOUR_NS // 2  # half past an hour


async def test_a_poll_is_the_backlog_up_to_now_oldest_first() -> None:
    source = DemoNewsSource(seed=7, per_hour=3, backlog_h=24, clock=lambda: NOW)
    items = await source.fetch()
    assert all(i.ts_ns <= NOW for i in items)
    assert [i.ts_ns for i in items] == sorted(i.ts_ns for i in items)
    assert 24 * 3 <= len(items) <= 25 * 3
    assert all(i.key == "demo" and i.source == "Demo Wire" for i in items)
    assert all(len(i.symbols) == 1 and i.symbols[0] in HEADLINES for i in items)
    assert len({i.id for i in items}) == len(items)


async def test_the_same_seed_and_clock_give_the_same_items_and_later_polls_add_to_them() -> None:
    now = [NOW]
    a = DemoNewsSource(seed=7, clock=lambda: now[0])
    b = DemoNewsSource(seed=7, clock=lambda: NOW)
    first = await a.fetch()
    assert first == await b.fetch()
    assert first != await DemoNewsSource(seed=8, clock=lambda: NOW).fetch()
    now[0] = NOW + 2 * HOUR_NS
    later = await a.fetch()
    old = {i.id for i in first}
    assert {i.id for i in later if i.ts_ns <= NOW} <= old  # the same items, none rewritten
    assert any(i.id not in old for i in later)


async def test_only_the_symbols_asked_for_and_energy_among_them() -> None:
    source = DemoNewsSource(symbols=["WTI", "NATGAS", "NOPE"], backlog_h=200, clock=lambda: NOW)
    items = await source.fetch()
    assert {i.symbols[0] for i in items} == {"WTI", "NATGAS"}
    headlines = {i.headline for i in items}
    assert "OPEC+ agrees deeper output cuts" in headlines
    assert any(h.startswith("Henry Hub gas slides as mild weather") for h in headlines)
    assert await DemoNewsSource(symbols=["NOPE"], clock=lambda: NOW).fetch() == []
