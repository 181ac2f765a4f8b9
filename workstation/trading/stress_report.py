"""Stress tests of the open positions: P&L per position and in total, in the account currency,
under the worst historical N-day moves, the named windows the history covers and the user's
shocks (propagated by correlation when asked), next to VaR/CVaR (:func:`risk_view`).

The moves are :mod:`engine.trading.stress`'s; this module finds the history and assembles the
report. Daily closes come from the store's ``1d`` bars; where those are short the coarsest
finer stored timeframe is resampled to days, and where that is still short
``history(symbol, "1d", n)`` supplies them (a feed's history: the demo feed's in ``qws risk``,
as :func:`~workstation.trading.risk_report.var_report` takes it). Marks are in the account
currency (the caller converts, as ``qws risk`` does for VaR), so every P&L is too.

The formatting helpers at the end are what ``qws risk`` and the risk screen print, so the two
say the same.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import polars as pl

from engine.model import Instrument, Position
from engine.timeframes import TimeframeError, empty_ohlcv, parse, resample
from engine.trading.stress import (
    DAY_NS,
    MIN_OBSERVATIONS,
    WINDOWS,
    Asset,
    Propagated,
    Shock,
    StressError,
    Window,
    as_decimal,
    clean_closes,
    day_of,
    match_shocks,
    parse_shocks,
    position_pnl,
    propagate,
    total,
    window_move,
    worst_moves,
)
from workstation.store import Store
from workstation.trading.risk_report import VarReport, closes_from_store, var_report

HISTORY_DAYS = 7_305
"""Daily closes read or fetched per instrument: 20 years, so 2008 is in reach."""
MIN_DAYS = 30
"""Fewer daily closes than this: "too little history", no historical scenario for it."""
DEFAULT_DAYS = (1, 5)
"""The spans of the worst historical moves, in daily closes."""

History = Callable[[str, str, int], pl.DataFrame | None]
Fetch = Callable[[str, str, int], Awaitable[pl.DataFrame | None]]
Series = tuple[np.ndarray, np.ndarray]

UNMATCHED = "it names no open position (a symbol, base asset or asset class held)"
OVERRIDDEN = "a more specific shock moves every position it names"
DRIVER = "no position is in it; the others move by their correlation to it"


@dataclass(frozen=True, slots=True)
class Holding:
    """A position as it is revalued: signed quantity, mark in the account currency."""

    symbol: str
    qty: Decimal
    mark: Decimal
    asset: Asset


@dataclass(frozen=True, slots=True)
class Row:
    """One position in one scenario; ``move`` and ``pnl`` are None where it has no move there
    (``basis`` says why: not covered, too little history, no shock)."""

    symbol: str
    qty: Decimal
    mark: Decimal
    move: Decimal | None
    pnl: Decimal | None
    basis: str


@dataclass(frozen=True, slots=True)
class Scenario:
    kind: str
    """``worst``, ``window`` or ``shock``."""
    title: str
    detail: str
    rows: tuple[Row, ...]

    @property
    def total(self) -> Decimal:
        """The sum of the P&L of the rows that have one."""
        return total(r.pnl for r in self.rows if r.pnl is not None)

    @property
    def moved(self) -> int:
        return sum(r.pnl is not None for r in self.rows)


@dataclass(frozen=True, slots=True)
class StressReport:
    ccy: str
    holdings: tuple[Holding, ...]
    scenarios: tuple[Scenario, ...]
    unapplied: tuple[tuple[str, str], ...] = ()
    """Shocks that move no position: (the shock as written, why)."""
    short_history: tuple[tuple[str, int], ...] = ()
    """Positions with fewer than ``min_days`` daily closes: (symbol, closes found)."""
    unvalued: tuple[str, ...] = ()
    """Positions left out: no mark in the account currency."""
    spans: Mapping[str, tuple[int, int, int]] = field(default_factory=dict)
    """Each position's daily history: (first ts, last ts, closes)."""
    min_days: int = MIN_DAYS

    def scenario(self, title: str) -> Scenario:
        for s in self.scenarios:
            if s.title == title:
                return s
        raise KeyError(f"no scenario {title!r}")

    @property
    def shock(self) -> Scenario | None:
        return next((s for s in self.scenarios if s.kind == "shock"), None)


