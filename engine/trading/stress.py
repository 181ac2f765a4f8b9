"""Stress scenarios: open positions revalued under a move of their price. Pure, no I/O.

A scenario gives a position a move ``m`` (a fraction of its price: ``-0.30`` is a 30 % fall)
and the position's P&L under it is ``qty * mark * m`` (:func:`position_pnl`), in the currency
the mark is in (callers mark in the account currency), exact in ``Decimal``. The moves come
from:

- **user shocks** (:func:`parse_shocks`): ``TARGET=MOVE%`` items, comma-separated, where a
  target is a symbol (``BTC/USDT``), a base asset (``BTC``) or an asset class (``crypto``),
  matched without regard to case. Where several match one position the most specific wins:
  symbol, then base asset, then asset class (:func:`match_shocks`); a shock that moves no
  position is reported with the reason, never dropped in silence. Moves are percentages only
  (``-30%``, ``+2%``, ``2.5%``): a bare ``-0.3`` is refused rather than guessed at.
- **the worst historical N-day moves** (:func:`worst_moves`) in an instrument's own daily
  closes, N closes apart (trading days: an FX week has 5): the worst fall and the worst rise
  with their dates. A long is revalued under its worst fall, a short under its worst rise.
- **named windows** (:data:`WINDOWS`, :func:`window_move`): the return from the close before
  a window opens to the last close of its last day, where the history covers both ends.
- **propagation by correlation** (:func:`conditional_move`, :func:`propagate`): the expected
  move of an unshocked instrument given the shocked ones, ``Sigma_us Sigma_ss^-1 s`` from the
  covariances of aligned daily returns; with one shocked asset that is its beta times the
  shock. The shock is read as a deviation from the mean daily return (the drift, a few basis
  points a day, is left out), and a singular ``Sigma_ss`` (two shocked series that move as one)
  is solved by least squares rather than refused.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import (
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)

import numpy as np

from engine.timeframes import DAY_NS

MIN_OBSERVATIONS = 30
"""Aligned daily returns a propagation needs (fewer: not propagated, and said so)."""

RATIO = Context(prec=28)
"""A move read off two closes: a quotient, so rounded, at 28 significant digits."""
EXACT = Context(prec=200, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])
"""Products and sums of P&L: an inexact result raises instead of rounding."""

_TARGET = re.compile(r"[A-Za-z0-9][A-Za-z0-9/._:+-]*")
_MOVE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


class StressError(ValueError):
    """A shock spec or a stress input that cannot be used, with the item at fault named."""


# -- user shocks -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Shock:
    """``target`` moved by ``move`` (a fraction: ``Decimal("-0.3")`` for ``-30%``)."""

    target: str
    move: Decimal
    text: str
    """The item as the user wrote it, tidied: ``BTC/USDT=-30%``."""


def parse_shocks(spec: str) -> tuple[Shock, ...]:
    """``"BTC/USDT=-30%,EURUSD=+2%,BTC=-20%,crypto=-10%"`` -> shocks, in the order written.

    Blank items (a doubled or trailing comma) are skipped; anything else that is not
    ``TARGET=MOVE%`` is a :class:`StressError` naming the item."""
    shocks: list[Shock] = []
    seen: dict[str, str] = {}
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        target, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not target or not value:
            raise StressError(f"shock {item!r}: write TARGET=MOVE%, e.g. BTC/USDT=-30%")
        if not _TARGET.fullmatch(target):
            raise StressError(
                f"shock {item!r}: {target!r} is not a symbol, base asset or asset class"
            )
        if not value.endswith("%"):
            raise StressError(f"shock {item!r}: write the move as a percentage, e.g. {target}=-30%")
        number = value[:-1].strip()
        if not _MOVE.fullmatch(number):
            raise StressError(f"shock {item!r}: {value!r} is not a percentage like -30% or +2.5%")
        move = Decimal(number) / 100
        if move < -1:
            raise StressError(f"shock {item!r}: a price cannot fall by more than 100%")
        key = target.casefold()
        if key in seen:
            raise StressError(f"shock {item!r}: {target} is already shocked ({seen[key]})")
        text = f"{target}={'+' if move > 0 else ''}{Decimal(number).normalize():f}%"
        seen[key] = text
        shocks.append(Shock(target, move, text))
    if not shocks:
        raise StressError("no shocks given: write TARGET=MOVE%, e.g. BTC/USDT=-30%,crypto=-10%")
    return tuple(shocks)


class Level(enum.IntEnum):
    """How specifically a shock names a position: the higher wins."""

    ASSET_CLASS = 1
    BASE = 2
    SYMBOL = 3


@dataclass(frozen=True, slots=True)
class Asset:
    """What a shock target can name of a position's instrument ("" when not known)."""

    symbol: str
    base: str = ""
    asset_class: str = ""

    def level(self, target: str) -> Level | None:
        """How ``target`` names this asset (the most specific way), or None."""
        key = target.casefold()
        if key == self.symbol.casefold():
            return Level.SYMBOL
        if self.base and key == self.base.casefold():
            return Level.BASE
        if self.asset_class and key == self.asset_class.casefold():
            return Level.ASSET_CLASS
        return None


