"""RSS and Atom feeds over HTTP: the first-party ``rss`` news source.

One GET per :meth:`RssSource.fetch`, polite: the validators of the last full answer (``ETag``,
``Last-Modified``) go out as ``If-None-Match`` / ``If-Modified-Since``, and a ``304 Not
Modified`` is an empty poll. The body is parsed by feedparser (RSS 0.9x, 1.0, 2.0 and Atom).
A document feedparser had to repair (``bozo``) still counts if it yielded entries (the
problem is counted in :attr:`RssSource.malformed`); one that yielded nothing is not a feed.
Every failure is a :class:`~engine.protocols.SourceError` with one line that names the
status and the endpoint, with any credentials in the URL masked. A body larger than
``max_bytes`` (5 MiB by default; real feeds are kilobytes) is refused while it downloads, so a
wrong URL pointing at a huge file never fills memory.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from engine.model import NewsItem
from engine.protocols import SourceError

NS_PER_S = 1_000_000_000
MAX_BYTES = 5 * 1024 * 1024
SECRET_PARAMS = frozenset(
    {
        "token",
        "key",
        "apikey",
        "api_key",
        "api-key",
        "access_token",
        "auth",
        "secret",
        "password",
        "sig",
        "signature",
    }
)
"""Query parameters whose value is masked wherever an endpoint is shown or stored."""
MASK = "***"
USER_AGENT = "qws-news/1"
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"


def safe_url(url: str) -> str:
    """``url`` without its user info and with secret-looking query values masked: what a
    message, a log line or the store may show of an endpoint."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    query = urlencode(
        [(k, MASK if k.lower() in SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, True)],
        safe="*",
    )
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


def check_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host; else ValueError naming it (masked)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"a news feed URL must be http:// or https:// with a host: {safe_url(url)!r}"
        )
    return url.strip()


