from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine.model import Bar, OrderBook, Tick
from feeds.demo import DEMO_INSTRUMENTS, DemoFeed
from tests.helpers import T0


class FakeClock:
    """A clock that advances 100 ms per reading, so streams are repeatable."""

    def __init__(self, start: int = T0) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 100_000_000
        return self.now


async def _take(feed: DemoFeed, n: int) -> list[object]:
    out = []
    async for event in feed.stream(list(DEMO_INSTRUMENTS), "1m"):
        out.append(event)
        if len(out) == n:
            break
    return out


def test_eight_instruments_across_asset_classes() -> None:
    classes = {s.instrument.asset_class for s in DEMO_INSTRUMENTS.values()}
    assert len(DEMO_INSTRUMENTS) >= 8 and {"crypto", "fx", "metal", "index"} <= classes


async def test_same_seed_same_ticks_other_seed_other_ticks() -> None:
    a = await _take(DemoFeed(seed=3, tick_interval_s=0, clock=FakeClock()), 500)
    b = await _take(DemoFeed(seed=3, tick_interval_s=0, clock=FakeClock()), 500)
    c = await _take(DemoFeed(seed=4, tick_interval_s=0, clock=FakeClock()), 500)
    assert a == b
    assert a != c


async def test_ticks_are_on_the_tick_grid_with_a_spread() -> None:
    events = await _take(DemoFeed(tick_interval_s=0, clock=FakeClock()), 2000)
    ticks = [e for e in events if isinstance(e, Tick)]
    assert len({t.symbol for t in ticks}) == len(DEMO_INSTRUMENTS)
    for t in ticks:
        inst = DEMO_INSTRUMENTS[t.symbol].instrument
        assert t.ask > t.bid > 0
        inst.check_price(t.bid)
        inst.check_price(t.ask)
    assert any(isinstance(e, OrderBook) for e in events)
    assert any(isinstance(e, Bar) and e.closed for e in events)  # 2000 events span > 1 minute


async def test_history_has_warmup_per_timeframe_and_ends_at_the_stream_start() -> None:
    feed = DemoFeed(clock=lambda: T0)
    for tf in ("1m", "1h", "1d"):
        bars = await feed.history("BTC/USDT", tf)
        assert bars.height >= 2000
        assert bars["ts"].is_sorted() and bars["ts"][-1] < T0
        assert bars["close"][-1] == pytest.approx(DEMO_INSTRUMENTS["BTC/USDT"].price)
        assert (bars["high"] >= bars[["open", "close"]].max_horizontal()).all()
        assert (bars["low"] <= bars[["open", "close"]].min_horizontal()).all()
        inst = DEMO_INSTRUMENTS["BTC/USDT"].instrument
        for price in bars.tail(50).select("open", "high", "low", "close").to_numpy().ravel():
            inst.check_price(float(price))


@pytest.mark.parametrize("symbol", [s for s, d in DEMO_INSTRUMENTS.items() if d.dominant_period])
async def test_embedded_cycle_is_the_strongest_line_of_the_return_spectrum(symbol: str) -> None:
    bars = await DemoFeed(clock=lambda: T0).history(symbol, "1h", limit=4096)
    r = np.diff(np.log(bars["close"].to_numpy()))
    power = np.abs(np.fft.rfft(r - r.mean())) ** 2
    freqs = np.fft.rfftfreq(r.size)
    period = 1 / freqs[1:][power[1:].argmax()]
    assert period == pytest.approx(DEMO_INSTRUMENTS[symbol].dominant_period, rel=0.02)


def test_book_has_five_levels_each_side_best_first() -> None:
    book = DemoFeed().book("EURUSD")
    assert len(book.bids) == len(book.asks) == 5
    bids = [lvl.price for lvl in book.bids]
    asks = [lvl.price for lvl in book.asks]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0]
    assert all(lvl.size > 0 for lvl in itertools.chain(book.bids, book.asks))


async def test_unknown_symbol_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="unknown demo symbol 'DOGE'"):
        await DemoFeed().history("DOGE", "1m")
