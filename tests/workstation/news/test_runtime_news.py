"""The runtime polls the news in the background: the demo feed's news with the demo feed only."""

from __future__ import annotations

import asyncio
from pathlib import Path

from feeds.demo import DemoFeed
from tests.workstation.news.test_poller import until
from workstation.news.sources import build_sources
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.trader.events import Logged, NewsArrived, RuntimeEvent
from workstation.trader.runtime import Runtime


async def _run(store: Store, tmp_path: Path, env: dict[str, str], wait: bool) -> list[RuntimeEvent]:
    settings = Settings.load(tmp_path / "none.toml", environ=env)
    runtime = Runtime(
        DemoFeed(tick_interval_s=0.05),
        store,
        settings,
        ["WTI"],
        "1m",
        signals=False,
        telegram=False,
    )
    events: list[RuntimeEvent] = []
    runtime.listeners.append(events.append)
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.run(stop))
    try:
        await until(lambda: runtime.ready.is_set())
        if wait:
            await until(lambda: any(isinstance(e, NewsArrived) for e in events), 60)
            assert runtime.news is not None
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    return events


async def test_the_demo_feed_polls_the_demo_news_and_tells_each_item_once(
    store: Store, tmp_path: Path
) -> None:
    events = await _run(store, tmp_path, {"QWS__NEWS__INTERVAL_S": "0.2"}, wait=True)
    told = [i for e in events if isinstance(e, NewsArrived) for i in e.items]
    assert told and len({(i.key, i.id) for i in told}) == len(told)
    assert store.news.count() == len(told)
    assert all(i.key == "demo" and i.score is not None and i.symbols for i in told)
    assert not [e for e in events if isinstance(e, Logged) and e.severity == "error"]


async def test_no_polling_when_news_poll_is_off(store: Store, tmp_path: Path) -> None:
    events = await _run(store, tmp_path, {"QWS__NEWS__POLL": "false"}, wait=False)
    assert not any(isinstance(e, NewsArrived) for e in events)
    assert store.news.count() == 0


def test_demo_news_never_beside_a_real_market(tmp_path: Path) -> None:
    settings = Settings.load(
        tmp_path / "none.toml", environ={"QWS__NEWS__SOURCES": '["demo", "rss"]'}
    )
    sources, problems = build_sources(settings, demo_feed=False)
    assert sources == []
    assert problems == ["news source demo left out: the feed is not the demo feed"]
    sources, problems = build_sources(settings, demo_feed=True)
    assert [s.name for s in sources] == ["demo"] and problems == []
