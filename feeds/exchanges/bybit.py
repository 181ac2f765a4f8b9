"""Bybit v5 public streams (spot by default): tickers, kline and orderbook.50, with REST klines.

Wire formats (Bybit v5 WebSocket public, e.g. ``wss://stream.bybit.com/v5/public/spot``):

- subscribe: ``{"op": "subscribe", "req_id": "1", "args": ["tickers.BTCUSDT", ...]}``,
  answered by ``{"success": true, "ret_msg": "", "conn_id": .., "req_id": "1", "op":
  "subscribe"}`` (``success: false`` names the bad topic in ``ret_msg``)
- heartbeat: the client sends ``{"op": "ping"}`` every 20 s; the answer is
  ``{"success": true, "ret_msg": "pong", "op": "ping", ..}`` (``{"op": "pong"}`` on linear)
- tickers: ``{"topic": "tickers.BTCUSDT", "ts": ms, "type": "snapshot", "data": {"symbol",
  "lastPrice", "volume24h", ..}}``; linear/inverse add ``bid1Price``/``ask1Price``
- kline: ``{"topic": "kline.1.BTCUSDT", "ts": ms, "type": "snapshot", "data": [{"start": ms,
  "end": ms, "interval": "1", "open", "close", "high", "low", "volume", "confirm": bool}]}``
- orderbook: ``{"topic": "orderbook.50.BTCUSDT", "type": "snapshot"|"delta", "ts": ms,
  "data": {"s", "b": [[px, size]], "a": [[px, size]], "u": update_id, "seq": seq}}``.
  A snapshot replaces the book (also when ``u`` is 1 after a service restart); a delta with
  size 0 removes the level. Deltas carry consecutive ``u``; a jump, or a delta before any
  snapshot, is a gap: the book is discarded and the topic resubscribed for a fresh snapshot.
  A delta is validated whole before any of it is applied; a book left crossed (by a delta or
  a snapshot) is never published: it is discarded (``crossed_book``) and resubscribed too.

REST: ``GET /v5/market/kline?category=spot&symbol=&interval=&start=&limit=`` answers
``{"retCode": 0, "result": {"list": [["start_ms", "o", "h", "l", "c", "volume",
"turnover"], ...]}}`` newest first.
"""

from __future__ import annotations

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
    levels,
    millis,
    non_negative,
    positive,
    sequence,
    top,
)

_MS = 1_000_000
INTERVALS = {
    "1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30", "1h": "60", "2h": "120",
    "4h": "240", "6h": "360", "12h": "720", "1d": "D", "1w": "W",
}  # fmt: skip


def venue_symbol(symbol: str) -> str:
    return symbol.replace("/", "").replace("-", "").upper()


def instruments_info_instrument(symbol: str, raw: dict[str, Any]) -> Instrument:
    """An Instrument from one spot ``instruments-info`` entry."""
    lot = raw["lotSizeFilter"]
    step = lot.get("basePrecision") or lot["qtyStep"]
    return Instrument(
        symbol,
        "bybit",
        Decimal(raw["priceFilter"]["tickSize"]).normalize(),
        Decimal(step).normalize(),
        raw["quoteCoin"],
        raw["baseCoin"],
        Decimal(lot.get("minOrderQty", "0")).normalize(),
        Decimal(lot.get("minOrderAmt", "0")).normalize(),
        "crypto",
    )


def bybit_interval(timeframe: str) -> str:
    tf = str(parse(timeframe))
    if tf not in INTERVALS:
        raise FeedError(f"bybit has no {tf} klines; use one of {', '.join(INTERVALS)}")
    return INTERVALS[tf]


@dataclass(slots=True)
class _Book:
    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    update_id: int = -1


@dataclass(slots=True)
class _Quote:
    bid: float = math.nan
    ask: float = math.nan
    ts: int = -1