class _Text(HTMLParser):
    """The text of a fragment: character references decoded once (by the parser), scripts and
    styles left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def plain_text(markup: str) -> str:
    """The text of an HTML fragment (a feed's summary), whitespace collapsed."""
    if "<" not in markup and "&" not in markup:
        return " ".join(markup.split())
    parser = _Text()
    parser.feed(markup)
    parser.close()
    return " ".join("".join(parser.parts).split())


def _ts_ns(entry: Mapping[str, Any]) -> int | None:
    for field in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(field)
        if parsed:
            return calendar.timegm(parsed) * NS_PER_S  # feedparser's struct_time is UTC
    return None


def _entry_id(entry: Mapping[str, Any], headline: str) -> str:
    for field in ("id", "link"):
        value = str(entry.get(field) or "").strip()
        if value:
            return value
    raw = f"{headline}\x00{entry.get('published') or entry.get('updated') or ''}"
    return "sha1:" + hashlib.sha1(raw.encode()).hexdigest()


def _tags(entry: Mapping[str, Any]) -> tuple[str, ...]:
    terms = (str(t.get("term") or "").strip() for t in entry.get("tags") or ())
    return tuple(dict.fromkeys(t for t in terms if t))


class RssSource:
    """One RSS or Atom endpoint. ``etag`` and ``last_modified``: the validators a previous
    process saw (the poller keeps them in the store); they move on every full answer.

    ``symbols`` of an item are the entry's tags (categories) as the feed gives them: the
    poller keeps those that name known instruments, and adds the ones its text mentions."""

    name = "rss"

    def __init__(
        self,
        url: str,
        name: str = "",
        timeout_s: float = 10.0,
        *,
        max_bytes: int = MAX_BYTES,
        etag: str | None = None,
        last_modified: str | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.url = check_url(url)
        self.key = safe_url(self.url)
        if name:
            self.name = name
        if not timeout_s > 0:
            raise ValueError(f"news timeout_s must be above 0, got {timeout_s}")
        self.timeout_s = float(timeout_s)
        if max_bytes < 1:
            raise ValueError(f"news max_bytes must be at least 1, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self.etag = etag
        self.last_modified = last_modified
        self.malformed = 0
        """Documents feedparser had to repair that still yielded entries (kept)."""
        self.not_modified = False
        """The last poll was answered 304: the feed is as it was at the poll before."""
        self.last_problem = ""
        self._clock = clock
        self._client = httpx.AsyncClient(
            timeout=self.timeout_s,
            follow_redirects=True,
            headers={"User-Agent": USER_AGENT},
        )

    @classmethod
    def for_urls(cls, urls: Sequence[str], **kwargs: Any) -> list[RssSource]:
        """One source per endpoint of ``news.urls`` (each with the ``[sources.rss]``
        keyword arguments): how the poller builds the ``rss`` entry point."""
        return [cls(url, **kwargs) for url in dict.fromkeys(urls)]

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": ACCEPT}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers

    async def fetch(self) -> list[NewsItem]:
        self.not_modified = False
        try:
            response, content = await self._get()
        except httpx.TimeoutException as exc:
            raise SourceError(f"timed out after {self.timeout_s:g} s: {self.key}") from exc
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise SourceError(f"cannot reach {self.key}: {reason}") from exc
        if response.status_code == 304:
            self.not_modified = True
            return []
        if response.status_code >= 400 or response.status_code < 200:
            phrase = response.reason_phrase or ""
            status = f"HTTP {response.status_code} {phrase}".rstrip()
            raise SourceError(f"{status} from {self.key}")
        content_type = response.headers.get("content-type", "")
        parsed = await asyncio.to_thread(_parse, content, content_type)
        items = self._items(parsed)
        self.etag = response.headers.get("etag") or None
        self.last_modified = response.headers.get("last-modified") or None
        return items

    async def _get(self) -> tuple[httpx.Response, bytes]:
        """The answer and its body, read no further than ``max_bytes``. An error's body is
        read too (and dropped by the caller): the connection ends cleanly, as HTTP expects."""
        async with self._client.stream("GET", self.url, headers=self._headers()) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    if not 200 <= response.status_code < 300:
                        break  # the status is the news; the rest of an error page is not
                    raise SourceError(
                        f"more than {self.max_bytes:,} bytes from {self.key}: not a news feed"
                        " (sources.rss.max_bytes)"
                    )
                chunks.append(chunk)
            return response, b"".join(chunks)

    def _items(self, parsed: Any) -> list[NewsItem]:
        entries = list(parsed.get("entries") or ())
        problem = _problem(parsed)
        if not entries and (problem or not parsed.get("version")):
            raise SourceError(
                f"not an RSS/Atom feed: {problem or 'no feed or entries found'} ({self.key})"
            )
        if problem:
            self.malformed += 1
            self.last_problem = problem
        feed = parsed.get("feed") or {}
        source = plain_text(str(feed.get("title") or "")) or (urlsplit(self.url).hostname or "")
        now = self._clock()
        out: list[NewsItem] = []
        for entry in entries:
            headline = plain_text(str(entry.get("title") or ""))
            summary = plain_text(str(entry.get("summary") or entry.get("description") or ""))
            if not headline and not summary:
                continue
            ts = _ts_ns(entry)
            out.append(
                NewsItem(
                    key=self.key,
                    id=_entry_id(entry, headline),
                    ts_ns=now if ts is None else ts,
                    headline=headline or summary[:120],
                    summary=summary,
                    link=str(entry.get("link") or ""),
                    source=source,
                    symbols=_tags(entry),
                )
            )
        return out

    async def close(self) -> None:
        await self._client.aclose()


def _parse(content: bytes, content_type: str) -> Any:
    import feedparser

    headers = {"content-type": content_type} if content_type else {}
    return feedparser.parse(content, response_headers=headers)


def _problem(parsed: Any) -> str:
    """Why feedparser had to repair the document ('' if it did not): an encoding it had to
    guess is not a problem of the feed's content."""
    if not parsed.get("bozo"):
        return ""
    exc = parsed.get("bozo_exception")
    if exc is None:
        return "malformed document"
    import feedparser

    if isinstance(exc, feedparser.CharacterEncodingOverride):
        return ""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
