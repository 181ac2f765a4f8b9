"""The embedded demo market: deterministic, offline, good enough to trade against on screen.

Each instrument's log-returns are Gaussian noise whose volatility switches between calm,
normal and stormy regimes (a seeded Markov chain), plus a slow drift regime, plus a few
**embedded cycles of known period** (in bars of the timeframe asked for, anchored to absolute
time). ``DEMO_INSTRUMENTS[s].cycles`` says which periods are there and ``dominant_period``
names the one strong enough to dominate a 64-bar window, so the cycle detector can be
checked against ground truth.

Determinism: history depends only on (seed, symbol, timeframe, clock); the tick stream only
on (seed, clock). Every timeframe's history ends at the instrument's anchor price, and the
live stream starts there, so switching timeframe never jumps the price. Live ticks carry the
1-minute cycles as drift, so bars built from them keep the embedded cycles too.

The energy complex follows the exchanges' micro contracts (quantities are in the unit; the lot
is one micro contract, so one tick on one lot is worth 1 USD):

=========  ==========================  ============  ==========  =========  ==============
symbol     what                        unit (base)   tick        lot        tick value/lot
=========  ==========================  ============  ==========  =========  ==============
WTI        WTI crude (NYMEX MCL)       USD per bbl   0.01        100 bbl    1.00 USD
BRENT      Brent crude (micro size)    USD per bbl   0.01        100 bbl    1.00 USD
NATGAS     Henry Hub gas (NYMEX MNG)   USD per MMBtu 0.001       1000 MMBtu 1.00 USD
BRENT-WTI  the Brent-WTI spread        USD per bbl   0.01        100 bbl    1.00 USD
=========  ==========================  ============  ==========  =========  ==============

Some instruments have more behaviour than the random walk (``DemoSpec`` fields):

- ``half_life_days``: log price mean-reverts (an Ornstein-Uhlenbeck process, generated
  backwards from the anchor) to its level with that half-life. The Brent-WTI spread is one:
  around 4 USD/bbl, and being the exponential of an OU process it is positive by construction.
  WTI is one too (half-life 180 days), so its daily history stays where crude has traded.
- ``season`` / ``season_vol``: a winter premium on the level and on the volatility, the
  cosine of the day of the year peaking mid-January (absolute time, so a bar's month decides):
  natural gas is dearer and wilder from November to March.
- ``legs``: the instrument is the sum of others, tick for tick: BRENT = WTI + BRENT-WTI. Its
  bars are the sum of its legs' bars (same timeframe and clock) on the common tick grid, and
  in the stream its quote centre is the sum of its legs' quote centres whenever a leg moves.

numpy and polars are imported where history, books and the stream are made, not here: the
screen's first frame needs only the instruments.
"""

from __future__ import annotations

import asyncio
import math
import time
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from engine.model import BookLevel, Instrument, OrderBook, Tick
from engine.protocols import FeedEvent
from engine.timeframes import BarBuilder, empty_ohlcv, ohlcv_schema, parse

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

_YEAR_S = 365.25 * 24 * 3600
_TICK_PROB = 0.7  # chance that a symbol quotes in a given round


@dataclass(frozen=True, slots=True)
class DemoSpec:
    instrument: Instrument
    price: float
    annual_vol: float
    spread_ticks: int
    volume: float
    cycles: tuple[tuple[float, float], ...]  # (period in bars, amplitude relative to noise sigma)
    half_life_days: float | None = None  # mean reversion of the log price to its level
    season: float = 0.0  # winter premium of the level, in log price at mid-January
    season_vol: float = 0.0  # relative winter excess of the volatility at mid-January
    legs: tuple[str, ...] = ()  # a sum of these instruments (their prices add up exactly)

    @property
    def dominant_period(self) -> float | None:
        strong = [p for p, a in self.cycles if a >= 0.8]
        return strong[0] if strong else None


def _spec(
    symbol: str,
    price: float,
    vol: float,
    tick: str,
    lot: str,
    quote: str,
    base: str,
    asset: str,
    spread: int,
    volume: float,
    cycles: tuple[tuple[float, float], ...],
    *,
    half_life_days: float | None = None,
    season: float = 0.0,
    season_vol: float = 0.0,
    legs: tuple[str, ...] = (),
) -> DemoSpec:
    inst = Instrument(
        symbol, "demo", Decimal(tick), Decimal(lot), quote, base, Decimal(lot), Decimal(0), asset
    )
    return DemoSpec(
        inst, price, vol, spread, volume, cycles, half_life_days, season, season_vol, legs
    )


