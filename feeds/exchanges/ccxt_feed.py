"""Exchange history through ccxt's async API, with a candle cache so only gaps are fetched.

``CcxtFeed.history`` pages through ``fetch_ohlcv`` with ccxt's rate limiter on. With a
:class:`CandleCache` (the workstation's ``store.candles`` is one), the bars already stored are
read from it and only the missing runs of bar open times are asked of the exchange; what comes
back is written to the cache. Only closed bars are cached and returned.

Errors become one clear :class:`~feeds.errors.FeedError` sentence: an unknown symbol, a
timeframe the exchange does not offer, or a rate limit. On HTTP 429/418 (ccxt's
``DDoSProtection``/``RateLimitExceeded``) it waits (the venue's ``Retry-After`` when given,
else exponential back-off) and tries again a bounded number of times, so it never hammers a
venue into a longer ban.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import polars as pl

from engine.timeframes import OHLCV_SCHEMA, Timeframe, empty_ohlcv, parse
from feeds.errors import FeedError, RateLimited
from feeds.health import FeedHealth

_MS = 1_000_000


@runtime_checkable
class CandleCache(Protocol):
    """Where fetched bars are kept (the workstation's ``store.candles`` satisfies it)."""

    def between(
        self,
        symbol: str,
        timeframe: str,
        start: int | None = None,
        end: int | None = None,
        venue: str | None = None,
    ) -> pl.DataFrame: ...

    def upsert(
        self, bars: pl.DataFrame, symbol: str, timeframe: str, venue: str, *args: Any, **kw: Any
    ) -> int: ...


Progress = Callable[[int, int], None]
"""``on_progress(bars_done, bars_expected)`` while a range is being fetched."""


def missing_runs(have: pl.Series, start: int, end: int, step: int) -> list[tuple[int, int]]:
    """Half-open ``[a, b)`` runs of the grid ``start, start+step, ... < end`` absent from
    ``have`` (sorted bar open times)."""
    if start >= end:
        return []
    grid = pl.int_range(start, end, step, eager=True, dtype=pl.Int64)
    absent = grid.filter(~grid.is_in(have.implode())) if have.len() else grid
    if absent.is_empty():
        return []
    values = absent.to_list()
    runs: list[tuple[int, int]] = []
    a = prev = values[0]
    for ts in values[1:]:
        if ts != prev + step:
            runs.append((a, prev + step))
            a = ts
        prev = ts
    runs.append((a, prev + step))
    return runs


def point_urls_at(urls: Any, base_url: str) -> Any:
    """Every API url in a ccxt ``urls['api']`` tree with its scheme and host replaced by
    ``base_url``'s (paths kept), so a proxy, testnet or local stand-in answers them all."""
    base = urlsplit(base_url)
    if isinstance(urls, dict):
        return {k: point_urls_at(v, base_url) for k, v in urls.items()}
    if isinstance(urls, str) and "://" in urls:
        parts = urlsplit(urls)
        return parts._replace(scheme=base.scheme, netloc=base.netloc).geturl()
    return urls


class CcxtFeed:
    """History from any ccxt exchange. Registered as entry point ``qws.feeds:ccxt``.

    ``CcxtFeed(exchange="binance", rest_url="", symbols=(), *, cache=None, urls=None,
    options=None, page_limit=1000, max_retries=3, backoff_s=1.0, timeout_s=10.0, clock)``.
    """

    name = "ccxt"

    def __init__(
        self,
        exchange: str = "binance",
        rest_url: str = "",
        symbols: tuple[str, ...] | list[str] | None = (),
        *,
        cache: CandleCache | None = None,
        urls: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        page_limit: int = 1000,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        timeout_s: float = 10.0,
        clock: Callable[[], int] = time.time_ns,
        **_: object,
    ) -> None:
        self.exchange_id = exchange
        self.venue = exchange
        self.name = exchange
        self.rest_url = rest_url
        self.default_symbols = list(symbols or ())
        self.cache = cache
        self.urls = urls or {}
        self.options = options or {}
        self.page_limit = page_limit
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.health = FeedHealth(f"{exchange} (ccxt)")
        self._ex: Any = None
        self.requests = 0

    def _exchange(self) -> Any:
        if self._ex is None:
            import ccxt.async_support as ccxt_async

            cls = getattr(ccxt_async, self.exchange_id, None)
            if cls is None:
                raise FeedError(f"ccxt has no exchange {self.exchange_id!r}")
            ex = cls({"enableRateLimit": True, "timeout": int(self.timeout_s * 1000)})
            if self.exchange_id.startswith("binance"):
                ex.options["fetchMarkets"] = {"types": ["spot"]}
            ex.options.update(self.options)
            if self.rest_url:
                ex.urls["api"] = point_urls_at(ex.urls["api"], self.rest_url)
            for key, value in self.urls.items():
                ex.urls[key] = value
            self._ex = ex
        return self._ex

    def symbols(self) -> list[str]:
        return list(self.default_symbols)

    def stream(self, symbols: Any, timeframe: str) -> Any:
        raise FeedError(
            f"the ccxt feed only serves history; stream {self.exchange_id} with its websocket"
            " feed (qws run --feed binance|bybit)"
        )

    async def close(self) -> None:
        if self._ex is not None:
            await self._ex.close()
            self._ex = None

    async def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        import ccxt.async_support as ccxt_async

        for attempt in range(self.max_retries + 1):
            self.requests += 1
            try:
                return await fn(*args, **kw)
            except ccxt_async.BadSymbol as exc:
                raise FeedError(f"{self.exchange_id}: unknown symbol ({exc})") from None
            except (ccxt_async.DDoSProtection, ccxt_async.RateLimitExceeded) as exc:
                retry = self._retry_after(attempt)
                banned = " 418 " in str(exc)
                self.health.drop("rate_limited", str(exc)[:120])
                message = (
                    f"{self.exchange_id}: {'IP banned' if banned else 'rate limited'} while"
                    f" fetching {what}; waiting {retry:.1f}s before asking again"
                )
                if banned or attempt == self.max_retries:
                    raise RateLimited(
                        message.replace("; waiting", "; stopped. Wait")
                        + " (try again later or lower the request rate)",
                        retry,
                        banned,
                    ) from None
                self.health.last_error = message
                await asyncio.sleep(retry)
            except ccxt_async.NetworkError as exc:
                if attempt == self.max_retries:
                    raise FeedError(
                        f"{self.exchange_id}: network error fetching {what}: {exc}"
                    ) from None
                await asyncio.sleep(self._retry_after(attempt))
            except ccxt_async.BaseError as exc:
                raise FeedError(f"{self.exchange_id}: {what} failed: {exc}") from None
        raise AssertionError("unreachable")

    def _retry_after(self, attempt: int) -> float:
        headers = getattr(self._ex, "last_response_headers", None) or {}
        value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        try:
            return float(value) if value is not None else self.backoff_s * 2**attempt
        except ValueError:
            return self.backoff_s * 2**attempt

    async def check(self, symbol: str, timeframe: str) -> str:
        """The exchange's timeframe string; FeedError for an unknown symbol or timeframe."""
        ex = self._exchange()
        await self._call("markets", ex.load_markets)
        if symbol not in ex.markets:
            sample = ", ".join(list(ex.markets)[:5])
            raise FeedError(f"{self.exchange_id} has no symbol {symbol!r} (e.g. {sample})")
        tf = str(parse(timeframe))
        if tf not in (ex.timeframes or {}):
            offered = ", ".join(ex.timeframes or {})
            raise FeedError(f"{self.exchange_id} has no {tf} bars; it offers {offered}")
        return tf

    async def history(
        self, symbol: str, timeframe: str, start: int | None = None, limit: int | None = None
    ) -> pl.DataFrame:
        """Closed bars from ``start`` (at most ``limit``), or the latest ``limit`` (500)."""
        tf = parse(timeframe)
        end = tf.bucket(self.clock())
        if start is None:
            frame = await self.fetch_range(symbol, str(tf), end - (limit or 500) * tf.ns, end)
            return frame.tail(limit or 500)
        frame = await self.fetch_range(symbol, str(tf), start, end)
        return frame.head(limit) if limit is not None else frame

    async def fetch_range(
        self,
        symbol: str,
        timeframe: str,
        start: int,
        end: int | None = None,
        on_progress: Progress | None = None,
    ) -> pl.DataFrame:
        """Closed bars with ``start <= ts < end``, fetching only what the cache lacks."""
        tf = parse(timeframe)
        last_closed_end = tf.bucket(self.clock())
        end = min(end if end is not None else last_closed_end, last_closed_end)
        start = -(-start // tf.ns) * tf.ns if tf.unit != "w" else tf.bucket(start + tf.ns - 1)
        cached = self._cached(symbol, str(tf), start, end)
        runs = missing_runs(cached["ts"], start, end, tf.ns)
        expected = sum((b - a) // tf.ns for a, b in runs)
        if not runs:
            if on_progress is not None:
                on_progress(0, 0)
            return cached
        market_tf = await self.check(symbol, str(tf))
        done = 0
        fetched: list[pl.DataFrame] = []
        for a, b in runs:
            async for page in self._pages(symbol, market_tf, tf, a, b):
                fetched.append(page)
                done += page.height
                if on_progress is not None:
                    on_progress(min(done, expected), expected)
        new = pl.concat(fetched).unique("ts", keep="last").sort("ts") if fetched else empty_ohlcv()
        if self.cache is not None and not new.is_empty():
            self.cache.upsert(new, symbol, str(tf), self.venue)
        if on_progress is not None:
            on_progress(expected, expected)
        return pl.concat([cached, new]).unique("ts", keep="last").sort("ts")

    def _cached(self, symbol: str, timeframe: str, start: int, end: int) -> pl.DataFrame:
        if self.cache is None:
            return empty_ohlcv()
        frame = self.cache.between(symbol, timeframe, start, end, venue=self.venue)
        return frame.select(list(OHLCV_SCHEMA)).cast(OHLCV_SCHEMA)  # type: ignore[arg-type]

    async def _pages(self, symbol: str, market_tf: str, tf: Timeframe, a: int, b: int) -> Any:
        ex = self._exchange()
        cursor = a
        while cursor < b:
            rows = await self._call(
                f"{symbol} {market_tf} bars",
                ex.fetch_ohlcv,
                symbol,
                market_tf,
                since=cursor // _MS,
                limit=self.page_limit,
            )
            page = _rows_to_frame(rows).filter((pl.col("ts") >= cursor) & (pl.col("ts") < b))
            if page.is_empty():
                return
            yield page
            nxt = int(page["ts"][-1]) + tf.ns
            if nxt <= cursor:
                return
            cursor = nxt


def _rows_to_frame(rows: list[list[Any]]) -> pl.DataFrame:
    good = [
        (int(r[0]) * _MS, float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5] or 0))
        for r in rows
        if r and None not in r[:5]
    ]
    return pl.DataFrame(good, schema=OHLCV_SCHEMA, orient="row") if good else empty_ohlcv()
