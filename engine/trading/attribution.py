"""Performance attribution: P&L split by strategy, symbol and side, and into market, the rest
and costs. Pure: Decimal and numpy, no I/O.

Books. Every (strategy, symbol) pair is a *sleeve* with its own average-cost book
(:func:`engine.trading.portfolio.apply_fill`). A sleeve's gross P&L (realised + unrealised,
before fees) is its cash flows plus its position at the mark, which is linear in the fills, so
the sleeves' gross P&L adds up exactly to the account's, even though the realised/unrealised
split of two sleeves on one symbol can differ from the one combined book's.

Side. Each piece belongs to the side of the position that earned it: closing a long is long
P&L, the unrealised P&L of a short is short P&L. A fill that crosses through zero splits: its
closing part (and that share of its fee and slippage) goes to the old side, the rest to the new.

Costs. ``fees`` are the fills' fees in the quote currency (the caller converts a fee charged in
another currency, or keeps it apart). ``slippage`` is ``side sign * (fill price - reference) *
qty`` summed over the fills, positive a cost; the reference is the price the fill was asked
for (:func:`reference_price`: the arrival price, i.e. the mark when the order's intent was
recorded, or a resting order's own limit or stop where that is where it waited). A fill without
one counts no slippage (:attr:`Sleeve.unpriced` counts them). Slippage is already inside the
realised and unrealised figures (they use the fill prices): ``net = realised + unrealised -
fees``; it is shown apart, never subtracted twice.

Market and the rest. ``market`` is ``sum over closes k of beta * R(k -> k+1) * qty(k) *
close(k)``: the benchmark's return from one aligned close to the next times the beta of the
symbol to it (from the aligned close-to-close returns, :func:`beta`) times the exposure held at
the earlier close. ``rest`` is what is left of the P&L at the reference prices: ``rest = gross +
slippage - market``. So, exactly, ``net = market + rest - slippage - fees``.

Precision. Everything is Decimal, computed at :data:`PRECISION` digits (the market figure
comes from float arrays and is converted once per sleeve). Only display rounds:
:func:`for_display` rounds so that every column adds up to its total line, every row keeps both
identities above, the total net is the exact net rounded, and a figure that is exactly 0 shows
0.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

import numpy as np

from engine.model import Fill, OrderType, Position, Side, to_decimal
from engine.trading.portfolio import apply_fill

ZERO = Decimal(0)
PRECISION = 60
"""Significant digits of the attribution's arithmetic (sums and products stay exact)."""
SIDES = ("long", "short")
WRITTEN_OFF = "written off"
"""The by-side row of a loss a backtest stops counting (its equity hit zero)."""
COLUMNS = ("realised", "unrealised", "fees", "slippage", "market", "rest", "net")
CURRENCY_PLACES = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BTC": 8, "ETH": 8}
"""Display places of a currency (2 unless listed)."""


class AttributionError(ValueError):
    """Inputs an attribution cannot be made from (an open position without a mark)."""


def context() -> decimal.Context:
    """The Decimal context the attribution computes in."""
    return decimal.Context(prec=PRECISION)


def currency_places(ccy: str) -> int:
    return CURRENCY_PLACES.get(ccy.upper(), 2)


@dataclass(frozen=True, slots=True)
class Pnl:
    """The components of one row, in one currency. ``gross``, ``net`` and ``rest`` derive."""

    realised: Decimal = ZERO
    unrealised: Decimal = ZERO
    fees: Decimal = ZERO
    slippage: Decimal = ZERO
    market: Decimal = ZERO

    @property
    def gross(self) -> Decimal:
        with decimal.localcontext(context()):
            return self.realised + self.unrealised

    @property
    def net(self) -> Decimal:
        with decimal.localcontext(context()):
            return self.realised + self.unrealised - self.fees

    @property
    def rest(self) -> Decimal:
        with decimal.localcontext(context()):
            return self.realised + self.unrealised + self.slippage - self.market

    def __add__(self, other: Pnl) -> Pnl:
        with decimal.localcontext(context()):
            return Pnl(
                self.realised + other.realised,
                self.unrealised + other.unrealised,
                self.fees + other.fees,
                self.slippage + other.slippage,
                self.market + other.market,
            )

    def scaled(self, rate: Decimal) -> Pnl:
        """In another currency: every component times ``rate``."""
        with decimal.localcontext(context()):
            return Pnl(
                self.realised * rate,
                self.unrealised * rate,
                self.fees * rate,
                self.slippage * rate,
                self.market * rate,
            )

    def values(self) -> dict[str, Decimal]:
        """Every column of :data:`COLUMNS`, exactly."""
        with decimal.localcontext(context()):
            return {c: getattr(self, c) for c in COLUMNS}