DEMO_INSTRUMENTS: dict[str, DemoSpec] = {
    s.instrument.symbol: s
    for s in (
        _spec(
            "BTC/USDT",
            64_000.0,
            0.60,
            "0.01",
            "0.00001",
            "USDT",
            "BTC",
            "crypto",
            2,
            40.0,
            ((16.0, 1.4), (42.0, 0.25)),
        ),
        _spec(
            "ETH/USDT",
            3_200.0,
            0.70,
            "0.01",
            "0.0001",
            "USDT",
            "ETH",
            "crypto",
            2,
            400.0,
            ((32.0, 1.3),),
        ),
        _spec(
            "SOL/USDT",
            150.0,
            0.90,
            "0.01",
            "0.001",
            "USDT",
            "SOL",
            "crypto",
            3,
            5_000.0,
            ((21.0, 0.3),),
        ),
        _spec(
            "EURUSD", 1.0850, 0.07, "0.00001", "1000", "USD", "EUR", "fx", 8, 2e6, ((16.0, 1.2),)
        ),
        _spec(
            "GBPUSD",
            1.2700,
            0.08,
            "0.00001",
            "1000",
            "USD",
            "GBP",
            "fx",
            10,
            1.5e6,
            ((24.0, 0.25),),
        ),
        _spec(
            "USDJPY", 151.20, 0.09, "0.001", "1000", "JPY", "USD", "fx", 9, 1.5e6, ((32.0, 1.3),)
        ),
        _spec(
            "XAUUSD",
            2_350.0,
            0.15,
            "0.01",
            "1",
            "USD",
            "XAU",
            "metal",
            25,
            3_000.0,
            ((8.0, 1.3), (32.0, 0.3)),
        ),
        _spec(
            "US500",
            5_200.0,
            0.16,
            "0.1",
            "0.1",
            "USD",
            "US500",
            "index",
            5,
            10_000.0,
            ((48.0, 0.3),),
        ),
        _spec(
            "WTI",
            75.0,
            0.35,
            "0.01",
            "100",
            "USD",
            "bbl",
            "energy",
            4,
            5e5,
            ((24.0, 0.3),),
            half_life_days=180.0,  # crude wanders for months, never to a few dollars
        ),
        _spec(
            "BRENT",
            79.0,  # WTI + BRENT-WTI: the legs make the prices, these are their sums
            0.35,
            "0.01",
            "100",
            "USD",
            "bbl",
            "energy",
            4,
            3e5,
            (),
            legs=("WTI", "BRENT-WTI"),
        ),
        _spec(
            "NATGAS",
            2.8,
            0.60,
            "0.001",
            "1000",
            "USD",
            "MMBtu",
            "energy",
            4,
            2e6,
            (),
            half_life_days=30.0,
            season=0.25,
            season_vol=0.4,
        ),
        _spec(
            "BRENT-WTI",
            4.0,
            0.60,
            "0.01",
            "100",
            "USD",
            "bbl",
            "energy",
            2,
            5e4,
            (),
            half_life_days=21.0,
        ),
    )
}


def _check_sums() -> None:
    """A sum's legs share its tick (so prices add on one grid) and quote an even number of
    ticks wide (so a quote's centre is on the grid), and its anchor is theirs added up."""
    for spec in DEMO_INSTRUMENTS.values():
        if not spec.legs:
            continue
        legs = [DEMO_INSTRUMENTS[leg] for leg in spec.legs]
        tick = spec.instrument.tick_size
        if any(leg.instrument.tick_size != tick or leg.legs for leg in legs):
            raise ValueError(f"{spec.instrument.symbol}: legs must be plain, on its tick grid")
        if any(s.spread_ticks % 2 for s in (spec, *legs)):
            raise ValueError(f"{spec.instrument.symbol}: quotes must be an even tick count wide")
        total = sum(Decimal(repr(leg.price)) for leg in legs)
        if Decimal(repr(spec.price)) != total:
            raise ValueError(f"{spec.instrument.symbol}: anchor {spec.price} is not {total}")


_check_sums()


