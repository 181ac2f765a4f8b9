"""Price and time levels: zigzag swing pivots, Fibonacci retracements/extensions, Gann
square-of-9 price levels and Gann time cycles.

No look-ahead anywhere: a swing pivot exists only from the bar that *confirms* it (the first
bar whose price has moved the threshold away from the extreme), and every function that takes
a bar index ``t`` uses only pivots confirmed at or before ``t``. A pivot's ``index`` (the bar
of the extreme) is earlier than its ``confirmed_at``; anything acting on a pivot must wait for
``confirmed_at``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from engine.signals.indicators import atr

FIB_RETRACEMENTS = (0.236, 0.382, 0.5, 0.618, 0.786)
FIB_EXTENSIONS = (1.272, 1.618)
GANN_ANGLES = (45, 90, 135, 180, 225, 270, 315, 360)
GANN_TIME_CYCLES = (30, 45, 60, 90, 120, 144, 180, 360)


@dataclass(frozen=True, slots=True)
class Pivot:
    """A confirmed swing extreme: ``kind`` +1 = swing high, -1 = swing low."""

    index: int
    confirmed_at: int
    price: float
    kind: int


@dataclass(frozen=True, slots=True)
class Level:
    name: str  # e.g. "fib 0.618", "gann +90°"
    price: float


@njit(cache=True)
def _zigzag_kernel(
    high: np.ndarray, low: np.ndarray, thr: np.ndarray, relative: bool
) -> np.ndarray:  # pragma: no cover - compiled
    m = high.shape[0]
    out = np.empty((m, 4))
    count = 0
    direction = 0  # 0 = undecided, +1 = tracking a swing high, -1 = tracking a swing low
    hi_i = -1
    lo_i = -1
    for i in range(m):
        h = high[i]
        lo = low[i]
        th = thr[i]
        if h != h or lo != lo or th != th:
            continue
        if hi_i < 0:
            hi_i = i
            lo_i = i
            continue
        if direction >= 0 and h > high[hi_i]:
            hi_i = i
        if direction <= 0 and lo < low[lo_i]:
            lo_i = i
        need_down = th * high[hi_i] if relative else th
        need_up = th * low[lo_i] if relative else th
        top = direction >= 0 and hi_i < i and high[hi_i] - lo >= need_down
        bottom = direction <= 0 and lo_i < i and h - low[lo_i] >= need_up
        if top and bottom:  # undecided and both moved: the earlier extreme is the pivot
            top = hi_i < lo_i
            bottom = not top
        if top:
            out[count, 0] = hi_i
            out[count, 1] = i
            out[count, 2] = high[hi_i]
            out[count, 3] = 1.0
            count += 1
            direction = -1
            lo_i = i
        elif bottom:
            out[count, 0] = lo_i
            out[count, 1] = i
            out[count, 2] = low[lo_i]
            out[count, 3] = -1.0
            count += 1
            direction = 1
            hi_i = i
    return out[:count]


def zigzag(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray | None = None,
    *,
    pct: float | None = None,
    atr_mult: float | None = None,
    atr_n: int = 14,
) -> list[Pivot]:
    """Alternating swing highs and lows, each confirmed once price has reversed by the threshold.

    Exactly one threshold: ``pct`` (a fraction of the extreme, e.g. 0.03) or ``atr_mult`` times
    the ATR(``atr_n``) *of the bar being examined* (needs ``close``). A pivot confirmed at bar
    ``c`` depends only on bars ``<= c``; pivots are listed in confirmation order.
    """
    h = np.ascontiguousarray(high, dtype=np.float64)
    lo = np.ascontiguousarray(low, dtype=np.float64)
    if h.shape != lo.shape or h.ndim != 1:
        raise ValueError("high and low must be one-dimensional arrays of equal length")
    if (pct is None) == (atr_mult is None):
        raise ValueError("give exactly one threshold: pct=... or atr_mult=...")
    if pct is not None:
        if not 0 < pct < 1:
            raise ValueError(f"pct must be a fraction in (0, 1), got {pct}")
        thr = np.full(len(h), float(pct))
        relative = True
    else:
        if close is None:
            raise ValueError("an ATR threshold needs close prices")
        if atr_mult is None or atr_mult <= 0:
            raise ValueError(f"atr_mult must be positive, got {atr_mult}")
        thr = float(atr_mult) * atr(h, lo, np.asarray(close, dtype=np.float64), atr_n)
        relative = False
    rows = _zigzag_kernel(h, lo, thr, relative)
    return [Pivot(int(i), int(k), p, int(c)) for i, k, p, c in rows.tolist()]


def known_at(pivots: Sequence[Pivot], t: int) -> list[Pivot]:
    """The pivots a trader could know at the close of bar ``t``."""
    return [p for p in pivots if p.confirmed_at <= t]


def last_swing(pivots: Sequence[Pivot], t: int | None = None) -> tuple[Pivot, Pivot] | None:
    """The last two confirmed pivots (start, end) at bar ``t`` (default: all), or None."""
    known = list(pivots) if t is None else known_at(pivots, t)
    return (known[-2], known[-1]) if len(known) >= 2 else None


def fibonacci_levels(
    start: float,
    end: float,
    retracements: Sequence[float] = FIB_RETRACEMENTS,
    extensions: Sequence[float] = FIB_EXTENSIONS,
) -> list[Level]:
    """Levels of the swing ``start -> end``: retracement r at ``end - r*(end-start)`` (back
    toward the start), extension e at ``start + e*(end-start)`` (beyond the end)."""
    move = end - start
    levels = [Level(f"fib {r:g}", end - r * move) for r in retracements]
    levels += [Level(f"fib ext {e:g}", start + e * move) for e in extensions]
    return levels


def fibonacci_at(pivots: Sequence[Pivot], t: int | None = None) -> list[Level]:
    """Fibonacci levels of the last swing confirmed at or before bar ``t`` ([] if none)."""
    swing = last_swing(pivots, t)
    return [] if swing is None else fibonacci_levels(swing[0].price, swing[1].price)


def gann_scale(price: float) -> float:
    """Power of ten bringing ``price`` into [100, 10000), the range square-of-9 is drawn in
    (1.0850 -> 108.5, 64000 -> 6400); pass ``scale`` to draw it elsewhere (1e4 = FX pips)."""
    if not math.isfinite(price) or price <= 0:
        raise ValueError(f"price must be positive and finite, got {price}")
    if price < 100:
        return 10.0 ** (2 - math.floor(math.log10(price)))
    if price >= 10_000:
        return 10.0 ** (3 - math.floor(math.log10(price)))
    return 1.0


def gann_square9(
    pivot_price: float, angles: Sequence[int] = GANN_ANGLES, scale: float | None = None
) -> list[Level]:
    """Square-of-9 levels around a pivot: ``(sqrt(P) ± angle/180)^2`` on the scaled price,
    i.e. one full turn of the square (360°) adds 2 to the square root. Levels below zero are
    left out."""
    s = gann_scale(pivot_price) if scale is None else scale
    root = math.sqrt(pivot_price * s)
    levels = []
    for a in angles:
        step = a / 180.0
        levels.append(Level(f"gann +{a}°", (root + step) ** 2 / s))
        if root - step > 0:
            levels.append(Level(f"gann -{a}°", (root - step) ** 2 / s))
    return levels


def gann_time_hits(
    n_bars: int,
    pivots: Sequence[Pivot],
    cycles: Sequence[int] = GANN_TIME_CYCLES,
    tolerance: int = 0,
) -> np.ndarray:
    """For each bar, the longest Gann time cycle (in bars) on which it falls, counted from a
    pivot known at that bar (``index + cycle ± tolerance`` with ``confirmed_at <= bar``); 0
    where none does."""
    hits = np.zeros(n_bars, dtype=np.int64)
    if not pivots:
        return hits
    index = np.fromiter((p.index for p in pivots), dtype=np.int64, count=len(pivots))
    confirmed = np.fromiter((p.confirmed_at for p in pivots), dtype=np.int64, count=len(pivots))
    for c in cycles:
        for d in range(-tolerance, tolerance + 1):
            b = index + c + d
            ok = (confirmed <= b) & (b < n_bars) & (b >= 0)
            np.maximum.at(hits, b[ok], c)
    return hits


def nearest_level(price: float, levels: Sequence[Level]) -> tuple[Level, float] | None:
    """The level closest to ``price`` and the signed distance ``price - level``."""
    if not levels:
        return None
    best = min(levels, key=lambda lv: abs(price - lv.price))
    return best, price - best.price
