"""The websocket base: ``handle()`` never raises and never publishes a non-finite value, for any
frame a server can send (a hypothesis fuzz over Binance and Bybit); the back-off it waits by.

Each hostile frame goes to a fresh feed and is followed by a valid one; the count per venue is
:func:`expected_frames` (hypothesis examples plus an exhaustive pass), printed with ``-s``.
Frame kinds: arbitrary JSON; real kline, trade,
bookTicker, depth, ticker and orderbook messages with fields replaced by non-finite, huge,
negative or wrongly typed values; deep nesting; random bytes (invalid UTF-8 included); empty.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import math
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.model import Bar, OrderBook, Tick
from feeds.exchange_ws import Backoff, ExchangeWsFeed
from feeds.exchanges.binance import BinanceFeed, DepthBook
from feeds.exchanges.bybit import BybitFeed
from tests.feeds.servers import resource, resource_lines

T0_MS = 1_704_067_200_000
MS = 1_000_000
NOW_NS = (T0_MS + 6 * 60_000) * MS

ARBITRARY = 150
SHAPED = 60  # examples; each throws one mutated frame per template (7 or 8)
RAW = 100

FUZZ = settings(
    deadline=None,  # a busy machine is slow, not wrong
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- what a hostile server sends -----------------------------------------------------------------
HUGE_INT = 10**400
HOSTILE_VALUES: list[Any] = [
    math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324, HUGE_INT, -HUGE_INT, 2**63, 2**64,
    -1, 0, 0.0, -0.0, True, False, None, "", "NaN", "Infinity", "-Infinity", "1e999", "-1e999",
    "nan", "inf", "0x10", "1_000", " 1 ", "abc", [], {}, [1, 2], {"a": 1}, [[[]]], "\x00",
    "\ud800", "٣", "1" * 5000,
]  # fmt: skip
"""Values a field is replaced by (Python values; ``_dump`` writes inf/nan as JSON's
``Infinity``/``NaN`` and 10**400 as a 401-digit integer, as a server could)."""

FIXED_FRAMES: list[str | bytes] = [
    "",
    b"",
    " ",
    "[" * 100_000,
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 50_000 + "1" + "}" * 50_000,
    "1e999",
    "-1e999",
    "Infinity",
    "NaN",
    "9" * 401,
    "9" * 5000,  # beyond CPython's int digit limit: a ValueError in the decoder
    b"\xff\xfe\xfd",
    b"\xc3\x28",
    b'{"e": "trade", "p": "\xff"}',
    "null",
    "true",
    '"text"',
    "{}",
    "[]",
]


def _dump(msg: Any) -> str:
    return json.dumps(msg)  # allow_nan: inf -> Infinity, nan -> NaN; big ints stay digits


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(HOSTILE_VALUES),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=12,
)


def _paths(msg: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``msg`` (dict keys and list indexes)."""
    out = [prefix] if prefix else []
    if isinstance(msg, dict):
        for k, v in msg.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(msg, list):
        for i, v in enumerate(msg):
            out += _paths(v, (*prefix, i))
    return out