def _seed_for(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


_WINTER_PEAK_DAY = 14.0  # days after 1 January: mid-January, the heart of the heating season


def winter(ts_ns: np.ndarray | int) -> np.ndarray:
    """+1 at mid-January, -1 at mid-July: the cosine of the day of the year of ``ts_ns``."""
    import numpy as np

    days = np.asarray(ts_ns, dtype=np.float64) / 86_400e9
    return np.cos(2 * np.pi * (days - _WINTER_PEAK_DAY) / 365.25)


def _reversion(spec: DemoSpec, seconds: float) -> float:
    """The share of its deviation a mean-reverting price keeps after ``seconds`` (1: none)."""
    if spec.half_life_days is None:
        return 1.0
    return math.exp(-math.log(2) * seconds / (spec.half_life_days * 86_400))


def _level(spec: DemoSpec, ts_ns: np.ndarray | int) -> np.ndarray:
    """The log price a mean-reverting price returns to at ``ts_ns`` (its winter premium in)."""
    return math.log(spec.price) + spec.season * winter(ts_ns)


def synthetic_bars(
    spec: DemoSpec, timeframe: str, end_ns: int, count: int, seed: int
) -> pl.DataFrame:
    """``count`` closed bars of ``timeframe`` ending just before the bar containing ``end_ns``.

    Prices are on the instrument's tick grid, as an exchange would print them."""
    import numpy as np
    import polars as pl

    tf = parse(timeframe)
    if count <= 0:
        return empty_ohlcv()
    if spec.legs:
        return _sum_bars(spec, timeframe, end_ns, count, seed)
    rng = np.random.default_rng(_seed_for(seed, spec.instrument.symbol, tf))
    sigma = spec.annual_vol * math.sqrt(tf.seconds / _YEAR_S)
    last_start = tf.bucket(end_ns) - tf.ns
    ts = last_start - tf.ns * np.arange(count - 1, -1, -1, dtype=np.int64)

    regimes = np.array([0.6, 1.0, 1.8])
    switch = rng.random(count) < 1 / 250
    regime = np.cumsum(switch + rng.integers(0, 2, count) * switch) % 3
    drift = np.repeat(rng.normal(0, 0.05, count // 400 + 1), 400)[:count] * sigma
    noise = rng.standard_normal(count) * sigma * regimes[regime]
    if spec.season_vol:
        noise *= 1 + spec.season_vol * winter(ts)
    index = ts // tf.ns
    cyc = np.zeros(count)
    for period, amp in spec.cycles:
        phase = rng.uniform(0, 2 * np.pi)
        cyc += amp * sigma * np.sin(2 * np.pi * index / period + phase)
    returns = noise + drift + cyc

    if spec.half_life_days is None and not spec.season:
        log_close = (
            math.log(spec.price) - np.concatenate(([0.0], np.cumsum(returns[::-1])[:-1]))[::-1]
        )
        log_open = np.concatenate(([log_close[0] - returns[0]], log_close[:-1]))
    else:
        log_open, log_close = _reverting_path(spec, tf.ns, tf.seconds, ts, returns)
    close = np.exp(log_close)
    open_ = np.exp(log_open)
    wick = np.abs(rng.normal(0, 0.5 * sigma, (2, count))) * regimes[regime]
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    volume = spec.volume * math.sqrt(tf.seconds / 60) * np.exp(rng.normal(0, 0.35, count))
    volume *= regimes[regime]
    digits = spec.instrument.price_decimals
    prices = {
        k: np.round(v, digits)
        for k, v in (("open", open_), ("high", high), ("low", low), ("close", close))
    }
    return pl.DataFrame({"ts": ts, **prices, "volume": volume}, schema=ohlcv_schema())


def _reverting_path(
    spec: DemoSpec, bar_ns: int, bar_s: float, ts: np.ndarray, returns: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Log open and close of an OU deviation from the (seasonal) level, made backwards from
    the anchor: a stationary OU process reads the same backwards, and going back keeps it
    bounded where inverting the forward recursion would blow up."""
    import numpy as np

    count = returns.size
    a = _reversion(spec, bar_s)
    # the exact discretisation's innovation scale, so the local volatility stays annual_vol
    kdt = -math.log(a)
    scale = math.sqrt((1 - a * a) / (2 * kdt)) if a < 1 else 1.0
    at = np.concatenate(([ts[0]], ts + bar_ns))  # the close before bar 0, then each close
    level = _level(spec, at)
    y = np.empty(count + 1)
    y[count] = math.log(spec.price) - level[count]  # the last close is the anchor
    shocks = returns * scale
    for j in range(count, 0, -1):
        y[j - 1] = a * y[j] - shocks[j - 1]
    path = level + y
    return path[:-1], path[1:]


def _sum_bars(spec: DemoSpec, timeframe: str, end_ns: int, count: int, seed: int) -> pl.DataFrame:
    """A sum's bars: its legs' bars added in whole ticks (open, high, low and close each), so
    the legs and the sum agree exactly; the volume is its own."""
    import numpy as np
    import polars as pl

    tick = float(spec.instrument.tick_size)
    legs = [
        synthetic_bars(DEMO_INSTRUMENTS[leg], timeframe, end_ns, count, seed) for leg in spec.legs
    ]
    cols = ("open", "high", "low", "close")
    ticks = {
        c: sum(np.rint(leg[c].to_numpy() / tick).astype(np.int64) for leg in legs) for c in cols
    }
    digits = spec.instrument.price_decimals
    tf = parse(timeframe)
    rng = np.random.default_rng(_seed_for(seed, spec.instrument.symbol, tf))
    volume = spec.volume * math.sqrt(tf.seconds / 60) * np.exp(rng.normal(0, 0.35, count))
    return pl.DataFrame(
        {
            "ts": legs[0]["ts"],
            **{c: np.round(ticks[c] * tick, digits) for c in cols},
            "volume": volume,
        },
        schema=ohlcv_schema(),
    )


class DemoFeed:
    """The default feed: no keys, no network. Registered as entry point ``qws.feeds:demo``."""

    name = "demo"
    venue = "demo"

    def __init__(
        self,
        seed: int = 7,
        tick_interval_s: float = 0.25,
        history_bars: int = 2000,
        clock: Callable[[], int] | None = None,
        **_: object,
    ) -> None:
        self.seed = seed
        self.tick_interval_s = tick_interval_s
        self.history_bars = history_bars
        self.clock = clock if clock is not None else time.time_ns
        self._mid = {s: spec.price for s, spec in DEMO_INSTRUMENTS.items()}
        self._closed = False

    def symbols(self) -> list[str]:
        return list(DEMO_INSTRUMENTS)

    def instrument(self, symbol: str) -> Instrument:
        return self._spec(symbol).instrument

    def instruments(self) -> list[Instrument]:
        return [s.instrument for s in DEMO_INSTRUMENTS.values()]

    def _spec(self, symbol: str) -> DemoSpec:
        try:
            return DEMO_INSTRUMENTS[symbol]
        except KeyError:
            raise KeyError(
                f"unknown demo symbol {symbol!r}; the demo feed has {', '.join(DEMO_INSTRUMENTS)}"
            ) from None

    async def history(
        self, symbol: str, timeframe: str, start: int | None = None, limit: int | None = None
    ) -> pl.DataFrame:
        spec = self._spec(symbol)
        tf = parse(timeframe)
        now = self.clock()
        count = self.history_bars if limit is None else limit
        if start is not None:
            count = max(0, min(100_000, (tf.bucket(now) - start) // tf.ns))
            if limit is not None:
                count = min(count, limit)
        frame = synthetic_bars(spec, str(tf), now, max(count, 0), self.seed)
        if start is None:
            return frame
        import polars as pl

        return frame.filter(pl.col("ts") >= start)

    def book(self, symbol: str, levels: int = 5) -> OrderBook:
        """A depth snapshot around the current quote (sizes seeded by symbol and price level)."""
        import numpy as np

        spec = self._spec(symbol)
        bid, ask = self._quote(spec, self._mid[symbol])
        tick = float(spec.instrument.tick_size)
        rng = np.random.default_rng(_seed_for(self.seed, symbol, round(bid / tick)))
        sizes = spec.volume / 20 * rng.gamma(2.0, 0.5, (2, levels))
        lot = float(spec.instrument.lot_size)
        sizes = np.maximum(np.floor(sizes / lot) * lot, lot)
        step = tick * max(1, spec.spread_ticks // 2)
        digits = spec.instrument.price_decimals
        return OrderBook(
            self.clock(),
            symbol,
            tuple(
                BookLevel(round(bid - i * step, digits), float(sizes[0, i])) for i in range(levels)
            ),
            tuple(
                BookLevel(round(ask + i * step, digits), float(sizes[1, i])) for i in range(levels)
            ),
        )

    @staticmethod
    def _bid_ticks(spec: DemoSpec, mid: float) -> int:
        # the epsilon keeps a mid already on the grid (a sum's centre) from flooring one below
        return math.floor(mid / float(spec.instrument.tick_size) - spec.spread_ticks / 2 + 1e-9)

    @classmethod
    def _quote(cls, spec: DemoSpec, mid: float) -> tuple[float, float]:
        return cls._quote_at(spec, cls._bid_ticks(spec, mid))

    @staticmethod
    def _quote_at(spec: DemoSpec, bid_ticks: int) -> tuple[float, float]:
        tick = float(spec.instrument.tick_size)
        digits = spec.instrument.price_decimals
        return round(bid_ticks * tick, digits), round(
            (bid_ticks + spec.spread_ticks) * tick, digits
        )

    async def stream(
        self, symbols: Sequence[str], timeframe: str = "1m"
    ) -> AsyncIterator[FeedEvent]:
        """Ticks for ``symbols`` every ``tick_interval_s`` (0 = as fast as possible), closed bars
        of ``timeframe`` built from them, and a book snapshot every few ticks.

        A sum's legs move whenever the sum is asked for (quoted only if asked for too); the sum
        quotes after them in each round one of them moved, centred on their centres' sum."""
        import numpy as np

        specs = [self._spec(s) for s in symbols]
        asked = {s.instrument.symbol for s in specs}
        movers: list[DemoSpec] = []
        for spec in specs:
            for name in spec.legs or (spec.instrument.symbol,):
                if DEMO_INSTRUMENTS[name] not in movers:
                    movers.append(DEMO_INSTRUMENTS[name])
        sums = [s for s in specs if s.legs]
        rng = np.random.default_rng(_seed_for(self.seed, "stream"))
        builders = {s.instrument.symbol: BarBuilder(s.instrument.symbol, timeframe) for s in specs}
        cycle_phase = {
            s.instrument.symbol: [(p, a, rng.uniform(0, 2 * np.pi)) for p, a in s.cycles]
            for s in movers
        }
        dt = self.tick_interval_s if self.tick_interval_s > 0 else 0.25
        frac = dt / 60 / _TICK_PROB
        n = 0

        def quoted(spec: DemoSpec, now: int, bid: float, ask: float) -> list[FeedEvent]:
            nonlocal n
            symbol = spec.instrument.symbol
            last = ask if rng.random() < 0.5 else bid
            volume = float(spec.instrument.lot_size) * float(rng.integers(1, 50))
            tick = Tick(now, symbol, bid, ask, last, volume)
            out: list[FeedEvent] = []
            closed = builders[symbol].add(tick)
            if closed is not None:
                out.append(closed)
            out.append(tick)
            n += 1
            if n % 4 == 0:
                out.append(self.book(symbol))
            return out

        while not self._closed:
            now = self.clock()
            minute = now // 60_000_000_000
            moved: set[str] = set()
            for spec in movers:
                symbol = spec.instrument.symbol
                if rng.random() > _TICK_PROB:
                    continue
                sigma_1m = spec.annual_vol * math.sqrt(60 / _YEAR_S)
                if spec.season_vol:
                    sigma_1m *= 1 + spec.season_vol * float(winter(now))
                drift = sum(
                    a * sigma_1m * math.sin(2 * math.pi * minute / p + ph)
                    for p, a, ph in cycle_phase[symbol]
                )
                step = sigma_1m * rng.standard_normal() * math.sqrt(frac) + drift * frac
                if spec.half_life_days is not None:  # OU: back towards the level
                    gap = math.log(self._mid[symbol]) - float(_level(spec, now))
                    step -= (1 - _reversion(spec, frac * 60)) * gap
                self._mid[symbol] *= math.exp(step)
                moved.add(symbol)
                if symbol in asked:
                    for event in quoted(spec, now, *self._quote(spec, self._mid[symbol])):
                        yield event
            for spec in sums:
                if moved.isdisjoint(spec.legs):
                    continue
                centre = sum(
                    self._bid_ticks(leg, self._mid[leg.instrument.symbol]) + leg.spread_ticks // 2
                    for leg in (DEMO_INSTRUMENTS[name] for name in spec.legs)
                )
                symbol = spec.instrument.symbol
                self._mid[symbol] = centre * float(spec.instrument.tick_size)
                bid_ask = self._quote_at(spec, centre - spec.spread_ticks // 2)
                for event in quoted(spec, now, *bid_ask):
                    yield event
            if self.tick_interval_s > 0:
                await asyncio.sleep(self.tick_interval_s)
            else:
                await asyncio.sleep(0)

    async def close(self) -> None:
        self._closed = True
