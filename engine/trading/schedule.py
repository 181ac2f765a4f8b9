"""Execution schedules: how a TWAP or VWAP parent order is cut into child orders over time.

A parent of ``qty`` is worked over ``[start, start + over)`` in ``slices`` equal intervals.
Its plan is the cumulative quantity due by the end of each interval: even for TWAP, in
proportion to the volume traded in the same intervals of the day on earlier days for VWAP
(:func:`volume_profile`). Every cumulative target is on the lot grid, the last is the whole
quantity, and a slice too small for the venue's minimum quantity or notional is deferred to
the next one (:func:`plan`), so every child the plan asks for can be sent as it is.
numpy is imported by the functions that plan: the store reads and writes parents without it.

A child is sent at the end of its interval, once the market's volume over it is known: with a
participation cap, what the parent has committed never exceeds ``cap`` times the volume the
market traded since the start (:func:`child_qty`). What the cap holds back is caught up in
later slices; what is still missing at the end is reported, never sent past the horizon.
"""

from __future__ import annotations

import bisect
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import TYPE_CHECKING

from engine import timeframes
from engine.model import Instrument, ModelError, OrderType, Side, to_decimal
from engine.timeframes import DAY_NS

if TYPE_CHECKING:
    import numpy as np

MAX_SLICES = 1_000
DEFAULT_SLICE_NS = 60_000_000_000
"""With no ``--slices``: one child a bar, and never more than one a minute."""


class ScheduleError(ValueError):
    """A parent order that cannot be planned as asked (said in one line, nothing sent)."""


class Algo(enum.StrEnum):
    TWAP = "twap"
    VWAP = "vwap"


class AlgoStatus(enum.StrEnum):
    WORKING = "working"
    DONE = "done"
    CANCELLED = "cancelled"
    STOPPED = "stopped"
    """Stopped by the kill switch: its working children were cancelled, nothing more is sent."""

    @property
    def is_final(self) -> bool:
        return self is not AlgoStatus.WORKING


@dataclass(frozen=True, slots=True)
class AlgoParams:
    algo: Algo
    over_ns: int
    slices: int
    max_participation: Decimal | None = None
    """A fraction of the market's volume (0.1 for 10 %), or None for no cap."""
    child_type: OrderType = OrderType.MARKET
    limit_offset_ticks: int = 0
    """Limit children: this many ticks through the mark (a buy above, a sell below); negative
    for a passive child that rests behind it."""
    profile_days: int = 20

    def __post_init__(self) -> None:
        if self.over_ns <= 0:
            raise ScheduleError("the horizon must be positive (e.g. --over 30m)")
        if not 1 <= self.slices <= MAX_SLICES:
            raise ScheduleError(f"slices must be 1 to {MAX_SLICES}, got {self.slices}")
        cap = self.max_participation
        if cap is not None and not Decimal(0) < cap <= Decimal(1):
            raise ScheduleError(
                f"the participation cap must be above 0 and at most 100%, got {cap}"
            )
        if self.child_type not in (OrderType.MARKET, OrderType.LIMIT):
            raise ScheduleError(f"children are market or limit orders, not {self.child_type}")

    @property
    def slice_ns(self) -> int:
        return self.over_ns // self.slices


@dataclass(frozen=True, slots=True)
class PlannedSlice:
    due_ns: int
    """The end of the slice's interval: its child is sent once the market is past it."""
    cum_qty: Decimal
    """What the parent should have committed by then (on the lot grid)."""


@dataclass(frozen=True, slots=True)
class AlgoOrder:
    """A parent order and its progress, as the store keeps it."""

    id: str
    venue: str
    symbol: str
    side: Side
    qty: Decimal
    params: AlgoParams
    status: AlgoStatus = AlgoStatus.WORKING
    start_ns: int = 0
    """0 until a runtime starts working it (its plan is made then, in market time)."""
    plan: tuple[PlannedSlice, ...] = ()
    arrival: Decimal | None = None
    """The mark when it started: slippage is measured from it."""
    last_bar_ns: int = 0
    """The newest bar counted into the market's volume (a replayed bar is not counted twice)."""
    market_volume: Decimal = Decimal(0)
    market_notional: Decimal = Decimal(0)
    """Sum of typical price x volume of the bars counted: the interval's market VWAP."""
    strategy: str = ""
    reason: str = ""
    created_ns: int = 0
    notes: tuple[str, ...] = field(default=())
    """What planning said (the profile's days, a cap the usual volume cannot meet)."""

    @property
    def started(self) -> bool:
        return self.start_ns > 0

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.params.over_ns if self.started else 0

    @property
    def market_vwap(self) -> float | None:
        if self.market_volume <= 0:
            return None
        return float(self.market_notional / self.market_volume)


def parse_duration(text: str) -> int:
    """:func:`engine.timeframes.parse_duration`, its error as a :class:`ScheduleError`."""
    try:
        return timeframes.parse_duration(text)
    except ValueError as exc:
        raise ScheduleError(str(exc)) from exc


def parse_participation(text: str) -> Decimal:
    """``10%`` or ``0.1`` -> ``Decimal('0.1')``."""
    raw = text.strip()
    try:
        value = Decimal(raw[:-1]) / 100 if raw.endswith("%") else Decimal(raw)
    except InvalidOperation as exc:
        raise ScheduleError(f"a participation like 10% wanted, got {text!r}") from exc
    if not value.is_finite() or not Decimal(0) < value <= Decimal(1):
        raise ScheduleError(f"the participation must be above 0% and at most 100%, got {text!r}")
    return value


