"""A real HTTP server on 127.0.0.1 that serves news feeds: fixtures, conditional GETs (ETag,
Last-Modified -> 304), errors and a stalled answer; it records every request's headers."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

NEWS_DATA = Path(__file__).resolve().parents[2] / "data" / "news"
RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"


def fixture(name: str) -> bytes:
    return (NEWS_DATA / name).read_bytes()


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = RSS
    etag: str | None = None
    last_modified: str | None = None
    stall: bool = False  # hold the request until the server stops (a timeout)


@dataclass
class Feed:
    """A conditional feed: answers 304 when the request's validators match the body's."""

    body: bytes
    content_type: str = RSS
    etag: str | None = '"v1"'
    last_modified: str | None = "Mon, 03 Mar 2025 12:00:00 GMT"

    def __call__(self, headers: dict[str, str]) -> Answer:
        match_etag = self.etag is not None and headers.get("if-none-match") == self.etag
        match_date = (
            self.etag is None
            and self.last_modified is not None
            and headers.get("if-modified-since") == self.last_modified
        )
        if match_etag or match_date:
            return Answer(304, b"", self.content_type, self.etag, self.last_modified)
        return Answer(200, self.body, self.content_type, self.etag, self.last_modified)


Route = Callable[[dict[str, str]], Answer]


@dataclass
class FeedServer:
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def hits(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.requests if p == path]


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up mid-answer (a refused oversized body, a timed-out poll) is
        routine for a web server: only other errors are printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@contextmanager
def feed_server(routes: dict[str, Route] | None = None) -> Iterator[FeedServer]:
    state = FeedServer(dict(routes or {}))
    released = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            path = self.path.split("?", 1)[0]
            state.requests.append((path, headers))
            route = state.routes.get(path)
            answer = route(headers) if route else Answer(404, b"not found", "text/plain")
            if answer.stall:
                released.wait(60)
                return
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            if answer.etag:
                self.send_header("ETag", answer.etag)
            if answer.last_modified:
                self.send_header("Last-Modified", answer.last_modified)
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, *args: object) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        released.set()
        server.shutdown()
        server.server_close()


def static(body: bytes, status: int = 200, content_type: str = RSS) -> Route:
    return lambda _headers: Answer(status, body, content_type)


def stalled() -> Route:
    return lambda _headers: Answer(stall=True)