# -- history -----------------------------------------------------------------------------------
def store_daily(store: Store, symbol: str, days: int = HISTORY_DAYS) -> pl.DataFrame:
    """The last ``days`` daily bars of ``symbol`` in the store: its ``1d`` bars, or the coarsest
    finer stored timeframe resampled to days when that gives more (the first venue of each)."""
    found = empty_ohlcv()
    venues = store.candles.venues(symbol, "1d")
    if venues:
        found = store.candles.last(symbol, "1d", days, venue=venues[0])
    finer = []
    for tf in store.candles.timeframes(symbol):
        try:
            if parse(tf).ns < DAY_NS:
                finer.append(tf)
        except TimeframeError:
            continue
    if not finer or found.height >= days:
        return found
    tf = finer[-1]
    venue = store.candles.venues(symbol, tf)[0]
    last = store.candles.last(symbol, tf, 1, venue=venue)
    if not last.height:
        return found
    start = int(last["ts"][0]) - days * DAY_NS
    daily = resample(store.candles.between(symbol, tf, start=start, venue=venue), "1d")
    return daily if daily.height > found.height else found


def daily_series(
    store: Store,
    symbol: str,
    history: History | None = None,
    min_days: int = MIN_DAYS,
    days: int = HISTORY_DAYS,
) -> Series:
    """(ts, closes) of ``symbol``'s daily bars, oldest first: the store's, else ``history``'s
    when the store has fewer than ``min_days`` (and ``history`` more)."""
    frame = store_daily(store, symbol, days)
    if frame.height < min_days and history is not None:
        other = history(symbol, "1d", days)
        if other is not None and other.height > frame.height:
            frame = other.tail(days)
    return clean_closes(frame["ts"].to_numpy(), frame["close"].to_numpy())


def history_symbols(
    positions: Iterable[Position], shocks: Sequence[Shock], propagating: bool
) -> list[str]:
    """Whose daily history a report reads: the positions', and, when propagating, the shocked
    symbols not held (as written, and upper-case), which may move the others."""
    symbols = list(dict.fromkeys(p.symbol for p in positions if p.qty))
    if propagating:
        held = {s.casefold() for s in symbols}
        for shock in shocks:
            for name in (shock.target, shock.target.upper()):
                if name.casefold() not in held and name not in symbols:
                    symbols.append(name)
    return symbols


# -- the report --------------------------------------------------------------------------------
def stress_report(
    store: Store,
    positions: Sequence[Position],
    marks: Callable[[str], float | None],
    instruments: Callable[[str], Instrument] | None = None,
    *,
    shocks: str | Sequence[Shock] | None = None,
    days: Sequence[int] = DEFAULT_DAYS,
    historical: bool = True,
    propagating: bool = False,
    windows: Sequence[Window] = WINDOWS,
    ccy: str = "USD",
    history: History | None = None,
    min_days: int = MIN_DAYS,
    history_days: int = HISTORY_DAYS,
) -> StressReport:
    """The positions revalued under the historical scenarios (when ``historical``: the worst
    move over each of ``days``, then each window) and under ``shocks`` (when given), at
    ``marks`` (account currency). A shock spec that cannot be read is a StressError."""
    shock_list = parse_shocks(shocks) if isinstance(shocks, str) else tuple(shocks or ())
    if propagating and not shock_list:
        raise StressError("propagation moves the unshocked positions by a shock: give one")
    if any(n < 1 for n in days):
        raise StressError(f"a move spans at least 1 day, got {', '.join(map(str, days))}")
    holdings: list[Holding] = []
    unvalued: list[str] = []
    for p in positions:
        if p.qty == 0:
            continue
        mark = marks(p.symbol)
        if mark is None or not math.isfinite(mark) or mark <= 0:
            unvalued.append(p.symbol)
            continue
        holdings.append(Holding(p.symbol, p.qty, as_decimal(mark), _asset(p.symbol, instruments)))

    cache: dict[str, Series] = {}

    def series(symbol: str) -> Series:
        if symbol not in cache:
            cache[symbol] = daily_series(store, symbol, history, min_days, history_days)
        return cache[symbol]

    scenarios: list[Scenario] = []
    needs_history = historical or propagating
    short = [(h.symbol, int(series(h.symbol)[1].size)) for h in holdings] if needs_history else []
    short = [(s, n) for s, n in short if n < min_days]
    too_short = {s for s, _ in short}
    if historical:
        for n in days:
            scenarios.append(_worst(n, holdings, series, too_short))
        for window in windows:
            scenarios.append(_window(window, holdings, series, too_short))
    unapplied: list[tuple[str, str]] = []
    if shock_list:
        scenario, unapplied = _shocked(shock_list, holdings, series, propagating, min_days)
        scenarios.append(scenario)
    spans = {}
    for h in holdings:
        if h.symbol in cache and cache[h.symbol][0].size:
            t = cache[h.symbol][0]
            spans[h.symbol] = (int(t[0]), int(t[-1]), int(t.size))
    return StressReport(
        ccy,
        tuple(holdings),
        tuple(scenarios),
        tuple(unapplied),
        tuple(short),
        tuple(unvalued),
        spans,
        min_days,
    )


