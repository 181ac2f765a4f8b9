"""P&L attribution of the stored fills (``qws pnl --attribution``), and its text and JSON.

It reads the store: the venue's fills, the order of each (its strategy, ``''`` the user's own
and shown as ``manual``; a protective leg ``<parent>-sl`` / ``-tp`` / ``-x`` without one is
its parent's; its type, limit and stop), the orders' arrival prices, and daily closes (1d bars,
else the coarsest stored bars under a day resampled to days, else ``history``, e.g. the demo
feed's). The arithmetic is :mod:`engine.trading.attribution`, whose docstring has the
semantics.

- ``since``: P&L from then on. A position held then enters at its mark then: the last daily
  close at or before it (:class:`~engine.trading.attribution.AttributionError` naming the
  symbol when there is none); the fills before it only build that position.
- Benchmark: the one asked for, else the ``risk.benchmark`` setting, else the symbol with the
  most fills in the period (the report says which and why). A symbol without enough daily
  closes beside the benchmark's has no market figure: all of its P&L is in rest, and it is
  listed.
- Currencies: each symbol's P&L is converted to the account currency with ``rates`` (the same
  as ``qws positions``: the order manager's rates and
  :func:`~engine.trading.portfolio.fx_rate`); a symbol without a rate, or without a mark for
  its open position, is listed apart in its own currency, never summed. A fee in the base asset
  is valued at the fill price, one in a third currency converted to the quote currency, or
  kept apart and listed when there is no rate.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

from engine.model import Fill, Instrument, Order, OrderType, to_decimal
from engine.timeframes import DAY_NS, parse, resample
from engine.trading.attribution import (
    COLUMNS,
    SIDES,
    Attribution,
    AttributionError,
    Carry,
    MarketPath,
    Pnl,
    Sleeve,
    TaggedFill,
    currency_places,
    for_display,
    market_pnl,
    reference_price,
    sleeve,
    summarise,
    total,
)
from engine.trading.portfolio import fx_rate
from workstation.store import Store
from workstation.trading.oms import LEG

MANUAL = "manual"
"""How the user's own orders (strategy ``''``) are shown."""
ALL_ORDERS = 2**62
NOTE_IDS = 10
"""Client ids listed at most in a note (the JSON has them all)."""

History = Callable[[str], pl.DataFrame | None]


@dataclass(frozen=True, slots=True)
class Apart:
    """A symbol left out of the totals, why, and its P&L in its own currency when known."""

    symbol: str
    ccy: str
    reason: str
    pnl: Pnl | None = None


@dataclass(frozen=True, slots=True)
class AttributionReport:
    account_ccy: str
    since_ns: int | None
    attribution: Attribution
    benchmark: str
    benchmark_why: str
    betas: dict[str, float]
    no_market: dict[str, str]
    apart: tuple[Apart, ...] = ()
    fees_apart: dict[str, Decimal] = field(default_factory=dict)
    unpriced: tuple[str, ...] = ()
    fills: int = 0


