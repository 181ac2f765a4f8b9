"""The bridge server: serves any :class:`~engine.protocols.Feed` (MetaTrader 5 in practice)
over a websocket with the small JSON protocol of docs/bridge.md.

It runs next to the MT5 terminal (``qws bridge mt5``) so a workstation on Linux or macOS can
stream that terminal's data (:class:`feeds.mt5.bridge_client.BridgeFeed`). A token is required: the
handshake must carry ``Authorization: Bearer <token>``, else it is refused with HTTP 401
before any data flows. Each connection has its own subscription set and one upstream stream
for it; a failing request gets an ``error`` reply, never a dropped connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from engine.protocols import Feed
from engine.timeframes import TimeframeError, parse
from feeds.errors import FeedError
from feeds.mt5.bridge_protocol import AUTH_HEADER, PROTOCOL, encode_event, frame_to_rows

log = logging.getLogger("qws.bridge")

MAX_HISTORY = 50_000


class _Session:
    def __init__(self, server: BridgeServer, ws: ServerConnection) -> None:
        self.server = server
        self.ws = ws
        self.symbols: list[str] = []
        self.timeframe = "1m"
        self.pump: asyncio.Task[None] | None = None

    async def send(self, msg: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(msg, allow_nan=False))

    async def error(self, req_id: Any, code: str, message: str) -> None:
        await self.send({"op": "error", "id": req_id, "code": code, "message": message})

    async def run(self) -> None:
        await self.send(
            {
                "op": "hello",
                "protocol": PROTOCOL,
                "server": "qws-bridge",
                "venue": getattr(self.server.feed, "venue", self.server.feed.name),
            }
        )
        try:
            async for raw in self.ws:
                await self.handle(raw)
        finally:
            await self.stop_pump()

    async def handle(self, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
            if not isinstance(msg, dict):
                raise ValueError("a request is a JSON object")
        except ValueError as exc:
            await self.error(None, "bad_request", f"not a JSON object: {exc}")
            return
        op, req_id = msg.get("op"), msg.get("id")
        try:
            if op == "subscribe":
                await self.subscribe(req_id, msg)
            elif op == "unsubscribe":
                await self.unsubscribe(req_id, msg)
            elif op == "history":
                await self.history(req_id, msg)
            elif op == "symbols":
                await self.send({"op": "symbols", "id": req_id, "symbols": self.server.symbols()})
            elif op == "ping":
                await self.send({"op": "pong", "id": req_id})
            else:
                await self.error(req_id, "bad_request", f"unknown op {op!r}")
        except (FeedError, TimeframeError) as exc:
            await self.error(req_id, "feed_error", str(exc))
        except (KeyError, TypeError, ValueError) as exc:
            await self.error(req_id, "bad_request", f"{op}: {type(exc).__name__}: {exc}")

    async def subscribe(self, req_id: Any, msg: dict[str, Any]) -> None:
        wanted = [str(s) for s in msg["symbols"]]
        timeframe = str(parse(str(msg.get("timeframe", self.timeframe))))
        known = self.server.symbols()
        unknown = [s for s in wanted if known and s not in known]
        if unknown:
            await self.error(req_id, "unknown_symbol", f"not on this terminal: {unknown}")
            wanted = [s for s in wanted if s not in unknown]
        merged = sorted(set(self.symbols) | set(wanted))
        if merged != self.symbols or timeframe != self.timeframe or self.pump is None:
            self.symbols, self.timeframe = merged, timeframe
            await self.restart_pump()
        await self.send(
            {"op": "subscribed", "id": req_id, "symbols": self.symbols, "timeframe": timeframe}
        )

    async def unsubscribe(self, req_id: Any, msg: dict[str, Any]) -> None:
        drop = {str(s) for s in msg["symbols"]}
        self.symbols = [s for s in self.symbols if s not in drop]
        await self.restart_pump()
        await self.send({"op": "unsubscribed", "id": req_id, "symbols": self.symbols})

    async def history(self, req_id: Any, msg: dict[str, Any]) -> None:
        symbol = str(msg["symbol"])
        timeframe = str(parse(str(msg["timeframe"])))
        start = msg.get("start")
        limit = msg.get("limit")
        limit = min(int(limit), MAX_HISTORY) if limit is not None else None
        frame = await self.server.feed.history(
            symbol, timeframe, int(start) if start is not None else None, limit
        )
        await self.send(
            {
                "op": "history",
                "id": req_id,
                "symbol": symbol,
                "timeframe": timeframe,
                "columns": ["ts", "open", "high", "low", "close", "volume"],
                "bars": frame_to_rows(frame.tail(MAX_HISTORY)),
            }
        )

    async def restart_pump(self) -> None:
        await self.stop_pump()
        if self.symbols:
            self.pump = asyncio.create_task(self._pump(list(self.symbols), self.timeframe))

    async def stop_pump(self) -> None:
        if self.pump is not None:
            self.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.pump
            self.pump = None

    async def _pump(self, symbols: list[str], timeframe: str) -> None:
        stream = self.server.feed.stream(symbols, timeframe)
        try:
            async for event in stream:
                await self.send(encode_event(event))
        except ConnectionClosed:
            pass
        except FeedError as exc:
            with contextlib.suppress(ConnectionClosed):
                await self.error(None, "feed_error", str(exc))
        finally:
            with contextlib.suppress(Exception):
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()


class BridgeServer:
    """``BridgeServer(feed, token, host="127.0.0.1", port=8765)``; ``await start()``."""

    def __init__(
        self,
        feed: Feed,
        token: str,
        host: str = "127.0.0.1",
        port: int = 8765,
        *,
        ping_interval_s: float = 20.0,
        ping_timeout_s: float = 20.0,
    ) -> None:
        if not token:
            raise FeedError("the bridge needs a token: clients must authenticate")
        self.feed = feed
        self._token = token
        self.host = host
        self.port = port
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.sessions: set[_Session] = set()
        self.refused = 0
        self._server: Server | None = None
        self._symbols: list[str] = []

    def symbols(self) -> list[str]:
        return self._symbols or self.feed.symbols()

    def _authorise(self, connection: ServerConnection, request: Request) -> Response | None:
        given = request.headers.get(AUTH_HEADER, "")
        if hmac.compare_digest(given.encode(), f"Bearer {self._token}".encode()):
            return None
        self.refused += 1
        log.warning("bridge: refused a connection from %s (bad token)", connection.remote_address)
        return connection.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong bridge token\n")

    async def _handle(self, ws: ServerConnection) -> None:
        session = _Session(self, ws)
        self.sessions.add(session)
        try:
            await session.run()
        except ConnectionClosed:
            pass
        finally:
            self.sessions.discard(session)

    async def start(self) -> None:
        connect = getattr(self.feed, "connect", None)
        if connect is not None:
            self._symbols = list(await connect())
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._authorise,
            ping_interval=self.ping_interval_s,
            ping_timeout=self.ping_timeout_s,
            close_timeout=1.0,
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    def drop_connections(self) -> None:
        """Abort every client connection without a close frame (what a crash looks like)."""
        for session in list(self.sessions):
            session.ws.transport.abort()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
