"""``qws doctor --live``: the feed's state and dropped-input counters, against a local server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from tests.feeds.servers import resource, rest_stand_in, ws_server
from workstation.cli import main


async def test_doctor_live_shows_drop_counters_per_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(json.dumps(resource("binance_trade.json")))
        for _ in range(3):
            await ws.send("{garbage")
        await ws.send(json.dumps({**resource("binance_trade.json"), "p": "0", "t": 99999}))
        await ws.wait_closed()

    async with ws_server(handler) as url:
        monkeypatch.setenv("QWS__FEEDS__BINANCE__WS_URL", url)
        argv = [
            "doctor",
            "--live",
            "--feed",
            "binance",
            "--symbols",
            "BTC/USDT",
            "--seconds",
            "0.5",
        ]
        await asyncio.to_thread(main, argv)
    out = capsys.readouterr().out
    assert "live feed binance" in out
    lines = {
        line.strip("│ ").split("│")[0].strip(): line for line in out.splitlines() if "│" in line
    }
    assert "1" in lines["events delivered"]
    assert "3" in lines["dropped: malformed_json"] and "1" in lines["dropped: zero_price"]


async def test_doctor_live_shows_bars_the_feed_could_not_backfill_as_a_gap(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kline = resource("binance_kline_closed.json")

    def at(minute: int) -> str:
        return json.dumps(kline | {"k": kline["k"] | {"t": kline["k"]["t"] + minute * 60_000}})

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(at(0))
        await ws.send(at(3))  # 00:01 and 00:02 never sent, and REST is down
        await ws.wait_closed()

    def down(query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        return 503, {}, {"code": -1001, "msg": "Internal error"}

    with rest_stand_in({"/api/v3/klines": down}) as rest:
        async with ws_server(handler) as url:
            monkeypatch.setenv("QWS__FEEDS__BINANCE__WS_URL", url)
            monkeypatch.setenv("QWS__FEEDS__BINANCE__REST_URL", rest.url)
            argv = ["doctor", "--live", "--feed", "binance", "--symbols", "BTC/USDT",
                    "--seconds", "1"]  # fmt: skip
            code = await asyncio.to_thread(main, argv)
    out = capsys.readouterr().out
    gap = next(line for line in out.splitlines() if "gap: BTC/USDT" in line)
    assert "2 bar(s) missing from 2024-01-01 00:01" in gap
    assert code == 1 and "problem(s)" in out