def daily_closes(
    store: Store, symbol: str, now_ns: int, history: History | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(close times ns, closes) of ``symbol``'s completed days, oldest first."""
    frame = pl.DataFrame()
    stored = store.candles.timeframes(symbol)
    finer = [tf for tf in stored if parse(tf).ns < DAY_NS and DAY_NS % parse(tf).ns == 0]
    for tf in (["1d"] if "1d" in stored else []) + finer[::-1]:
        venues = store.candles.venues(symbol, tf)
        frame = store.candles.between(symbol, tf, venue=venues[0]) if venues else frame
        if frame.height:
            frame = frame if tf == "1d" else resample(frame, "1d")
            break
    if not frame.height and history is not None:
        supplied = history(symbol)
        frame = supplied if supplied is not None else frame
    if not frame.height:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    times = frame["ts"].cast(pl.Int64).to_numpy() + DAY_NS
    closes = frame["close"].cast(pl.Float64).to_numpy()
    done = (times <= now_ns) & np.isfinite(closes) & (closes > 0)
    return times[done], closes[done]


def close_at(times: np.ndarray, closes: np.ndarray, ts_ns: int) -> tuple[int, Decimal] | None:
    """The last close at or before ``ts_ns`` and when it was, or None."""
    i = int(np.searchsorted(times, ts_ns, side="right")) - 1
    return None if i < 0 else (int(times[i]), to_decimal(float(closes[i])))


def strategy_of(client_id: str, orders: Mapping[str, Order]) -> str:
    """The strategy that sent ``client_id`` (``''``: the user); a protective leg without one
    is its parent's (the order manager places legs under the parent's client id)."""
    order = orders.get(client_id)
    if order is not None and order.strategy:
        return order.strategy
    parent, _, suffix = client_id.rpartition("-")
    if parent and LEG.fullmatch(suffix) and parent in orders:
        return orders[parent].strategy
    return ""


def _date(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).strftime("%Y-%m-%d")


def attribution_report(
    store: Store,
    venue: str,
    *,
    account_ccy: str,
    rates: Mapping[str, float],
    marks: Callable[[str], float | None],
    instruments: Callable[[str], Instrument],
    now_ns: int,
    since_ns: int | None = None,
    benchmark: str | None = None,
    benchmark_setting: str = "",
    history: History | None = None,
) -> AttributionReport | None:
    """The attribution of ``venue``'s fills (see the module doc); None when there is nothing
    in the period (no fill then and no position held at its start)."""
    known: dict[str, Instrument | None] = {}

    def instrument(symbol: str) -> Instrument | None:
        if symbol not in known:
            try:
                known[symbol] = instruments(symbol)
            except (KeyError, LookupError, ValueError):
                known[symbol] = None
        return known[symbol]

    fees_apart: dict[str, Decimal] = {}
    books = _books(store, venue, instrument, rates, fees_apart, since_ns)
    in_period = {
        k: [t for t in v if since_ns is None or t.fill.ts_ns >= since_ns] for k, v in books.items()
    }
    carried = {
        k: sum((t.fill.side.sign * t.fill.qty for t in v if t.fill.ts_ns < since_ns), Decimal(0))
        for k, v in books.items()
        if since_ns is not None
    }
    active = sorted(k for k in books if in_period[k] or carried.get(k))
    if not active:
        return None
    closes: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def closes_of(symbol: str) -> tuple[np.ndarray, np.ndarray]:
        if symbol not in closes:
            closes[symbol] = daily_closes(store, symbol, now_ns, history)
        return closes[symbol]

    bench, why = _benchmark(benchmark, benchmark_setting, in_period, active)
    paths, no_market = _paths(bench, sorted({s for _, s in active}), closes_of)
    apart: dict[str, Apart] = {}
    quotes: dict[str, str] = {}
    sleeves: list[Sleeve] = []
    for key in active:
        strategy, symbol = key
        inst = instrument(symbol)
        if inst is None:
            apart[symbol] = Apart(symbol, "?", "unknown instrument")
            continue
        quotes[symbol] = inst.quote_ccy
        carry = None
        if since_ns is not None and carried.get(key):
            carry = _carry(symbol, carried[key], since_ns, closes_of)
        mark = marks(symbol)
        try:
            book = sleeve(
                strategy,
                symbol,
                in_period[key],
                to_decimal(mark) if mark is not None and math.isfinite(mark) else None,
                carry,
            )
        except AttributionError:
            apart[symbol] = Apart(symbol, inst.quote_ccy, "no mark for its open position")
            continue
        path = paths.get(symbol)
        if path is not None:
            every = books[key]
            long, short = market_pnl(
                path,
                np.array([t.fill.ts_ns for t in every], dtype=np.int64),
                np.array([float(t.fill.side.sign * t.fill.qty) for t in every]),
                carry.ts_ns if carry is not None else since_ns,
            )
            book = book.with_market(long, short)
        sleeves.append(book)

    rate_of: dict[str, Decimal] = {}
    for symbol in sorted({b.symbol for b in sleeves} - set(apart)):
        quote = quotes[symbol]
        try:
            rate_of[symbol] = to_decimal(fx_rate(quote, account_ccy, rates))
        except KeyError:
            own = total(b.total for b in sleeves if b.symbol == symbol)
            apart[symbol] = Apart(symbol, quote, f"no rate to {account_ccy}", own)
    kept = [b for b in sleeves if b.symbol not in apart]
    periods = [in_period[(b.strategy, b.symbol)] for b in kept]
    shown = {b.symbol for b in kept}
    return AttributionReport(
        account_ccy,
        since_ns,
        summarise(kept, rate_of),
        bench,
        why,
        {s: p.beta for s, p in paths.items() if s in shown},
        {s: why for s, why in no_market.items() if s in shown},
        tuple(apart[s] for s in sorted(apart)),
        fees_apart,
        tuple(t.fill.client_id for p in periods for t in p if t.reference is None),
        sum(len(p) for p in periods),
    )


def _books(
    store: Store,
    venue: str,
    instrument: Callable[[str], Instrument | None],
    rates: Mapping[str, float],
    fees_apart: dict[str, Decimal],
    since_ns: int | None,
) -> dict[tuple[str, str], list[TaggedFill]]:
    """Every fill of ``venue``, oldest first, by (strategy, symbol), with its reference price
    and its fee in the quote currency (the fees of the period that cannot be converted are
    added to ``fees_apart``)."""
    fills = store.fills.find(venue=venue)
    orders = {o.client_id: o for o in store.orders.find(venue=venue, limit=ALL_ORDERS)}
    arrivals = store.orders.arrivals({f.client_id for f in fills})
    books: dict[tuple[str, str], list[TaggedFill]] = {}
    for f in fills:
        o = orders.get(f.client_id)
        ref = reference_price(
            f.side,
            o.type if o is not None else OrderType.MARKET,
            arrivals.get(f.client_id),
            o.price if o is not None else None,
            o.stop if o is not None else None,
        )
        counted = since_ns is None or f.ts_ns >= since_ns
        fee = _fee_in_quote(f, instrument(f.symbol), rates, fees_apart if counted else {})
        key = (strategy_of(f.client_id, orders) or MANUAL, f.symbol)
        books.setdefault(key, []).append(TaggedFill(f, ref, fee))
    return books


def _paths(
    bench: str, symbols: Sequence[str], closes_of: Callable[[str], tuple[np.ndarray, np.ndarray]]
) -> tuple[dict[str, MarketPath], dict[str, str]]:
    """Each symbol's market path to ``bench``, and why the others have none."""
    bench_times, bench_closes = closes_of(bench)
    paths: dict[str, MarketPath] = {}
    missing: dict[str, str] = {}
    for symbol in symbols:
        times, values = closes_of(symbol)
        path = (
            MarketPath.of(times, values, bench_times, bench_closes, beta_is_one=symbol == bench)
            if len(bench_times)
            else None
        )
        if path is not None:
            paths[symbol] = path
        elif not len(bench_times):
            missing[symbol] = f"no daily closes of the benchmark {bench}"
        elif not len(times):
            missing[symbol] = "no daily closes"
        else:
            missing[symbol] = f"too few daily closes beside {bench}'s"
    return paths, missing


def _carry(
    symbol: str,
    qty: Decimal,
    since_ns: int,
    closes_of: Callable[[str], tuple[np.ndarray, np.ndarray]],
) -> Carry:
    """The position held at ``since_ns``, valued at the last daily close then."""
    found = close_at(*closes_of(symbol), since_ns)
    if found is None:
        raise AttributionError(
            f"no stored close of {symbol} on or before {_date(since_ns)} to value the"
            f" {qty.normalize():f} held then: store its daily bars (`qws fetch` or"
            " `qws import`) or choose a later --since"
        )
    return Carry(qty, found[1], found[0])


def _fee_in_quote(
    f: Fill, inst: Instrument | None, rates: Mapping[str, float], apart: dict[str, Decimal]
) -> Decimal:
    """The fill's fee in the quote currency; one in a third currency without a rate to it is
    added to ``apart`` (by currency) and counts 0 here."""
    if inst is None or not f.fee_ccy or f.fee_ccy == inst.quote_ccy or not f.fee:
        return f.fee
    if f.fee_ccy == inst.base_ccy:
        return f.fee * f.price
    try:
        return f.fee * to_decimal(fx_rate(f.fee_ccy, inst.quote_ccy, rates))
    except KeyError:
        apart[f.fee_ccy] = apart.get(f.fee_ccy, Decimal(0)) + f.fee
        return Decimal(0)


def _benchmark(
    asked: str | None,
    setting: str,
    in_period: Mapping[tuple[str, str], Sequence[TaggedFill]],
    active: Sequence[tuple[str, str]],
) -> tuple[str, str]:
    if asked:
        return asked, "--benchmark"
    if setting:
        return setting, "risk.benchmark"
    counts: dict[str, int] = {}
    for (_, symbol), tagged in in_period.items():
        counts[symbol] = counts.get(symbol, 0) + len(tagged)
    for _, symbol in active:
        counts.setdefault(symbol, 0)
    chosen = min(counts, key=lambda s: (-counts[s], s))
    return chosen, "the most traded symbol; choose one with --benchmark or risk.benchmark"


# -- output ------------------------------------------------------------------------------------
def exact(value: Decimal) -> str:
    """``value`` in full, without an exponent or trailing zeros."""
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "0") else text


