"""The runtime's feed task: a live stream that ends or fails is restarted with back-off, logged
and shown, and the runtime's market data comes back; poison frames never end it. Against a
real websocket server on 127.0.0.1 speaking Binance's stream format."""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from feeds.exchange_ws import Backoff
from feeds.exchanges.binance import BinanceFeed
from tests.feeds.servers import resource, ws_server
from tests.workstation.trader.test_runtime import settings, until
from workstation.store import Store
from workstation.trader.events import Logged, RuntimeEvent
from workstation.trader.runtime import Runtime
from workstation.ui.status import feed_health

SYMBOL = "BTC/USDT"


def trade(trade_id: int, price: float) -> str:
    return json.dumps(resource("binance_trade.json") | {"t": trade_id, "p": f"{price:.2f}"})


def binance(url: str) -> BinanceFeed:
    # max_reconnects=0: the feed itself gives up at the first failed reconnect, so the
    # stream raises and the runtime's restart is what brings it back
    return BinanceFeed(
        url, "", [SYMBOL], depth=False, max_reconnects=0, backoff=Backoff(0.01, 0.02),
        stale_after_s=30.0, seed=1,
    )  # fmt: skip


Started = tuple[Runtime, list[RuntimeEvent], list[str]]


@asynccontextmanager
async def running(store: Store, url: str, healthy_s: float = 60.0) -> AsyncIterator[Started]:
    """A started runtime on a Binance feed at ``url``; its events, and the status line's feed
    text at each restart."""
    rt = Runtime(binance(url), store, settings(), [SYMBOL], "1m", signals=False, telegram=False)
    rt.feed_restart_base_s = 0.01
    rt.feed_restart_cap_s = 0.04
    rt.feed_healthy_s = healthy_s
    events: list[RuntimeEvent] = []
    shown: list[str] = []

    def listen(event: RuntimeEvent) -> None:
        events.append(event)
        if isinstance(event, Logged) and "restarting" in event.text:
            shown.append(rt.feed_error)  # what the status line shows at that moment

    rt.listeners.append(listen)
    await rt.start()
    try:
        yield rt, events, shown
    finally:
        await rt.shutdown()


def refusing(refuse: Callable[[int], bool]) -> Any:
    """A ``process_request`` that answers HTTP 503 to the connections ``refuse`` picks (1-based)."""
    count = 0

    def process(connection: ServerConnection, request: Request) -> Response | None:
        nonlocal count
        count += 1
        return connection.respond(503, "busy\n") if refuse(count) else None

    return process


def mark_is(rt: Runtime, price: float) -> Callable[[], bool]:
    return lambda: rt.mark(SYMBOL) == price


async def test_poison_frames_are_dropped_and_the_stream_goes_on(store: Store) -> None:
    kline = resource("binance_kline_closed.json")
    poison = [
        json.dumps(kline | {"k": kline["k"] | {"t": math.inf}}),  # JSON 1e999 reads as inf
        '{"e": "trade", "s": "BTCUSDT", "t": 5, "p": "1", "q": "1", "T": 1e999}',
        "Infinity",
        "[" * 100_000,
        '{"e": "trade", "s": "BTCUSDT", "t": 6, "p": ' + "9" * 401 + ', "q": "1", "T": 1}',
    ]

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(trade(1, 42000.0))
        for frame in poison:
            await ws.send(frame)
        await ws.send(trade(2, 42001.0))
        await ws.wait_closed()

    async with ws_server(handler) as url, running(store, url) as (rt, _, _):
        await until(mark_is(rt, 42001.0), "the trade after the poison frames")
        assert rt.feed_restarts == 0 and rt.feed_error == ""
        health = rt.feed.health  # type: ignore[attr-defined]
        assert health.dropped == len(poison)


async def test_a_stream_that_fails_is_restarted_with_back_off_and_delivers_again(
    store: Store,
) -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.recv()
        if connections == 1:
            await ws.send(trade(1, 42000.0))
            await ws.close(1001, "going away")  # the feed reconnects; the server says 503
            return
        await ws.send(trade(2, 42001.0))
        await ws.wait_closed()

    async with (
        ws_server(handler, process_request=refusing(lambda n: n == 2)) as url,
        running(store, url) as (rt, events, shown),
    ):
        await until(mark_is(rt, 42001.0), "quotes from the restarted stream")
        await until(lambda: rt.feed_error == "", "the status line to clear")
        assert rt.feed_restarts == 1 and connections == 2
        logs = [e.text for e in events if isinstance(e, Logged) and "restarting" in e.text]
        assert len(logs) == 1 and "giving up after 0 failed reconnects" in logs[0]
        [text] = shown
        assert text.startswith("feed restarting in 0.01 s (1st try): FeedError: binance:")
        health = rt.feed.health  # type: ignore[attr-defined]
        assert feed_health(text, health).startswith("[red]feed restarting in 0.01 s (1st try)")


async def test_the_back_off_doubles_to_its_cap_and_starts_over_after_a_healthy_stream(
    store: Store,
) -> None:
    # connections 1-4 refused (each stream fails at once), 5 delivers then closes, 6 is
    # refused (that stream fails after delivering), 7 on delivers and stays
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        handler.n += 1  # type: ignore[attr-defined]
        await ws.send(trade(10 + handler.n, 42000.0 + handler.n))  # type: ignore[attr-defined]
        if handler.n == 1:  # type: ignore[attr-defined]
            await ws.close(1001, "going away")
            return
        await ws.wait_closed()

    handler.n = 0  # type: ignore[attr-defined]
    async with (
        ws_server(handler, process_request=refusing(lambda n: n <= 4 or n == 6)) as url,
        running(store, url, healthy_s=0.0) as (rt, events, shown),  # any delivery is healthy
    ):
        await until(mark_is(rt, 42002.0), "quotes after the sixth restart")
        delays = [
            m.group(1)
            for e in events
            if isinstance(e, Logged) and (m := re.search(r"restarting in (\S+) s", e.text))
        ]
        assert delays == ["0.01", "0.02", "0.04", "0.04", "0.01"]
        assert [s.split("(")[1].split(")")[0] for s in shown] == [
            "1st try", "2nd try", "3rd try", "4th try", "1st try",
        ]  # fmt: skip