def default_slices(over_ns: int, bar_ns: int = DEFAULT_SLICE_NS) -> int:
    """One child a bar (at least a minute apart), at most :data:`MAX_SLICES`."""
    return max(1, min(MAX_SLICES, over_ns // max(DEFAULT_SLICE_NS, bar_ns)))


def volume_profile(
    ts_ns: np.ndarray,
    volume: np.ndarray,
    start_ns: int,
    slice_ns: int,
    slices: int,
    days: int = 20,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The share of each slice in the volume of the same intervals of the day on the last
    ``days`` days before ``start_ns`` that have bars there, the average volume of each slice,
    and how many days that was. ``ts_ns`` are the bars' open times, sorted; a bar belongs to
    the interval its open time is in."""
    import numpy as np  # here: the store reads parents without loading numpy

    ts = np.asarray(ts_ns, dtype=np.int64)
    vol = np.asarray(volume, dtype=np.float64)
    edges = start_ns + slice_ns * np.arange(slices + 1, dtype=np.int64)
    totals = np.zeros(slices)
    used = 0
    for d in range(1, days + 1):
        lo, hi = edges[0] - d * DAY_NS, edges[-1] - d * DAY_NS
        a, b = np.searchsorted(ts, [lo, hi], side="left")
        if b <= a:
            continue
        idx = np.searchsorted(edges - d * DAY_NS, ts[a:b], side="right") - 1
        day = np.bincount(idx, weights=np.nan_to_num(vol[a:b]), minlength=slices)[:slices]
        if day.sum() > 0:
            totals += day
            used += 1
    if used == 0:
        return np.full(slices, 1.0 / slices), np.zeros(slices), 0
    mean = totals / used
    return mean / mean.sum(), mean, used


def plan(
    qty: Decimal,
    inst: Instrument,
    start_ns: int,
    slice_ns: int,
    weights: Sequence[float] | np.ndarray,
    price: float | None = None,
) -> tuple[PlannedSlice, ...]:
    """The cumulative targets of a parent of ``qty`` cut by ``weights`` (one per slice).

    Targets are whole lots, rounded down except the last (the whole quantity). A slice whose
    increment is below the venue's minimum quantity, or its minimum notional at ``price``, is
    held back and added to the next one; a remainder that is still too small at the end goes
    with the slice before it. Raises :class:`ScheduleError` if ``qty`` is off the lot grid or
    too small to be sent at all."""
    import numpy as np

    try:
        inst.check_qty(qty)
    except ModelError as exc:
        raise ScheduleError(str(exc)) from exc
    w = np.asarray(weights, dtype=np.float64)
    if w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ScheduleError("the slice weights must be finite, non-negative and not all zero")
    lots = int(qty / inst.lot_size)
    cum_w = np.cumsum(w) / w.sum()
    cum_lots = [min(lots, math.floor(lots * float(c) + 1e-9)) for c in cum_w[:-1]] + [lots]

    def enough(n_lots: int) -> bool:
        q = inst.lot_size * n_lots
        if q < inst.min_qty:
            return False
        return not (
            inst.min_notional > 0
            and price is not None
            and q * to_decimal(price) < inst.min_notional
        )

    if not enough(lots):
        raise ScheduleError(
            f"{inst.symbol}: {qty} is below the minimum order ({inst.min_qty} or a notional of"
            f" {inst.min_notional}): it cannot be cut into children"
        )
    out: list[int] = []
    sent = 0
    for target in cum_lots:
        if target > sent and enough(target - sent):
            sent = target
        out.append(sent)
    if sent < lots:  # the remainder is too small alone: it goes with the last child before it
        steps = [k for k, n in enumerate(out) if n > (out[k - 1] if k else 0)]
        first = steps[-1] if steps else len(out) - 1
        out[first:] = [lots] * (len(out) - first)
    return tuple(
        PlannedSlice(start_ns + slice_ns * (k + 1), inst.lot_size * n) for k, n in enumerate(out)
    )


def target_by(plan_: Sequence[PlannedSlice], now_ns: int) -> Decimal:
    """The cumulative quantity the plan has due by ``now_ns`` (its slices are in time order)."""
    k = bisect.bisect_right(plan_, now_ns, key=lambda s: s.due_ns)
    return plan_[k - 1].cum_qty if k else Decimal(0)


def child_qty(
    plan_: Sequence[PlannedSlice],
    now_ns: int,
    committed: Decimal,
    inst: Instrument,
    market_volume: Decimal,
    cap: Decimal | None,
) -> Decimal:
    """The next child's quantity at ``now_ns``: what the plan has due minus what is committed
    (filled, or still working), held under ``cap`` x the market's volume so far, on the lot
    grid; 0 when nothing is due or what is due is below the venue's minimum."""
    want = target_by(plan_, now_ns) - committed
    if cap is not None:
        want = min(want, cap * market_volume - committed)
    if want <= 0:
        return Decimal(0)
    lots = (want / inst.lot_size).to_integral_value(ROUND_DOWN)
    qty = lots * inst.lot_size
    return qty if qty > 0 and qty >= inst.min_qty else Decimal(0)


def limit_price(inst: Instrument, side: Side, mark: float, offset_ticks: int) -> Decimal:
    """A limit child's price: ``offset_ticks`` through the mark, on the tick grid, rounded
    away from the market (a buy never below the mark plus the offset, a sell never above)."""
    ticks = to_decimal(mark) / inst.tick_size
    through = ticks + side.sign * offset_ticks
    on_grid = through.to_integral_value("ROUND_CEILING" if side is Side.BUY else "ROUND_FLOOR")
    return on_grid * inst.tick_size
