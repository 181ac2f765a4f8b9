"""Binance spot market streams: trade, kline, bookTicker and diff depth, with REST klines.

Wire formats (Binance spot WebSocket Streams, raw ``/ws`` endpoint with live SUBSCRIBE):

- subscribe: ``{"method": "SUBSCRIBE", "params": ["btcusdt@trade", ...], "id": 1}``,
  answered by ``{"result": null, "id": 1}`` or ``{"error": {"code": .., "msg": ..}, "id": 1}``
- trade: ``{"e": "trade", "E": ms, "s": "BTCUSDT", "t": id, "p": "px", "q": "qty", "T": ms, ...}``
- kline: ``{"e": "kline", "E": ms, "s": "BTCUSDT", "k": {"t": open_ms, "T": close_ms,
  "i": "1m", "o", "h", "l", "c", "v": strings, "x": closed?}}``
- bookTicker: ``{"u": update_id, "s": "BTCUSDT", "b": bid, "B": bid_qty, "a": ask, "A": ask_qty}``
- depthUpdate: ``{"e": "depthUpdate", "E": ms, "s": "BTCUSDT", "U": first_id, "u": last_id,
  "b": [[px, qty], ...], "a": [[px, qty], ...]}``

The local book follows Binance's documented procedure: buffer diff events, fetch the REST
snapshot ``GET /api/v3/depth`` (``lastUpdateId``), drop buffered events with ``u <=
lastUpdateId``, require the first applied one to straddle ``lastUpdateId + 1``, then require
each event's ``U`` to be the previous ``u + 1``. A gap discards the book and starts again
(counted as ``sequence_gap``). Quantity 0 removes a price level. A diff is validated whole
before any of it is applied (one bad level drops the diff, not half of it); a diff that
leaves the book crossed means the book is wrong: it is discarded (``crossed_book``) and
synchronised again, and a crossed book is never published.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import polars as pl

from engine.model import Bar, Instrument, OrderBook, Tick
from engine.protocols import FeedEvent
from engine.timeframes import OHLCV_SCHEMA, empty_ohlcv, parse
from feeds.errors import BadInput, FeedError
from feeds.exchange_ws import (
    ExchangeWsFeed,
    Levels,
    levels,
    millis,
    non_negative,
    positive,
    sequence,
    top,
)

INTERVALS = frozenset(
    {"1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w"}
)
_MS = 1_000_000
_MAX_BUFFER = 5_000


def venue_symbol(symbol: str) -> str:
    """``"BTC/USDT"`` -> ``"BTCUSDT"`` (Binance writes pairs without a separator)."""
    return symbol.replace("/", "").replace("-", "").upper()


def exchange_info_instrument(symbol: str, raw: dict[str, Any]) -> Instrument:
    """An Instrument from one ``exchangeInfo`` symbol entry (PRICE_FILTER, LOT_SIZE, NOTIONAL
    or the older MIN_NOTIONAL filter)."""
    filters = {f["filterType"]: f for f in raw["filters"]}
    notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
    return Instrument(
        symbol,
        "binance",
        Decimal(filters["PRICE_FILTER"]["tickSize"]).normalize(),
        Decimal(filters["LOT_SIZE"]["stepSize"]).normalize(),
        raw["quoteAsset"],
        raw["baseAsset"],
        Decimal(filters["LOT_SIZE"]["minQty"]).normalize(),
        Decimal(str(notional.get("minNotional", "0"))).normalize(),
        "crypto",
    )


def binance_interval(timeframe: str) -> str:
    tf = str(parse(timeframe))
    if tf not in INTERVALS:
        raise FeedError(
            f"binance has no {tf} klines; use one of {', '.join(sorted(INTERVALS, key=_tf_ns))}"
        )
    return tf


def _tf_ns(tf: str) -> int:
    return parse(tf).ns


@dataclass(slots=True)
class _Quote:
    bid: float = math.nan
    ask: float = math.nan
    last: float = math.nan
    trade_id: int = -1
    book_id: int = -1


@dataclass(frozen=True, slots=True)
class DepthDiff:
    """One ``depthUpdate``, validated whole: update ids ``first..last`` and the level changes."""

    first: int
    last: int
    ts_ns: int
    bids: Levels
    asks: Levels


@dataclass(slots=True)
class DepthBook:
    """One symbol's local order book and where it stands in the sync procedure."""

    symbol: str
    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    last_id: int = -1
    synced: bool = False
    syncing: bool = False
    buffer: list[DepthDiff] = field(default_factory=list)

    def reset(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self.last_id = -1
        self.synced = False
        self.buffer.clear()

    def apply(self, diff: DepthDiff) -> None:
        for side, changes in ((self.bids, diff.bids), (self.asks, diff.asks)):
            for p, q in changes:
                if q == 0:
                    side.pop(p, None)
                else:
                    side[p] = q
        self.last_id = diff.last

    def snapshot(self, ts_ns: int, depth: int) -> OrderBook:
        return OrderBook(ts_ns, self.symbol, top(self.bids, depth, True), top(self.asks, depth))

    def crossed(self) -> bool:
        return bool(self.bids and self.asks) and max(self.bids) >= min(self.asks)


class BinanceFeed(ExchangeWsFeed):
    """Binance spot. Registered as entry point ``qws.feeds:binance``.

    ``BinanceFeed(ws_url, rest_url, symbols=(), *, depth=True, book_levels=20,
    snapshot_limit=1000, **ExchangeWsFeed options)``.
    """

    name = "binance"
    venue = "binance"
    max_rest_bars = 1000
    popular = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT")

    def __init__(
        self,
        ws_url: str = "wss://stream.binance.com:9443/ws",
        rest_url: str = "https://api.binance.com",
        symbols: Sequence[str] | None = (),
        *,
        depth: bool = True,
        trades: bool = True,
        book_levels: int = 20,
        snapshot_limit: int = 1000,
        **options: Any,
    ) -> None:
        super().__init__(ws_url, rest_url, symbols, **options)
        self.depth = depth
        self.trades = trades
        self.book_levels = book_levels
        self.snapshot_limit = snapshot_limit
        self._by_venue: dict[str, str] = {}
        self._quotes: dict[str, _Quote] = {}
        self._books: dict[str, DepthBook] = {}
        self._next_id = 0

    # -- instruments -------------------------------------------------------------------------
    async def load_instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """Tick, lot, minimum quantity and notional of ``symbols`` (default: the feed's) from
        ``/api/v3/exchangeInfo``: the grid the order ticket and the paper broker must respect.
        Symbols the venue does not list are left out (``instrument`` then raises KeyError)."""
        wanted = {venue_symbol(s): s for s in (symbols or self.symbols())}
        data = await self.get_json(
            "/api/v3/exchangeInfo", {"symbols": json.dumps(sorted(wanted), separators=(",", ":"))}
        )
        found = []
        for raw in data.get("symbols", []) if isinstance(data, dict) else []:
            symbol = wanted.get(raw.get("symbol", ""))
            if symbol is None:
                continue
            try:
                inst = exchange_info_instrument(symbol, raw)
            except (KeyError, ValueError, ArithmeticError) as exc:
                self.health.drop("bad_exchange_info", f"{symbol}: {exc}")
                continue
            self._instruments[symbol] = inst
            found.append(inst)
        return found

    # -- subscription ------------------------------------------------------------------------
    def check_timeframe(self, timeframe: str) -> None:
        binance_interval(timeframe)

    def subscribe_messages(self, symbols: Sequence[str], timeframe: str) -> list[Any]:
        interval = binance_interval(timeframe)
        self._by_venue = {venue_symbol(s): s for s in symbols}
        params: list[str] = []
        for s in symbols:
            v = venue_symbol(s).lower()
            params += [f"{v}@kline_{interval}", f"{v}@bookTicker"]
            if self.trades:
                params.append(f"{v}@trade")
            if self.depth:
                params.append(f"{v}@depth@100ms")
        self._next_id += 1
        return [{"method": "SUBSCRIBE", "params": params, "id": self._next_id}]

    def on_connected(self) -> None:
        for book in self._books.values():
            book.reset()
            book.syncing = False
        for quote in self._quotes.values():
            quote.trade_id = quote.book_id = -1

    # -- parsing -----------------------------------------------------------------------------
    def parse_message(self, msg: Any) -> list[FeedEvent]:
        if not isinstance(msg, dict):
            raise BadInput("malformed", f"expected an object, got {type(msg).__name__}")
        if "stream" in msg and "data" in msg:  # combined-stream envelope
            msg = msg["data"]
            if not isinstance(msg, dict):
                raise BadInput("malformed", "combined stream data is not an object")
        kind = msg.get("e")
        if kind == "trade":
            return self._trade(msg)
        if kind == "kline":
            return self._kline(msg)
        if kind == "depthUpdate":
            return self._depth(msg)
        if kind is None and "u" in msg and "b" in msg and "a" in msg and "s" in msg:
            return self._book_ticker(msg)
        if kind is None and "id" in msg and ("result" in msg or "error" in msg):
            if msg.get("error"):
                self.health.last_error = f"subscribe refused: {msg['error']}"
                raise BadInput("subscribe_error", str(msg["error"]))
            return []
        raise BadInput("unknown_type", str(kind if kind is not None else sorted(msg)[:5]))

    def _symbol(self, msg: dict[str, Any]) -> str:
        symbol = self._by_venue.get(str(msg["s"]))
        if symbol is None:
            raise BadInput("unknown_symbol", str(msg["s"]))
        return symbol

    def _quote(self, symbol: str) -> _Quote:
        q = self._quotes.get(symbol)
        if q is None:
            q = self._quotes[symbol] = _Quote()
        return q

    def _trade(self, msg: dict[str, Any]) -> list[FeedEvent]:
        symbol = self._symbol(msg)
        price = positive(msg["p"])
        qty = non_negative(msg["q"], "qty")
        trade_id = sequence(msg["t"], "trade id")
        ts = millis(msg["T"], self.clock(), "trade time")
        q = self._quote(symbol)
        if trade_id <= q.trade_id:
            raise BadInput("duplicate" if trade_id == q.trade_id else "out_of_order", symbol)
        q.trade_id = trade_id
        q.last = price
        return [Tick(ts, symbol, q.bid, q.ask, price, qty)]

    def _book_ticker(self, msg: dict[str, Any]) -> list[FeedEvent]:
        symbol = self._symbol(msg)
        bid = positive(msg["b"])
        ask = positive(msg["a"])
        if ask < bid:
            raise BadInput("crossed_quote", f"{symbol} bid {bid} > ask {ask}")
        update = sequence(msg["u"])
        q = self._quote(symbol)
        if update <= q.book_id:
            raise BadInput("duplicate" if update == q.book_id else "out_of_order", symbol)
        q.book_id = update
        q.bid, q.ask = bid, ask
        return [Tick(self.clock(), symbol, bid, ask, q.last, 0.0)]

    def _kline(self, msg: dict[str, Any]) -> list[FeedEvent]:
        symbol = self._symbol(msg)
        k = msg["k"]
        if not isinstance(k, dict):
            raise BadInput("malformed", "kline k is not an object")
        if k.get("i") != self.timeframe and str(parse(str(k.get("i")))) != self.timeframe:
            raise BadInput("unknown_type", f"kline interval {str(k.get('i'))[:20]}")
        closed = k["x"]
        if not isinstance(closed, bool):
            raise BadInput("malformed", f"kline x {str(closed)[:20]} is not true/false")
        if not closed:
            return []
        o, h, lo, c = (positive(k[f]) for f in ("o", "h", "l", "c"))
        if h < max(o, c, lo) or lo > min(o, c):
            raise BadInput("inconsistent_bar", f"{symbol} o={o} h={h} l={lo} c={c}")
        v = non_negative(k["v"], "volume")
        ts = millis(k["t"], self.clock(), "kline open time")
        return [Bar(ts, symbol, self.timeframe, o, h, lo, c, v, True)]

    def _depth(self, msg: dict[str, Any]) -> list[FeedEvent]:
        symbol = self._symbol(msg)
        first, last = sequence(msg["U"]), sequence(msg["u"])
        if first > last:
            raise BadInput("malformed", f"{symbol} depth U {first} > u {last}")
        diff = DepthDiff(
            first, last, millis(msg["E"], self.clock(), "event time"), levels(msg["b"]),
            levels(msg["a"]),
        )  # fmt: skip
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = DepthBook(symbol)
        if not book.synced:
            book.buffer.append(diff)
            if len(book.buffer) > _MAX_BUFFER:
                book.buffer.pop(0)
            if not book.syncing:
                book.syncing = True
                self.spawn(self._sync(book))
            return []
        if last <= book.last_id:
            return []  # already contained in the snapshot: Binance says ignore it
        if first > book.last_id + 1:
            self.health.drop("sequence_gap", f"{symbol} depth U {first} after {book.last_id}")
            self._resync(book, diff)
            return []
        book.apply(diff)
        if book.crossed():
            self.health.drop("crossed_book", f"{symbol} after depth u {last}")
            self._resync(book)
            return []
        return [book.snapshot(diff.ts_ns, self.book_levels)]

    def _resync(self, book: DepthBook, pending: DepthDiff | None = None) -> None:
        """Discard the book and synchronise it again from a REST snapshot."""
        book.reset()
        if pending is not None:
            book.buffer.append(pending)
        if not book.syncing:
            book.syncing = True
            self.spawn(self._sync(book))

    async def _sync(self, book: DepthBook) -> None:
        """Binance's documented snapshot + buffered-diff procedure; retries until it fits."""
        try:
            for attempt in range(10):
                pause = min(0.05 * 2**attempt, 1.0)
                snap = await self.get_json(
                    "/api/v3/depth",
                    {"symbol": venue_symbol(book.symbol), "limit": self.snapshot_limit},
                )
                try:
                    last_id = sequence(snap["lastUpdateId"])
                    bids, asks = levels(snap["bids"]), levels(snap["asks"])
                except (BadInput, KeyError, TypeError) as exc:
                    self.health.drop("bad_snapshot", f"{book.symbol}: {exc}")
                    await asyncio.sleep(pause)
                    continue
                pending = [e for e in book.buffer if e.last > last_id]
                if book.buffer and last_id < book.buffer[0].first - 1:
                    await asyncio.sleep(pause)  # snapshot older than the stream
                    continue
                if pending and pending[0].first > last_id + 1:
                    await asyncio.sleep(pause)
                    continue
                book.bids = {p: q for p, q in bids if q > 0}
                book.asks = {p: q for p, q in asks if q > 0}
                book.last_id = last_id
                for event in pending:
                    if event.first > book.last_id + 1:
                        break  # a gap inside the buffer: start over
                    book.apply(event)
                else:
                    if book.crossed():
                        self.health.drop("crossed_book", f"{book.symbol} after a snapshot")
                        await asyncio.sleep(pause)  # the buffer stays: a newer snapshot next
                        continue
                    book.buffer.clear()
                    book.synced = True
                    await self.emit(book.snapshot(self.clock(), self.book_levels))
                    return
                self.health.drop("sequence_gap", f"{book.symbol} buffered depth")
                book.buffer = [e for e in book.buffer if e.last > book.last_id]
            raise FeedError(f"{self.name}: could not synchronise the {book.symbol} book")
        finally:
            book.syncing = False

    # -- REST --------------------------------------------------------------------------------
    async def fetch_bars(
        self, symbol: str, timeframe: str, start: int | None, limit: int
    ) -> pl.DataFrame:
        params: dict[str, Any] = {
            "symbol": venue_symbol(symbol),
            "interval": binance_interval(timeframe),
            "limit": min(limit, self.max_rest_bars),
        }
        if start is not None:
            params["startTime"] = start // _MS
        rows = await self.get_json("/api/v3/klines", params)
        return klines_to_frame(rows)


def klines_to_frame(rows: Any) -> pl.DataFrame:
    """Binance kline arrays ``[open_ms, "o", "h", "l", "c", "v", close_ms, ...]`` -> OHLCV."""
    if not isinstance(rows, list):
        raise FeedError(f"binance klines: expected a list, got {str(rows)[:200]}")
    if not rows:
        return empty_ohlcv()
    return pl.DataFrame(
        [
            (int(r[0]) * _MS, float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]))
            for r in rows
        ],
        schema=OHLCV_SCHEMA,
        orient="row",
    )
