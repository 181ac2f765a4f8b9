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
) -> DemoSpec:
    inst = Instrument(
        symbol, "demo", Decimal(tick), Decimal(lot), quote, base, Decimal(lot), Decimal(0), asset
    )
    return DemoSpec(inst, price, vol, spread, volume, cycles)


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
    )
}


def _seed_for(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


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
    rng = np.random.default_rng(_seed_for(seed, spec.instrument.symbol, tf))
    sigma = spec.annual_vol * math.sqrt(tf.seconds / _YEAR_S)
    last_start = tf.bucket(end_ns) - tf.ns
    ts = last_start - tf.ns * np.arange(count - 1, -1, -1, dtype=np.int64)

    regimes = np.array([0.6, 1.0, 1.8])
    switch = rng.random(count) < 1 / 250
    regime = np.cumsum(switch + rng.integers(0, 2, count) * switch) % 3
    drift = np.repeat(rng.normal(0, 0.05, count // 400 + 1), 400)[:count] * sigma
    noise = rng.standard_normal(count) * sigma * regimes[regime]
    index = ts // tf.ns
    cyc = np.zeros(count)
    for period, amp in spec.cycles:
        phase = rng.uniform(0, 2 * np.pi)
        cyc += amp * sigma * np.sin(2 * np.pi * index / period + phase)
    returns = noise + drift + cyc

    log_close = math.log(spec.price) - np.concatenate(([0.0], np.cumsum(returns[::-1])[:-1]))[::-1]
    close = np.exp(log_close)
    open_ = np.exp(np.concatenate(([log_close[0] - returns[0]], log_close[:-1])))
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
    def _quote(spec: DemoSpec, mid: float) -> tuple[float, float]:
        tick = float(spec.instrument.tick_size)
        digits = spec.instrument.price_decimals
        bid_ticks = math.floor(mid / tick - spec.spread_ticks / 2)
        return round(bid_ticks * tick, digits), round(
            (bid_ticks + spec.spread_ticks) * tick, digits
        )

    async def stream(
        self, symbols: Sequence[str], timeframe: str = "1m"
    ) -> AsyncIterator[FeedEvent]:
        """Ticks for ``symbols`` every ``tick_interval_s`` (0 = as fast as possible), closed bars
        of ``timeframe`` built from them, and a book snapshot every few ticks."""
        import numpy as np

        specs = [self._spec(s) for s in symbols]
        rng = np.random.default_rng(_seed_for(self.seed, "stream"))
        builders = {s.instrument.symbol: BarBuilder(s.instrument.symbol, timeframe) for s in specs}
        cycle_phase = {
            s.instrument.symbol: [(p, a, rng.uniform(0, 2 * np.pi)) for p, a in s.cycles]
            for s in specs
        }
        dt = self.tick_interval_s if self.tick_interval_s > 0 else 0.25
        n = 0
        while not self._closed:
            now = self.clock()
            minute = now // 60_000_000_000
            for spec in specs:
                symbol = spec.instrument.symbol
                if rng.random() > _TICK_PROB:
                    continue
                sigma_1m = spec.annual_vol * math.sqrt(60 / _YEAR_S)
                drift = sum(
                    a * sigma_1m * math.sin(2 * math.pi * minute / p + ph)
                    for p, a, ph in cycle_phase[symbol]
                )
                frac = dt / 60 / _TICK_PROB
                step = sigma_1m * rng.standard_normal() * math.sqrt(frac) + drift * frac
                self._mid[symbol] *= math.exp(step)
                bid, ask = self._quote(spec, self._mid[symbol])
                last = ask if rng.random() < 0.5 else bid
                volume = float(spec.instrument.lot_size) * float(rng.integers(1, 50))
                tick = Tick(now, symbol, bid, ask, last, volume)
                closed = builders[symbol].add(tick)
                if closed is not None:
                    yield closed
                yield tick
                n += 1
                if n % 4 == 0:
                    yield self.book(symbol)
            if self.tick_interval_s > 0:
                await asyncio.sleep(self.tick_interval_s)
            else:
                await asyncio.sleep(0)

    async def close(self) -> None:
        self._closed = True
