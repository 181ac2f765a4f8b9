"""The account report (``qws report --html``): a venue's equity and drawdown since a date, its
P&L by strategy and by symbol (the attribution of ``qws pnl --attribution``, rounded the same
way, its exact figures kept beside them in the page's data), and its fills.

Everything it shows comes in as :class:`AccountData`, read and computed by the command; this
module only draws. An account with nothing in the period still gets a report that says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.backtest.performance import drawdown_curve
from engine.model import Fill
from engine.timeframes import format_utc
from engine.trading.attribution import COLUMNS, Pnl, currency_places, for_display, total
from workstation.reports.html import (
    dates,
    drawdown_figure,
    equity_figure,
    heading,
    note,
    page,
    table,
)
from workstation.trading.attribution_report import BREAKDOWN, AttributionReport, exact

FILL_COLUMNS = {
    "when": "time (UTC)",
    "symbol": "symbol",
    "side": "side",
    "qty": "qty",
    "price": "price",
    "fee": "fee",
    "strategy": "strategy",
    "client_id": "client id",
}


@dataclass(frozen=True, slots=True)
class AccountData:
    """What the account report shows: ``venue``'s equity points ``(ts ns, equity)`` and fills
    from ``since_ns`` on, the strategy of each fill's client id, and the attribution of the
    period (None: nothing in it)."""

    venue: str
    since_ns: int
    equity: Sequence[tuple[int, float]]
    fills: Sequence[Fill]
    attribution: AttributionReport | None
    strategies: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.equity and not self.fills and self.attribution is None


def account_report(data: AccountData, *, title: str) -> Any:
    since = format_utc([data.since_ns])[0]
    parts: list[Any] = [heading(title)]
    if data.empty:
        parts.append(note(f"nothing on {data.venue} since {since}: no equity points, no fills"))
        return page(*parts)
    att = data.attribution
    ccy = f" · P&L in {att.account_ccy}" if att is not None else ""
    parts.append(
        note(
            f"{data.venue} since {since} · {len(data.equity):,} equity points ·"
            f" {len(data.fills):,} fills{ccy}"
        )
    )
    if data.equity:
        ts = np.array([t for t, _ in data.equity], dtype=np.int64)
        eq = np.array([e for _, e in data.equity], dtype=float)
        when = format_utc(ts)
        parts.append(equity_figure(dates(ts), eq, when, title=f"equity ({data.venue})"))
        parts.append(drawdown_figure(dates(ts), drawdown_curve(eq), when))
    else:
        parts.append(note(f"no equity points since {since}"))
    if att is not None:
        places = currency_places(att.account_ccy)
        for title_, group, name in (
            ("P&L by strategy", att.attribution.by_strategy, "pnl_by_strategy"),
            ("P&L by symbol", att.attribution.by_symbol, "pnl_by_symbol"),
        ):
            parts += [heading(title_, size="1.1em"), _pnl_table(group, places, name)]
        parts += [note(f"left out of the totals ({a.reason}): {a.symbol}") for a in att.apart]
    if data.fills:
        parts += [heading(f"fills since {since}", size="1.1em"), _fills_table(data)]
    else:
        parts.append(note(f"no fills since {since}"))
    return page(*parts)


def _pnl_table(group: Mapping[str, Pnl], places: int, name: str) -> Any:
    """One row per key and the total, rounded so that they add up (as ``qws pnl
    --attribution`` prints them); the source also holds each figure exactly (``net_exact``)."""
    keys = list(group)
    shown, summed = for_display(list(group.values()), places)
    rows = [*shown, summed]
    exact_rows = [p.values() for p in (*group.values(), total(group.values()))]
    return table(
        {
            "key": [*keys, "total"],
            **{c: [f"{r[c]:,.{places}f}" for r in rows] for c in BREAKDOWN},
        },
        name=name,
        titles={"key": name.rpartition("_")[2]},
        right=BREAKDOWN,
        hidden={f"{c}_exact": [exact(r[c]) for r in exact_rows] for c in COLUMNS},
        height=28 * (len(keys) + 1) + 32,
    )


def _fills_table(data: AccountData) -> Any:
    fills = data.fills
    return table(
        {
            "when": format_utc([f.ts_ns for f in fills]),
            "symbol": [f.symbol for f in fills],
            "side": [f.side.value.lower() for f in fills],
            "qty": [f"{f.qty.normalize():f}" for f in fills],
            "price": [f"{f.price.normalize():f}" for f in fills],
            "fee": [f.fee_text for f in fills],
            "strategy": [data.strategies.get(f.client_id, "") for f in fills],
            "client_id": [f.client_id for f in fills],
        },
        name="fills",
        titles=FILL_COLUMNS,
        right=("qty", "price", "fee"),
        height=min(28 * len(fills) + 32, 600),
    )