def _replace(msg: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(msg)
    node = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return out


@st.composite
def shaped(draw: st.DrawFn, templates: list[Any]) -> str:
    """A real message with one to three of its fields replaced by hostile values (or deleted)."""
    msg = draw(st.sampled_from(templates))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(msg)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        if draw(st.integers(0, 9)) == 0 and isinstance(path[-1], str):
            msg = copy.deepcopy(msg)
            node = msg
            for step in path[:-1]:
                node = node[step]
            del node[path[-1]]
        else:
            value = draw(st.sampled_from(HOSTILE_VALUES) | json_values)
            msg = _replace(msg, path, value)
    return _dump(msg)


def _binance_templates() -> list[Any]:
    depth = {"e": "depthUpdate", "E": T0_MS + 1, "s": "BTCUSDT", "U": 101, "u": 102,
             "b": [["41999.5", "1.0"], ["41999.0", "0"]], "a": [["42001.5", "2.0"]]}  # fmt: skip
    return [
        resource("binance_trade.json"),
        resource("binance_book_ticker.json"),
        resource("binance_kline_closed.json"),
        resource("binance_kline_open.json"),
        depth,
        {"stream": "btcusdt@trade", "data": resource("binance_trade.json")},
        {"result": None, "id": 1},
    ]


def _bybit_templates() -> list[Any]:
    book = [json.loads(line) for line in resource_lines("bybit_orderbook.jsonl")]
    delta = book[1]
    return [
        resource("bybit_tickers.json"),
        resource("bybit_kline_closed.json"),
        resource("bybit_kline_open.json"),
        book[0],
        delta,
        {**delta, "data": {**delta["data"], "b": [["41999.5", "1"], ["41998", "2"]]}},
        resource("bybit_subscribe_ok.json"),
        resource("bybit_pong.json"),
    ]


def _binance() -> BinanceFeed:
    f = BinanceFeed("ws://127.0.0.1:9", "", ["BTC/USDT"], clock=lambda: NOW_NS)
    f.subscribe_messages(["BTC/USDT"], "1m")
    f.timeframe = "1m"
    # a book already synchronised from a snapshot (ids up to 100), so diffs are applied
    f._books["BTC/USDT"] = DepthBook(
        "BTC/USDT", {42000.0: 1.0, 41999.0: 2.0}, {42001.0: 1.5, 42002.0: 2.5}, 100, True
    )
    return f


def _bybit() -> BybitFeed:
    f = BybitFeed("ws://127.0.0.1:9", "", ["BTC/USDT"], clock=lambda: NOW_NS)
    f.subscribe_messages(["BTC/USDT"], "1m")
    f.timeframe = "1m"
    assert f.handle(resource_lines("bybit_orderbook.jsonl")[0])  # the book's snapshot
    return f


def _finite_positive(x: float) -> bool:
    return isinstance(x, float) and math.isfinite(x) and x > 0


def assert_publishable(events: list[Any]) -> None:
    """What may reach the hub: finite positive prices, finite sizes, sane times, uncrossed."""
    for e in events:
        assert isinstance(e, Tick | Bar | OrderBook), e
        assert isinstance(e.ts_ns, int) and 0 < e.ts_ns < 2**63, e
        if isinstance(e, Tick):
            prices = (e.bid, e.ask, e.last)
            # NaN only means "not known yet" (a quote-only venue has no last), never inf/<= 0
            assert all(_finite_positive(p) or math.isnan(p) for p in prices), e
            assert _finite_positive(e.last) or (_finite_positive(e.bid) and _finite_positive(e.ask))
            assert not (_finite_positive(e.bid) and _finite_positive(e.ask)) or e.bid <= e.ask, e
            assert math.isfinite(e.volume) and e.volume >= 0, e
        elif isinstance(e, Bar):
            assert all(_finite_positive(p) for p in (e.open, e.high, e.low, e.close)), e
            assert e.low <= min(e.open, e.close) and e.high >= max(e.open, e.close), e
            assert math.isfinite(e.volume) and e.volume >= 0, e
        else:
            for side in (e.bids, e.asks):
                for lv in side:
                    assert _finite_positive(lv.price) and _finite_positive(lv.size), e
            assert [lv.price for lv in e.bids] == sorted((lv.price for lv in e.bids), reverse=True)
            assert [lv.price for lv in e.asks] == sorted(lv.price for lv in e.asks)
            if e.bids and e.asks:
                assert e.bids[0].price < e.asks[0].price, f"crossed book published: {e}"


_TRADE = resource("binance_trade.json")
_TICKER = resource("bybit_tickers.json")
VALID_AFTER = {
    "binance": lambda i: _dump(_TRADE | {"t": 10**9 + i}),
    "bybit": lambda i: _dump(_TICKER | {"ts": T0_MS + 60_000 + i}),
}


_SILENT = logging.getLogger("tests.feeds.fuzz")
_SILENT.disabled = True  # a fresh feed logs its first drop of every reason: thousands here


class Thrower:
    """Throws frames at fresh feeds of one venue; counts them; checks every answer."""

    def __init__(self, venue: str, make: Callable[[], ExchangeWsFeed]) -> None:
        self.venue = venue
        self.make = make
        self.thrown = 0
        self.feeds: list[ExchangeWsFeed] = []

    def throw(self, frame: str | bytes) -> None:
        f = self.make()
        f.health.logger = _SILENT
        self.feeds.append(f)
        events = f.handle(frame)  # must not raise, whatever the frame
        self.thrown += 1
        assert_publishable(events)
        before = f.health.drops()
        after = f.handle(VALID_AFTER[self.venue](self.thrown))
        assert_publishable(after)
        if not any(isinstance(e, Tick) for e in after):
            # only a plausible frame that came first (a newer id or time) may shadow it
            new = {k for k, v in f.health.drops().items() if v > before.get(k, 0)}
            assert new <= {"out_of_order", "duplicate"}, f"one bad frame broke the feed: {new}"

    async def close(self) -> None:
        for f in self.feeds:
            await f.close()  # cancels the resyncs a frame may have started


def every_field_replaced(templates: list[Any]) -> list[str]:
    """Each real message with each of its fields replaced by each hostile value in turn."""
    return [
        _dump(_replace(t, path, value))
        for t in templates
        for path in _paths(t)
        for value in HOSTILE_VALUES
    ]


def expected_frames(templates: list[Any]) -> int:
    exhaustive = len(FIXED_FRAMES) + len(every_field_replaced(templates))
    return ARBITRARY + SHAPED * len(templates) + RAW + exhaustive


def _fuzz(thrower: Thrower, templates: list[Any]) -> None:
    @settings(FUZZ, max_examples=ARBITRARY)
    @given(json_values)
    def arbitrary(msg: Any) -> None:
        thrower.throw(_dump(msg))

    @settings(FUZZ, max_examples=SHAPED)
    @given(st.lists(shaped(templates), min_size=len(templates), max_size=len(templates)))
    def real_shapes(frames: list[str]) -> None:
        for frame in frames:
            thrower.throw(frame)

    @settings(FUZZ, max_examples=RAW)
    @given(st.binary(max_size=64) | st.text(max_size=64))
    def raw(frame: bytes | str) -> None:
        thrower.throw(frame)

    arbitrary()
    real_shapes()
    raw()
    for frame in [*FIXED_FRAMES, *every_field_replaced(templates)]:
        thrower.throw(frame)


@pytest.mark.parametrize(
    "venue,make,templates",
    [("binance", _binance, _binance_templates), ("bybit", _bybit, _bybit_templates)],
)
async def test_handle_never_raises_and_publishes_only_finite_values(
    venue: str, make: Callable[[], ExchangeWsFeed], templates: Callable[[], list[Any]]
) -> None:
    thrower = Thrower(venue, make)
    _fuzz(thrower, templates())
    await thrower.close()
    assert thrower.thrown == expected_frames(templates())
    print(f"{venue}: {thrower.thrown} hostile frames thrown")


async def test_the_poison_frames_of_the_issue_are_counted_drops() -> None:
    kline = resource("binance_kline_closed.json")
    trade = resource("binance_trade.json")
    poison = [
        _dump(kline | {"k": kline["k"] | {"t": math.inf}}),  # 1e999 decodes as inf
        '{"e": "trade", "s": "BTCUSDT", "t": 5, "p": "1", "q": "1", "T": 1e999}',
        _dump(trade | {"p": HUGE_INT, "t": 6}),
        _dump(trade | {"T": HUGE_INT, "t": 7}),
        _dump(trade | {"t": HUGE_INT}),
        "Infinity",
        "[" * 100_000,
    ]
    f = _binance()
    for frame in poison:
        assert f.handle(frame) == []
    assert f.health.dropped == len(poison)
    assert f.handle(_dump(trade))  # and the feed goes on
    await f.close()


def test_backoff_doubles_from_its_base_up_to_its_cap_half_fixed_half_random() -> None:
    backoff = Backoff(0.5, 4.0)
    rng = random.Random(1)
    for attempt, step in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 4.0), (40, 4.0)]:
        delays = [backoff.delay(attempt, rng) for _ in range(50)]
        assert all(step / 2 <= d <= step for d in delays), (attempt, delays)


async def test_handle_runs_inside_a_loop_for_depth_resyncs() -> None:
    # a depth diff that does not follow the book starts a resync (a task on the running loop)
    f = _binance()
    depth = _binance_templates()[4] | {"U": 500, "u": 501}
    assert f.handle(_dump(depth)) == []
    assert f.health.drops() == {"sequence_gap": 1}
    await asyncio.sleep(0)
    await f.close()
