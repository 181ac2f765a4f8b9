"""RSS documents built by a test: items published at chosen times, served as a live feed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

from tests.feeds.news.server import Answer


def rss(items: list[tuple[str, int, str]], title: str = "Test Wire") -> bytes:
    """An RSS 2.0 document of ``(guid, published ns, headline)``."""
    body = "".join(
        f"<item><guid>{escape(guid)}</guid><title>{escape(headline)}</title>"
        f"<pubDate>{format_datetime(datetime.fromtimestamp(ts // 10**9, UTC), usegmt=True)}"
        "</pubDate></item>"
        for guid, ts, headline in items
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title>{body}</channel></rss>"
    ).encode()


@dataclass
class LiveFeed:
    """A route whose items the test appends to; answers 304 while they have not changed."""

    items: list[tuple[str, int, str]] = field(default_factory=list)
    status: int = 200

    def __call__(self, headers: dict[str, str]) -> Answer:
        if self.status != 200:
            return Answer(self.status, b"failing", "text/plain")
        etag = f'"{len(self.items)}"'
        if headers.get("if-none-match") == etag:
            return Answer(304, b"", etag=etag)
        return Answer(200, rss(self.items), etag=etag)
