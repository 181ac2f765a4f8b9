"""The bridge client: MetaTrader 5 data from a ``qws bridge mt5`` server, on any OS.

It is an :class:`~feeds.exchange_ws.ExchangeWsFeed`, so it inherits heartbeat, back-off,
resubscribe and gap backfill; backfill and :meth:`history` ask the server's ``history`` op
over a separate short connection, so the stream connection only ever carries pushes.
Protocol: docs/bridge.md.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import polars as pl
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from engine.protocols import FeedEvent
from engine.timeframes import parse
from feeds.errors import BadInput, FeedError
from feeds.exchange_ws import ExchangeWsFeed
from feeds.mt5.bridge_protocol import AUTH_HEADER, PROTOCOL, decode_event, rows_to_frame


class BridgeFeed(ExchangeWsFeed):
    """Registered as entry point ``qws.feeds:bridge``.

    ``BridgeFeed(url="ws://127.0.0.1:8765", token=None, symbols=(), *,
    request_timeout_s=10.0, **ExchangeWsFeed options)``. The token is a secret: the CLI
    resolves it (keyring ``qws:bridge``/``token`` or ``QWS_BRIDGE_TOKEN``), see ``secrets``.
    """

    name = "bridge"
    venue = "mt5"
    max_rest_bars = 5000
    secrets: ClassVar[dict[str, tuple[str, str]]] = {"token": ("bridge", "token")}

    def __init__(
        self,
        url: str = "ws://127.0.0.1:8765",
        token: str | None = None,
        symbols: Sequence[str] | None = (),
        *,
        request_timeout_s: float = 10.0,
        ws_url: str | None = None,
        **options: Any,
    ) -> None:
        if not token:
            raise FeedError(
                "the bridge needs its token: `keyring set qws:bridge token` or set"
                " QWS_BRIDGE_TOKEN (the same one the `qws bridge mt5` server uses)"
            )
        options.pop("rest_url", None)
        # a market can be quiet for hours (weekends): liveness is the websocket ping's job here
        options.setdefault("stale_after_s", None)
        super().__init__(url or ws_url or "", "", symbols, **options)
        self.headers[AUTH_HEADER] = f"Bearer {token}"
        self.request_timeout_s = request_timeout_s
        self._wanted: set[str] = set()
        self._remote: list[str] | None = None
        self._req = 0

    def __repr__(self) -> str:  # the headers carry the token
        return f"BridgeFeed(url={self.ws_url!r})"

    def subscribe_messages(self, symbols: Sequence[str], timeframe: str) -> list[Any]:
        self._wanted = set(symbols)
        self._req += 1
        return [
            {"op": "subscribe", "id": self._req, "symbols": list(symbols), "timeframe": timeframe}
        ]

    def parse_message(self, msg: Any) -> list[FeedEvent]:
        if not isinstance(msg, dict):
            raise BadInput("malformed", f"expected an object, got {type(msg).__name__}")
        if "type" in msg:
            event = decode_event(msg, self._wanted)
            return [event]
        op = msg.get("op")
        if op == "hello":
            if msg.get("protocol") != PROTOCOL:
                raise FeedError(f"bridge speaks protocol {msg.get('protocol')}, we {PROTOCOL}")
            return []
        if op in ("subscribed", "unsubscribed", "pong", "history", "symbols"):
            return []
        if op == "error":
            self.health.last_error = f"bridge: {msg.get('code')}: {msg.get('message')}"
            raise BadInput("server_error", str(msg.get("message")))
        raise BadInput("unknown_type", str(op))

    async def request(self, msg: dict[str, Any]) -> dict[str, Any]:
        """One request/answer over its own connection (history, symbols)."""
        self._req += 1
        req_id = self._req
        try:
            async with asyncio.timeout(self.request_timeout_s):
                async with connect(
                    self.ws_url,
                    additional_headers=self.headers,
                    open_timeout=self.open_timeout_s,
                    close_timeout=1.0,
                    max_size=2**26,
                ) as ws:
                    await ws.send(json.dumps({**msg, "id": req_id}))
                    async for raw in ws:
                        answer = json.loads(raw)
                        if answer.get("id") != req_id:
                            continue
                        if answer.get("op") == "error":
                            raise FeedError(f"bridge: {answer.get('message')}")
                        return answer
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise FeedError(
                f"bridge {self.ws_url} refused the connection (HTTP {status}): check the token"
            ) from None
        except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError) as exc:
            raise FeedError(
                f"bridge {self.ws_url} unreachable: {exc or type(exc).__name__}"
            ) from None
        raise FeedError(f"bridge {self.ws_url} closed before answering {msg.get('op')}")

    async def remote_symbols(self) -> list[str]:
        answer = await self.request({"op": "symbols"})
        return [str(s) for s in answer["symbols"]]

    def symbols(self) -> list[str]:
        """The configured symbols, else the terminal's, asked once over the bridge (on a
        helper thread, so it works whether or not an event loop is running here)."""
        if self.default_symbols:
            return list(self.default_symbols)
        if self._remote is None:
            with ThreadPoolExecutor(1) as pool:
                try:
                    self._remote = pool.submit(asyncio.run, self.remote_symbols()).result()
                except FeedError as exc:
                    self.health.last_error = str(exc)
                    return []
        return list(self._remote)

    async def fetch_bars(
        self, symbol: str, timeframe: str, start: int | None, limit: int
    ) -> pl.DataFrame:
        answer = await self.request(
            {
                "op": "history",
                "symbol": symbol,
                "timeframe": str(parse(timeframe)),
                "start": start,
                "limit": limit,
            }
        )
        return rows_to_frame(answer["bars"])
