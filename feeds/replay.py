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
from pathlib import Path

import polars as pl

from engine.model import Bar, Tick
from engine.protocols import FeedEvent
from engine.timeframes import parse, resample
from feeds.ohlcv_file import read_ohlcv


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
        **_: object,
    ) -> None:
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
