"""Timeframes: parsing ("1m", "4h", "1d", "1w"), bucketing timestamps, resampling bars.

A timeframe is a whole number of seconds, minutes, hours, days or weeks. Buckets are aligned
to the Unix epoch in UTC, except weeks, which start on Monday 00:00 UTC (as exchanges do).

polars is imported by the frame functions, not here: the screen parses timeframes and builds
bars before its first frame, which must not wait for polars.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from engine.model import Bar, Tick

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

    OHLCV_SCHEMA: dict[str, type[pl.DataType]]
    """The one column layout of bulk bars everywhere (history, store, backtests)."""

NS = {"s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
NS["d"] = 24 * NS["h"]
NS["w"] = 7 * NS["d"]
_MONDAY_OFFSET_NS = 4 * NS["d"]  # 1970-01-01 was a Thursday

_CALENDAR = (
    (28 * NS["d"], 31 * NS["d"], "about 1 month"),
    (89 * NS["d"], 92 * NS["d"], "about 3 months"),
    (365 * NS["d"], 366 * NS["d"], "about 1 year"),
)


def bar_spacing(ts: Any) -> int | None:
    """The usual time between bars: the median gap in ns between neighbouring timestamps
    (either order; equal ones left out), or None when there are not two distinct ones."""
    import numpy as np

    gaps = np.abs(np.diff(np.asarray(ts, dtype=np.int64)))
    gaps = gaps[gaps > 0]
    return int(np.median(gaps)) if gaps.size else None


def spacing_timeframe(gap_ns: int) -> str | None:
    """The timeframe a bar spacing is exactly (``7 * 86400e9`` -> ``1w``), or None."""
    for unit in ("w", "d", "h", "m", "s"):
        if gap_ns % NS[unit] == 0:
            return f"{gap_ns // NS[unit]}{unit}"
    return None


def spacing_label(gap_ns: int) -> str:
    """A bar spacing in words: ``about 1 month``, ``1d``, ``4h``, ``about 1.5h``."""
    for low, high, name in _CALENDAR:
        if low <= gap_ns <= high:
            return name
    exact = spacing_timeframe(gap_ns)
    if exact is not None:
        return exact
    unit = next((u for u in ("w", "d", "h", "m") if gap_ns >= NS[u]), "s")
    return f"about {gap_ns / NS[unit]:.3g}{unit}"


_TF_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")

OHLCV_COLUMNS = ("ts", "open", "high", "low", "close", "volume")


def ohlcv_schema() -> dict[str, type[pl.DataType]]:
    """``OHLCV_SCHEMA``, made on first use (it needs polars)."""
    schema = globals().get("OHLCV_SCHEMA")
    if schema is None:
        import polars as pl

        schema = dict(zip(OHLCV_COLUMNS, (pl.Int64, *[pl.Float64] * 5), strict=True))
        globals()["OHLCV_SCHEMA"] = schema
    return schema


def __getattr__(name: str) -> Any:
    if name == "OHLCV_SCHEMA":
        return ohlcv_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


IntOrArray = TypeVar("IntOrArray", int, "np.ndarray")

COMMON = ("1m", "5m", "15m", "1h", "4h", "1d")


class TimeframeError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Timeframe:
    count: int
    unit: str

    @property
    def ns(self) -> int:
        return self.count * NS[self.unit]

    @property
    def seconds(self) -> float:
        return self.ns / 1e9

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"

    def bucket(self, ts_ns: IntOrArray) -> IntOrArray:
        """Start of the bar that contains ``ts_ns`` (an int or an int64 array)."""
        offset = _MONDAY_OFFSET_NS if self.unit == "w" else 0
        return (ts_ns - offset) // self.ns * self.ns + offset


def parse(text: str) -> Timeframe:
    """``"15m"`` -> Timeframe(15, "m"). Unknown strings raise TimeframeError naming the forms."""
    m = _TF_RE.match(text) if isinstance(text, str) else None
    if m is None or int(m.group(1)) <= 0:
        raise TimeframeError(
            f"unknown timeframe {text!r}: use a positive count and a unit s, m, h, d or w "
            f"(e.g. {', '.join(COMMON)})"
        )
    return Timeframe(int(m.group(1)), m.group(2))


DAY_NS = 86_400 * 10**9
"""One day in nanoseconds (the unit of every timestamp here)."""
_DURATION_UNITS_NS = {"s": 10**9, "m": 60 * 10**9, "h": 3_600 * 10**9, "d": DAY_NS}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(text: str) -> int:
    """A span of time as a trader writes it: ``30m``, ``2h``, ``1h30m``, ``90s``, ``1d`` ->
    nanoseconds. Anything else raises TimeframeError saying what is wanted."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not compact or "".join(f"{n}{u}" for n, u in parts) != compact:
        raise TimeframeError(f"a duration like 30m, 2h or 1h30m wanted, got {text!r}")
    total = int(sum(float(n) * _DURATION_UNITS_NS[u] for n, u in parts))
    if total <= 0:
        raise TimeframeError(f"the duration must be positive, got {text!r}")
    return total


