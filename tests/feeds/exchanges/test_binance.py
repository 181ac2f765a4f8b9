"""Binance spot feed against a real websocket server and REST stand-in on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from decimal import Decimal as D
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from engine.model import Bar, OrderBook, Tick
from feeds.errors import FeedError, RateLimited
from feeds.exchange_ws import Backoff
from feeds.exchanges.binance import BinanceFeed
from tests.feeds.servers import ok, resource, resource_lines, rest_stand_in, take, ws_server

T0_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC, the fixtures' first bar
MS = 1_000_000
NOW_NS = (T0_MS + 6 * 60_000) * MS  # 00:06: bars up to 00:05 have closed


def feed(ws_url: str, rest_url: str = "", **kw: Any) -> BinanceFeed:
    opts: dict[str, Any] = {
        "ping_interval_s": 5.0,
        "ping_timeout_s": 5.0,
        "stale_after_s": 5.0,
        "backoff": Backoff(0.01, 0.05),
        "clock": lambda: NOW_NS,
        "seed": 1,
        "depth": False,
    }
    opts.update(kw)
    return BinanceFeed(ws_url, rest_url, ["BTC/USDT"], **opts)


async def test_subscribes_and_turns_messages_into_ticks_and_closed_bars() -> None:
    received: list[Any] = []

    async def handler(ws: ServerConnection) -> None:
        received.append(json.loads(await ws.recv()))
        await ws.send(json.dumps({"result": None, "id": received[0]["id"]}))
        await ws.send(json.dumps(resource("binance_book_ticker.json")))
        await ws.send(json.dumps(resource("binance_trade.json")))
        await ws.send(json.dumps(resource("binance_kline_open.json")))
        await ws.send(json.dumps(resource("binance_kline_closed.json")))
        await ws.send(json.dumps(resource("binance_kline_closed.json")))  # a repeat
        await ws.wait_closed()

    async with ws_server(handler) as url:
        f = feed(url, trades=True)
        events = await take(f.stream(["BTC/USDT"], "1m"), 3)
        await f.close()

    assert received[0]["method"] == "SUBSCRIBE"
    assert set(received[0]["params"]) == {
        "btcusdt@kline_1m",
        "btcusdt@bookTicker",
        "btcusdt@trade",
    }
    quote, trade, bar = events
    assert isinstance(quote, Tick) and (quote.bid, quote.ask) == (42000.0, 42000.2)
    assert math.isnan(quote.last)
    assert isinstance(trade, Tick) and trade.last == 42000.1 and trade.volume == 0.015
    assert trade.ts_ns == 1_704_067_230_000 * MS and trade.bid == 42000.0  # quote carried over
    assert isinstance(bar, Bar) and bar.closed and bar.ts_ns == T0_MS * MS
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        41990.0,
        42010.0,
        41980.0,
        42005.0,
        14.25,
    )


async def test_repeated_closed_kline_is_counted_as_duplicate() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        for _ in range(2):
            await ws.send(json.dumps(resource("binance_kline_closed.json")))
        await ws.send(json.dumps(resource("binance_trade.json")))
        await ws.wait_closed()

    async with ws_server(handler) as url:
        f = feed(url)
        events = await take(f.stream(["BTC/USDT"], "1m"), 2)
        await f.close()
    assert [type(e) for e in events] == [Bar, Tick]
    assert f.health.drops() == {"duplicate": 1}


async def test_depth_resyncs_from_rest_snapshot_after_a_sequence_gap() -> None:
    lines = resource_lines("binance_depth_updates.jsonl")
    snapshots = iter(["binance_depth_snapshot_100.json", "binance_depth_snapshot_120.json"])
    last_snapshot = ["binance_depth_snapshot_120.json"]

    def depth(query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        assert query["symbol"] == "BTCUSDT"
        name = next(snapshots, last_snapshot[0])
        return ok(resource(name))

    books: list[Any] = []
    first_sent = threading.Event()

    def depth_after_first_updates(query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        first_sent.wait(2.0)  # answer once the first diffs are on the wire: they get buffered
        return depth(query)

    async def wait_books(n: int) -> None:
        while len(books) < n:
            await asyncio.sleep(0.005)

    with rest_stand_in({"/api/v3/depth": depth_after_first_updates}) as rest:

        async def handler(ws: ServerConnection) -> None:
            await ws.recv()
            for line in lines[:3]:
                await ws.send(line)
            first_sent.set()
            await wait_books(1)
            await ws.send(lines[3])  # 110..112 after 104: a gap
            await wait_books(2)  # resynchronised on snapshot 120
            for line in lines[4:]:
                await ws.send(line)
            await ws.wait_closed()

        async with ws_server(handler) as url:
            f = feed(url, rest.url, depth=True)
            stream = f.stream(["BTC/USDT"], "1m")
            async with asyncio.timeout(3.0):
                async for event in stream:
                    books.append(event)
                    if len(books) == 4:
                        break
            await stream.aclose()  # type: ignore[attr-defined]
            await f.close()

    assert all(isinstance(b, OrderBook) for b in books)
    first, second, third, last = books  # exactly one book per sync and per applied diff
    # snapshot 100, then 100..102 and 103..104 applied: 42001 removed, 42000 -> 0.5, +42000.5
    assert [(lv.price, lv.size) for lv in first.bids] == [
        (42000.5, 4.0),
        (42000.0, 0.5),
        (41999.0, 2.0),
        (41998.0, 3.0),
    ]
    assert [lv.price for lv in first.asks] == [42002.0, 42003.0]
    # after the gap: snapshot 120 alone (113..118 is older and ignored), then 119..121, 122
    assert [(lv.price, lv.size) for lv in second.bids] == [(42100.0, 5.0), (42099.0, 6.0)]
    assert [(lv.price, lv.size) for lv in third.bids] == [(42099.0, 6.0)]
    assert [(lv.price, lv.size) for lv in third.asks] == [(42101.0, 3.0), (42102.0, 8.0)]
    assert [(lv.price, lv.size) for lv in last.bids] == [(42099.5, 1.25), (42099.0, 6.0)]
    assert f.health.drops() == {"sequence_gap": 1}
    assert rest.paths().count("/api/v3/depth") == 2


async def test_server_closing_mid_stream_1006_reconnects_and_backfills_over_rest() -> None:
    connections: list[list[str]] = []

    def klines(query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        assert query["symbol"] == "BTCUSDT" and query["interval"] == "1m"
        start = int(query["startTime"])
        return ok([k for k in resource("binance_klines.json") if k[0] >= start])

    with rest_stand_in({"/api/v3/klines": klines}) as rest:

        async def handler(ws: ServerConnection) -> None:
            connections.append(json.loads(await ws.recv())["params"])
            if len(connections) == 1:
                await ws.send(json.dumps(resource("binance_kline_closed.json")))
                await asyncio.sleep(0.2)  # let the client read it before the RST
                ws.transport.abort()  # no close frame: the client sees 1006
                return
            await ws.send(json.dumps(resource("binance_trade.json")))
            await ws.wait_closed()

        async with ws_server(handler) as url:
            f = feed(url, rest.url)
            events = await take(f.stream(["BTC/USDT"], "1m"), 7)
            await f.close()

    bars = [e for e in events if isinstance(e, Bar)]
    assert [b.ts_ns // MS for b in bars] == [T0_MS + i * 60_000 for i in range(6)]
    assert isinstance(events[-1], Tick), "backfilled bars come before the new stream's messages"
    assert len(connections) == 2 and connections[0] == connections[1]  # resubscribed
    assert f.health.reconnects == 1 and f.health.backfilled_bars == 5
    assert "1006" in f.health.last_error
    assert rest.requests[0][1]["startTime"] == str(T0_MS + 60_000)


async def test_server_that_stops_answering_pings_is_dropped_and_replaced() -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.recv()
        if connections == 1:
            ws.transport.pause_reading()  # pings go unanswered from now on
            await ws.wait_closed()
            return
        await ws.send(json.dumps(resource("binance_trade.json")))
        await ws.wait_closed()

    async with ws_server(handler) as url:
        # the stale timer (30 s) is far beyond the deadline: only the ping can end connection 1
        f = feed(url, ping_interval_s=0.1, ping_timeout_s=0.1, stale_after_s=30.0)
        events = await take(f.stream(["BTC/USDT"], "1m"), 1, timeout=20.0)
        await f.close()
    assert isinstance(events[0], Tick)
    assert connections == 2 and f.health.reconnects == 1
    assert f.health.drops() == {}  # not the stale timer
    assert "1011" in f.health.last_error  # keepalive ping timeout


async def test_silent_stream_is_treated_as_dead_after_stale_timeout() -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.recv()
        if connections > 1:
            await ws.send(json.dumps(resource("binance_trade.json")))
        await ws.wait_closed()

    async with ws_server(handler) as url:
        f = feed(url, stale_after_s=0.2)
        events = await take(f.stream(["BTC/USDT"], "1m"), 1)
        await f.close()
    assert isinstance(events[0], Tick) and connections == 2
    assert f.health.drops() == {"stale_stream": 1}


async def test_flood_of_10000_malformed_messages_is_counted_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    trade = resource("binance_trade.json")
    kinds = [
        "{not json",
        json.dumps({"e": "mystery", "s": "BTCUSDT"}),
        json.dumps({**trade, "p": "NaN", "t": 1}),
        json.dumps({**trade, "p": "0", "t": 2}),
        json.dumps({**trade, "s": "DOGEUSDT"}),
        json.dumps({"e": "trade", "s": "BTCUSDT"}),
        json.dumps([1, 2, 3]),
        json.dumps({**resource("binance_book_ticker.json"), "b": "5", "a": "4"}),
    ]
    reasons = {
        "malformed_json",
        "unknown_type",
        "nan_price",
        "zero_price",
        "unknown_symbol",
        "malformed",
        "crossed_quote",
    }

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        for i in range(10_000):
            await ws.send(kinds[i % len(kinds)])
        await ws.send(json.dumps(trade))
        await ws.wait_closed()

    caplog.set_level(logging.WARNING, logger="qws.feeds")
    async with ws_server(handler) as url:
        f = feed(url)
        events = await take(f.stream(["BTC/USDT"], "1m"), 1, timeout=20.0)
        await f.close()
    assert isinstance(events[0], Tick) and events[0].last == 42000.1
    assert f.health.dropped == 10_000
    assert set(f.health.drops()) == reasons
    drop_logs = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(drop_logs) == len(reasons), "each reason is logged once per minute, not per message"


async def test_rest_429_backs_off_then_succeeds_and_418_stops_at_once() -> None:
    answers = iter([(429, {"Retry-After": "0"}, {"code": -1003, "msg": "Too many requests"})])

    def klines(query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        return next(answers, ok(resource("binance_klines.json")))

    with rest_stand_in({"/api/v3/klines": klines}) as rest:
        f = feed("ws://127.0.0.1:9", rest.url)
        frame = await f.history("BTC/USDT", "1m", limit=5)
        assert frame.height == 5 and rest.paths().count("/api/v3/klines") == 2
        assert f.health.drops() == {"rate_limited": 1}
        await f.close()

    def banned(query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        return 418, {"Retry-After": "120"}, {"code": -1003, "msg": "IP banned"}

    with rest_stand_in({"/api/v3/klines": banned}) as rest:
        f = feed("ws://127.0.0.1:9", rest.url)
        with pytest.raises(RateLimited, match=r"IP banned.*120s") as info:
            await f.history("BTC/USDT", "1m", limit=5)
        assert info.value.banned and rest.paths().count("/api/v3/klines") == 1
        await f.close()


async def test_unsupported_timeframe_is_a_clear_error() -> None:
    f = feed("ws://127.0.0.1:9")
    with pytest.raises(FeedError, match="binance has no 7m klines"):
        await take(f.stream(["BTC/USDT"], "7m"), 1)


async def test_handshake_refused_with_401_is_final_not_a_retry_loop() -> None:
    from websockets.http11 import Response

    attempts = 0

    def refuse(connection: ServerConnection, request: Any) -> Response:
        nonlocal attempts
        attempts += 1
        return connection.respond(401, "bad token\n")

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with ws_server(handler, process_request=refuse) as url:
        f = feed(url)
        with pytest.raises(FeedError, match="HTTP 401"):
            await take(f.stream(["BTC/USDT"], "1m"), 1)
    assert attempts == 1


async def test_unreachable_server_backs_off_then_gives_up_after_max_reconnects() -> None:
    import socket

    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    f = feed(f"ws://127.0.0.1:{port}", max_reconnects=3, backoff=Backoff(0.02, 0.04))
    with pytest.raises(FeedError, match="giving up after 3 failed reconnects"):
        await take(f.stream(["BTC/USDT"], "1m"), 1, timeout=20.0)
    # how long it waits between tries is Backoff's (tests/feeds/test_exchange_ws.py)
    assert f.health.connects == 0 and "Connect" in f.health.last_error


async def test_history_leaves_out_the_bar_still_forming() -> None:
    def klines(query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        assert query["limit"] == "4"  # one more than asked, for the forming bar
        return ok(resource("binance_klines.json")[-int(query["limit"]) :])

    with rest_stand_in({"/api/v3/klines": klines}) as rest:
        mid_last_bar = (T0_MS + 5 * 60_000 + 30_000) * MS  # 00:05:30: the 00:05 bar is forming
        f = feed("ws://127.0.0.1:9", rest.url, clock=lambda: mid_last_bar)
        frame = await f.history("BTC/USDT", "1m", limit=3)
        await f.close()
    assert [t // MS for t in frame["ts"]] == [T0_MS + i * 60_000 for i in (2, 3, 4)]


async def test_instruments_come_from_exchange_info_with_the_venue_grid() -> None:
    def info(query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        asked = set(json.loads(query["symbols"]))
        body = resource("binance_exchange_info.json")
        return ok({**body, "symbols": [s for s in body["symbols"] if s["symbol"] in asked]})

    with rest_stand_in({"/api/v3/exchangeInfo": info}) as rest:
        f = feed("ws://127.0.0.1:9", rest.url)
        loaded = await f.load_instruments(["BTC/USDT", "ETH/USDT", "NOPE/USDT"])
        await f.close()
    assert [i.symbol for i in loaded] == ["BTC/USDT", "ETH/USDT"]
    btc = f.instrument("BTC/USDT")
    assert (btc.tick_size, btc.lot_size, btc.min_qty) == (D("0.01"), D("0.00001"), D("0.00001"))
    assert (btc.base_ccy, btc.quote_ccy, btc.min_notional, btc.price_decimals) == (
        "BTC",
        "USDT",
        D("5"),
        2,
    )
    assert f.instrument("ETH/USDT").lot_size == D("0.0001")
    with pytest.raises(KeyError, match="NOPE/USDT: instrument not loaded"):
        f.instrument("NOPE/USDT")


# -- a depth diff is applied whole or not at all; a crossed book is never published -----------
def _diff(first: int, last: int, bids: list[list[str]], asks: list[list[str]] = []) -> str:  # noqa: B006
    return json.dumps({"e": "depthUpdate", "E": T0_MS + last, "s": "BTCUSDT", "U": first,
                       "u": last, "b": bids, "a": asks})  # fmt: skip


async def _books_after(
    phases: list[list[str]], snapshots: list[str], n: int
) -> tuple[list[Any], BinanceFeed, Any]:
    """The first ``n`` books published while the server sends ``phases[k]`` once ``k`` books
    are out; the REST depth route answers ``snapshots`` in turn (then the last again)."""
    answers = iter(snapshots)
    books: list[Any] = []
    published = asyncio.Condition()

    def depth(query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        return ok(resource(next(answers, snapshots[-1])))

    with rest_stand_in({"/api/v3/depth": depth}) as rest:

        async def handler(ws: ServerConnection) -> None:
            await ws.recv()
            for k, frames in enumerate(phases):
                async with published:
                    await published.wait_for(lambda k=k: len(books) >= k)  # type: ignore[misc]
                for frame in frames:
                    await ws.send(frame)
            await ws.wait_closed()

        async with ws_server(handler) as url:
            f = feed(url, rest.url, depth=True)
            stream = f.stream(["BTC/USDT"], "1m")
            async with asyncio.timeout(20.0):
                async for event in stream:
                    async with published:
                        books.append(event)
                        published.notify_all()
                    if len(books) == n:
                        break
            await stream.aclose()  # type: ignore[attr-defined]
            await f.close()
    return books, f, rest


async def test_a_depth_diff_with_one_bad_level_is_not_applied_at_all() -> None:
    phases = [
        [_diff(95, 101, [["41990", "1"]])],
        [
            _diff(102, 102, [["41997", "4"], ["NaN", "1"]]),  # one good level, then a bad one
            _diff(102, 102, [["41996", "5"]]),  # the venue's next diff, applied instead
        ],
    ]
    books, f, _ = await _books_after(phases, ["binance_depth_snapshot_100.json"], 2)
    synced, after = books
    assert [lv.price for lv in synced.bids] == [42000.0, 41999.0, 41998.0, 41990.0]
    assert [lv.price for lv in after.bids] == [42000.0, 41999.0, 41998.0, 41996.0, 41990.0]
    assert f.health.drops() == {"nan_price": 1}


async def test_a_diff_that_crosses_the_book_is_dropped_and_the_book_resynchronised() -> None:
    phases = [
        [_diff(95, 101, [["41990", "1"]])],
        [_diff(102, 102, [["42005", "1"]])],  # a bid above the best ask (42001): crossed
        [_diff(121, 121, [["42099.5", "2"]])],  # after the fresh snapshot (120)
    ]
    snapshots = ["binance_depth_snapshot_100.json", "binance_depth_snapshot_120.json"]
    books, f, rest = await _books_after(phases, snapshots, 3)
    assert all(isinstance(b, OrderBook) for b in books)
    assert all(b.bids[0].price < b.asks[0].price for b in books), "a crossed book was published"
    synced, resynced, after = books
    assert synced.bids[0].price == 42000.0
    assert [(lv.price, lv.size) for lv in resynced.bids] == [(42100.0, 5.0), (42099.0, 6.0)]
    assert [lv.price for lv in after.bids] == [42100.0, 42099.5, 42099.0]
    assert f.health.drops() == {"crossed_book": 1}
    assert rest.paths().count("/api/v3/depth") == 2


# -- every gap in the bars is backfilled, or shown -----------------------------------------------
def _kline_at(minute: int) -> str:
    kline = resource("binance_kline_closed.json")
    return json.dumps(kline | {"k": kline["k"] | {"t": T0_MS + minute * 60_000}})


def _klines_from(query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
    start = int(query["startTime"])
    return ok([k for k in resource("binance_klines.json") if k[0] >= start])


async def _stream_with_gap(
    klines: Any, n: int, **kw: Any
) -> tuple[list[Any], BinanceFeed, list[tuple[str, dict[str, str]]]]:
    """Closed bars 00:00 then 00:03 on one connection (00:01 and 00:02 never sent), a trade."""
    with rest_stand_in({"/api/v3/klines": klines}) as rest:

        async def handler(ws: ServerConnection) -> None:
            await ws.recv()
            await ws.send(_kline_at(0))
            await ws.send(_kline_at(3))
            await ws.send(json.dumps(resource("binance_trade.json")))
            await ws.wait_closed()

        async with ws_server(handler) as url:
            f = feed(url, rest.url, **kw)
            events = await take(f.stream(["BTC/USDT"], "1m"), n, timeout=20.0)
            await f.close()
    return events, f, rest.requests


async def test_a_kline_gap_inside_a_connection_is_backfilled_in_order() -> None:
    events, f, requests = await _stream_with_gap(_klines_from, 5)
    bars = [e for e in events if isinstance(e, Bar)]
    assert [b.ts_ns // MS - T0_MS for b in bars] == [0, 60_000, 120_000, 180_000]
    assert bars[1].close == 42015.0  # the REST bar, not a copy of the live one
    assert isinstance(events[-1], Tick)
    assert [q["startTime"] for _, q in requests] == [str(T0_MS + 60_000)]
    assert f.health.backfilled_bars == 2 and f.health.gaps() == []


async def test_a_gap_that_cannot_be_backfilled_is_retried_boundedly_and_shown() -> None:
    def down(query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        return 503, {}, {"code": -1001, "msg": "Internal error"}

    events, f, requests = await _stream_with_gap(down, 3, backfill_retries=2)
    assert [type(e) for e in events] == [Bar, Bar, Tick]  # the stream goes on past the hole
    assert len(requests) == 3  # the first try and two retries
    [gap] = f.health.gaps()
    assert (gap.symbol, gap.bars) == ("BTC/USDT", 2)
    assert (gap.start_ns, gap.end_ns) == ((T0_MS + 60_000) * MS, (T0_MS + 180_000) * MS)
    assert "503" in gap.reason
    assert "2024-01-01 00:01" in gap.describe()
    assert f.health.drops() == {"backfill_failed": 1}
    assert f.health.as_dict()["gaps"][0]["bars"] == 2


async def test_a_rest_error_in_the_backfill_after_a_reconnect_is_retried() -> None:
    answers = iter([(500, {}, {"code": -1, "msg": "try again"})])

    def flaky(query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        return next(answers, None) or _klines_from(query)

    connections = 0
    with rest_stand_in({"/api/v3/klines": flaky}) as rest:

        async def handler(ws: ServerConnection) -> None:
            nonlocal connections
            connections += 1
            await ws.recv()
            if connections == 1:
                await ws.send(_kline_at(0))
                await asyncio.sleep(0.2)
                ws.transport.abort()
                return
            await ws.send(json.dumps(resource("binance_trade.json")))
            await ws.wait_closed()

        async with ws_server(handler) as url:
            f = feed(url, rest.url)
            events = await take(f.stream(["BTC/USDT"], "1m"), 7, timeout=20.0)
            await f.close()
    assert [e.ts_ns // MS - T0_MS for e in events if isinstance(e, Bar)] == [
        i * 60_000 for i in range(6)
    ]
    assert rest.paths().count("/api/v3/klines") == 2
    assert f.health.backfilled_bars == 5 and f.health.gaps() == []


async def test_a_drop_before_the_first_closed_bar_backfills_from_the_subscription() -> None:
    now = [(T0_MS + 30_000) * MS]  # subscribed at 00:00:30, while the 00:00 bar forms
    connections = 0
    with rest_stand_in({"/api/v3/klines": _klines_from}) as rest:

        async def handler(ws: ServerConnection) -> None:
            nonlocal connections
            connections += 1
            await ws.recv()
            if connections == 1:
                await ws.send(json.dumps(resource("binance_trade.json")))
                await asyncio.sleep(0.2)
                now[0] = NOW_NS  # 00:06: five bars closed while we were away
                ws.transport.abort()
                return
            await ws.send(json.dumps(resource("binance_trade.json") | {"t": 12346}))
            await ws.wait_closed()

        async with ws_server(handler) as url:
            f = feed(url, rest.url, clock=lambda: now[0])
            events = await take(f.stream(["BTC/USDT"], "1m"), 7, timeout=20.0)
            await f.close()
    assert rest.requests[0][1]["startTime"] == str(T0_MS)  # from the bar forming at subscribe
    assert [e.ts_ns // MS - T0_MS for e in events if isinstance(e, Bar)] == [
        i * 60_000
        for i in range(1, 6)  # the REST stand-in has 00:01..00:05
    ]
    assert isinstance(events[0], Tick) and isinstance(events[-1], Tick)
    assert f.health.backfilled_bars == 5


async def test_a_connection_that_delivered_resets_the_failure_count_however_it_ended() -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.recv()
        await ws.send(json.dumps(resource("binance_trade.json") | {"t": connections}))
        if connections < 3:
            await ws.close(1001, "going away")  # after data: not a failed connection
            return
        await ws.wait_closed()

    async with ws_server(handler) as url:
        f = feed(url, max_reconnects=0)
        events = await take(f.stream(["BTC/USDT"], "1m"), 3, timeout=20.0)
        await f.close()
    assert [type(e) for e in events] == [Tick, Tick, Tick]
    assert f.health.reconnects == 2
