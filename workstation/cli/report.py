"""``qws report --since DATE [--html FILE] [--venue V]``: the account since DATE: its equity,
fills and P&L by strategy and by symbol, as a self-contained HTML report with ``--html``,
else as a short summary in the terminal.

The P&L is the attribution of ``qws pnl --attribution`` (the same function, the same rounding);
the command reconciles with the broker first, as every trading command does.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from workstation.cli import CliError

if TYPE_CHECKING:
    from workstation.reports.account import AccountData


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="the account since DATE: equity, fills, P&L by strategy and symbol (--html FILE:"
        " an interactive report that opens offline)",
        description="The paper (or live) account since DATE: equity and drawdown, P&L by"
        " strategy and by symbol (as `qws pnl --attribution` computes it) and the fills. With"
        " --html FILE one self-contained HTML file; without, a summary here.",
    )
    p.add_argument(
        "--since",
        required=True,
        metavar="DATE",
        help="from DATE: YYYY-MM-DD (UTC, from its start), an ISO date-time, or a duration back"
        " from now such as 7d, 12h or 1d12h",
    )
    p.add_argument("--html", type=Path, metavar="FILE", help="write the report to FILE")
    p.add_argument(
        "--venue", metavar="V", help="the account's venue (default: the configured broker's)"
    )
    p.add_argument(
        "--benchmark",
        metavar="SYMBOL",
        help="the market's benchmark of the attribution (default: risk.benchmark, else the most"
        " traded symbol)",
    )
    p.set_defaults(func=_report)


def parse_since(text: str, now_ns: int) -> int:
    """``7d`` (back from ``now_ns``), ``YYYY-MM-DD`` or an ISO date-time -> ns since the epoch;
    a CliError for anything else, or for a time after ``now_ns``."""
    from engine.timeframes import TimeframeError, parse_duration
    from workstation.cli.audit import parse_when

    try:
        return max(now_ns - parse_duration(text), 0)
    except TimeframeError:
        pass
    try:
        since = parse_when(text, "--since")
    except CliError:
        raise CliError(
            f"--since wants a date (YYYY-MM-DD, UTC) or a duration back from now such as 7d or"
            f" 12h, got {text!r}"
        ) from None
    if since > now_ns:
        raise CliError(f"--since {text} is in the future")
    return max(since, 0)


def _report(args: argparse.Namespace) -> int:
    from workstation.cli.trade import _run, _Session

    since_ns = parse_since(args.since, time.time_ns())
    if args.html is not None:
        from workstation.reports.html import ReportError, check_target

        try:
            check_target(args.html)
        except ReportError as exc:
            raise CliError(f"--html: {exc}") from exc

    async def body(s: _Session) -> int:
        from engine.trading.attribution import AttributionError
        from workstation.cli.trade import account_attribution
        from workstation.reports.account import AccountData
        from workstation.trading.attribution_report import ALL_ORDERS, MANUAL, strategy_of

        venue = args.venue or s.oms.venue
        try:
            attribution = await account_attribution(s, since_ns, args.benchmark, venue)
        except AttributionError as exc:
            raise CliError(f"--since {args.since}: {exc}") from exc
        fills = [f for f in s.store.fills.find(venue=venue) if f.ts_ns >= since_ns]
        orders = {o.client_id: o for o in s.store.orders.find(venue=venue, limit=ALL_ORDERS)}
        data = AccountData(
            venue,
            since_ns,
            s.store.equity.points(venue, since_ns),
            fills,
            attribution,
            {f.client_id: strategy_of(f.client_id, orders) or MANUAL for f in fills},
        )
        if args.html is not None:
            _write(data, args.html)
        else:
            _summary(data)
        return 0

    return _run(args, body)


def _write(data: AccountData, path: Path) -> None:
    from engine.timeframes import format_utc
    from workstation.reports.account import account_report
    from workstation.reports.html import ReportError, write_html

    since = format_utc([data.since_ns])[0]
    title = f"account {data.venue} since {since}"
    try:
        written = write_html(account_report(data, title=title), path, title)
    except (ReportError, OSError) as exc:
        raise CliError(f"--html: cannot write the report: {exc}") from exc
    if data.empty:
        print(f"nothing on {data.venue} since {since}: no equity points, no fills")
    print(f"report written: {written}")


def _summary(data: AccountData) -> None:
    from engine.timeframes import format_utc
    from workstation.trading.attribution_report import render

    since = format_utc([data.since_ns])[0]
    if data.empty:
        print(f"nothing on {data.venue} since {since}: no equity points, no fills")
        return
    if data.equity:
        (t0, first), (t1, last) = data.equity[0], data.equity[-1]
        when = format_utc([t0, t1])
        print(
            f"equity {data.venue}: {first:,.2f} ({when[0]}) -> {last:,.2f} ({when[1]}),"
            f" {last - first:+,.2f}; {len(data.equity):,} points"
        )
    else:
        print(f"no equity points on {data.venue} since {since}")
    print(f"{len(data.fills):,} fills since {since}")
    if data.attribution is not None:
        print("\n".join(render(data.attribution)))
    print("(--html FILE for the report with the equity chart and every fill)", file=sys.stderr)