def total(pieces: Iterable[Pnl]) -> Pnl:
    out = Pnl()
    for p in pieces:
        out = out + p
    return out


@dataclass(frozen=True, slots=True)
class TaggedFill:
    """A fill with what attribution needs beside it: the ``reference`` price slippage is
    measured from (None: unknown) and its ``fee`` in the quote currency."""

    fill: Fill
    reference: Decimal | None
    fee: Decimal


@dataclass(frozen=True, slots=True)
class Carry:
    """A position held when the period starts: it enters at ``price`` (the mark then)."""

    qty: Decimal
    price: Decimal
    ts_ns: int


@dataclass(frozen=True, slots=True)
class Sleeve:
    """One (strategy, symbol) book's P&L per side, in the symbol's quote currency (or, after
    :meth:`converted`, the account's). ``written_off`` is a loss outside the fills (a backtest
    whose equity hit zero)."""

    strategy: str
    symbol: str
    long: Pnl = field(default_factory=Pnl)
    short: Pnl = field(default_factory=Pnl)
    qty: Decimal = ZERO
    fills: int = 0
    unpriced: int = 0
    written_off: Decimal = ZERO

    @property
    def total(self) -> Pnl:
        return self.long + self.short + Pnl(realised=self.written_off)

    def converted(self, rate: Decimal) -> Sleeve:
        with decimal.localcontext(context()):
            return replace(
                self,
                long=self.long.scaled(rate),
                short=self.short.scaled(rate),
                written_off=self.written_off * rate,
            )

    def with_market(self, long: Decimal, short: Decimal) -> Sleeve:
        return replace(
            self, long=replace(self.long, market=long), short=replace(self.short, market=short)
        )


def reference_price(
    side: Side,
    order_type: OrderType,
    arrival: Decimal | None,
    limit: Decimal | None = None,
    stop: Decimal | None = None,
) -> Decimal | None:
    """The price a fill was asked for, which slippage is measured from.

    A market order's is its arrival price. A resting order waited at its own price: a buy
    limit below the arrival (a sell limit above it) at the limit, a buy stop above the arrival
    (a sell stop below it) at the stop; a marketable one is measured from the arrival. So a
    stop-loss that fires days later is measured from its stop, not from the mark when it was
    placed (that move is market P&L, not a cost). None without an arrival price.
    """
    if arrival is None:
        return None
    buy = side is Side.BUY
    if order_type is OrderType.LIMIT and limit is not None:
        return min(arrival, limit) if buy else max(arrival, limit)
    if order_type is OrderType.STOP and stop is not None:
        return max(arrival, stop) if buy else min(arrival, stop)
    return arrival


def slippage(side: Side, qty: Decimal, price: Decimal, reference: Decimal | None) -> Decimal:
    """``side sign * (price - reference) * qty``: positive a cost; 0 without a reference."""
    if reference is None:
        return ZERO
    with decimal.localcontext(context()):
        return side.sign * (price - reference) * qty