@dataclass(frozen=True, slots=True)
class ShockMatch:
    """Which shock moves which position, and the shocks that move none."""

    applied: Mapping[str, tuple[Shock, Level]] = field(default_factory=dict)
    """Symbol -> the shock that moves it, and how specifically it names it."""
    unmatched: tuple[Shock, ...] = ()
    """Shocks that name no position."""
    overridden: tuple[Shock, ...] = ()
    """Shocks that name positions, each of them moved by a more specific shock."""


def match_shocks(shocks: Sequence[Shock], assets: Iterable[Asset]) -> ShockMatch:
    """Each asset's shock: the one naming it most specifically (symbol > base > class)."""
    applied: dict[str, tuple[Shock, Level]] = {}
    named: set[int] = set()
    for asset in assets:
        best: tuple[Shock, Level] | None = None
        for i, shock in enumerate(shocks):
            level = asset.level(shock.target)
            if level is None:
                continue
            named.add(i)
            if best is None or level > best[1]:
                best = (shock, level)
        if best is not None:
            applied[asset.symbol] = best
    used = {id(s) for s, _ in applied.values()}
    unused = [(i, s) for i, s in enumerate(shocks) if id(s) not in used]
    return ShockMatch(
        applied,
        tuple(s for i, s in unused if i not in named),
        tuple(s for i, s in unused if i in named),
    )