def _asset(symbol: str, instruments: Callable[[str], Instrument] | None) -> Asset:
    if instruments is None:
        return Asset(symbol)
    try:
        inst = instruments(symbol)
    except (KeyError, LookupError, ValueError):
        return Asset(symbol)
    return Asset(symbol, inst.base_ccy, inst.asset_class)


def _row(h: Holding, move: Decimal | None, basis: str) -> Row:
    pnl = None if move is None else position_pnl(h.qty, h.mark, move)
    return Row(h.symbol, h.qty, h.mark, move, pnl, basis)


def _history_text(t: np.ndarray) -> str:
    if not t.size:
        return "no daily history"
    return f"history {day_of(int(t[0]))} → {day_of(int(t[-1]))}"


def _worst(
    days: int,
    holdings: Sequence[Holding],
    series: Callable[[str], Series],
    too_short: set[str],
) -> Scenario:
    rows = []
    for h in holdings:
        t, c = series(h.symbol)
        found = None if h.symbol in too_short else worst_moves(t, c, days)
        if found is None:
            rows.append(_row(h, None, f"too little history ({c.size} daily closes)"))
            continue
        move = found.against(h.qty)
        side = "fall" if h.qty > 0 else "rise"
        rows.append(_row(h, move.exact, f"worst {side} {move.dates}"))
    return Scenario(
        "worst",
        f"worst {days}-day move",
        "each position under the worst move in its own history: a long's fall, a short's"
        " rise, not at the same time",
        tuple(rows),
    )


def _window(
    window: Window,
    holdings: Sequence[Holding],
    series: Callable[[str], Series],
    too_short: set[str],
) -> Scenario:
    rows = []
    for h in holdings:
        t, c = series(h.symbol)
        move = None if h.symbol in too_short else window_move(t, c, window)
        if move is None:
            rows.append(_row(h, None, f"not covered ({_history_text(t)})"))
        else:
            rows.append(_row(h, move.exact, move.dates))
    return Scenario("window", window.title, f"{window.start} → {window.end}", tuple(rows))


def _shocked(
    shocks: Sequence[Shock],
    holdings: Sequence[Holding],
    series: Callable[[str], Series],
    propagating: bool,
    min_days: int,
) -> tuple[Scenario, list[tuple[str, str]]]:
    match = match_shocks(shocks, [h.asset for h in holdings])
    unapplied = [(s.text, OVERRIDDEN) for s in match.overridden]
    drivers: dict[str, tuple[Series, float]] = {}
    if propagating:
        for h in holdings:
            if h.symbol in match.applied and series(h.symbol)[1].size >= min_days:
                drivers[h.symbol] = (series(h.symbol), float(match.applied[h.symbol][0].move))
    for shock in match.unmatched:
        name = None
        if propagating:
            candidates = dict.fromkeys((shock.target, shock.target.upper()))
            name = next((n for n in candidates if series(n)[1].size >= min_days), None)
        if name is not None:
            drivers[name] = (series(name), float(shock.move))
            unapplied.append((shock.text, DRIVER))
        else:
            unapplied.append((shock.text, UNMATCHED))
    rows = []
    for h in holdings:
        if h.symbol in match.applied:
            shock, _ = match.applied[h.symbol]
            rows.append(_row(h, shock.move, shock.text))
        elif not propagating:
            rows.append(_row(h, None, "no shock"))
        else:
            rows.append(_propagated(h, series, drivers, min_days))
    order = {s.text: i for i, s in enumerate(shocks)}
    unapplied.sort(key=lambda item: order[item[0]])
    detail = "the unshocked positions moved by their correlation" if propagating else ""
    title = "shock " + ",".join(s.text for s in shocks)
    return Scenario("shock", title, detail, tuple(rows)), unapplied


def _propagated(
    h: Holding,
    series: Callable[[str], Series],
    drivers: Mapping[str, tuple[Series, float]],
    min_days: int,
) -> Row:
    own = series(h.symbol)
    if not drivers:
        return _row(h, None, "no shock; not propagated: no shocked instrument has daily history")
    if own[1].size < min_days:
        return _row(h, None, f"no shock; not propagated: {own[1].size} daily closes")
    found = propagate(own, drivers, max(MIN_OBSERVATIONS, min_days))
    if not isinstance(found, Propagated):
        return _row(h, None, f"no shock; not propagated: {found} common daily returns")
    if len(found.betas) == 1:
        [(name, beta)] = found.betas.items()
        basis = f"propagated: β {beta:.2f} to {name} ({found.observations} days)"
    else:
        basis = f"propagated from {', '.join(found.betas)} ({found.observations} days)"
    return _row(h, as_decimal(found.move), basis)


# -- VaR and stress together: what the risk screen shows ---------------------------------------
@dataclass(frozen=True, slots=True)
class RiskView:
    ccy: str
    var: VarReport | None
    stress: StressReport