def sleeve(
    strategy: str,
    symbol: str,
    fills: Sequence[TaggedFill],
    mark: Decimal | None,
    carry: Carry | None = None,
) -> Sleeve:
    """The P&L per side of one book: ``carry`` (a position held at the start, entering at its
    mark then) and ``fills`` (oldest first), the open remainder at ``mark``.

    Realised P&L is average-cost; the gross (realised + unrealised) is the cash flows plus the
    position at the mark, so sleeves add up exactly; the unrealised figure is that gross less
    the realised (a flat book's is 0 and all of it realised).
    """
    with decimal.localcontext(context()):
        realised = {"long": ZERO, "short": ZERO}
        fees = {"long": ZERO, "short": ZERO}
        slip = {"long": ZERO, "short": ZERO}
        cash = ZERO
        pos: Position | None = None
        last_side = "long"
        steps = list(fills)
        if carry is not None and carry.qty != 0:
            side = Side.BUY if carry.qty > 0 else Side.SELL
            opening = Fill("", symbol, side, abs(carry.qty), carry.price, ZERO, carry.ts_ns)
            steps.insert(0, TaggedFill(opening, carry.price, ZERO))
        for tagged in steps:
            f = tagged.fill
            q0 = pos.qty if pos is not None else ZERO
            after = apply_fill(pos, f, "")
            closing = q0 != 0 and (q0 > 0) != (f.side is Side.BUY)
            closed = min(f.qty, abs(q0)) if closing else ZERO
            old = "long" if q0 > 0 else "short"
            new = "long" if f.side is Side.BUY else "short"
            if closing:
                realised[old] += after.realized_pnl - (pos.realized_pnl if pos else ZERO)
                last_side = old
            fee_closing = tagged.fee * closed / f.qty
            unit = slippage(f.side, Decimal(1), f.price, tagged.reference)
            if closed:
                fees[old] += fee_closing
                slip[old] += unit * closed
            if f.qty - closed:
                fees[new] += tagged.fee - fee_closing
                slip[new] += unit * (f.qty - closed)
            cash -= f.side.sign * f.qty * f.price
            pos = after
        qty = pos.qty if pos is not None else ZERO
        if qty != 0 and mark is None:
            raise AttributionError(f"{symbol}: no mark to value the open position of {qty}")
        gross = cash + qty * (mark if qty != 0 and mark is not None else ZERO)
        unrealised = {"long": ZERO, "short": ZERO}
        residual = gross - realised["long"] - realised["short"]
        if qty > 0:
            unrealised["long"] = residual
        elif qty < 0:
            unrealised["short"] = residual
        else:  # flat: the cash flows are the exact realised P&L (the average's division is not)
            realised[last_side] += residual
        sides = {s: Pnl(realised[s], unrealised[s], fees[s], slip[s]) for s in SIDES}
        return Sleeve(
            strategy,
            symbol,
            sides["long"],
            sides["short"],
            qty,
            len(fills),
            sum(1 for t in fills if t.reference is None),
        )


def merge(sleeves: Iterable[Sleeve]) -> Sleeve:
    """Books of one (strategy, symbol) added up (a backtest's trades)."""
    items = list(sleeves)
    if not items:
        raise AttributionError("nothing to merge")
    with decimal.localcontext(context()):
        return Sleeve(
            items[0].strategy,
            items[0].symbol,
            total(s.long for s in items),
            total(s.short for s in items),
            sum((s.qty for s in items), ZERO),
            sum(s.fills for s in items),
            sum(s.unpriced for s in items),
            sum((s.written_off for s in items), ZERO),
        )


