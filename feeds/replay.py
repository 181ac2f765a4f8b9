"""Replays an OHLCV file as a live stream at a speed multiplier (1x, 10x, ... or max).

The first ``warmup`` bars are served by :meth:`ReplayFeed.history` (what the chart shows on
start); :meth:`ReplayFeed.stream` then plays the rest, each bar as a quote (bid = ask = last =
close) followed by the closed bar, waiting the file's own time gap divided by ``speed``
between bars (``speed=0`` or ``inf`` means as fast as possible).
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl

from engine.model import Bar, Instrument, Tick, to_decimal
from engine.protocols import FeedEvent
from engine.timeframes import parse, resample
from feeds.ohlcv_file import read_ohlcv


def infer_tick(prices: np.ndarray, max_decimals: int = 8) -> Decimal:
    """The coarsest tick every price of ``prices`` sits on (``10**-d``, ``d <= max_decimals``)."""
    sample = np.asarray(prices[:2000], dtype=np.float64)
    sample = sample[np.isfinite(sample)]
    for d in range(max_decimals + 1):
        scaled = sample * 10**d
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))):
            return Decimal(1).scaleb(-d)
    return Decimal(1).scaleb(-max_decimals)


class ReplayFeed:
    name = "replay"
    venue = "replay"

    def __init__(
        self,
        path: str | Path | None = None,
        symbol: str = "",
        timeframe: str = "1m",
        speed: float = 10.0,
        warmup: int | None = None,
        frame: pl.DataFrame | None = None,
        tick_size: str | float | None = None,
        lot_size: str | float = "1",
        quote_ccy: str = "USD",
        **_: object,
    ) -> None:
        """``tick_size`` defaults to the finest price step the file's closes use (at most 8
        decimals); ``lot_size`` to 1 unit, as ``qws backtest`` sizes a file's bars."""
        if frame is None:
            if not path:
                raise ValueError("the replay feed needs a file: set replay.file or pass --file")
            frame = read_ohlcv(path).frame
        self.path = Path(path) if path else None
        self.symbol = symbol or (self.path.stem.upper() if self.path else "REPLAY")
        self.timeframe = str(parse(timeframe))
        self.speed = speed
        self.frame = frame
        self.warmup = min(1000, frame.height // 2) if warmup is None else min(warmup, frame.height)
        self._closed = False
        tick = tick_size if tick_size not in (None, "") else infer_tick(frame["close"].to_numpy())
        self._instrument = Instrument(
            self.symbol, self.venue, to_decimal(tick), to_decimal(lot_size), quote_ccy
        )

    simulated = True
    """Its time is the file's: the runtime's clock follows the bars it plays."""

    def instrument(self, symbol: str) -> Instrument:
        self._check(symbol)
        return self._instrument

    def symbols(self) -> list[str]:
        return [self.symbol]

    def _check(self, symbol: str) -> None:
        if symbol != self.symbol:
            raise KeyError(f"the replay feed plays {self.symbol!r}, not {symbol!r}")

    async def history(
        self, symbol: str, timeframe: str, start: int | None = None, limit: int | None = None
    ) -> pl.DataFrame:
        self._check(symbol)
        bars = self.frame.head(self.warmup)
        if parse(timeframe).ns != parse(self.timeframe).ns:
            if parse(timeframe).ns < parse(self.timeframe).ns:
                raise ValueError(
                    f"the replay file has {self.timeframe} bars; it cannot serve {timeframe}"
                )
            bars = resample(bars, timeframe)
        if start is not None:
            bars = bars.filter(pl.col("ts") >= start)
        return bars if limit is None else bars.tail(limit)

    async def stream(
        self, symbols: Sequence[str] = (), timeframe: str | None = None
    ) -> AsyncIterator[FeedEvent]:
        for s in symbols:
            self._check(s)
        fast = self.speed <= 0 or math.isinf(self.speed)
        loop = asyncio.get_running_loop()
        rows = self.frame.slice(self.warmup).iter_rows()
        first = next(rows, None)
        if first is None:
            return
        t0_file, t0_wall = first[0], loop.time()
        for n, (ts, o, h, lo, c, v) in enumerate(itertools.chain([first], rows)):
            if self._closed:
                return
            if fast:
                if n % 256 == 0:
                    await asyncio.sleep(0)
            else:
                due = t0_wall + (ts - t0_file) / 1e9 / self.speed
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            yield Tick(ts, self.symbol, c, c, c, v)
            yield Bar(ts, self.symbol, self.timeframe, o, h, lo, c, v)

    async def close(self) -> None:
        self._closed = True