class BybitFeed(ExchangeWsFeed):
    """Bybit v5 public. Registered as entry point ``qws.feeds:bybit``.

    ``BybitFeed(ws_url, rest_url, symbols=(), *, category="spot", depth=True,
    book_levels=20, **ExchangeWsFeed options)``.
    """

    name = "bybit"
    venue = "bybit"
    max_rest_bars = 1000
    popular = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT")

    def __init__(
        self,
        ws_url: str = "wss://stream.bybit.com/v5/public/spot",
        rest_url: str = "https://api.bybit.com",
        symbols: Sequence[str] | None = (),
        *,
        category: str = "spot",
        depth: bool = True,
        book_levels: int = 20,
        **options: Any,
    ) -> None:
        super().__init__(ws_url, rest_url, symbols, **options)
        self.category = category
        self.depth = depth
        self.book_levels = book_levels
        self._by_venue: dict[str, str] = {}
        self._books: dict[str, _Book] = {}
        self._quotes: dict[str, _Quote] = {}
        self._req = 0

    async def load_instruments(self, symbols: Sequence[str] | None = None) -> list[Instrument]:
        """Tick, lot and minimum sizes of ``symbols`` (default: the feed's) from
        ``/v5/market/instruments-info`` (spot: ``priceFilter.tickSize``,
        ``lotSizeFilter.basePrecision``/``minOrderQty``/``minOrderAmt``)."""
        found = []
        for symbol in symbols or self.symbols():
            body = await self.get_json(
                "/v5/market/instruments-info",
                {"category": self.category, "symbol": venue_symbol(symbol)},
            )
            try:
                rows = body["result"]["list"] if body.get("retCode") == 0 else []
                if rows:
                    self._instruments[symbol] = instruments_info_instrument(symbol, rows[0])
                    found.append(self._instruments[symbol])
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                self.health.drop("bad_instruments_info", f"{symbol}: {exc}")
        return found

    def check_timeframe(self, timeframe: str) -> None:
        bybit_interval(timeframe)

    def heartbeat_message(self) -> Any | None:
        return {"op": "ping"}

    def _req_id(self) -> str:
        self._req += 1
        return str(self._req)

    def subscribe_messages(self, symbols: Sequence[str], timeframe: str) -> list[Any]:
        interval = bybit_interval(timeframe)
        self._by_venue = {venue_symbol(s): s for s in symbols}
        args: list[str] = []
        for s in symbols:
            v = venue_symbol(s)
            args += [f"tickers.{v}", f"kline.{interval}.{v}"]
            if self.depth:
                args.append(f"orderbook.50.{v}")
        # Bybit spot accepts at most 10 topics per subscribe request
        return [
            {"op": "subscribe", "req_id": self._req_id(), "args": args[i : i + 10]}
            for i in range(0, len(args), 10)
        ]

    def on_connected(self) -> None:
        self._books.clear()
        self._quotes.clear()

    def parse_message(self, msg: Any) -> list[FeedEvent]:
        if not isinstance(msg, dict):
            raise BadInput("malformed", f"expected an object, got {type(msg).__name__}")
        topic = msg.get("topic")
        if topic is None:
            return self._control(msg)
        kind, _, rest = str(topic).partition(".")
        if kind == "tickers":
            return self._ticker(rest, msg)
        if kind == "kline":
            return self._kline(rest.partition(".")[2], msg)
        if kind == "orderbook":
            return self._orderbook(rest.partition(".")[2], msg)
        raise BadInput("unknown_type", str(topic)[:50])

    def _control(self, msg: dict[str, Any]) -> list[FeedEvent]:
        op = msg.get("op")
        if op in ("ping", "pong"):
            return []
        if op in ("subscribe", "unsubscribe"):
            if msg.get("success") is False:
                self.health.last_error = f"{op} refused: {msg.get('ret_msg')}"
                raise BadInput("subscribe_error", str(msg.get("ret_msg")))
            return []
        raise BadInput("unknown_type", str(op if op is not None else sorted(msg)[:5]))

    def _symbol(self, venue_sym: str) -> str:
        symbol = self._by_venue.get(venue_sym)
        if symbol is None:
            raise BadInput("unknown_symbol", venue_sym)
        return symbol

    def _ticker(self, venue_sym: str, msg: dict[str, Any]) -> list[FeedEvent]:
        symbol = self._symbol(venue_sym)
        data = msg["data"]
        ts = millis(msg["ts"], self.clock())
        last = positive(data["lastPrice"])
        quote = None
        if "bid1Price" in data and data["bid1Price"] not in ("", None):
            quote = positive(data["bid1Price"]), positive(data["ask1Price"])
            if quote[1] < quote[0]:
                raise BadInput("crossed_quote", f"{symbol} bid {quote[0]} > ask {quote[1]}")
        q = self._quotes.setdefault(symbol, _Quote())
        if ts < q.ts:
            raise BadInput("out_of_order", symbol)
        q.ts = ts
        if quote is not None:
            q.bid, q.ask = quote
        return [Tick(ts, symbol, q.bid, q.ask, last, 0.0)]

    def _kline(self, venue_sym: str, msg: dict[str, Any]) -> list[FeedEvent]:
        symbol = self._symbol(venue_sym)
        out: list[FeedEvent] = []
        rows = msg["data"]
        if not isinstance(rows, list):
            raise BadInput("malformed", "kline data is not a list")
        for k in rows:
            confirm = k["confirm"]
            if not isinstance(confirm, bool):
                raise BadInput("malformed", f"kline confirm {str(confirm)[:20]} is not true/false")
            if not confirm:
                continue
            o, h, lo, c = (positive(k[f]) for f in ("open", "high", "low", "close"))
            if h < max(o, c, lo) or lo > min(o, c):
                raise BadInput("inconsistent_bar", f"{symbol} o={o} h={h} l={lo} c={c}")
            v = non_negative(k["volume"], "volume")
            ts = millis(k["start"], self.clock(), "kline start")
            out.append(Bar(ts, symbol, self.timeframe, o, h, lo, c, v, True))
        return out

    def _orderbook(self, venue_sym: str, msg: dict[str, Any]) -> list[FeedEvent]:
        symbol = self._symbol(venue_sym)
        data = msg["data"]
        update_id = sequence(data["u"])
        ts = millis(msg["ts"], self.clock())
        bids, asks = levels(data["b"]), levels(data["a"])  # the whole message, first
        kind = msg["type"]
        book: _Book | None
        if kind == "snapshot":
            book = _Book()
            book.bids = {p: s for p, s in bids if s > 0}
            book.asks = {p: s for p, s in asks if s > 0}
            book.update_id = update_id
            self._books[symbol] = book
        elif kind == "delta":
            book = self._books.get(symbol)
            if book is None or update_id != book.update_id + 1:
                if book is not None and update_id <= book.update_id:
                    raise BadInput("out_of_order", f"{symbol} u {update_id} <= {book.update_id}")
                self.health.drop(
                    "sequence_gap",
                    f"{symbol} u {update_id} after {None if book is None else book.update_id}",
                )
                self._books.pop(symbol, None)
                self.spawn(self._resubscribe(venue_sym))
                return []
            for side, changes in ((book.bids, bids), (book.asks, asks)):
                for p, s in changes:
                    if s == 0:
                        side.pop(p, None)
                    else:
                        side[p] = s
            book.update_id = update_id
        else:
            raise BadInput("unknown_type", f"orderbook type {str(kind)[:20]!r}")
        if book.bids and book.asks and max(book.bids) >= min(book.asks):
            self.health.drop("crossed_book", f"{symbol} after {kind} u {update_id}")
            self._books.pop(symbol, None)
            self.spawn(self._resubscribe(venue_sym))
            return []
        top_bids = top(book.bids, self.book_levels, True)
        top_asks = top(book.asks, self.book_levels)
        q = self._quotes.setdefault(symbol, _Quote())
        if top_bids and top_asks and self.category == "spot":
            q.bid, q.ask = top_bids[0].price, top_asks[0].price
        return [OrderBook(ts, symbol, top_bids, top_asks)]

    async def _resubscribe(self, venue_sym: str) -> None:
        topic = f"orderbook.50.{venue_sym}"
        await self.send({"op": "unsubscribe", "req_id": self._req_id(), "args": [topic]})
        await self.send({"op": "subscribe", "req_id": self._req_id(), "args": [topic]})

    async def fetch_bars(
        self, symbol: str, timeframe: str, start: int | None, limit: int
    ) -> pl.DataFrame:
        params: dict[str, Any] = {
            "category": self.category,
            "symbol": venue_symbol(symbol),
            "interval": bybit_interval(timeframe),
            "limit": min(limit, self.max_rest_bars),
        }
        if start is not None:
            # Bybit answers the *latest* `limit` bars of [start, end]: bound the window so a
            # forward page really starts at `start`
            params["start"] = start // _MS
            params["end"] = (start + params["limit"] * parse(timeframe).ns) // _MS - 1
        body = await self.get_json("/v5/market/kline", params)
        return kline_list_to_frame(body)


def kline_list_to_frame(body: Any) -> pl.DataFrame:
    """Bybit's ``result.list`` (newest first, strings) -> OHLCV frame, oldest first."""
    if not isinstance(body, dict) or body.get("retCode") != 0:
        msg = body.get("retMsg") if isinstance(body, dict) else str(body)[:200]
        raise FeedError(f"bybit kline request failed: {msg}")
    rows = body["result"]["list"]
    if not rows:
        return empty_ohlcv()
    frame = pl.DataFrame(
        [
            (int(r[0]) * _MS, float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]))
            for r in rows
        ],
        schema=OHLCV_SCHEMA,
        orient="row",
    )
    return frame.sort("ts")
