"""Bybit v5 public feed against a real websocket server and REST stand-in on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal as D
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from engine.model import Bar, OrderBook, Tick
from feeds.exchange_ws import Backoff
from feeds.exchanges.bybit import BybitFeed
from tests.feeds.servers import ok, resource, resource_lines, rest_stand_in, take, ws_server

T0_MS = 1_704_067_200_000
MS = 1_000_000
NOW_NS = (T0_MS + 6 * 60_000) * MS


def feed(ws_url: str, rest_url: str = "", **kw: Any) -> BybitFeed:
    opts: dict[str, Any] = {
        "ping_interval_s": 5.0,
        "ping_timeout_s": 5.0,
        "stale_after_s": 5.0,
        "backoff": Backoff(0.01, 0.05),
        "clock": lambda: NOW_NS,
        "seed": 1,
    }
    opts.update(kw)
    return BybitFeed(ws_url, rest_url, ["BTC/USDT"], **opts)


async def test_subscribes_pings_and_parses_tickers_and_closed_klines() -> None:
    received: list[Any] = []

    async def handler(ws: ServerConnection) -> None:
        sub = json.loads(await ws.recv())
        received.append(sub)
        await ws.send(json.dumps({**resource("bybit_subscribe_ok.json"), "req_id": sub["req_id"]}))
        await ws.send(json.dumps(resource("bybit_tickers.json")))
        await ws.send(json.dumps(resource("bybit_kline_open.json")))
        await ws.send(json.dumps(resource("bybit_kline_closed.json")))
        ping = json.loads(await ws.recv())  # the application heartbeat
        received.append(ping)
        await ws.send(json.dumps(resource("bybit_pong.json")))
        await ws.send(json.dumps(resource("bybit_tickers.json") | {"ts": 1704067261000}))
        await ws.wait_closed()

    async with ws_server(handler) as url:
        f = feed(url, depth=False, heartbeat_interval_s=0.1)
        events = await take(f.stream(["BTC/USDT"], "1m"), 3)
        await f.close()
    assert received[0]["op"] == "subscribe"
    assert received[0]["args"] == ["tickers.BTCUSDT", "kline.1.BTCUSDT"]
    assert received[1]["op"] == "ping"
    tick, bar, tick2 = events
    assert isinstance(tick, Tick) and tick.last == 42000.1 and tick.ts_ns == 1704067230000 * MS
    assert isinstance(bar, Bar) and bar.ts_ns == T0_MS * MS and bar.close == 42005.0
    assert bar.volume == 14.25 and bar.timeframe == "1m"
    assert isinstance(tick2, Tick) and tick2.ts_ns == 1704067261000 * MS
    assert f.health.drops() == {}


async def test_orderbook_snapshot_delta_and_resubscribe_after_a_gap() -> None:
    lines = resource_lines("bybit_orderbook.jsonl")
    received: list[Any] = []

    async def handler(ws: ServerConnection) -> None:
        received.append(json.loads(await ws.recv()))
        for line in lines[:3]:  # snapshot 500, delta 501, delta 504 (gap)
            await ws.send(line)
        received.append(json.loads(await ws.recv()))  # unsubscribe
        received.append(json.loads(await ws.recv()))  # subscribe again
        await ws.send(lines[3])  # the fresh snapshot
        await ws.wait_closed()

    async with ws_server(handler) as url:
        f = feed(url)
        books = await take(f.stream(["BTC/USDT"], "1m"), 3)
        await f.close()
    assert all(isinstance(b, OrderBook) for b in books)
    snap, delta, fresh = books
    assert [(lv.price, lv.size) for lv in snap.bids] == [(42000.0, 1.0), (41999.0, 2.0)]
    assert [(lv.price, lv.size) for lv in delta.bids] == [(41999.5, 3.0), (41999.0, 2.0)]
    assert [(lv.price, lv.size) for lv in fresh.bids] == [(42010.0, 4.0)]
    assert received[0]["args"] == ["tickers.BTCUSDT", "kline.1.BTCUSDT", "orderbook.50.BTCUSDT"]
    assert received[1] | {"req_id": ""} == {
        "op": "unsubscribe",
        "req_id": "",
        "args": ["orderbook.50.BTCUSDT"],
    }
    assert received[2]["op"] == "subscribe" and received[2]["args"] == ["orderbook.50.BTCUSDT"]
    assert f.health.drops() == {"sequence_gap": 1}


async def test_reconnect_after_1006_backfills_missing_bars_from_rest() -> None:
    connections = 0

    def klines(query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        assert query["category"] == "spot" and query["interval"] == "1"
        assert query["start"] == str(T0_MS + 60_000)
        assert query["end"] == str(T0_MS + 60_000 + int(query["limit"]) * 60_000 - 1)
        return ok(resource("bybit_klines_rest.json"))

    with rest_stand_in({"/v5/market/kline": klines}) as rest:

        async def handler(ws: ServerConnection) -> None:
            nonlocal connections
            connections += 1
            await ws.recv()
            if connections == 1:
                await ws.send(json.dumps(resource("bybit_kline_closed.json")))
                await asyncio.sleep(0.2)  # let the client read it before the RST
                ws.transport.abort()
                return
            await ws.send(json.dumps(resource("bybit_tickers.json")))
            await ws.wait_closed()

        async with ws_server(handler) as url:
            f = feed(url, rest.url, depth=False)
            events = await take(f.stream(["BTC/USDT"], "1m"), 7)
            await f.close()
    bars = [e for e in events if isinstance(e, Bar)]
    assert [b.ts_ns // MS for b in bars] == [T0_MS + i * 60_000 for i in range(6)]
    assert [b.close for b in bars[1:]] == [42015.0, 42025.0, 42035.0, 42045.0, 42055.0]
    assert isinstance(events[-1], Tick)
    assert f.health.reconnects == 1 and f.health.backfilled_bars == 5


async def test_bad_messages_are_dropped_by_reason() -> None:
    tick = resource("bybit_tickers.json")
    bad = [
        "][",
        json.dumps({"topic": "liquidation.BTCUSDT", "data": {}}),
        json.dumps(tick | {"data": tick["data"] | {"lastPrice": "nan"}}),
        json.dumps(tick | {"ts": 1704067000000}),  # older than the first tick
        json.dumps(
            {"success": False, "ret_msg": "Invalid symbol :[tickers.XYZ]", "op": "subscribe"}
        ),
        json.dumps(resource_lines("bybit_orderbook.jsonl")[1]),  # a JSON string, not an object
    ]

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(json.dumps(tick))
        for msg in bad:
            await ws.send(msg)
        await ws.send(json.dumps(tick | {"ts": 1704067231000}))
        await ws.wait_closed()

    async with ws_server(handler) as url:
        f = feed(url, depth=False)
        events = await take(f.stream(["BTC/USDT"], "1m"), 2)
        await f.close()
    assert [type(e) for e in events] == [Tick, Tick]
    assert f.health.drops() == {
        "malformed_json": 1, "unknown_type": 1, "nan_price": 1, "out_of_order": 1,
        "subscribe_error": 1, "malformed": 1,
    }  # fmt: skip
    assert "Invalid symbol" in f.health.last_error


async def test_instruments_come_from_instruments_info() -> None:
    def info(query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        body = resource("bybit_instruments_info.json")
        if query.get("symbol") != "BTCUSDT" or query.get("category") != "spot":
            body = {**body, "result": {"category": "spot", "list": []}}
        return ok(body)

    with rest_stand_in({"/v5/market/instruments-info": info}) as rest:
        f = feed("ws://127.0.0.1:9", rest.url)
        loaded = await f.load_instruments(["BTC/USDT", "NOPE/USDT"])
        await f.close()
    assert [i.symbol for i in loaded] == ["BTC/USDT"]
    btc = f.instrument("BTC/USDT")
    assert (btc.tick_size, btc.lot_size, btc.min_qty, btc.min_notional) == (
        D("0.01"),
        D("0.000001"),
        D("0.000048"),
        D("1"),
    )
    with pytest.raises(KeyError, match="NOPE/USDT: instrument not loaded from Bybit"):
        f.instrument("NOPE/USDT")


# -- a delta is applied whole or not at all; a crossed book is never published -----------------
def _delta(u: int, bids: list[list[str]]) -> str:
    delta = json.loads(resource_lines("bybit_orderbook.jsonl")[1])
    return json.dumps(delta | {"data": delta["data"] | {"u": u, "b": bids, "a": []}})


async def test_a_delta_with_one_bad_level_is_not_applied_at_all() -> None:
    snapshot = resource_lines("bybit_orderbook.jsonl")[0]

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(snapshot)
        await ws.send(_delta(501, [["41999.5", "3.0"], ["nan", "1"]]))  # good level, bad level
        await ws.send(_delta(501, [["41998.5", "1.0"]]))  # the venue's 501, applied instead
        await ws.wait_closed()

    async with ws_server(handler) as url:
        f = feed(url)
        books = await take(f.stream(["BTC/USDT"], "1m"), 2, timeout=20.0)
        await f.close()
    _, after = books
    assert [lv.price for lv in after.bids] == [42000.0, 41999.0, 41998.5]
    assert f.health.drops() == {"nan_price": 1}


async def test_a_delta_that_crosses_the_book_is_dropped_and_the_topic_resubscribed() -> None:
    lines = resource_lines("bybit_orderbook.jsonl")
    received: list[Any] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(lines[0])  # snapshot 500: best bid 42000, best ask 42001
        await ws.send(_delta(501, [["42001.5", "1.0"]]))  # a bid above the best ask
        received.append(json.loads(await ws.recv()))  # unsubscribe
        received.append(json.loads(await ws.recv()))  # subscribe again
        await ws.send(lines[3])  # the fresh snapshot
        await ws.wait_closed()

    async with ws_server(handler) as url:
        f = feed(url)
        books = await take(f.stream(["BTC/USDT"], "1m"), 2, timeout=20.0)
        await f.close()
    assert all(b.bids[0].price < b.asks[0].price for b in books), "a crossed book was published"
    assert [b.bids[0].price for b in books] == [42000.0, 42010.0]
    assert [(r["op"], r["args"]) for r in received] == [
        ("unsubscribe", ["orderbook.50.BTCUSDT"]),
        ("subscribe", ["orderbook.50.BTCUSDT"]),
    ]
    assert f.health.drops() == {"crossed_book": 1}


async def test_a_kline_gap_inside_a_connection_is_backfilled_in_order() -> None:
    def klines(query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        assert query["start"] == str(T0_MS + 60_000)
        return ok(resource("bybit_klines_rest.json"))

    kline = resource("bybit_kline_closed.json")
    later = kline | {"data": [kline["data"][0] | {"start": T0_MS + 180_000}]}
    with rest_stand_in({"/v5/market/kline": klines}) as rest:

        async def handler(ws: ServerConnection) -> None:
            await ws.recv()
            await ws.send(json.dumps(kline))
            await ws.send(json.dumps(later))  # 00:03 after 00:00: two bars never sent
            await ws.send(json.dumps(resource("bybit_tickers.json")))
            await ws.wait_closed()

        async with ws_server(handler) as url:
            f = feed(url, rest.url, depth=False)
            events = await take(f.stream(["BTC/USDT"], "1m"), 5, timeout=20.0)
            await f.close()
    bars = [e for e in events if isinstance(e, Bar)]
    assert [b.ts_ns // MS - T0_MS for b in bars] == [0, 60_000, 120_000, 180_000]
    assert [b.close for b in bars[1:3]] == [42015.0, 42025.0]
    assert isinstance(events[-1], Tick) and f.health.backfilled_bars == 2
