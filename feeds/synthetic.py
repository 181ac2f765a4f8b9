"""A load generator: random-walk quotes for many symbols at a fixed rate (quotes per second).

For stress tests and the TUI benchmark: ``SyntheticFeed(symbols=50, rate=2000)`` emits 2,000
ticks a second spread over SYM00..SYM49, in bursts every ``burst_s`` so the event loop is
not woken per tick. Each tick's ``ts_ns`` is the wall-clock time it was made, so a consumer
can measure how long it took to reach the screen.
"""

from __future__ import annotations

import asyncio
import math
import time
import zlib
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

import numpy as np
import polars as pl

from engine.model import Instrument, Tick
from engine.protocols import FeedEvent
from engine.timeframes import OHLCV_SCHEMA, parse


class SyntheticFeed:
    name = "synthetic"
    venue = "synthetic"

    def __init__(
        self,
        symbols: int = 50,
        rate: float = 2000.0,
        burst_s: float = 0.005,
        seed: int = 1,
        duration_s: float | None = None,
        **_: object,
    ) -> None:
        if rate <= 0 or symbols <= 0:
            raise ValueError("rate and symbols must be positive")
        self._symbols = [f"SYM{i:02d}" for i in range(symbols)]
        self.rate = rate
        self.burst_s = burst_s
        self.seed = seed
        self.duration_s = duration_s
        self.finite = duration_s is not None  # its stream ends by design: not restarted
        self.sent = 0
        self.mids: dict[str, float] = {}
        self._closed = False

    def symbols(self) -> list[str]:
        return list(self._symbols)

    def instrument(self, symbol: str) -> Instrument:
        if symbol not in self._symbols:
            raise KeyError(f"unknown synthetic symbol {symbol!r}")
        return Instrument(symbol, self.venue, Decimal("0.01"), Decimal("0.001"), "USD")

    async def history(
        self, symbol: str, timeframe: str, start: int | None = None, limit: int | None = None
    ) -> pl.DataFrame:
        n = 300 if limit is None else limit
        tf = parse(timeframe)
        rng = np.random.default_rng(zlib.crc32(f"{self.seed}|{symbol}".encode()))
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
        open_ = np.concatenate(([100.0], close[:-1]))
        end = tf.bucket(time.time_ns())
        return pl.DataFrame(
            {
                "ts": end - tf.ns * np.arange(n, 0, -1, dtype=np.int64),
                "open": open_,
                "high": np.maximum(open_, close) * 1.001,
                "low": np.minimum(open_, close) * 0.999,
                "close": close,
                "volume": rng.uniform(1, 10, n),
            },
            schema=OHLCV_SCHEMA,
        )

    async def stream(
        self, symbols: Sequence[str], timeframe: str = "1m"
    ) -> AsyncIterator[FeedEvent]:
        names = list(symbols) or self._symbols
        rng = np.random.default_rng(self.seed)
        mids = self.mids = dict.fromkeys(names, 100.0)
        start = time.perf_counter()
        i = 0
        while not self._closed:
            elapsed = time.perf_counter() - start
            if self.duration_s is not None and elapsed >= self.duration_s:
                return
            due = int(elapsed * self.rate) - self.sent
            steps = rng.normal(0, 0.0005, max(due, 0))
            for step in steps:
                symbol = names[i % len(names)]
                i += 1
                mid = mids[symbol] * math.exp(step)
                mids[symbol] = mid
                bid, ask = round(mid - 0.01, 2), round(mid + 0.01, 2)
                yield Tick(time.time_ns(), symbol, bid, ask, bid if step < 0 else ask, 1.0)
                self.sent += 1
            await asyncio.sleep(self.burst_s)

    async def close(self) -> None:
        self._closed = True
