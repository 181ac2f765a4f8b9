"""Real servers on 127.0.0.1 for feed tests: an HTTP REST stand-in and websocket servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection, serve

RESOURCES = Path(__file__).parent / "resources"

Route = Callable[[dict[str, str]], tuple[int, dict[str, str], Any]]


def resource(name: str) -> Any:
    return json.loads((RESOURCES / name).read_text())


def resource_lines(name: str) -> list[str]:
    return [line for line in (RESOURCES / name).read_text().splitlines() if line.strip()]


class RestStandIn:
    """A threaded HTTP server answering GET routes with JSON; records every request."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, dict[str, str]]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query))
                stand_in.requests.append((parts.path, query))
                route = stand_in.routes.get(parts.path)
                if route is None:
                    status, headers, body = 404, {}, {"code": -1, "msg": f"no route {parts.path}"}
                else:
                    status, headers, body = route(query)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def paths(self) -> list[str]:
        return [p for p, _ in self.requests]

    def __enter__(self) -> RestStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def rest_stand_in(routes: dict[str, Route]) -> Iterator[RestStandIn]:
    with RestStandIn(routes) as s:
        yield s


@contextlib.asynccontextmanager
async def ws_server(
    handler: Callable[[ServerConnection], Awaitable[None]], **kwargs: Any
) -> AsyncIterator[str]:
    """A websockets server on a free loopback port; yields its ``ws://`` url."""
    kwargs.setdefault("close_timeout", 0.2)
    async with serve(handler, "127.0.0.1", 0, **kwargs) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


def ok(body: Any) -> tuple[int, dict[str, str], Any]:
    return 200, {}, body


async def take(stream: AsyncIterator[Any], n: int, timeout: float = 30.0) -> list[Any]:
    """The first ``n`` events of a feed stream (closing it), or TimeoutError."""
    out: list[Any] = []

    async def run() -> None:
        async for ev in stream:
            out.append(ev)
            if len(out) >= n:
                return

    try:
        await asyncio.wait_for(run(), timeout)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return out
