"""The base of every exchange websocket feed: connect, subscribe, heartbeat, reconnect, backfill.

A venue module (``feeds/exchanges/binance.py``, ``feeds/exchanges/bybit.py``,
``feeds/mt5/bridge_client.py``) supplies the
wire format: the subscribe messages, the parsing of one decoded message into domain events,
and a REST call for klines. This class supplies the behaviour that stops a chart going stale:

- **heartbeat**: websocket pings every ``ping_interval_s``; no pong within ``ping_timeout_s``
  closes the connection. Independently, no message at all for ``stale_after_s`` counts as a
  dead stream (some servers answer pings but stop sending data). Venues that want an
  application-level ping (Bybit's ``{"op": "ping"}``) return it from :meth:`heartbeat_message`.
- **reconnect** with exponential back-off and jitter (``Backoff``); the attempt count resets
  only after a connection delivered data, so a server that accepts and drops at once is not
  hammered. An HTTP 401/403 at the handshake is final (a wrong token does not get better).
- **resubscribe** on every new connection.
- **gap backfill**: after a reconnect, closed bars newer than the last one delivered are
  fetched over REST and yielded, in order, before any message of the new connection, so a
  chart never silently skips. Closed bars are deduplicated on their open time afterwards.
- **bad input** never raises: every message that cannot be used is dropped and counted in
  :attr:`health` under a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import polars as pl
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from engine.model import Bar, BookLevel, Instrument
from engine.protocols import FeedEvent
from engine.timeframes import OHLCV_SCHEMA, empty_ohlcv, parse
from feeds.errors import BadInput, FeedError, RateLimited
from feeds.health import FeedHealth

log = logging.getLogger("qws.feeds")

_CLOSED = object()


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential back-off with "equal jitter": half the step fixed, half random."""

    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        step = min(self.cap_s, self.base_s * 2 ** min(attempt, 30))
        return step / 2 + rng.uniform(0, step / 2)


