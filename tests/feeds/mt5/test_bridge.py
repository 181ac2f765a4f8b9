"""The MT5 bridge: real server and client over loopback, the fake MetaTrader5 module upstream."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect

from engine.model import Bar, Tick
from feeds.errors import FeedError
from feeds.exchange_ws import Backoff
from feeds.mt5.bridge_client import BridgeFeed
from feeds.mt5.bridge_server import BridgeServer
from feeds.mt5.terminal import Mt5Feed
from tests.fake_mt5 import Terminal
from tests.feeds.mt5.test_terminal import M1, NS, T0, market

TOKEN = "t0ken-for-tests"


def upstream(monkeypatch: pytest.MonkeyPatch) -> tuple[Terminal, Mt5Feed]:
    terminal = market(monkeypatch)
    feed = Mt5Feed(
        5001, "s3cret", "Demo-Server", poll_interval_s=0.01, clock=lambda: (T0 + 750) * NS
    )
    return terminal, feed


def client(url: str, **kw: Any) -> BridgeFeed:
    opts: dict[str, Any] = {
        "backoff": Backoff(0.02, 0.1),
        "stale_after_s": 5.0,
        "clock": lambda: (T0 + 900) * NS,
        "seed": 3,
    }
    opts.update(kw)
    return BridgeFeed(url, TOKEN, ["EURUSD"], **opts)


async def next_of(stream: Any, kind: type, timeout: float = 30.0) -> Any:
    async with asyncio.timeout(timeout):
        async for ev in stream:
            if isinstance(ev, kind):
                return ev
    raise AssertionError("stream ended")


async def test_protocol_subscribe_history_errors_and_unsubscribe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal, feed = upstream(monkeypatch)
    server = BridgeServer(feed, TOKEN, port=0)
    await server.start()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with connect(server.url, additional_headers=headers) as ws:
        hello = json.loads(await ws.recv())
        assert hello == {"op": "hello", "protocol": 1, "server": "qws-bridge", "venue": "mt5"}
        await ws.send(json.dumps({"op": "subscribe", "id": 1, "symbols": ["EURUSD", "NOPE"]}))
        err = json.loads(await ws.recv())
        assert err["op"] == "error" and err["code"] == "unknown_symbol" and err["id"] == 1
        ack = json.loads(await ws.recv())
        assert ack == {"op": "subscribed", "id": 1, "symbols": ["EURUSD"], "timeframe": "1m"}
        await asyncio.sleep(0.05)
        terminal.add_tick("EURUSD", (T0 + 580) * 1000, 1.1011, 1.1013)
        push = json.loads(await ws.recv())
        assert push == {
            "type": "tick", "symbol": "EURUSD", "ts": (T0 + 580) * NS,
            "bid": 1.1011, "ask": 1.1013, "last": None, "volume": 0.0,
        }  # fmt: skip
        await ws.send(json.dumps({"op": "history", "id": 2, "symbol": "EURUSD",
                                  "timeframe": "1m", "limit": 3}))  # fmt: skip
        hist = json.loads(await ws.recv())
        assert hist["op"] == "history" and hist["id"] == 2
        assert [row[0] for row in hist["bars"]] == [(T0 + 60 * i) * NS for i in (6, 7, 8)]
        await ws.send("{oops")
        assert json.loads(await ws.recv())["code"] == "bad_request"
        await ws.send(json.dumps({"op": "history", "id": 3, "symbol": "EURUSD", "timeframe": "7m"}))
        bad_tf = json.loads(await ws.recv())
        assert bad_tf["code"] == "feed_error" and "7m" in bad_tf["message"]
        await ws.send(json.dumps({"op": "unsubscribe", "id": 4, "symbols": ["EURUSD"]}))
        assert json.loads(await ws.recv()) == {"op": "unsubscribed", "id": 4, "symbols": []}
        terminal.add_tick("EURUSD", (T0 + 590) * 1000, 1.1012, 1.1014)
        await ws.send(json.dumps({"op": "ping", "id": 5}))
        assert json.loads(await ws.recv()) == {"op": "pong", "id": 5}, "no push after unsubscribe"
    await server.close()
    await feed.close()


async def test_wrong_token_is_refused_at_the_handshake_and_not_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, feed = upstream(monkeypatch)
    server = BridgeServer(feed, TOKEN, port=0)
    await server.start()
    bad = BridgeFeed(server.url, "wrong", ["EURUSD"], backoff=Backoff(0.01, 0.02))
    with pytest.raises(FeedError, match="HTTP 401"):
        await next_of(bad.stream(["EURUSD"], "1m"), Tick)
    with pytest.raises(FeedError, match="HTTP 401"):
        await bad.history("EURUSD", "1m", limit=5)
    assert server.refused == 2
    assert "wrong" not in repr(bad)
    await bad.close()
    await server.close()
    await feed.close()
    with pytest.raises(FeedError, match="needs its token"):
        BridgeFeed(server.url, None)


async def test_client_reconnects_after_a_drop_and_backfills_missed_bars(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal, feed = upstream(monkeypatch)
    server = BridgeServer(feed, TOKEN, port=0)
    await server.start()
    c = client(server.url, backoff=Backoff(0.4, 0.4))
    stream = c.stream(["EURUSD"], "1m")
    first_tick = asyncio.create_task(next_of(stream, Tick))
    await asyncio.sleep(0.1)
    terminal.add_tick("EURUSD", (T0 + 580) * 1000, 1.1011, 1.1013)
    assert (await first_tick).bid == 1.1011
    terminal.add_bar("EURUSD", M1, T0 + 600, 1.1010, 1.1014, 1.1009, 1.1012)  # bar 9 closes
    bar9 = await next_of(stream, Bar)
    assert bar9.ts_ns == (T0 + 540) * NS
    server.drop_connections()  # no close frame: 1006 on the client
    await asyncio.sleep(0.05)
    terminal.add_bar("EURUSD", M1, T0 + 660, 1.1012, 1.1015, 1.1011, 1.1013)  # 10 closes
    terminal.add_bar("EURUSD", M1, T0 + 720, 1.1013, 1.1016, 1.1012, 1.1014)  # 11 closes
    bar10 = await next_of(stream, Bar)
    bar11 = await next_of(stream, Bar)
    assert [bar10.ts_ns, bar11.ts_ns] == [(T0 + 600) * NS, (T0 + 660) * NS]
    assert c.health.reconnects == 1 and c.health.backfilled_bars == 2
    terminal.add_tick("EURUSD", (T0 + 730) * 1000, 1.1020, 1.1022)
    assert (await next_of(stream, Tick)).ts_ns == (T0 + 730) * NS  # resubscribed
    await stream.aclose()
    await c.close()
    await server.close()
    await feed.close()


async def test_client_survives_a_server_restart_on_the_same_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal, feed = upstream(monkeypatch)
    server = BridgeServer(feed, TOKEN, port=0)
    await server.start()
    port = server.port
    c = client(server.url)
    stream = c.stream(["EURUSD"], "1m")
    task = asyncio.create_task(next_of(stream, Tick))
    await asyncio.sleep(0.1)
    terminal.add_tick("EURUSD", (T0 + 580) * 1000, 1.1011, 1.1013)
    await task
    await server.close()
    await asyncio.sleep(0.3)  # the client retries against a closed port meanwhile
    assert c.health.state in ("backoff", "connecting")
    restarted = BridgeServer(feed, TOKEN, port=port)
    await restarted.start()
    task = asyncio.create_task(next_of(stream, Tick, timeout=5.0))
    await asyncio.sleep(0.3)
    terminal.add_tick("EURUSD", (T0 + 590) * 1000, 1.1015, 1.1017)
    tick = await task
    assert tick.bid == 1.1015
    assert c.health.reconnects >= 1
    await stream.aclose()
    await c.close()
    await restarted.close()
    await feed.close()


async def test_history_over_the_bridge_matches_the_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, feed = upstream(monkeypatch)
    server = BridgeServer(feed, TOKEN, port=0)
    await server.start()
    c = client(server.url)
    remote = await c.history("EURUSD", "1m", limit=4)
    direct = await feed.history("EURUSD", "1m", limit=4)
    assert remote.equals(direct) and remote.height == 4
    assert await c.remote_symbols() == ["EURUSD", "XAUUSD"]
    await c.close()
    await server.close()
    await feed.close()