# -- history: series, worst moves, windows -----------------------------------------------------
def clean_closes(ts: np.ndarray, closes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The usable daily closes, oldest first: finite and positive, one per timestamp."""
    t = np.asarray(ts, dtype=np.int64)
    c = np.asarray(closes, dtype=np.float64)
    if t.shape != c.shape:
        raise StressError(f"{t.size} timestamps for {c.size} closes")
    keep = np.isfinite(c) & (c > 0)
    t, c = t[keep], c[keep]
    order = np.argsort(t, kind="stable")
    t, c = t[order], c[order]
    last = np.concatenate((t[1:] != t[:-1], [True])) if t.size else np.zeros(0, dtype=bool)
    return t[last], c[last]


def day_of(ts_ns: int) -> date:
    """The UTC day a timestamp falls on."""
    return datetime.fromtimestamp(ts_ns // 10**9, UTC).date()


def day_ns(day: date) -> int:
    """00:00 UTC of ``day``, in ns (where a daily bar of that day is labelled)."""
    return (day - date(1970, 1, 1)).days * DAY_NS


@dataclass(frozen=True, slots=True)
class Move:
    """A price change from the close at ``start_ns`` to the close at ``end_ns``."""

    change: float
    start_ns: int
    end_ns: int
    start_close: float
    end_close: float

    @property
    def dates(self) -> str:
        return f"{day_of(self.start_ns)} → {day_of(self.end_ns)}"

    @property
    def exact(self) -> Decimal:
        """The change from the two closes as written (``8 / 10 - 1`` is ``-0.2``, where the
        float is ``-0.19999999999999996``), to :data:`RATIO` significant digits."""
        ratio = RATIO.divide(as_decimal(self.end_close), as_decimal(self.start_close))
        return RATIO.subtract(ratio, Decimal(1))


@dataclass(frozen=True, slots=True)
class WorstMoves:
    """The worst fall and the worst rise over ``days`` closes, among ``samples`` windows."""

    days: int
    fall: Move
    rise: Move
    samples: int

    def against(self, qty: Decimal | float) -> Move:
        """The move that hurts a position of ``qty``: a long's fall, a short's rise."""
        return self.fall if qty >= 0 else self.rise


def worst_moves(ts: np.ndarray, closes: np.ndarray, days: int) -> WorstMoves | None:
    """The worst ``days``-close fall and rise of a daily series (the first when tied);
    None when it has fewer than ``days + 1`` usable closes."""
    if days < 1:
        raise StressError(f"a move spans at least 1 day, got {days}")
    t, c = clean_closes(ts, closes)
    if c.size <= days:
        return None
    change = c[days:] / c[:-days] - 1.0
    lo, hi = int(np.argmin(change)), int(np.argmax(change))
    return WorstMoves(days, _move(t, c, lo, lo + days), _move(t, c, hi, hi + days), change.size)


def _move(t: np.ndarray, c: np.ndarray, start: int, end: int) -> Move:
    change = float(c[end] / c[start] - 1.0)
    return Move(change, int(t[start]), int(t[end]), float(c[start]), float(c[end]))


@dataclass(frozen=True, slots=True)
class Window:
    """A dated episode: from the close before ``start`` to the last close of ``end``."""

    key: str
    start: date
    end: date
    description: str

    @property
    def start_ns(self) -> int:
        return day_ns(self.start)

    @property
    def end_ns(self) -> int:
        return day_ns(self.end)

    @property
    def title(self) -> str:
        return f"{self.key} {self.description}"


WINDOWS: tuple[Window, ...] = (
    Window("2008-10", date(2008, 9, 15), date(2008, 10, 27), "Lehman / October 2008"),
    Window("2015-01", date(2015, 1, 15), date(2015, 1, 16), "SNB drops the franc's floor"),
    Window("2020-03", date(2020, 2, 20), date(2020, 3, 23), "COVID crash"),
    Window("2022-05", date(2022, 5, 7), date(2022, 5, 12), "Terra/LUNA collapse"),
    Window("2022-11", date(2022, 11, 6), date(2022, 11, 21), "FTX collapse"),
)
"""The named historical windows, oldest first. A window's move runs from the last close before
its first day to the last close of its last day (daily bars are labelled by the day they
open), so ``2020-03`` is the S&P 500's fall from its high of 19 February to its low."""


def window_move(ts: np.ndarray, closes: np.ndarray, window: Window) -> Move | None:
    """The close-to-close move over ``window``; None unless the history has a close before the
    window opens and reaches its last day (both ends covered)."""
    t, c = clean_closes(ts, closes)
    if not t.size or t[0] >= window.start_ns or t[-1] < window.end_ns:
        return None
    before = int(np.searchsorted(t, window.start_ns, side="left")) - 1
    last = int(np.searchsorted(t, window.end_ns + DAY_NS, side="left")) - 1
    return _move(t, c, before, last)


# -- propagation -------------------------------------------------------------------------------
def aligned_closes(
    series: Sequence[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """The timestamps every series has a close at, and the closes there (one column each)."""
    cleaned = [clean_closes(t, c) for t, c in series]
    if not cleaned:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0))
    common = cleaned[0][0]
    for t, _ in cleaned[1:]:
        common = np.intersect1d(common, t, assume_unique=True)
    columns = [c[np.searchsorted(t, common)] for t, c in cleaned]
    return common, np.column_stack(columns) if columns else np.zeros((common.size, 0))


def conditional_move(
    unshocked: np.ndarray, shocked: np.ndarray, shocks: np.ndarray
) -> tuple[float, np.ndarray]:
    """``Sigma_us Sigma_ss^-1 s`` and the betas ``Sigma_ss^-1 Sigma_su``, from aligned returns:
    ``unshocked`` (T,), ``shocked`` (T, k), ``shocks`` (k,)."""
    u = np.asarray(unshocked, dtype=np.float64)
    s = np.asarray(shocked, dtype=np.float64).reshape(u.size, -1)
    shock = np.asarray(shocks, dtype=np.float64).reshape(-1)
    if s.shape[1] != shock.size:
        raise StressError(f"{s.shape[1]} shocked series for {shock.size} shocks")
    if u.size < 2:
        raise StressError("a covariance needs at least 2 aligned returns")
    sigma = np.atleast_2d(np.cov(np.column_stack((u, s)), rowvar=False))
    sigma_ss, sigma_su = sigma[1:, 1:], sigma[1:, 0]
    betas = np.linalg.lstsq(sigma_ss, sigma_su, rcond=None)[0]
    return float(betas @ shock), betas


@dataclass(frozen=True, slots=True)
class Propagated:
    """An unshocked instrument's expected move given the shocks, and what it rests on."""

    move: float
    betas: Mapping[str, float]
    observations: int


def propagate(
    target: tuple[np.ndarray, np.ndarray],
    drivers: Mapping[str, tuple[tuple[np.ndarray, np.ndarray], float]],
    min_observations: int = MIN_OBSERVATIONS,
) -> Propagated | int:
    """The move of ``target`` (ts, closes) given ``drivers`` (symbol -> ((ts, closes), shock)),
    from the daily returns of the closes they all have; the number of aligned returns instead
    when fewer than ``min_observations``."""
    names = list(drivers)
    _, closes = aligned_closes([target, *(drivers[n][0] for n in names)])
    returns = closes[1:] / closes[:-1] - 1.0 if closes.shape[0] > 1 else np.zeros((0, 0))
    n = int(returns.shape[0])
    if n < max(min_observations, 2):
        return n
    shocks = np.array([drivers[name][1] for name in names])
    move, betas = conditional_move(returns[:, 0], returns[:, 1:], shocks)
    return Propagated(move, {name: float(b) for name, b in zip(names, betas, strict=True)}, n)


# -- P&L ---------------------------------------------------------------------------------------
def as_decimal(value: float | Decimal) -> Decimal:
    """A float as the shortest decimal that reads back as it (``0.1``, not its binary value)."""
    if isinstance(value, Decimal):
        return value
    if not math.isfinite(value):
        raise StressError(f"not a finite number: {value}")
    return Decimal(repr(float(value)))


def position_pnl(qty: Decimal, mark: Decimal, move: Decimal) -> Decimal:
    """``qty * mark * move``, exact (an inexact product raises, it is never rounded)."""
    return EXACT.multiply(EXACT.multiply(qty, mark), move)


def total(values: Iterable[Decimal]) -> Decimal:
    out = Decimal(0)
    for v in values:
        out = EXACT.add(out, v)
    return out