def empty_ohlcv() -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(schema=ohlcv_schema())


def buckets(ts: np.ndarray, timeframe: Timeframe) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For sorted bar times ``ts``: each ``timeframe`` bucket's start time and the index of its
    first and last bar (what :func:`resample` aggregates over)."""
    import numpy as np

    bucket = timeframe.bucket(np.asarray(ts, dtype=np.int64))
    starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    ends = np.concatenate((starts[1:], [bucket.shape[0]])) - 1
    return bucket[starts], starts, ends


def resample(bars: pl.DataFrame, timeframe: str | Timeframe) -> pl.DataFrame:
    """Aggregate OHLCV bars (``ts`` in ns) into a coarser timeframe.

    A bucket is labelled by its start; the last bucket may be incomplete (it is the bar
    still forming), which callers that need closed bars drop by comparing with the clock.
    """
    import numpy as np
    import polars as pl

    tf = parse(timeframe) if isinstance(timeframe, str) else timeframe
    if bars.is_empty():
        return empty_ohlcv()
    if not bars["ts"].is_sorted():
        bars = bars.sort("ts")
    labels, starts, ends = buckets(bars["ts"].to_numpy(), tf)

    def column(name: str) -> np.ndarray:
        return bars[name].to_numpy().astype(np.float64, copy=False)

    return pl.DataFrame(
        {
            "ts": labels,
            "open": column("open")[starts],
            "high": np.maximum.reduceat(column("high"), starts),
            "low": np.minimum.reduceat(column("low"), starts),
            "close": column("close")[ends],
            "volume": np.add.reduceat(column("volume"), starts),
        },
        schema=ohlcv_schema(),
    )


def bars_to_frame(bars: Iterable[Bar]) -> pl.DataFrame:
    import polars as pl

    rows = [(b.ts_ns, b.open, b.high, b.low, b.close, b.volume) for b in bars]
    return pl.DataFrame(rows, schema=ohlcv_schema(), orient="row")


def frame_to_bars(df: pl.DataFrame, symbol: str, timeframe: str) -> Iterator[Bar]:
    for ts, o, h, lo, c, v in df.select(list(OHLCV_COLUMNS)).iter_rows():
        yield Bar(ts, symbol, timeframe, o, h, lo, c, v)


class BarBuilder:
    """Builds bars of one timeframe from a tick stream (trade price, else mid).

    ``add`` returns the bar that a tick closed (the tick opened a new bucket), or None.
    """

    def __init__(self, symbol: str, timeframe: str) -> None:
        self.symbol = symbol
        self.timeframe = timeframe
        self._tf = parse(timeframe)
        self._start: int | None = None
        self._o = self._h = self._l = self._c = 0.0
        self._v = 0.0

    def add(self, tick: Tick) -> Bar | None:
        price = tick.last if tick.last == tick.last else tick.mid
        if price != price:
            return None
        start = self._tf.bucket(tick.ts_ns)
        closed: Bar | None = None
        if self._start is not None and start > self._start:
            closed = self._bar(closed=True)
        if self._start is None or start > self._start:
            self._start = start
            self._o = self._h = self._l = self._c = price
            self._v = 0.0
        elif start < self._start:
            return None  # a late tick for a bar already closed
        self._h = max(self._h, price)
        self._l = min(self._l, price)
        self._c = price
        self._v += tick.volume
        return closed

    def current(self) -> Bar | None:
        """The bar still forming, marked ``closed=False``."""
        return None if self._start is None else self._bar(closed=False)

    def _bar(self, closed: bool) -> Bar:
        assert self._start is not None
        return Bar(
            self._start,
            self.symbol,
            self.timeframe,
            self._o,
            self._h,
            self._l,
            self._c,
            self._v,
            closed,
        )


def format_utc(ts_ns: np.ndarray | Sequence[int]) -> list[str]:
    """Each time as text, UTC: the date alone when every time is at midnight (daily bars),
    else with the minute (or the second where one has seconds)."""
    import numpy as np

    ts = np.asarray(ts_ns, dtype=np.int64)
    if not len(ts):
        return []
    if np.all(ts % DAY_NS == 0):
        fmt = "%Y-%m-%d"
    elif np.all(ts % NS["m"] == 0):
        fmt = "%Y-%m-%d %H:%M"
    else:
        fmt = "%Y-%m-%d %H:%M:%S"
    return [datetime.fromtimestamp(int(t) / 1e9, UTC).strftime(fmt) for t in ts]