def _money(value: Decimal, places: int) -> str:
    return f"{value:,.{places}f}"


def _lines(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """A plain table: the first ``left`` columns left-aligned, the numbers right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(headers), *(line(r) for r in rows)]


BREAKDOWN = ("realised", "unrealised", "fees", "slippage", "net")
DECOMPOSITION = ("market", "rest", "slippage", "fees", "net")


def tables(
    att: Attribution, places: int, betas: Mapping[str, float | None] | None = None
) -> list[str]:
    """By strategy, by symbol, by side, then market vs the rest per sleeve, each with its
    total line (rounded by :func:`~engine.trading.attribution.for_display`)."""
    out: list[str] = []
    groups = (
        ("strategy", att.by_strategy),
        ("symbol", att.by_symbol),
        ("side", {k: v for k, v in att.by_side.items() if k not in SIDES or v != Pnl()}),
    )
    for title, group in groups:
        shown, summed = for_display(list(group.values()), places)
        rows = [
            [name, *(_money(v[c], places) for c in BREAKDOWN)]
            for name, v in zip(group, shown, strict=True)
        ]
        rows.append(["total", *(_money(summed[c], places) for c in BREAKDOWN)])
        out += [f"by {title}", *_lines([title, *BREAKDOWN], rows), ""]
    shown, summed = for_display([s.total for s in att.sleeves], places)
    rows = []
    for s, v in zip(att.sleeves, shown, strict=True):
        b = (betas or {}).get(s.symbol)
        rows.append(
            [s.strategy, s.symbol, "-" if b is None else f"{b:.2f}"]
            + [_money(v[c], places) for c in DECOMPOSITION]
        )
    rows.append(["total", "", "", *(_money(summed[c], places) for c in DECOMPOSITION)])
    out += ["market vs the rest", *_lines(["strategy", "symbol", "beta", *DECOMPOSITION], rows, 2)]
    return out


def footnotes() -> list[str]:
    return [
        "net = realised + unrealised - fees = market + rest - slippage - fees; slippage is"
        " inside realised and unrealised (they use the fill prices), shown apart",
        "slippage: side * (fill price - the price asked for: the arrival price, or a resting"
        " order's limit or stop) * qty, positive a cost",
        "each (strategy, symbol) keeps its own average-cost book: the books' totals add up"
        " exactly to the account's, their realised/unrealised split can differ from one book"
        " per symbol (`qws pnl`)",
    ]


def notes(lines: Sequence[str]) -> list[str]:
    """Each note as a wrapped ``- `` item."""
    return [textwrap.fill(n, width=100, initial_indent="- ", subsequent_indent="  ") for n in lines]


def render(report: AttributionReport) -> list[str]:
    ccy = report.account_ccy
    places = currency_places(ccy)
    period = f"since {_date(report.since_ns)}" if report.since_ns is not None else "all fills"
    out = [f"P&L attribution in {ccy}, {period} ({report.fills} fills)", ""]
    out += tables(report.attribution, places, report.betas)
    said = [
        f"market: beta to {report.benchmark} ({report.benchmark_why}) * its daily close-to-close"
        " return * the exposure at the previous close; rest: what is left of the P&L at the"
        " prices asked for (selection, timing, moves since the last daily close)",
        *footnotes(),
    ]
    said += [
        f"no market figure for {symbol} ({why}): all of its P&L is in rest"
        for symbol, why in report.no_market.items()
    ]
    if report.unpriced:
        n = len(report.unpriced)
        more = f" and {n - NOTE_IDS} more" if n > NOTE_IDS else ""
        said.append(
            f"{n} fill(s) without an arrival price count no slippage:"
            f" {', '.join(report.unpriced[:NOTE_IDS])}{more}"
        )
    for a in report.apart:
        said.append(f"left out of the totals ({a.reason}): {a.symbol}{_own(a)}")
    for fee_ccy, amount in sorted(report.fees_apart.items()):
        said.append(
            f"fees in {fee_ccy} not converted (no rate to the quote currency), not in the"
            f" totals: {exact(amount)} {fee_ccy}"
        )
    return [*out, "", *notes(said)]


def _own(a: Apart) -> str:
    """A symbol's P&L apart, in its own currency."""
    if a.pnl is None:
        return ""
    places = currency_places(a.ccy)
    r, u, f, n = (_money(v, places) for v in (a.pnl.realised, a.pnl.unrealised, a.pnl.fees,
                                               a.pnl.net))  # fmt: skip
    return f": net {n} {a.ccy} (realised {r}, unrealised {u}, fees {f})"


def pnl_json(p: Pnl) -> dict[str, str]:
    return {c: exact(v) for c, v in p.values().items()}


def attribution_json(att: Attribution) -> dict[str, Any]:
    """Every figure exactly, as strings."""
    return {
        "by_strategy": {k: pnl_json(v) for k, v in att.by_strategy.items()},
        "by_symbol": {k: pnl_json(v) for k, v in att.by_symbol.items()},
        "by_side": {k: pnl_json(v) for k, v in att.by_side.items()},
        "sleeves": [
            {
                "strategy": s.strategy,
                "symbol": s.symbol,
                "qty": exact(s.qty),
                "fills": s.fills,
                **pnl_json(s.total),
                "long": pnl_json(s.long),
                "short": pnl_json(s.short),
                **({"written_off": exact(s.written_off)} if s.written_off else {}),
            }
            for s in att.sleeves
        ],
        "total": pnl_json(att.total),
    }


def report_json(report: AttributionReport) -> dict[str, Any]:
    return {
        "account_ccy": report.account_ccy,
        "since": None if report.since_ns is None else _date(report.since_ns),
        "fills": report.fills,
        "columns": list(COLUMNS),
        **attribution_json(report.attribution),
        "benchmark": {
            "symbol": report.benchmark,
            "why": report.benchmark_why,
            "betas": {k: repr(v) for k, v in report.betas.items()},
            "no_market": report.no_market,
        },
        "left_out": [
            {
                "symbol": a.symbol,
                "ccy": a.ccy,
                "reason": a.reason,
                **({"pnl": pnl_json(a.pnl)} if a.pnl is not None else {}),
            }
            for a in report.apart
        ],
        "fees_not_converted": {k: exact(v) for k, v in report.fees_apart.items()},
        "no_arrival": list(report.unpriced),
    }
