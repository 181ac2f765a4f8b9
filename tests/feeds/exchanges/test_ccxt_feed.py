"""ccxt history against a local HTTP server speaking Binance's REST routes, cached in a Store."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from feeds.errors import FeedError, RateLimited
from feeds.exchanges.ccxt_feed import CandleCache, CcxtFeed, missing_runs
from tests.feeds.servers import ok, resource, rest_stand_in
from workstation.store import Store

MIN_MS = 60_000
T0_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC: first bar the stand-in has
BARS = 600
NOW_NS = (T0_MS + BARS * MIN_MS) * 1_000_000 + 30_000_000_000  # 30 s into the bar after


def kline(ts_ms: int) -> list[Any]:
    i = (ts_ms - T0_MS) // MIN_MS
    o = 100.0 + i
    return [ts_ms, f"{o:.2f}", f"{o + 2:.2f}", f"{o - 1:.2f}", f"{o + 1:.2f}", "3.5",
            ts_ms + MIN_MS - 1, "350.0", 10, "1.0", "100.0", "0"]  # fmt: skip


def klines_route(query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
    assert query["interval"] == "1m"
    limit = int(query.get("limit", 500))
    start = max(int(query.get("startTime", T0_MS)), T0_MS)
    start = -(-start // MIN_MS) * MIN_MS
    last = T0_MS + BARS * MIN_MS  # the bar still forming; Binance includes it
    return ok([kline(t) for t in range(start, last + 1, MIN_MS)][:limit])


ROUTES = {
    "/api/v3/exchangeInfo": lambda q: ok(resource("binance_exchange_info.json")),
    "/api/v3/klines": klines_route,
}


def make(url: str, store: Store | None = None, **kw: Any) -> CcxtFeed:
    cache = store.candles if store is not None else None
    return CcxtFeed("binance", url, cache=cache, clock=lambda: NOW_NS, page_limit=200, **kw)


def klines_requests(rest: Any) -> list[dict[str, str]]:
    return [q for p, q in rest.requests if p == "/api/v3/klines"]


def test_the_stores_candles_satisfy_the_cache_protocol(store: Store) -> None:
    assert isinstance(store.candles, CandleCache)


def test_missing_runs_finds_holes_and_edges() -> None:
    have = pl.Series([20, 30, 60], dtype=pl.Int64)
    assert missing_runs(have, 0, 80, 10) == [(0, 20), (40, 60), (70, 80)]
    assert missing_runs(pl.Series([], dtype=pl.Int64), 0, 30, 10) == [(0, 30)]
    assert missing_runs(have, 20, 40, 10) == []


async def test_history_pages_through_ccxt_and_fetches_only_missing_ranges(store: Store) -> None:
    with rest_stand_in(ROUTES) as rest:
        feed = make(rest.url, store)
        progress: list[tuple[int, int]] = []
        start = T0_MS * 1_000_000
        frame = await feed.fetch_range(
            "BTC/USDT", "1m", start, on_progress=lambda d, t: progress.append((d, t))
        )
        await feed.close()
        assert frame.height == BARS, "closed bars only: the forming bar is left out"
        assert frame["ts"].to_list() == [(T0_MS + i * MIN_MS) * 1_000_000 for i in range(BARS)]
        assert frame["open"][5] == 105.0 and frame["close"][5] == 106.0
        assert len(klines_requests(rest)) == 3  # 600 bars in pages of 200
        assert progress[-1] == (BARS, BARS) and progress[0][0] < BARS
        assert store.candles.count("BTC/USDT", "1m", "binance") == BARS

        # everything cached: no request at all
        rest.requests.clear()
        feed = make(rest.url, store)
        again = await feed.fetch_range("BTC/USDT", "1m", start)
        await feed.close()
        assert rest.requests == [] and again.equals(frame)

        # a hole in the store is fetched alone, starting at the hole
        hole_start = (T0_MS + 300 * MIN_MS) * 1_000_000
        with store.transaction() as conn:
            conn.execute(
                "DELETE FROM candles WHERE ts >= ? AND ts < ?",
                (hole_start, hole_start + 10 * MIN_MS * 1_000_000),
            )
        feed = make(rest.url, store)
        healed = await feed.fetch_range("BTC/USDT", "1m", start)
        await feed.close()
        requests = klines_requests(rest)
        assert len(requests) == 1 and requests[0]["startTime"] == str(T0_MS + 300 * MIN_MS)
        assert healed.equals(frame)
        assert store.candles.count("BTC/USDT", "1m", "binance") == BARS


async def test_history_latest_limit_without_cache() -> None:
    with rest_stand_in(ROUTES) as rest:
        feed = make(rest.url)
        frame = await feed.history("ETH/USDT", "1m", limit=50)
        await feed.close()
    assert frame.height == 50
    assert frame["ts"][-1] == (T0_MS + (BARS - 1) * MIN_MS) * 1_000_000


async def test_unknown_symbol_and_timeframe_are_clear_errors() -> None:
    with rest_stand_in(ROUTES) as rest:
        feed = make(rest.url)
        with pytest.raises(FeedError, match="binance has no symbol 'NOPE/USDT'"):
            await feed.history("NOPE/USDT", "1m", limit=5)
        with pytest.raises(FeedError, match="binance has no 7m bars"):
            await feed.history("BTC/USDT", "7m", limit=5)
        await feed.close()
        assert klines_requests(rest) == []


async def test_429_backs_off_then_succeeds_and_418_stops_without_retrying() -> None:
    answers = [(429, {"Retry-After": "0"}, {"code": -1003, "msg": "Too many requests."})]

    def limited(query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        return answers.pop() if answers else klines_route(query)

    with rest_stand_in({**ROUTES, "/api/v3/klines": limited}) as rest:
        feed = make(rest.url)
        frame = await feed.history("BTC/USDT", "1m", limit=10)
        await feed.close()
        assert frame.height == 10 and len(klines_requests(rest)) == 2
        assert feed.health.drops() == {"rate_limited": 1}

    def banned(query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        return (
            418,
            {"Retry-After": "300"},
            {"code": -1003, "msg": "Way too many requests; IP banned."},
        )

    with rest_stand_in({**ROUTES, "/api/v3/klines": banned}) as rest:
        feed = make(rest.url)
        with pytest.raises(RateLimited, match="IP banned") as info:
            await feed.history("BTC/USDT", "1m", limit=10)
        await feed.close()
        assert info.value.banned and info.value.retry_after_s == 300.0
        assert len(klines_requests(rest)) == 1
