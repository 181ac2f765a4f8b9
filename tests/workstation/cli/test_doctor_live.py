"""``qws doctor --live``: the feed's state and dropped-input counters, against a local server."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.server import ServerConnection

from tests.feeds.servers import resource, ws_server
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
