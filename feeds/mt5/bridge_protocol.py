"""The qws bridge wire format (docs/bridge.md): JSON text frames, one object each.

Shared by the server (:mod:`feeds.mt5.bridge_server`) and the client
(:mod:`feeds.mt5.bridge_client`), so
both ends encode and decode events the same way. NaN (a quote-only tick's ``last``) travels
as ``null``, because JSON has no NaN.
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from engine.model import Bar, BookLevel, OrderBook, Tick
from engine.protocols import FeedEvent
from engine.timeframes import OHLCV_SCHEMA, empty_ohlcv
from feeds.errors import BadInput
from feeds.exchange_ws import non_negative, positive

PROTOCOL = 1
AUTH_HEADER = "Authorization"


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _opt(x: Any) -> float:
    return math.nan if x is None else float(x)


def encode_event(event: FeedEvent) -> dict[str, Any]:
    if isinstance(event, Tick):
        return {
            "type": "tick",
            "symbol": event.symbol,
            "ts": event.ts_ns,
            "bid": _num(event.bid),
            "ask": _num(event.ask),
            "last": _num(event.last),
            "volume": event.volume,
        }
    if isinstance(event, Bar):
        return {
            "type": "bar",
            "symbol": event.symbol,
            "timeframe": event.timeframe,
            "ts": event.ts_ns,
            "open": event.open,
            "high": event.high,
            "low": event.low,
            "close": event.close,
            "volume": event.volume,
            "closed": event.closed,
        }
    return {
        "type": "book",
        "symbol": event.symbol,
        "ts": event.ts_ns,
        "bids": [[lv.price, lv.size] for lv in event.bids],
        "asks": [[lv.price, lv.size] for lv in event.asks],
    }


def decode_event(msg: dict[str, Any], symbols: set[str]) -> FeedEvent:
    """A pushed event -> domain value; BadInput for anything that is not a usable event."""
    kind = msg.get("type")
    symbol = msg["symbol"]
    if symbol not in symbols:
        raise BadInput("unknown_symbol", str(symbol))
    ts = int(msg["ts"])
    if kind == "tick":
        bid, ask, last = _opt(msg.get("bid")), _opt(msg.get("ask")), _opt(msg.get("last"))
        for x in (bid, ask, last):
            if not math.isnan(x):
                positive(x)
        if math.isnan(bid) and math.isnan(ask) and math.isnan(last):
            raise BadInput("nan_price", f"{symbol} tick without prices")
        return Tick(ts, symbol, bid, ask, last, non_negative(msg.get("volume", 0.0), "volume"))
    if kind == "bar":
        o, h, lo, c = (positive(msg[f]) for f in ("open", "high", "low", "close"))
        return Bar(
            ts,
            symbol,
            str(msg["timeframe"]),
            o,
            h,
            lo,
            c,
            non_negative(msg["volume"], "volume"),
            bool(msg.get("closed", True)),
        )
    if kind == "book":
        return OrderBook(
            ts,
            symbol,
            tuple(BookLevel(positive(p), non_negative(s)) for p, s in msg["bids"]),
            tuple(BookLevel(positive(p), non_negative(s)) for p, s in msg["asks"]),
        )
    raise BadInput("unknown_type", str(kind))


def frame_to_rows(frame: pl.DataFrame) -> list[list[float]]:
    return [list(r) for r in frame.select(list(OHLCV_SCHEMA)).iter_rows()]


def rows_to_frame(rows: list[list[Any]]) -> pl.DataFrame:
    if not rows:
        return empty_ohlcv()
    return pl.DataFrame(
        [(int(r[0]), *(float(x) for x in r[1:6])) for r in rows],
        schema=OHLCV_SCHEMA,
        orient="row",
    )
