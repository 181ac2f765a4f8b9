"""What a feed may publish: the last check between a venue's parser and the hub.

A venue module validates what it parses, but the paper broker fills against whatever reaches
it, so the base feed checks every event once more before it leaves: prices finite and
positive (NaN only where a quote is not known yet, as ``Tick`` documents), sizes finite and
non-negative, a time that fits in int64 nanoseconds, a bar whose high and low hold its open
and close, a quote and a book that are not crossed. :func:`problem` names what is wrong as
the reason the event is dropped under.
"""

from __future__ import annotations

import math

from engine.model import Bar, BookLevel, OrderBook, Tick
from engine.protocols import FeedEvent

MAX_TS_NS = 2**63 - 1
_INF = math.inf
# the comparisons below are chained on purpose: ``0.0 < x < inf`` is False for NaN and
# infinities alike, and this check runs on every event a feed publishes


def problem(event: FeedEvent) -> tuple[str, str] | None:
    """``(reason, detail)`` if ``event`` must not be published, else None."""
    try:
        ts = event.ts_ns
        if type(ts) is not int or not 0 < ts <= MAX_TS_NS:
            return "bad_time", f"{event.symbol} ts {ts!r}"
        if isinstance(event, Tick):
            return _tick(event)
        if isinstance(event, Bar):
            return _bar(event)
        if isinstance(event, OrderBook):
            return _book(event)
    except TypeError:  # a field that is not a number at all
        return "malformed", repr(event)[:200]
    return "unknown_type", type(event).__name__


def _tick(t: Tick) -> tuple[str, str] | None:
    bid, ask, last = t.bid, t.ask, t.last
    b, a, lt = 0.0 < bid < _INF, 0.0 < ask < _INF, 0.0 < last < _INF
    # NaN (x != x) only means "not known yet", as Tick documents
    if not ((b or bid != bid) and (a or ask != ask) and (lt or last != last)):
        return "nan_price", f"{t.symbol} bid {bid} ask {ask} last {last}"
    if not (lt or (b and a)):
        return "nan_price", f"{t.symbol}: no price known"
    if b and a and bid > ask:
        return "crossed_quote", f"{t.symbol} bid {bid} > ask {ask}"
    if not 0.0 <= t.volume < _INF:
        return "nan_value", f"{t.symbol} volume {t.volume}"
    return None


def _bar(b: Bar) -> tuple[str, str] | None:
    o, h, lo, c = b.open, b.high, b.low, b.close
    if not (0.0 < o < _INF and 0.0 < h < _INF and 0.0 < lo < _INF and 0.0 < c < _INF):
        return "nan_price", f"{b.symbol} o={o} h={h} l={lo} c={c}"
    if h < o or h < c or h < lo or lo > o or lo > c:
        return "inconsistent_bar", f"{b.symbol} o={o} h={h} l={lo} c={c}"
    if not 0.0 <= b.volume < _INF:
        return "nan_value", f"{b.symbol} volume {b.volume}"
    return None


def _side_ok(levels: tuple[BookLevel, ...], descending: bool) -> bool:
    prev = math.nan
    for lv in levels:
        p = lv.price
        if not (0.0 < p < _INF and 0.0 < lv.size < _INF):
            return False
        if prev == prev and not (p < prev if descending else p > prev):
            return False
        prev = p
    return True


def _book(book: OrderBook) -> tuple[str, str] | None:
    if not (_side_ok(book.bids, True) and _side_ok(book.asks, False)):
        return "bad_book", f"{book.symbol}: a level is not finite, positive and in order"
    if book.bids and book.asks and book.bids[0].price >= book.asks[0].price:
        return "crossed_book", f"{book.symbol} bid {book.bids[0].price} >= ask {book.asks[0].price}"
    return None
