"""The news poller against real feeds on 127.0.0.1 and a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from engine.model import Alert, NewsItem
from feeds.news.rss import RssSource
from tests.feeds.news.server import feed_server, fixture, stalled, static
from tests.workstation.news.feeds import LiveFeed
from workstation.news.poller import NewsPoller
from workstation.runtime.config import Settings
from workstation.store import Store

S = 1_000_000_000
H = 3600 * S
T0 = 1_741_000_000 * S  # 2025-03-03


def settings(tmp_path: Path, **env: str) -> Settings:
    values = {f"QWS__{k.upper().replace('.', '__')}": v for k, v in env.items()}
    return Settings.load(tmp_path / "none.toml", environ=values)


async def until(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_items_are_scored_resolved_and_stored_once_across_polls(
    store: Store, tmp_path: Path
) -> None:
    with feed_server({"/energy": static(fixture("energy.rss"))}) as srv:
        poller = NewsPoller(store, settings(tmp_path), [RssSource(f"{srv.url}/energy")])
        [first] = await poller.poll_all()
        [second] = await poller.poll_all()
        await poller.close()
    assert (len(first.new), first.seen, first.error) == (3, 0, "")
    assert (len(second.new), second.seen) == (0, 3)
    assert store.news.count() == 3
    by_id = {i.id: i for i in store.news.recent()}
    opec = by_id["energy-desk-1001"]
    assert opec.symbols == ("WTI", "BRENT")  # the tag "Crude Oil", and "OPEC" in its text
    assert opec.score is not None and opec.score < 0  # "... as prices slump"
    assert by_id["energy-desk-1002"].symbols == ("NATGAS",)
    assert by_id["https://energy.example/2025/03/03/brent-asia"].symbols == ("BRENT",)
    state = store.news.source(f"{srv.url}/energy")
    assert state is not None and (state.polls, state.items, state.failures) == (2, 3, 0)


async def test_validators_kept_in_the_store_make_a_new_process_polite(
    store: Store, tmp_path: Path
) -> None:
    live = LiveFeed([("a", T0, "Crude rises in quiet trade")])
    with feed_server({"/live": live}) as srv:
        for _ in range(2):  # two processes, one after the other
            poller = NewsPoller(store, settings(tmp_path), [RssSource(f"{srv.url}/live")])
            await poller.poll_all()
            await poller.close()
        first, second = srv.hits("/live")
    assert "if-none-match" not in first and second["if-none-match"] == '"1"'
    assert store.news.source(f"{srv.url}/live").etag == '"1"'  # type: ignore[union-attr]


async def test_bad_feeds_are_counted_and_reported_and_never_stop_the_good_ones(
    store: Store, tmp_path: Path
) -> None:
    routes = {
        "/good": static(fixture("energy.rss")),
        "/down": static(b"oops", 500, "text/plain"),
        "/junk": static(fixture("truncated.xml")),
        "/broken": static(fixture("malformed.rss")),
    }
    with feed_server(routes) as srv:
        sources = [RssSource(f"{srv.url}{p}") for p in routes]
        logs: list[tuple[str, str]] = []
        poller = NewsPoller(
            store, settings(tmp_path), sources, on_log=lambda t, s: logs.append((t, s))
        )
        results = {r.key.removeprefix(srv.url): r for r in await poller.poll_all()}
        await poller.poll_all()
        await poller.close()
    assert len(results["/good"].new) == 3 and len(results["/broken"].new) == 2
    assert results["/down"].error == f"HTTP 500 Internal Server Error from {srv.url}/down"
    assert results["/junk"].error.startswith("not an RSS/Atom feed")
    assert "malformed feed" in results["/broken"].warning
    states = {s.key.removeprefix(srv.url): s for s in store.news.sources()}
    assert {k: (s.polls, s.failures) for k, s in states.items()} == {
        "/good": (2, 0),
        "/down": (2, 2),
        "/junk": (2, 2),
        "/broken": (2, 0),
    }
    assert states["/down"].last_error.startswith("HTTP 500") and states["/good"].ok
    # each failing source logged once, not at every poll; the repair once too
    failing = [t for t, _ in logs if "failing" in t]
    assert sorted(t.split()[1].removeprefix(srv.url) for t in failing) == ["/down", "/junk"]
    assert len([t for t, _ in logs if "malformed" in t]) == 1
    assert store.news.count() == 5


async def test_the_background_loop_tells_each_new_item_once_and_a_dead_source_delays_none(
    store: Store, tmp_path: Path
) -> None:
    live = LiveFeed([("a", T0, "Crude rises in quiet trade")])
    with feed_server({"/live": live, "/slow": stalled()}) as srv:
        told: list[NewsItem] = []
        poller = NewsPoller(
            store,
            settings(tmp_path, **{"news.interval_s": "0.05"}),
            [RssSource(f"{srv.url}/live"), RssSource(f"{srv.url}/slow", timeout_s=30)],
            on_items=told.extend,
        )
        task = asyncio.create_task(poller.run())
        try:
            await until(lambda: len(srv.hits("/live")) >= 3)
            live.items.append(("b", T0 + S, "Crude falls in quiet trade"))
            await until(lambda: len(told) == 2)
            n = len(srv.hits("/live"))
            await until(lambda: len(srv.hits("/live")) >= n + 3)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert [i.id for i in told] == ["a", "b"]
    assert len(srv.hits("/slow")) == 1  # still waiting on its first answer all along
    assert store.news.count() == 2


async def _swing_alerts(
    store: Store,
    tmp_path: Path,
    backlog: list[tuple[str, int, str]],
    fresh: list[list[tuple[str, int, str]]],
) -> list[Alert]:
    """Alerts of a poller whose clock stands at T0: ``backlog`` is there at the first poll,
    each list of ``fresh`` items is added before the next one (clock moved past them)."""
    now = [T0]
    live = LiveFeed(list(backlog))
    alerts: list[Alert] = []
    env = {
        "news.swing_threshold": "0.5",
        "news.swing_window_s": "3600",
        "signals.sentiment_half_life_s": "1800",
        "watchlist.default": '["WTI"]',
    }
    with feed_server({"/wti": live}) as srv:
        poller = NewsPoller(
            store,
            settings(tmp_path, **env),
            [RssSource(f"{srv.url}/wti")],
            clock=lambda: now[0],
            on_alert=alerts.append,
        )
        await poller.poll_all()
        for batch in fresh:
            live.items.extend(batch)
            now[0] = max(ts for _, ts, _ in batch) + 60 * S
            await poller.poll_all()
        await poller.close()
    return alerts


async def test_a_sentiment_swing_is_alerted_once_per_direction(
    store: Store, tmp_path: Path
) -> None:
    backlog = [
        ("old-1", T0 - 2 * H, "WTI crude plunges as glut fears spark a rout"),
        ("old-2", T0 - 90 * 60 * S, "Oil prices crash on oversupply, bankruptcy fears"),
    ]
    fresh = [
        [("up-1", T0 + 5 * 60 * S, "WTI surges to a great rally on bullish demand")],
        [("up-2", T0 + 10 * 60 * S, "Crude soars as OPEC+ cuts spark a strong rally")],
    ]
    alerts = await _swing_alerts(store, tmp_path, backlog, fresh)
    assert [(a.kind, a.symbol, a.data["direction"]) for a in alerts] == [("sentiment", "WTI", "up")]
    [alert] = alerts
    assert alert.title == "News sentiment swings up: WTI"
    assert float(alert.data["before"]) < -0.5 < 0.5 < float(alert.data["after"])  # type: ignore[arg-type]
    assert "WTI surges to a great rally" in alert.body


async def test_a_swing_within_the_backlog_of_a_first_poll_is_history(
    store: Store, tmp_path: Path
) -> None:
    backlog = [
        ("old-1", T0 - 2 * H, "WTI crude plunges as glut fears spark a rout"),
        ("old-2", T0 - 10 * 60 * S, "WTI surges to a great rally on bullish demand"),
    ]
    assert await _swing_alerts(store, tmp_path, backlog, []) == []
    assert store.news.count() == 2


async def test_noise_raises_no_alert(store: Store, tmp_path: Path) -> None:
    texts = ["Crude rises in quiet trade", "Crude falls in quiet trade"] * 6
    items = [(f"n{k}", T0 - 2 * H + k * 20 * 60 * S, t) for k, t in enumerate(texts)]
    backlog = [i for i in items if i[1] <= T0]
    fresh = [[i] for i in items if i[1] > T0]
    assert len(fresh) == 5
    assert await _swing_alerts(store, tmp_path, backlog, fresh) == []
    assert store.news.count() == 12