async def fetch_short(
    symbols: Sequence[str],
    have: Callable[[str], int],
    need: int,
    fetch: Fetch | None,
    timeframe: str,
    n: int,
) -> dict[str, pl.DataFrame]:
    """Bars from ``fetch`` for the symbols of which the store has fewer than ``need``
    (``have`` counts them, in a thread); a symbol the feed does not know is left out."""
    if fetch is None or not symbols:
        return {}
    short = await asyncio.to_thread(lambda: [s for s in symbols if have(s) < need])
    frames: dict[str, pl.DataFrame] = {}
    for symbol in short:
        try:
            frame = await fetch(symbol, timeframe, n)
        except Exception:  # any feed's refusal (unknown symbol, no network) = no bars
            continue
        if frame is not None and frame.height:
            frames[symbol] = frame
    return frames


async def risk_view(
    store: Store,
    positions: Sequence[Position],
    marks: Callable[[str], float | None],
    instruments: Callable[[str], Instrument] | None,
    fetch: Fetch | None,
    ccy: str,
    shocks: str = "",
    propagating: bool = False,
    days: Sequence[int] = DEFAULT_DAYS,
    timeframe: str = "1h",
    bars: int = 500,
) -> RiskView:
    """VaR/CVaR (``bars`` of ``timeframe``) and the stress report of ``positions``, with the
    bars the store lacks from ``fetch`` (a feed's history); the reading and the arithmetic run
    in a thread. A shock spec that cannot be read is a StressError, before anything is read."""
    parsed = parse_shocks(shocks) if shocks.strip() else ()
    if propagating and not parsed:
        raise StressError("propagation moves the unshocked positions by a shock: give one")
    held = [p for p in positions if p.qty]
    daily = await fetch_short(
        history_symbols(held, parsed, propagating),
        lambda s: store_daily(store, s).height,
        MIN_DAYS,
        fetch,
        "1d",
        HISTORY_DAYS,
    )
    recent = await fetch_short(
        [p.symbol for p in held],
        lambda s: len(closes_from_store(store, s, timeframe, bars)),
        30,
        fetch,
        timeframe,
        bars,
    )

    def build() -> RiskView:
        var = (
            var_report(store, held, marks, timeframe, bars, history=lambda s, _t, _n: recent.get(s))
            if held
            else None
        )
        stress = stress_report(
            store,
            held,
            marks,
            instruments,
            shocks=parsed,
            days=days,
            propagating=propagating,
            ccy=ccy,
            history=lambda s, _t, _n: daily.get(s),
        )
        return RiskView(ccy, var, stress)

    return await asyncio.to_thread(build)


# -- what qws risk and the risk screen print ---------------------------------------------------
COLUMNS = ("symbol", "qty", "mark", "move", "P&L", "basis")


def money(value: Decimal | None) -> str:
    """An amount to the cent (the exact value is in the report), or ``-``."""
    return "-" if value is None else f"{value:,.2f}"


def percent(move: Decimal | None) -> str:
    return "-" if move is None else f"{move * 100:+.2f}%"


def quantity(qty: Decimal) -> str:
    return f"{qty.normalize():f}"


def price(mark: Decimal) -> str:
    return f"{mark:,.6f}".rstrip("0").rstrip(".")


def headers(ccy: str) -> list[str]:
    return ["symbol", "qty", f"mark ({ccy})", "move", f"P&L ({ccy})", "basis"]


def scenario_rows(scenario: Scenario) -> list[list[str]]:
    """The scenario's cells, a row per position, then the total row."""
    rows = [
        [r.symbol, quantity(r.qty), price(r.mark), percent(r.move), money(r.pnl), r.basis]
        for r in scenario.rows
    ]
    moved = f"{scenario.moved} of {len(scenario.rows)} positions"
    rows.append(["total", "", "", "", money(scenario.total), moved])
    return rows


def var_lines(report: VarReport, ccy: str) -> list[str]:
    return [
        f"{level:.0%} one-{report.timeframe}-bar VaR {var:,.2f} {ccy}"
        f"  CVaR {cvar:,.2f} {ccy}  ({report.bars} bars)"
        for level, (var, cvar) in report.levels.items()
    ]


def note_lines(report: StressReport) -> list[str]:
    """What the tables leave out: shocks that move nothing, short histories, unvalued ones."""
    lines = [f"shock {text} moves no position: {why}" for text, why in report.unapplied]
    if report.short_history:
        found = ", ".join(f"{s} ({n})" for s, n in report.short_history)
        lines.append(f"too little daily history (fewer than {report.min_days} closes): {found}")
    if report.unvalued:
        lines.append(f"not revalued (no mark in {report.ccy}): {', '.join(report.unvalued)}")
    return lines
