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
- **gap backfill**: on every connection, and whenever a closed bar opens more than one
  timeframe after the previous closed bar of its symbol, the missing closed bars are fetched
  over REST (with bounded retries and back-off) and yielded, in order, before anything newer.
  A symbol that has not closed a bar yet is filled from the bar that was forming when it was
  subscribed. A hole that cannot be fetched is recorded in :attr:`health` as a gap (shown by
  ``qws doctor --live`` and the status line), never skipped silently. Closed bars are
  deduplicated on their open time.
- **bad input** never raises: :meth:`ExchangeWsFeed.handle` drops and counts every frame that
  cannot be used, whatever it holds (non-finite or huge numbers, wrong types, deep nesting,
  bytes that are not UTF-8), and nothing leaves the feed that :mod:`feeds.publishable`
  refuses (a NaN price, a crossed book...).
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
from feeds.health import FeedHealth, Gap
from feeds.publishable import MAX_TS_NS, problem

log = logging.getLogger("qws.feeds")

_CLOSED = object()
_MS = 1_000_000
MAX_AHEAD_NS = 86_400 * 1_000_000_000
"""A venue time further ahead of our clock than this is bad input, not a clock skew."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential back-off with "equal jitter": half the step fixed, half random."""

    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        step = min(self.cap_s, self.base_s * 2 ** min(attempt, 30))
        return step / 2 + rng.uniform(0, step / 2)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise BadInput("malformed", f"{what} {value!r} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadInput("malformed", f"{what} {str(value)[:50]!r} is not a number") from None
    except OverflowError:  # an integer of hundreds of digits
        return math.inf


def positive(value: Any, what: str = "price") -> float:
    """A finite, strictly positive float from a venue's string or number, else BadInput."""
    x = _number(value, what)
    if not math.isfinite(x):
        raise BadInput("nan_price" if what == "price" else "nan_value", f"{what} {value!r}")
    if x <= 0:
        raise BadInput("zero_price" if what == "price" else "zero_value", f"{what} {value!r}")
    return x


def non_negative(value: Any, what: str = "size") -> float:
    x = _number(value, what)
    if not math.isfinite(x) or x < 0:
        raise BadInput("nan_value", f"{what} {str(value)[:50]!r}")
    return x


def sequence(value: Any, what: str = "update id") -> int:
    """A venue's id or sequence number: an integer that fits in int64, else BadInput (one
    absurd id must not make every later message look old)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput("malformed", f"{what} {str(value)[:50]!r} is not an integer")
    n = value
    if not 0 <= n <= MAX_TS_NS:
        raise BadInput("malformed", f"{what} {str(value)[:50]} is out of range")
    return n


def millis(value: Any, now_ns: int, what: str = "time") -> int:
    """A venue's epoch milliseconds as UTC ns: positive, within int64, at most a day ahead."""
    try:
        ms = sequence(value, what)
    except BadInput as exc:
        raise BadInput("bad_time", exc.detail) from None
    ns = ms * _MS
    if ns <= 0 or ns > MAX_TS_NS or ns > now_ns + MAX_AHEAD_NS:
        raise BadInput("bad_time", f"{what} {ms} ms is out of range")
    return ns


Levels = tuple[tuple[float, float], ...]


def levels(rows: Any) -> Levels:
    """A book side's changes ``[[price, size], ...]`` as validated floats (size 0 removes the
    level), all of them or BadInput: a message is applied whole or not at all."""
    if not isinstance(rows, list):
        raise BadInput("malformed", f"levels {str(rows)[:50]} are not a list")
    out = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 2:
            raise BadInput("malformed", f"level {str(row)[:50]} is not [price, size]")
        out.append((positive(row[0]), non_negative(row[1])))
    return tuple(out)


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
        backfill_retries: int = 3,
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
        self.backfill_retries = backfill_retries
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
        self._since: dict[str, int] = {}  # when each symbol was subscribed (clock ns)
        self._instruments: dict[str, Instrument] = {}
        self._closed = False
        self._delivered = False  # by the current connection
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
        for symbol in list(self._since):
            if symbol not in symbols:  # unsubscribed: a later subscription starts afresh
                del self._since[symbol]
                self._last_bar.pop(symbol, None)
        now = self.clock()
        for symbol in symbols:
            self._since.setdefault(symbol, now)
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
        """Publish an event made outside :meth:`handle` (a synced book, a backfilled bar)."""
        assert self._out is not None
        bad = problem(event)
        if bad is not None:
            self.health.drop(*bad)
            return
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
                self._delivered = False
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
                        await self._backfill(symbols, timeframe)
                        self.health.state = "live"
                        await self._read(ws)
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
                # a connection that delivered resets the count, however it ended
                attempt = 0 if self._delivered else attempt + 1
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

    async def _read(self, ws: ClientConnection) -> None:
        """Read until the connection ends (:attr:`_delivered` tells if it delivered data)."""
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
                return
            self.health.seen()
            events = self.handle(raw)
            if events:
                self._delivered = True
                await self._deliver(events)

    async def _heartbeat(self, message: Any) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval_s)
            await self.send(message)

    def handle(self, raw: str | bytes) -> list[FeedEvent]:
        """Decode and parse one frame into publishable events. Never raises for any input:
        every failure is a drop counted under a reason. Only a venue's deliberate
        :class:`FeedError` (the server speaks another protocol) goes through: that is not one
        bad frame but a connection that cannot work."""
        try:
            msg = json.loads(raw)
        except RecursionError:
            self.health.drop("malformed_json", "nested too deeply")
            return []
        except (ValueError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
            self.health.drop("malformed_json", str(exc)[:200])
            return []
        try:
            events = self.parse_message(msg)
        except BadInput as exc:
            self.health.drop(exc.reason, exc.detail)
            return []
        except FeedError:
            raise
        except Exception as exc:  # a shape the parser did not foresee (huge, deep, wrong type)
            self.health.drop("malformed", _short(exc))
            return []
        out: list[FeedEvent] = []
        for event in events:
            bad = problem(event)
            if bad is not None:
                self.health.drop(*bad)
            else:
                out.append(event)
        return out

    async def _deliver(self, events: list[FeedEvent]) -> None:
        """Publish a frame's events in order; a closed bar that jumps over missing bars waits
        for them to be backfilled first, and a repeated or older one is dropped."""
        assert self._out is not None
        for event in events:
            if isinstance(event, Bar):
                if not self._new_bar(event):
                    continue
                start = self._expected_bar(event.symbol)
                if start is not None and event.ts_ns > start:
                    await self._fill(event.symbol, start, event.ts_ns)
                self._last_bar[event.symbol] = event.ts_ns
            await self._out.put(event)

    def _new_bar(self, bar: Bar) -> bool:
        last = self._last_bar.get(bar.symbol)
        if last is not None and bar.ts_ns <= last:
            self.health.drop("duplicate" if bar.ts_ns == last else "out_of_order", bar.symbol)
            return False
        return True

    def accept_bar(self, bar: Bar) -> bool:
        """Closed bars pass once each, in time order; a repeat or an older bar is dropped."""
        if not self._new_bar(bar):
            return False
        self._last_bar[bar.symbol] = bar.ts_ns
        return True

    def _expected_bar(self, symbol: str) -> int | None:
        """The open time of the next closed bar of ``symbol``: after the last one delivered,
        else the bar that was forming when it was subscribed."""
        tf = parse(self.timeframe)
        last = self._last_bar.get(symbol)
        if last is not None:
            return last + tf.ns
        since = self._since.get(symbol)
        return None if since is None else tf.bucket(since)

    async def _backfill(self, symbols: list[str], timeframe: str) -> None:
        """On a (re)connection: yield the closed bars missed meanwhile, before the new
        stream's messages."""
        closed_before = parse(timeframe).bucket(self.clock())
        for symbol in symbols:
            start = self._expected_bar(symbol)
            if start is not None and start < closed_before:
                await self._fill(symbol, start, closed_before)

    async def _fill(self, symbol: str, start: int, end: int) -> None:
        """Yield the closed bars of ``symbol`` with ``start <= ts < end`` from REST, retrying
        with back-off; a hole that cannot be fetched stays recorded as a gap in health."""
        tf = parse(self.timeframe)
        gap = Gap(symbol, start, end, (end - start) // tf.ns, "backfilling")
        self.health.open_gap(gap)
        frame: pl.DataFrame | None = None
        for attempt in range(self.backfill_retries + 1):
            try:
                frame = await self._paginate(symbol, self.timeframe, start, None)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # FeedError, RateLimited, a page that is not klines
                why = _short(exc)
                self.health.last_error = f"backfill {symbol}: {why}"
                final = attempt == self.backfill_retries or getattr(exc, "banned", False)
                self.health.open_gap(Gap(symbol, start, end, gap.bars, f"not backfilled: {why}"))
                if final:
                    self.health.drop("backfill_failed", f"{symbol}: {why}")
                    log.warning("%s: %s", self.name, self.health.gaps()[-1].describe())
                    return
                log.info("%s: backfill %s failed (%s); retrying", self.name, symbol, why)
                await asyncio.sleep(self.backoff.delay(attempt, self._rng))
        assert frame is not None
        now = self.clock()
        frame = frame.filter(
            (pl.col("ts") >= start) & (pl.col("ts") < end) & (pl.col("ts") + tf.ns <= now)
        )
        for ts, o, h, lo, c, v in frame.select(list(OHLCV_SCHEMA)).iter_rows():
            bar = Bar(ts, symbol, self.timeframe, o, h, lo, c, v, True)
            bad = problem(bar)
            if bad is not None:
                self.health.drop(*bad)
                continue
            if self.accept_bar(bar):
                self.health.backfilled_bars += 1
                assert self._out is not None
                await self._out.put(bar)
        self.health.close_gap(symbol, start)

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


def _short(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


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
