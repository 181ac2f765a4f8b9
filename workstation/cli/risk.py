"""The stress part of ``qws risk``: ``--stress``, ``--days``, ``--shock``, ``--propagate``.

``_risk`` (:mod:`workstation.cli.trade`) reads these options with :meth:`StressArgs.of` before
it opens anything, prints the VaR/CVaR lines, then calls :func:`print_stress`: a table per
scenario (symbol, qty, mark, move, P&L, what the move is), each with its total, then the
shocks that moved nothing and the instruments with too little daily history. The report is
:func:`workstation.trading.stress_report.stress_report`'s, the cells its ``scenario_rows``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.model import Position
from engine.trading.stress import Shock, StressError, day_of, parse_shocks
from workstation.cli import CliError
from workstation.cli.trade import _table
from workstation.trading.stress_report import (
    DEFAULT_DAYS,
    HISTORY_DAYS,
    MIN_DAYS,
    StressReport,
    fetch_short,
    headers,
    history_symbols,
    note_lines,
    scenario_rows,
    store_daily,
    stress_report,
)

if TYPE_CHECKING:
    import polars as pl

    from workstation.cli.trade import _Session


@dataclass(frozen=True, slots=True)
class StressArgs:
    historical: bool
    days: tuple[int, ...]
    shocks: tuple[Shock, ...]
    propagating: bool

    @property
    def wanted(self) -> bool:
        return self.historical or bool(self.shocks)

    @classmethod
    def of(cls, args: argparse.Namespace) -> StressArgs:
        """The options as given; a CliError naming the bad one otherwise."""
        days: tuple[int, ...] = DEFAULT_DAYS
        if args.days is not None:
            try:
                days = tuple(int(part) for part in args.days.split(","))
            except ValueError:
                days = ()
            if not days or any(n < 1 for n in days):
                raise CliError(
                    f"--days wants positive whole numbers of days, e.g. 1,5,20; got {args.days!r}"
                )
        shocks: tuple[Shock, ...] = ()
        if args.shock:
            try:
                shocks = parse_shocks(",".join(args.shock))
            except StressError as exc:
                raise CliError(f"--shock: {exc}") from exc
        if args.propagate and not shocks:
            raise CliError("--propagate moves the unshocked positions by a shock: add --shock")
        return cls(bool(args.stress or args.days), tuple(days), shocks, bool(args.propagate))


async def print_stress(
    session: _Session,
    stress: StressArgs,
    positions: Sequence[Position],
    marks: Callable[[str], float | None],
    ccy: str,
) -> StressReport:
    """Gather the daily history (the store's, else the demo feed's) and print the tables."""
    store = session.store
    demo = session._demo
    frames: dict[str, pl.DataFrame] = {}
    if demo is not None:
        known = set(demo.symbols())
        wanted = history_symbols(positions, stress.shocks, stress.propagating)

        async def fetch(symbol: str, timeframe: str, n: int) -> pl.DataFrame:
            frame: pl.DataFrame = await demo.history(symbol, timeframe, limit=n)
            return frame

        frames = await fetch_short(
            [s for s in wanted if s in known],
            lambda s: store_daily(store, s).height,
            MIN_DAYS,
            fetch,
            "1d",
            HISTORY_DAYS,
        )
    try:
        report = stress_report(
            store,
            positions,
            marks,
            session.oms.instruments,
            shocks=stress.shocks,
            days=stress.days,
            historical=stress.historical,
            propagating=stress.propagating,
            ccy=ccy,
            history=lambda s, _tf, _n: frames.get(s),
        )
    except StressError as exc:
        raise CliError(str(exc)) from exc
    print_report(report)
    return report


def print_report(report: StressReport) -> None:
    if report.spans:
        print()
        print(
            "daily closes: "
            + ", ".join(
                f"{symbol} {n:,} ({day_of(first)} → {day_of(last)})"
                for symbol, (first, last, n) in report.spans.items()
            )
        )
    for scenario in report.scenarios:
        print()
        head = f"{scenario.title} ({scenario.detail})" if scenario.detail else scenario.title
        if scenario.kind == "window" and not scenario.moved:
            print(f"{head}: not covered by the daily history of any position")
            continue
        print(head)
        _table(headers(report.ccy), scenario_rows(scenario))
    notes = note_lines(report)
    if notes:
        print()
        for line in notes:
            print(line)
