"""The news tables: each item once, a symbol's items by time, each source's state."""

from __future__ import annotations

import math
from pathlib import Path

from engine.model import NewsItem
from workstation.store import Store

H = 3_600_000_000_000


def item(
    id_: str,
    ts: int,
    symbols: tuple[str, ...] = ("WTI",),
    score: float | None = 0.5,
    key: str = "https://news.example/rss",
) -> NewsItem:
    return NewsItem(
        key, id_, ts, f"headline {id_}", "summary", f"https://x/{id_}", "Example", symbols, score
    )


def test_an_item_is_stored_once_and_never_overwritten(store: Store) -> None:
    first = [item("a", 1 * H), item("b", 2 * H)]
    assert store.news.add(first, fetched_ns=10) == first
    again = [item("b", 2 * H, score=-0.9), item("c", 3 * H), item("c", 3 * H)]
    assert store.news.add(again, fetched_ns=11) == [item("c", 3 * H)]
    assert store.news.count() == 3
    [b] = [i for i in store.news.recent() if i.id == "b"]
    assert b.score == 0.5  # the stored item kept, not the second sighting


def test_the_same_id_from_two_endpoints_is_two_items(store: Store) -> None:
    added = store.news.add([item("a", H), item("a", H, key="https://other/feed")])
    assert len(added) == 2 and store.news.count() == 2


def test_recent_is_newest_first_and_filters_by_symbol(store: Store) -> None:
    store.news.add(
        [
            item("old", 1 * H, ("WTI", "BRENT")),
            item("btc", 2 * H, ("BTC/USDT",)),
            item("new", 3 * H, ("BRENT",)),
            item("none", 4 * H, ()),
        ]
    )
    assert [i.id for i in store.news.recent()] == ["none", "new", "btc", "old"]
    assert [i.id for i in store.news.recent("BRENT")] == ["new", "old"]
    assert [i.id for i in store.news.recent("BRENT", limit=1)] == ["new"]
    assert store.news.recent("NATGAS") == []
    [old] = store.news.recent("WTI")
    assert old == item("old", 1 * H, ("WTI", "BRENT"))


def test_scores_are_the_scored_items_of_a_symbol_oldest_first_in_a_range(store: Store) -> None:
    store.news.add(
        [
            item("c", 3 * H, score=-0.25),
            item("a", 1 * H, score=0.5),
            item("unscored", 2 * H, score=None),
            item("b", 2 * H, score=0.75),
            item("gas", 2 * H, ("NATGAS",), score=-1.0),
        ]
    )
    assert store.news.scores("WTI") == ([1 * H, 2 * H, 3 * H], [0.5, 0.75, -0.25])
    assert store.news.scores("WTI", start_ns=2 * H) == ([2 * H, 3 * H], [0.75, -0.25])
    assert store.news.scores("WTI", end_ns=2 * H) == ([1 * H, 2 * H], [0.5, 0.75])
    assert store.news.scores("NATGAS") == ([2 * H], [-1.0])
    assert store.news.scores("XAUUSD") == ([], [])


def test_a_score_that_is_not_a_number_is_stored_unscored(store: Store) -> None:
    # a NewsItem refuses NaN; a source's object that slipped one through is stored as NULL
    bad = item("nan", H, score=0.1)
    object.__setattr__(bad, "score", math.nan)
    store.news.add([bad])
    assert store.news.recent()[0].score is None
    assert store.news.scores("WTI") == ([], [])


def test_items_and_source_state_survive_a_reopen(db_path: Path) -> None:
    with Store(db_path) as s:
        s.news.add([item("a", H)])
        s.news.record_poll(
            "https://news.example/rss",
            100,
            items=1,
            etag='"v1"',
            last_modified="Mon, 03 Mar 2025 10:00:00 GMT",
        )
    with Store(db_path) as s:
        assert s.news.count() == 1
        state = s.news.source("https://news.example/rss")
        assert state is not None
        assert (state.etag, state.last_modified) == ('"v1"', "Mon, 03 Mar 2025 10:00:00 GMT")


def test_a_failed_poll_is_counted_and_keeps_the_validators(store: Store) -> None:
    key = "https://news.example/rss"
    assert store.news.source(key) is None
    store.news.record_poll(key, 100, items=3, etag='"v1"')
    failed = store.news.record_poll(key, 200, error="HTTP 500 from https://news.example/rss")
    assert (failed.polls, failed.items, failed.failures) == (2, 3, 1)
    assert failed.etag == '"v1"' and failed.last_ok_ns == 100 and failed.last_poll_ns == 200
    assert failed.ok is False and "HTTP 500" in failed.last_error
    ok = store.news.record_poll(key, 300, items=0, etag='"v1"')
    assert ok.ok is True and ok.last_error == "" and (ok.polls, ok.failures) == (3, 1)
    assert [s.key for s in store.news.sources()] == [key]
