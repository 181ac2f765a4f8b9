"""Answers to the account questions (positions, working orders, P&L, balances) as plain text,
pure functions of the store: the screen's log and Telegram (which marks them up) say the same.

A text of more than one line starts with its title."""

from __future__ import annotations

from workstation.store import Store

SECOND_NS = 1_000_000_000
PERIODS = {"day": 1, "week": 7, "month": 30}


def positions_text(store: Store, venue: str | None = None) -> str:
    rows = [p for p in store.positions.find(venue) if p.qty != 0]
    if not rows:
        return "No open positions."
    lines = ["Positions"]
    for p in rows:
        lines.append(f"{p.venue} {p.symbol}: {p.qty} @ {p.avg_price} (realized {p.realized_pnl})")
    return "\n".join(lines)


def orders_text(store: Store, venue: str | None = None) -> str:
    rows = store.orders.find(open_only=True, venue=venue, limit=30)
    if not rows:
        return "No working orders."
    lines = ["Working orders"]
    for o in rows:
        level = o.price if o.price is not None else o.stop
        price = f" @ {level}" if level is not None else ""
        what = f"{o.side} {o.qty} {o.symbol} {o.type}{price}"
        lines.append(f"{o.client_id}: {what} [{o.status}]")
    return "\n".join(lines)


def pnl_text(store: Store, period: str, now_ns: int) -> str:
    if period not in PERIODS:
        raise ValueError(f"no period {period!r}: one of {', '.join(PERIODS)}")
    start = now_ns - PERIODS[period] * 86_400 * SECOND_NS
    venues = sorted(
        {v for v in store.balances.venues()} | {p.venue for p in store.positions.find()}
    )
    lines = [f"PnL, last {period}"]
    for venue in venues or ["paper"]:
        points = store.equity.points(venue, start)
        if not points:
            lines.append(f"{venue}: no equity history in this period")
            continue
        opening = store.equity.before(venue, start)
        base = opening if opening is not None else points[0][1]
        change = points[-1][1] - base
        pct = f" ({change / base:+.2%})" if base else ""
        lines.append(f"{venue}: {change:+,.2f}{pct}, equity {points[-1][1]:,.2f}")
    return "\n".join(lines)


def balance_text(store: Store) -> str:
    venues = store.balances.venues()
    if not venues:
        return "No balances recorded."
    lines = ["Balances"]
    for venue in venues:
        for asset, total in store.balances.get(venue).items():
            lines.append(f"{venue} {asset}: {total}")
    return "\n".join(lines)
