"""Replays an OHLCV file as a live stream at a speed multiplier (1x, 10x, ... or max).

The first ``warmup`` bars are served by :meth:`ReplayFeed.history` (what the chart shows on
start), and with them every bar played so far; :meth:`ReplayFeed.stream` then plays the rest,
each bar as a quote (bid = ask = last = close) followed by the closed bar, waiting the file's
own time gap divided by ``speed`` between bars (``speed=0`` or ``inf`` means as fast as
possible). :meth:`ReplayFeed.summary` says what the speed means in wall time and
:meth:`ReplayFeed.progress` where the replay is.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl

from engine.model import Bar, Instrument, Tick, to_decimal
from engine.protocols import FeedEvent
from engine.timeframes import bar_spacing, parse, resample, spacing_label, spacing_timeframe
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


def wall_time(seconds: float) -> str:
    """A wall-clock duration in the unit a person reads it in: ``360`` -> ``"6 min"``."""
    if seconds < 60:
        return f"{seconds:.3g} s"
    if seconds < 3_600:
        return f"{seconds / 60:.3g} min"
    if seconds < 86_400:
        return f"{seconds / 3_600:.3g} h"
    return f"{seconds / 86_400:.3g} days"


def _stamp(ts_ns: int, daily: bool) -> str:
    return time.strftime("%Y-%m-%d" if daily else "%Y-%m-%d %H:%M", time.gmtime(ts_ns / 1e9))


@dataclass(frozen=True, slots=True)
class ReplayProgress:
    """Where a replay is: ``bar`` of ``bars`` played (the warm-up not counted), the time of
    the last bar served (the warm-up's last before the first), and the wall seconds until the
    next bar while it waits for one (``None`` when not waiting)."""

    bar: int
    bars: int
    ts_ns: int | None
    next_in_s: float | None
    daily: bool = False

    def describe(self) -> str:
        text = f"bar {self.bar:,} of {self.bars:,}"
        if self.ts_ns is not None:
            text += f" · {_stamp(self.ts_ns, self.daily)}"
        if self.next_in_s is not None and self.next_in_s >= 1:
            text += f" · next in {wall_time(self.next_in_s)}"
        return text


class ReplayFeed:
    name = "replay"
    venue = "replay"
    depth = False
    """It publishes no order book: a file of bars has no depth."""

    def __init__(
        self,
        path: str | Path | None = None,
        symbol: str = "",
        timeframe: str = "",
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
        self.spacing_ns = bar_spacing(frame["ts"].to_numpy()) or 0
        self.timeframe = str(parse(timeframe or self._files_timeframe()))
        self.speed = speed
        self.frame = frame
        self.warmup = min(1000, frame.height // 2) if warmup is None else min(warmup, frame.height)
        self.played = 0
        """Bars of the stream served so far (after the warm-up)."""
        self._next_due: float | None = None
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

    def _files_timeframe(self) -> str:
        """The timeframe the file's bars are spaced at (its median gap), when none is given;
        1m for a file of one bar, or one whose spacing is no timeframe (it is said in
        :meth:`summary`)."""
        return (spacing_timeframe(self.spacing_ns) if self.spacing_ns else None) or "1m"

    @property
    def bars_to_play(self) -> int:
        return self.frame.height - self.warmup

    def summary(self) -> str:
        """What this replay will do, in words: the file, the speed as wall time per bar, what
        it plays, and how to play it faster."""
        source = self.path.name if self.path else self.symbol
        ts = self.frame["ts"]
        spacing = spacing_label(self.spacing_ns) if self.spacing_ns else self.timeframe
        daily = self.spacing_ns >= 86_400 * 10**9
        played = ts.slice(self.warmup)
        period = (
            f"{_stamp(played[0], daily)} to {_stamp(played[-1], daily)}" if len(played) else "none"
        )
        what = f"{self.bars_to_play:,} bars after {self.warmup:,} warm-up bars ({period} UTC)"
        if self.speed <= 0 or math.isinf(self.speed):
            text = f"replay {source} as fast as possible: {what}"
        else:
            every = wall_time(self.spacing_ns / 1e9 / self.speed) if self.spacing_ns else "?"
            text = (
                f"replay {source} at {self.speed:g}x: one {spacing} bar every {every}; {what};"
                " --speed 0 for as fast as possible"
            )
        if self.spacing_ns and self.spacing_ns != parse(self.timeframe).ns:
            text += (
                f" (the file's bars are {spacing} apart but they are replayed as"
                f" {self.timeframe} bars: pass --timeframe {spacing})"
            )
        return text

    def progress(self) -> ReplayProgress:
        """Where the replay is now (see :class:`ReplayProgress`)."""
        at = self.warmup + self.played - 1
        ts = int(self.frame["ts"][at]) if at >= 0 else None
        due = self._next_due
        return ReplayProgress(
            self.played,
            self.bars_to_play,
            ts,
            None if due is None else max(0.0, due - time.monotonic()),
            self.spacing_ns >= 86_400 * 10**9,
        )

    async def history(
        self, symbol: str, timeframe: str, start: int | None = None, limit: int | None = None
    ) -> pl.DataFrame:
        """The bars played so far (the warm-up included). At a coarser timeframe, closed bars
        only, as a live feed serves them: the bucket the replay is inside is still forming (a
        daily bar of it would be today's, not the previous close a watchlist measures from)."""
        self._check(symbol)
        bars = self.frame.head(self.warmup + self.played)
        own, asked = parse(self.timeframe).ns, parse(timeframe)
        if asked.ns != own:
            if asked.ns < own:
                raise ValueError(
                    f"the replay file has {self.timeframe} bars; it cannot serve {timeframe}"
                )
            end = int(bars["ts"][-1]) + own if bars.height else 0
            bars = resample(bars, asked)
            if bars.height and int(bars["ts"][-1]) + asked.ns > end:
                bars = bars.head(bars.height - 1)
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
        self.played = 0
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
                    self._next_due = time.monotonic() + delay
                    try:
                        await asyncio.sleep(delay)
                    finally:
                        self._next_due = None
            yield Tick(ts, self.symbol, c, c, c, v)
            self.played = n + 1
            yield Bar(ts, self.symbol, self.timeframe, o, h, lo, c, v)

    async def close(self) -> None:
        self._closed = True
