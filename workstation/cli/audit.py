"""``qws audit``: the audit log as a report for the user's own records: every order intent,
decision (kill switch, pause, confirmations), risk refusal, order change and config change,
oldest first, as a table or as CSV with the raw detail of each row."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TextIO

from workstation.cli import CliError
from workstation.cli.common import open_store

if TYPE_CHECKING:
    from workstation.trading.audit_report import AuditEntry

DEFAULT_DAYS = 7
"""Without ``--since`` the report starts this many days ago."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
CSV_COLUMNS = (
    "id", "time_utc", "ts_ns", "actor", "category", "action", "subject", "symbol", "summary",
    "detail",
)  # fmt: skip
TABLE_COLUMNS = ["time (UTC)", "actor", "category", "action", "subject", "summary"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audit",
        help="the audit log: order intents, decisions, risk refusals, order and config changes",
        description="The audit log, oldest first: order intents, decisions (kill switch,"
        " pause, confirmations), risk refusals, order changes (states, fills, cancels,"
        " brackets, reconciles, algos), config changes and the rest. A change of the config"
        " file or of a QWS__ variable is recorded when the workstation starts (qws run,"
        " qws trade, qws telegram serve); a setting saved on the settings screen when saved."
        " Times are UTC.",
    )
    p.add_argument(
        "--since",
        metavar="DATE",
        help=f"from DATE: YYYY-MM-DD (from its start) or an ISO date-time such as"
        f" 2024-05-01T12:30 (UTC unless it names an offset); default: {DEFAULT_DAYS} days ago",
    )
    p.add_argument(
        "--until",
        metavar="DATE",
        help="up to DATE: a YYYY-MM-DD includes that whole day, a date-time is the first"
        " instant left out; default: now",
    )
    p.add_argument(
        "--category",
        metavar="LIST",
        help="only these categories, comma-separated: intent, decision, refusal, order,"
        " config, other",
    )
    p.add_argument(
        "--symbol",
        metavar="SYM",
        help="only rows about SYM: its orders (their intents, states, fills, refusals) and"
        " rows that name it",
    )
    p.add_argument(
        "--csv",
        nargs="?",
        const="-",
        metavar="FILE",
        help="CSV instead of the table, header row first, every column including the raw"
        " detail JSON: to FILE, or to stdout without one",
    )
    p.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="only the newest N of the matching rows (still oldest first); default: all",
    )
    p.set_defaults(func=_audit)


def parse_when(text: str, option: str, end_of_day: bool = False) -> int:
    """``YYYY-MM-DD`` (its start, or with ``end_of_day`` the start of the next day) or an ISO
    date-time (UTC unless it has an offset) -> ns since the epoch."""
    text = text.strip()
    try:
        if DATE_ONLY.fullmatch(text):
            when = datetime.fromisoformat(text).replace(tzinfo=UTC)
            when += timedelta(days=1) if end_of_day else timedelta(0)
        else:
            when = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise CliError(
            f"{option}: not a date: {text!r} (YYYY-MM-DD, or an ISO date-time such as"
            " 2024-05-01T12:30, UTC)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - EPOCH) // timedelta(microseconds=1) * 1000


def utc_text(ts_ns: int, sep: str = " ") -> str:
    """``2024-05-01 12:34:56.789``: a time in UTC to the millisecond."""
    when = EPOCH + timedelta(microseconds=ts_ns // 1000)
    return when.strftime(f"%Y-%m-%d{sep}%H:%M:%S.") + f"{when.microsecond // 1000:03d}"


def _categories(text: str | None) -> list[str] | None:
    from workstation.trading.audit_report import CATEGORIES

    if text is None:
        return None
    named = [c.strip().lower() for c in text.split(",") if c.strip()]
    unknown = [c for c in named if c not in CATEGORIES]
    if unknown or not named:
        raise CliError(
            f"--category: unknown {', '.join(map(repr, unknown)) or 'empty list'}"
            f" (choose from {', '.join(CATEGORIES)})"
        )
    return named


def _audit(args: argparse.Namespace) -> int:
    import time

    from workstation.trading.audit_report import audit_report

    now = time.time_ns()
    since = (
        parse_when(args.since, "--since")
        if args.since
        else now - DEFAULT_DAYS * 86_400 * 1_000_000_000
    )
    until = parse_when(args.until, "--until", end_of_day=True) if args.until else None
    if until is not None and until <= since:
        raise CliError(f"--until {args.until} is not after the start ({utc_text(since)} UTC)")
    if args.limit is not None and args.limit < 1:
        raise CliError(f"--limit wants a positive number of rows, got {args.limit}")
    categories = _categories(args.category)
    symbol = args.symbol.strip() if args.symbol else None
    store = open_store(args)
    try:
        entries = audit_report(store, since, until, categories, symbol)
    finally:
        store.close()
    matched = len(entries)
    if args.limit is not None:
        entries = entries[-args.limit :]
    if args.csv is not None:
        _write_csv(entries, args.csv)
        return 0
    if not entries:
        span = f"since {utc_text(since)} UTC" + (f" until {utc_text(until)} UTC" if until else "")
        print(f"no audit rows {span}" + (" matching the filters" if categories or symbol else ""))
        return 0
    _print_table(entries)
    if matched > len(entries):
        print(f"the newest {len(entries)} of {matched} rows (--limit)")
    return 0


def _print_table(entries: list[AuditEntry]) -> None:
    from workstation.cli.trade import _table

    def cell(text: str) -> str:
        return " ".join(text.split())  # a reason quoted over several lines stays on one

    rows = [
        [utc_text(e.ts_ns), e.actor, e.category, e.action, cell(e.subject), cell(e.summary)]
        for e in entries
    ]
    _table(TABLE_COLUMNS, rows)


def _write_csv(entries: list[AuditEntry], target: str) -> None:
    import csv
    import sys

    def write(stream: TextIO) -> None:
        out = csv.writer(stream)
        out.writerow(CSV_COLUMNS)
        for e in entries:
            out.writerow(
                [
                    e.id, utc_text(e.ts_ns, "T") + "Z", e.ts_ns, e.actor, e.category, e.action,
                    e.subject, e.symbol, e.summary, e.detail,
                ]
            )  # fmt: skip

    if target == "-":
        write(sys.stdout)
        return
    try:
        with open(target, "w", newline="", encoding="utf-8") as f:
            write(f)
    except OSError as exc:
        raise CliError(f"--csv: cannot write {target}: {exc.strerror or exc}") from exc
    print(f"wrote {len(entries)} audit rows to {target}")
