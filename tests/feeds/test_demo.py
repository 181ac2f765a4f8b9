from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import polars as pl
import pytest

from engine.model import Bar, OrderBook, Tick
from feeds.demo import DEMO_INSTRUMENTS, DemoFeed, synthetic_bars
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


def test_instruments_across_asset_classes() -> None:
    classes = {s.instrument.asset_class for s in DEMO_INSTRUMENTS.values()}
    assert len(DEMO_INSTRUMENTS) >= 12 and {"crypto", "fx", "metal", "index", "energy"} <= classes


async def test_same_seed_same_ticks_other_seed_other_ticks() -> None:
    a = await _take(DemoFeed(seed=3, tick_interval_s=0, clock=FakeClock()), 500)
    b = await _take(DemoFeed(seed=3, tick_interval_s=0, clock=FakeClock()), 500)
    c = await _take(DemoFeed(seed=4, tick_interval_s=0, clock=FakeClock()), 500)
    assert a == b
    assert a != c


async def test_ticks_are_on_the_tick_grid_with_a_spread() -> None:
    events = await _take(DemoFeed(tick_interval_s=0, clock=FakeClock()), 4000)
    ticks = [e for e in events if isinstance(e, Tick)]
    assert len({t.symbol for t in ticks}) == len(DEMO_INSTRUMENTS)
    for t in ticks:
        inst = DEMO_INSTRUMENTS[t.symbol].instrument
        assert t.ask > t.bid > 0
        inst.check_price(t.bid)
        inst.check_price(t.ask)
    assert any(isinstance(e, OrderBook) for e in events)
    assert any(isinstance(e, Bar) and e.closed for e in events)  # 4000 events span > 1 minute


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


# -- the energy complex ------------------------------------------------------------------------


def test_energy_contracts_are_the_micro_contracts_worth_one_dollar_a_tick() -> None:
    conventions = {  # symbol: (unit, tick, lot)
        "WTI": ("bbl", "0.01", "100"),
        "BRENT": ("bbl", "0.01", "100"),
        "BRENT-WTI": ("bbl", "0.01", "100"),
        "NATGAS": ("MMBtu", "0.001", "1000"),
    }
    for symbol, (unit, tick, lot) in conventions.items():
        inst = DEMO_INSTRUMENTS[symbol].instrument
        assert (inst.asset_class, inst.quote_ccy, inst.base_ccy) == ("energy", "USD", unit)
        assert (inst.tick_size, inst.lot_size, inst.min_qty) == (Decimal(tick), Decimal(lot),
                                                                 Decimal(lot))  # fmt: skip
        assert inst.tick_value == Decimal(1)
    prices = {s: DEMO_INSTRUMENTS[s].price for s in conventions}
    assert prices["BRENT"] == prices["WTI"] + prices["BRENT-WTI"]
    assert 60 < prices["WTI"] < 90 and 1.5 < prices["NATGAS"] < 5


def _exact(frame: pl.DataFrame, column: str) -> list[Decimal]:
    return [Decimal(repr(x)) for x in frame[column].to_list()]


@pytest.mark.parametrize("timeframe", ["1m", "15m", "1h", "1d"])
async def test_brent_is_wti_plus_the_spread_tick_for_tick(timeframe: str) -> None:
    feed = DemoFeed(clock=lambda: T0)
    wti, brent, spread = [await feed.history(s, timeframe) for s in ("WTI", "BRENT", "BRENT-WTI")]
    assert wti["ts"].to_list() == brent["ts"].to_list() == spread["ts"].to_list()
    for column in ("open", "high", "low", "close"):
        legs = zip(_exact(brent, column), _exact(wti, column), _exact(spread, column), strict=True)
        assert all(b - w == s for b, w, s in legs), column
    assert brent["close"][-1] == DEMO_INSTRUMENTS["BRENT"].price  # the anchor, as every symbol
    for frame, symbol in ((brent, "BRENT"), (spread, "BRENT-WTI")):
        inst = DEMO_INSTRUMENTS[symbol].instrument
        for price in frame.select("open", "high", "low", "close").to_numpy().ravel():
            inst.check_price(float(price))
        assert (frame["high"] >= frame[["open", "close"]].max_horizontal()).all()
        assert (frame["low"] <= frame[["open", "close"]].min_horizontal()).all()