# -- market ------------------------------------------------------------------------------------
def common_closes(
    ts_a: np.ndarray, close_a: np.ndarray, ts_b: np.ndarray, close_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The times both series have a close, and each one's close then (both sorted by time)."""
    ts, ia, ib = np.intersect1d(
        np.asarray(ts_a, dtype=np.int64), np.asarray(ts_b, dtype=np.int64), return_indices=True
    )
    return ts, np.asarray(close_a, dtype=np.float64)[ia], np.asarray(close_b, dtype=np.float64)[ib]


def returns(closes: np.ndarray) -> np.ndarray:
    """Close-to-close simple returns (one fewer than the closes)."""
    c = np.asarray(closes, dtype=np.float64)
    return c[1:] / c[:-1] - 1.0 if len(c) > 1 else np.zeros(0)


def beta(asset: np.ndarray, bench: np.ndarray) -> float | None:
    """``cov(asset, bench) / var(bench)`` of aligned returns; None with fewer than two or a
    benchmark that never moved."""
    a = np.asarray(asset, dtype=np.float64)
    b = np.asarray(bench, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < 2:
        return None
    var = float(np.var(b))
    if not var > 0:
        return None
    return float(np.mean((a - a.mean()) * (b - b.mean())) / var)


@dataclass(frozen=True, slots=True)
class MarketPath:
    """A symbol's closes at the times the benchmark has one too: ``times`` (a fill before a
    time is in the position held from that close on), the symbol's ``closes``, the benchmark's
    return from each close to the next (one fewer), and the symbol's ``beta`` to it."""

    times: np.ndarray
    closes: np.ndarray
    bench_returns: np.ndarray
    beta: float

    @classmethod
    def of(
        cls,
        times: np.ndarray,
        closes: np.ndarray,
        bench_times: np.ndarray,
        bench_closes: np.ndarray,
        beta_is_one: bool = False,
    ) -> MarketPath | None:
        """The path over the common closes; None when the beta cannot be estimated.
        ``beta_is_one``: the symbol is the benchmark (beta exactly 1)."""
        ts, a, b = common_closes(times, closes, bench_times, bench_closes)
        rb = returns(b)
        found = 1.0 if beta_is_one else beta(returns(a), rb)
        if found is None or len(ts) < 2:
            return None
        return cls(ts, a, rb, found)


def market_pnl(
    path: MarketPath,
    fill_times: np.ndarray,
    signed_qty: np.ndarray,
    start: int | None = None,
) -> tuple[Decimal, Decimal]:
    """(long, short) market P&L of the position the fills build:
    ``beta * R(k -> k+1) * qty(k) * close(k)`` over the closes ``k`` at or after ``start``,
    by the sign of ``qty(k)``."""
    t = np.asarray(fill_times, dtype=np.int64)
    order = np.argsort(t, kind="stable")
    t = t[order]
    q = np.concatenate(([0.0], np.cumsum(np.asarray(signed_qty, dtype=np.float64)[order])))
    held = q[np.searchsorted(t, path.times[:-1], side="left")]
    contrib = path.beta * path.bench_returns * held * path.closes[:-1]
    if start is not None:
        contrib = np.where(path.times[:-1] >= start, contrib, 0.0)
    contrib = np.where(np.isfinite(contrib), contrib, 0.0)
    long = float(contrib[held > 0].sum())
    short = float(contrib[held < 0].sum())
    return to_decimal(long), to_decimal(short)


# -- summaries ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Attribution:
    """Sleeves in one currency and their breakdowns; every breakdown adds up to ``total``."""

    sleeves: tuple[Sleeve, ...]
    by_strategy: dict[str, Pnl]
    by_symbol: dict[str, Pnl]
    by_side: dict[str, Pnl]
    total: Pnl


def summarise(sleeves: Iterable[Sleeve], rates: Mapping[str, Decimal] | None = None) -> Attribution:
    """Convert each sleeve with its symbol's ``rates`` entry (none: already in one currency)
    and add them up by strategy, by symbol and by side (long, short, and a backtest's written
    off loss when there is one)."""
    items = tuple(
        s.converted(rates[s.symbol]) if rates is not None else s
        for s in sorted(sleeves, key=lambda s: (s.strategy, s.symbol))
    )
    by_strategy: dict[str, Pnl] = {}
    by_symbol: dict[str, Pnl] = {}
    by_side: dict[str, Pnl] = {"long": Pnl(), "short": Pnl()}
    for s in items:
        by_strategy[s.strategy] = by_strategy.get(s.strategy, Pnl()) + s.total
        by_symbol[s.symbol] = by_symbol.get(s.symbol, Pnl()) + s.total
        by_side["long"] += s.long
        by_side["short"] += s.short
        if s.written_off:
            by_side[WRITTEN_OFF] = by_side.get(WRITTEN_OFF, Pnl()) + Pnl(realised=s.written_off)
    return Attribution(
        items,
        dict(sorted(by_strategy.items())),
        dict(sorted(by_symbol.items())),
        by_side,
        total(s.total for s in items),
    )


# -- display -----------------------------------------------------------------------------------
def _quantum(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def rounded(value: Decimal, places: int) -> Decimal:
    """``value`` to ``places`` decimals, half a unit away from zero."""
    with decimal.localcontext(context()):
        return value.quantize(_quantum(places), rounding=ROUND_HALF_UP)


def apportion(values: Sequence[Decimal], places: int) -> list[Decimal]:
    """``values`` to ``places`` decimals so that they add up to their rounded sum: each is
    rounded down, then the units still missing go to the largest remainders (the earlier of
    equal ones first)."""
    with decimal.localcontext(context()):
        unit = _quantum(places)
        target = rounded(sum(values, ZERO), places)
        floors = [v.quantize(unit, rounding=ROUND_FLOOR) for v in values]
        missing = int((target - sum(floors, ZERO)) / unit)
        order = sorted(range(len(values)), key=lambda i: (-(values[i] - floors[i]), i))
        for i in order[:missing]:
            floors[i] += unit
        return floors


def _split(
    wholes: Sequence[Decimal],
    parts: Sequence[Decimal],
    others: Sequence[Decimal],
    goal: Decimal,
    places: int,
) -> list[Decimal]:
    """Display values of ``parts`` (the row's ``whole`` less it is the other's) adding up to
    ``goal`` as nearly as the rows allow: a part that is exactly 0 stays 0, one whose other is
    exactly 0 takes the whole, the rest are rounded down and the units still missing go to the
    largest remainders (or are taken from the smallest)."""
    with decimal.localcontext(context()):
        unit = _quantum(places)
        out: list[Decimal] = []
        free: list[int] = []
        for i, (whole, part, other) in enumerate(zip(wholes, parts, others, strict=True)):
            if part == 0:
                out.append(ZERO)
            elif other == 0:
                out.append(whole)
            else:
                out.append(part.quantize(unit, rounding=ROUND_FLOOR))
                free.append(i)
        need = int((goal - sum(out, ZERO)) / unit)
        if free and need:
            step = unit if need > 0 else -unit
            order = sorted(free, key=lambda i: ((out[i] - parts[i]) * (1 if need > 0 else -1), i))
            for n in range(abs(need)):
                out[order[n % len(order)]] += step
        return out


def for_display(
    rows: Sequence[Pnl], places: int
) -> tuple[list[dict[str, Decimal]], dict[str, Decimal]]:
    """Each row's :data:`COLUMNS` and the total's, rounded to ``places`` so that every column
    adds up to the total and every row (and the total) keeps ``net = realised + unrealised -
    fees`` and ``net = market + rest - slippage - fees``.

    Net, fees and slippage are apportioned to their rounded totals (:func:`apportion`), so the
    total net is the exact P&L rounded; each row's realised/unrealised split of its gross
    (and market/rest split of its P&L at the reference prices) is rounded so the column comes
    as near its rounded total as the rows allow, and a figure that is exactly 0 (the
    unrealised P&L of a flat book, a market of 0) shows 0."""
    whole = total(rows)
    columns = {
        c: apportion([getattr(r, c) for r in rows], places) for c in ("net", "fees", "slippage")
    }
    with decimal.localcontext(context()):
        gross = [n + f for n, f in zip(columns["net"], columns["fees"], strict=True)]
        at_ref = [g + s for g, s in zip(gross, columns["slippage"], strict=True)]
    realised = _split(
        gross,
        [r.realised for r in rows],
        [r.unrealised for r in rows],
        rounded(whole.realised, places),
        places,
    )
    market = _split(
        at_ref,
        [r.market for r in rows],
        [r.rest for r in rows],
        rounded(whole.market, places),
        places,
    )
    shown = []
    with decimal.localcontext(context()):
        for i in range(len(rows)):
            shown.append(
                {
                    "realised": realised[i],
                    "unrealised": gross[i] - realised[i],
                    "fees": columns["fees"][i],
                    "slippage": columns["slippage"][i],
                    "market": market[i],
                    "rest": at_ref[i] - market[i],
                    "net": columns["net"][i],
                }
            )
        sums = {c: sum((r[c] for r in shown), ZERO) for c in COLUMNS}
    if not rows:
        sums = {c: rounded(ZERO, places) for c in COLUMNS}
    return shown, sums


# -- backtests ---------------------------------------------------------------------------------
def bar_attribution(
    strategy: str,
    symbol: str,
    ts: np.ndarray,
    closes: np.ndarray,
    fills: Mapping[str, np.ndarray],
    final_pnl: Decimal,
    bench: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Sleeve, float | None]:
    """A backtest's attribution as one sleeve, and the beta its market figure used.

    ``fills`` are the backtester's (``BacktestResult.fills``), by column: ``bar``, ``trade``
    (its id), ``size`` (signed), ``price``, ``fee`` and ``reference`` (the price before
    slippage and spread). Each trade is its own book, so a side is the side of a trade (hedged
    trades stay apart). The market is the bars' own close-to-close move (beta 1), or that of
    ``bench`` (its bar times and closes) over the bars both have, times the beta from those
    returns. ``final_pnl`` is the backtest's (final equity less the cash): a loss it stopped
    counting (its equity hit zero) is ``written_off``; the float rounding of its equity is not
    carried over (the fills' own arithmetic is exact).
    """
    ts = np.asarray(ts, dtype=np.int64)
    closes = np.asarray(closes, dtype=np.float64)
    bars = np.asarray(fills["bar"], dtype=np.int64)
    ids = np.asarray(fills["trade"], dtype=np.int64)
    sizes = np.asarray(fills["size"], dtype=np.float64)
    mark = to_decimal(float(closes[-1])) if len(closes) else None
    trades: dict[int, list[TaggedFill]] = {}
    for bar, tid, size, price, fee, ref in zip(
        bars, ids, sizes, fills["price"], fills["fee"], fills["reference"], strict=True
    ):
        f = Fill(
            f"trade-{tid}",
            symbol,
            Side.BUY if size > 0 else Side.SELL,
            to_decimal(abs(float(size))),
            to_decimal(float(price)),
            to_decimal(float(fee)),
            int(ts[bar]),
        )
        reference = to_decimal(float(ref)) if np.isfinite(ref) and ref > 0 else None
        trades.setdefault(int(tid), []).append(TaggedFill(f, reference, f.fee))
    books = [sleeve(strategy, symbol, tagged, mark) for tagged in trades.values()]
    merged = merge(books) if books else Sleeve(strategy, symbol)
    path: MarketPath | None
    if bench is None:
        path = MarketPath(np.arange(1, len(closes) + 1), closes, returns(closes), 1.0)
    else:
        _, ia, ib = np.intersect1d(ts, np.asarray(bench[0], dtype=np.int64), return_indices=True)
        bench_closes = np.asarray(bench[1], dtype=np.float64)[ib]
        found = beta(returns(closes[ia]), returns(bench_closes))
        path = (
            None
            if found is None or len(ia) < 2
            else MarketPath(ia + 1, closes[ia], returns(bench_closes), found)
        )
    market = {"long": ZERO, "short": ZERO}
    if path is not None and len(bars):
        entry_long = {int(t): s > 0 for t, s in zip(ids[::-1], sizes[::-1], strict=True)}
        of_long = np.array([entry_long[int(t)] for t in ids], dtype=bool)
        for side, mask in (("long", of_long), ("short", ~of_long)):
            a, b = market_pnl(path, bars[mask], sizes[mask])
            with decimal.localcontext(context()):
                market[side] = a + b
    merged = merged.with_market(market["long"], market["short"])
    with decimal.localcontext(context()):
        gap = final_pnl - merged.total.net
    if abs(gap) > Decimal("0.000001"):
        merged = replace(merged, written_off=gap)
    return merged, None if path is None else path.beta