def positive(value: Any, what: str = "price") -> float:
    """A finite, strictly positive float from a venue's string or number, else BadInput."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise BadInput("malformed", f"{what} {value!r} is not a number") from None
    if not math.isfinite(x):
        raise BadInput("nan_price" if what == "price" else "nan_value", f"{what} {value!r}")
    if x <= 0:
        raise BadInput("zero_price" if what == "price" else "zero_value", f"{what} {value!r}")
    return x


def non_negative(value: Any, what: str = "size") -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise BadInput("malformed", f"{what} {value!r} is not a number") from None
    if not math.isfinite(x) or x < 0:
        raise BadInput("nan_value", f"{what} {value!r}")
    return x


def top(side: dict[float, float], depth: int, descending: bool = False) -> tuple[BookLevel, ...]:
    """The best ``depth`` levels of one book side (sorting the float keys beats a heap of
    (price, size) tuples by 10-20x at 100-1000 levels)."""
    prices = sorted(side, reverse=descending)[:depth]
    return tuple(BookLevel(p, side[p]) for p in prices)


class ExchangeWsFeed:
    """Base class; see the module docstring. Subclasses set ``name`` and the hooks below."""

    name = "exchange"
    venue = "exchange"
    max_rest_bars = 1000

    def __init__(
        self,
        ws_url: str,
        rest_url: str = "",
        symbols: Sequence[str] | None = (),
        *,
        url: str | None = None,
        ping_interval_s: float = 20.0,
        ping_timeout_s: float = 10.0,
        stale_after_s: float | None = 60.0,
        open_timeout_s: float = 10.0,
        heartbeat_interval_s: float = 20.0,
        backoff: Backoff | None = None,
        max_reconnects: int | None = None,  # consecutive failures; None = keep trying
        http_timeout_s: float = 10.0,
        log_every_s: float = 60.0,
        clock: Callable[[], int] = time.time_ns,
        seed: int | None = None,
        headers: dict[str, str] | None = None,
        **_: object,
    ) -> None:
        self.ws_url = url or ws_url
        self.rest_url = rest_url.rstrip("/")
        self.default_symbols = list(symbols or ())
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.stale_after_s = stale_after_s
        self.open_timeout_s = open_timeout_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.backoff = backoff or Backoff()
        self.max_reconnects = max_reconnects
        self.http_timeout_s = http_timeout_s
        self.clock = clock
        self.headers = dict(headers or {})
        self.health = FeedHealth(self.name, log_every_s=log_every_s)
        self._rng = random.Random(seed)
        self._http: httpx.AsyncClient | None = None
        self._ws: ClientConnection | None = None
        self._out: asyncio.Queue[Any] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_bar: dict[str, int] = {}
        self._instruments: dict[str, Instrument] = {}
        self._closed = False
        self.timeframe = "1m"

    # -- venue hooks -------------------------------------------------------------------------
    def subscribe_messages(self, symbols: Sequence[str], timeframe: str) -> list[Any]:
        raise NotImplementedError

    def parse_message(self, msg: Any) -> list[FeedEvent]:
        """Domain events from one decoded JSON message; raise BadInput to drop it."""
        raise NotImplementedError

    async def fetch_bars(
        self, symbol: str, timeframe: str, start: int | None, limit: int
    ) -> pl.DataFrame:
        """At most ``limit`` bars from ``start`` (ns, inclusive), or the latest if None."""
        raise NotImplementedError

    def heartbeat_message(self) -> Any | None:
        return None

    def on_connected(self) -> None:
        """Reset per-connection state (sequence numbers, books) before resubscribing."""

    # -- Feed protocol -----------------------------------------------------------------------
    popular: tuple[str, ...] = ()
    """What ``symbols()`` offers when none were configured (the app intersects its watchlist)."""

    def symbols(self) -> list[str]:
        return list(self.default_symbols or self.popular)

    def instrument(self, symbol: str) -> Instrument:
        """What the venue's ``load_instruments`` found for ``symbol`` (tick, lot, minimums)."""
        try:
            return self._instruments[symbol]
        except KeyError:
            raise KeyError(f"{symbol}: instrument not loaded from {self.name.title()}") from None

    async def history(
        self, symbol: str, timeframe: str, start: int | None = None, limit: int | None = None
    ) -> pl.DataFrame:
        """Closed bars over REST, paginated forward from ``start`` (or the latest ``limit``,
        500 by default). The bar still forming is left out, as ccxt and MT5 history do here,
        so ``history(s, "1d", limit=1)`` is yesterday's bar, not today's so far."""
        tf = parse(timeframe)
        closed = pl.col("ts") + tf.ns <= self.clock()
        if start is not None:
            frame = await self._paginate(
                symbol, str(tf), start, None if limit is None else limit + 1
            )
            frame = frame.filter(closed)
            return frame.head(limit) if limit is not None else frame
        n = 500 if limit is None else limit
        if n < self.max_rest_bars:
            page = await self.fetch_bars(symbol, str(tf), None, n + 1)
            return _finish([page], None).filter(closed).tail(n)
        first = tf.bucket(self.clock()) - n * tf.ns
        return (await self._paginate(symbol, str(tf), first, n + 1)).filter(closed).tail(n)

    async def _paginate(
        self, symbol: str, timeframe: str, start: int, want: int | None
    ) -> pl.DataFrame:
        tf = parse(timeframe)
        frames: list[pl.DataFrame] = []
        got = 0
        cursor = tf.bucket(start)
        while want is None or got < want:
            page = await self.fetch_bars(symbol, timeframe, cursor, self.max_rest_bars)
            page = page.filter(pl.col("ts") >= cursor)
            if page.is_empty():
                break
            frames.append(page)
            got += page.height
            cursor = int(page["ts"][-1]) + tf.ns
            if page.height < self.max_rest_bars or cursor > self.clock():
                break
        out = _finish(frames, None)
        return out.head(want) if want is not None else out

    def stream(self, symbols: Sequence[str], timeframe: str = "1m") -> AsyncIterator[FeedEvent]:
        return self._stream(list(symbols) or self.default_symbols, timeframe)

    async def _stream(self, symbols: list[str], timeframe: str) -> AsyncIterator[FeedEvent]:
        if not symbols:
            raise FeedError(f"{self.name}: no symbols to stream")
        self.timeframe = str(parse(timeframe))
        self.check_timeframe(self.timeframe)
        self._out = asyncio.Queue(maxsize=10_000)
        runner = asyncio.create_task(self._run(symbols, self.timeframe), name=f"{self.name}-ws")
        try:
            while True:
                item = await self._out.get()
                if item is _CLOSED:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
            await self._cancel_tasks()

    def check_timeframe(self, timeframe: str) -> None:
        """Raise FeedError if the venue cannot stream bars of ``timeframe``."""

    async def close(self) -> None:
        self._closed = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        await self._cancel_tasks()
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self.health.state = "closed"

    # -- plumbing ----------------------------------------------------------------------------
    async def emit(self, event: FeedEvent) -> None:
        assert self._out is not None
        await self._out.put(event)

    def spawn(self, coro: Any) -> None:
        """Run a venue side job (a depth snapshot, a resubscribe) for this connection."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.health.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("%s: background job failed: %s", self.name, exc)

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def send(self, msg: Any) -> None:
        if self._ws is not None:
            await self._ws.send(msg if isinstance(msg, str) else json.dumps(msg))

    async def _run(self, symbols: list[str], timeframe: str) -> None:
        assert self._out is not None
        attempt = 0
        connections = 0
        try:
            while not self._closed:
                delivered = False
                try:
                    self.health.state = "connecting"
                    async with connect(
                        self.ws_url,
                        ping_interval=self.ping_interval_s,
                        ping_timeout=self.ping_timeout_s,
                        open_timeout=self.open_timeout_s,
                        close_timeout=1.0,
                        max_queue=1024,
                        additional_headers=self.headers or None,
                    ) as ws:
                        self._ws = ws
                        connections += 1
                        self.health.connects += 1
                        if connections > 1:
                            self.health.reconnects += 1
                        self.on_connected()
                        for msg in self.subscribe_messages(symbols, timeframe):
                            await self.send(msg)
                        if connections > 1:
                            await self._backfill(symbols, timeframe)
                        self.health.state = "live"
                        delivered = await self._read(ws)
                except InvalidStatus as exc:
                    status = exc.response.status_code
                    if status in (401, 403):
                        raise FeedError(
                            f"{self.name}: {self.ws_url} refused the connection (HTTP {status}):"
                            " check the token"
                        ) from None
                    self._note_failure(f"handshake rejected (HTTP {status})")
                except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError) as exc:
                    self._note_failure(_describe(exc))
                finally:
                    self._ws = None
                    await self._cancel_tasks()
                if self._closed:
                    break
                attempt = 0 if delivered else attempt + 1
                if self.max_reconnects is not None and attempt > self.max_reconnects:
                    raise FeedError(
                        f"{self.name}: giving up after {self.max_reconnects} failed reconnects"
                        f" ({self.health.last_error})"
                    )
                self.health.state = "backoff"
                await asyncio.sleep(self.backoff.delay(attempt, self._rng))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            await self._out.put(exc)
            return
        await self._out.put(_CLOSED)

    def _note_failure(self, why: str) -> None:
        self.health.last_error = why
        log.info("%s: connection lost (%s); reconnecting", self.name, why)

    async def _read(self, ws: ClientConnection) -> bool:
        """Read until the connection ends; True if any data event was delivered."""
        delivered = False
        heartbeat = self.heartbeat_message()
        if heartbeat is not None:
            self.spawn(self._heartbeat(heartbeat))
        while True:
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that races with a message already buffered, and the stream never stops
                async with asyncio.timeout(self.stale_after_s):
                    raw = await ws.recv()
            except TimeoutError:
                self.health.drop("stale_stream", f"no message for {self.stale_after_s}s")
                self.health.last_error = f"no data for {self.stale_after_s}s"
                await ws.close(code=1001, reason="stale")
                return delivered
            self.health.seen()
            for event in self.handle(raw):
                delivered = True
                await self.emit(event)

    async def _heartbeat(self, message: Any) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval_s)
            await self.send(message)

    def handle(self, raw: str | bytes) -> list[FeedEvent]:
        """Decode and parse one frame; every failure is a counted drop, never an exception."""
        try:
            msg = json.loads(raw)
        except (ValueError, TypeError) as exc:
            self.health.drop("malformed_json", str(exc))
            return []
        try:
            events = self.parse_message(msg)
        except BadInput as exc:
            self.health.drop(exc.reason, exc.detail)
            return []
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            self.health.drop("malformed", f"{type(exc).__name__}: {exc}")
            return []
        return [e for e in events if not isinstance(e, Bar) or self.accept_bar(e)]

    def accept_bar(self, bar: Bar) -> bool:
        """Closed bars pass once each, in time order; a repeat or an older bar is dropped."""
        last = self._last_bar.get(bar.symbol)
        if last is not None and bar.ts_ns <= last:
            self.health.drop("duplicate" if bar.ts_ns == last else "out_of_order", bar.symbol)
            return False
        self._last_bar[bar.symbol] = bar.ts_ns
        return True

    async def _backfill(self, symbols: list[str], timeframe: str) -> None:
        """Yield the closed bars missed while disconnected, before the new stream's messages."""
        tf = parse(timeframe)
        now = self.clock()
        for symbol in symbols:
            last = self._last_bar.get(symbol)
            if last is None or last + 2 * tf.ns > now:
                continue  # nothing has closed since the last bar we delivered
            try:
                frame = await self._paginate(symbol, timeframe, last + tf.ns, None)
            except FeedError as exc:
                self.health.drop("backfill_failed", f"{symbol}: {exc}")
                self.health.last_error = f"backfill {symbol}: {exc}"
                continue
            frame = frame.filter(pl.col("ts") + tf.ns <= now)
            for ts, o, h, lo, c, v in frame.select(list(OHLCV_SCHEMA)).iter_rows():
                bar = Bar(ts, symbol, timeframe, o, h, lo, c, v, True)
                if self.accept_bar(bar):
                    self.health.backfilled_bars += 1
                    await self.emit(bar)

    # -- REST --------------------------------------------------------------------------------
    async def get_json(self, path: str, params: dict[str, Any]) -> Any:
        """GET ``rest_url + path``; 429/418 become RateLimited with the venue's Retry-After."""
        if not self.rest_url:
            raise FeedError(f"{self.name}: no REST url configured")
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self.rest_url, timeout=self.http_timeout_s)
        for tries in range(3):
            try:
                resp = await self._http.get(path, params=params)
            except httpx.HTTPError as exc:
                raise FeedError(f"{self.name}: {self.rest_url}{path} failed: {exc}") from None
            if resp.status_code in (429, 418):
                retry = _retry_after(resp)
                banned = resp.status_code == 418
                err = RateLimited(
                    f"{self.name}: {'IP banned' if banned else 'rate limited'} by the venue"
                    f" (HTTP {resp.status_code}); waiting {retry:.0f}s before asking again",
                    retry,
                    banned,
                )
                self.health.drop("rate_limited", str(err))
                if banned or tries == 2 or retry > 60:
                    raise err
                await asyncio.sleep(retry)
                continue
            if resp.status_code >= 400:
                raise FeedError(
                    f"{self.name}: {path} answered {resp.status_code}: {resp.text[:200]}"
                )
            try:
                return resp.json()
            except ValueError:
                raise FeedError(f"{self.name}: {path} did not answer JSON") from None
        raise AssertionError("unreachable")


def _retry_after(resp: httpx.Response) -> float:
    try:
        return max(0.0, float(resp.headers.get("Retry-After", "")))
    except ValueError:
        return 60.0


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        if exc.rcvd is not None:
            return f"closed {exc.rcvd.code} {exc.rcvd.reason}".strip()
        if exc.sent is not None:  # we closed it, e.g. keepalive ping timeout (1011)
            return f"closed {exc.sent.code} {exc.sent.reason}".strip()
        return "closed 1006 without a close frame"
    return f"{type(exc).__name__}: {exc}"


def _finish(frames: list[pl.DataFrame], want: int | None) -> pl.DataFrame:
    frames = [f for f in frames if not f.is_empty()]
    if not frames:
        return empty_ohlcv()
    out = pl.concat(frames).unique("ts", keep="last").sort("ts")
    return out.tail(want) if want is not None else out