@pytest.mark.parametrize("timeframe", ["1m", "1h", "4h", "1d", "1w"])
def test_the_spread_stays_positive_and_reverts_over_the_whole_history(timeframe: str) -> None:
    spec = DEMO_INSTRUMENTS["BRENT-WTI"]
    bars = synthetic_bars(spec, timeframe, T0, 100_000, seed=7)  # the most history() makes
    assert bars.height == 100_000
    assert bars["low"].min() >= float(spec.instrument.tick_size)  # never <= 0, not even a wick
    if timeframe in ("1d", "1w"):  # many half-lives: it keeps coming back to ~4 $/bbl
        close = bars["close"].to_numpy()
        assert 3 < float(np.median(close)) < 5.5 and close.max() < 20
        spread_moves = np.log(close[-1] / close[:-1]).std()
        # a random walk with the same per-bar moves would wander sigma * sqrt(n / 2) from here
        walk_moves = np.diff(np.log(close)).std() * np.sqrt(close.size / 2)
        assert spread_moves < walk_moves / 5


@pytest.mark.parametrize("seed", range(1, 11))
async def test_crude_mean_reverts_to_prices_crude_has_traded_at_on_daily_bars(seed: int) -> None:
    wti = await DemoFeed(seed=seed, clock=lambda: T0).history("WTI", "1d")  # 5.5 years
    close = wti["close"].to_numpy()
    assert wti.height == 2000 and close[-1] == 75.0
    assert close.min() > 20 and close.max() < 200  # a bare random walk at 35% reached $6


def _months(bars: pl.DataFrame) -> np.ndarray:
    return np.array([datetime.fromtimestamp(t / 1e9, UTC).month for t in bars["ts"].to_list()])


async def test_natural_gas_is_dearer_and_wilder_in_winter_on_daily_bars() -> None:
    bars = await DemoFeed(clock=lambda: T0).history("NATGAS", "1d")  # 2,000 days: 5 winters
    log_close = np.log(bars["close"].to_numpy())
    months = _months(bars)
    winter = np.isin(months, [11, 12, 1, 2, 3])
    assert log_close[winter].mean() - log_close[~winter].mean() > 0.15
    moves = np.abs(np.diff(log_close))
    deep_winter, summer = np.isin(months[1:], [12, 1, 2]), np.isin(months[1:], [6, 7, 8])
    assert moves[deep_winter].mean() > 1.4 * moves[summer].mean()
    daily = np.diff(log_close).std() * np.sqrt(365.25)
    assert 0.4 < daily < 1.0  # around its 60% a year
    assert bars["close"][-1] == pytest.approx(DEMO_INSTRUMENTS["NATGAS"].price)


async def test_the_stream_keeps_brent_at_wti_plus_the_spread_on_the_grid() -> None:
    feed = DemoFeed(tick_interval_s=0, clock=FakeClock())
    symbols = ["WTI", "BRENT", "NATGAS", "BRENT-WTI"]
    latest: dict[str, Tick] = {}
    checked = 0
    async for event in feed.stream(symbols, "1m"):
        if not isinstance(event, Tick):
            continue
        inst = DEMO_INSTRUMENTS[event.symbol].instrument
        assert event.ask > event.bid > 0
        inst.check_price(event.bid)
        inst.check_price(event.ask)
        latest[event.symbol] = event
        if event.symbol == "BRENT" and {"WTI", "BRENT-WTI"} <= latest.keys():
            mid = {s: Decimal(repr(t.bid)) + Decimal(repr(t.ask)) for s, t in latest.items()}
            assert mid["BRENT"] == mid["WTI"] + mid["BRENT-WTI"]
            checked += 1
            if checked == 300:
                break
    await feed.close()
    spread = latest["BRENT-WTI"].mid
    assert spread != DEMO_INSTRUMENTS["BRENT-WTI"].price and 3 < spread < 5  # it moved, a bit


async def test_brent_alone_streams_with_its_legs_moving_unseen() -> None:
    feed = DemoFeed(tick_interval_s=0, clock=FakeClock())
    ticks: list[Tick] = []
    async for event in feed.stream(["BRENT"], "1m"):
        if isinstance(event, Tick):
            ticks.append(event)
            if len(ticks) == 50:
                break
    assert {t.symbol for t in ticks} == {"BRENT"}
    assert len({t.mid for t in ticks}) > 1

    def centre(symbol: str) -> Decimal:
        book = feed.book(symbol)
        return Decimal(repr(book.bids[0].price)) + Decimal(repr(book.asks[0].price))

    assert centre("BRENT") == centre("WTI") + centre("BRENT-WTI")
    book = feed.book("BRENT")
    assert (book.bids[0].price, book.asks[0].price) == (ticks[-1].bid, ticks[-1].ask)
