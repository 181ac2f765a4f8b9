"""``qws cycles``: the quantum cycle detector on one window of a CSV file, the demo feed or the db.

    qws cycles (--csv FILE [--column close] | SYMBOL [--timeframe TF] [--feed demo|db])
               [--window 64] [--backend statevector|shots] [--shots 4096] [--seed S]
               [--at INDEX] [--json]

``--at`` is the index of the window's last bar in the whole series: the stored bars, the demo
feed's history or the file's rows, 0 the oldest (negative counts from the end; default the last
bar). The report names the timeframe (and where it came from), the series' length and the
window's bars and times. Bad input (too short, NaN, constant, unknown column) exits 2 with one
clear line.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workstation.cli.common import load_settings

_BLOCKS = " ▁▂▃▄▅▆▇█"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cycles",
        help="dominant price cycles by quantum phase estimation (qiskit-aer)",
        description="Encode the last WINDOW log-returns into qubits, run quantum phase "
        "estimation of the cyclic shift on Aer and print the phase spectrum (= the "
        "periodogram), the dominant cycles and where the series is in the strongest one.",
    )
    p.add_argument("symbol", nargs="?", help="instrument symbol (with --feed)")
    p.add_argument(
        "--csv", type=Path, help="read prices from this CSV or Parquet file instead of a feed"
    )
    p.add_argument(
        "--column", default="close", help="the file's price column, any name (default close)"
    )
    p.add_argument("--timeframe", help="bar timeframe (default: settings app.timeframe)")
    p.add_argument("--feed", choices=("demo", "db"), default="demo", help="where bars come from")
    p.add_argument("--window", type=int, default=None, help="log-returns per window, 2^n")
    p.add_argument("--backend", choices=("statevector", "shots"), default=None)
    p.add_argument("--shots", type=int, default=None, help="measurements per window (shots)")
    p.add_argument("--seed", type=int, default=None, help="seed for the shots backend")
    p.add_argument(
        "--at",
        type=int,
        default=None,
        help="index of the window's last bar in the series (0 = oldest, -1 = newest, default)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


@dataclass(frozen=True, slots=True)
class _Series:
    """The closes the detector reads, where they sit in the whole series, and its bar size."""

    closes: Any
    ts: Any  # the closes' timestamps (ns), or None for a file without a time column
    timeframe: str | None  # None: a file without a time column
    timeframe_from: str  # "--timeframe", "settings app.timeframe", the only one stored, or the
    # file's spacing
    total: int  # bars in the whole series (stored, in the feed's history, in the file)
    offset: int = 0  # index in the whole series of closes[0]


def _file_series(path: Path, column: str) -> _Series:
    """One price column of a CSV/Parquet file, and its timestamps when it has a time column
    (``feeds.ohlcv_file.read_series``: errors with file, line and column)."""
    from engine.timeframes import bar_spacing, spacing_label
    from feeds.ohlcv_file import OhlcvFileError, read_series
    from workstation.cli import CliError

    try:
        closes, ts = read_series(path, column)
    except OhlcvFileError as exc:
        raise CliError(str(exc)) from exc
    gap = bar_spacing(ts) if ts is not None else None
    label = spacing_label(gap) if gap is not None else None
    return _Series(closes, ts, label, "the file's spacing", len(closes))


def _feed_series(args: argparse.Namespace, settings: Any) -> _Series:
    from workstation.cli import CliError
    from workstation.cli.common import demo_history, named_timeframe

    tf = named_timeframe(args, settings)
    source = "--timeframe" if args.timeframe else "settings app.timeframe"
    total = offset = 0
    if args.feed == "demo":
        frame = demo_history(settings, args.symbol, tf)
        total = frame.height
    else:
        from workstation.cli.common import no_stored_bars, open_store, stored_timeframe
        from workstation.store import AmbiguousVenueError

        store = open_store(args)
        try:
            tf, source, stored = stored_timeframe(store, args.symbol, tf, bool(args.timeframe))
            if args.at is None:
                frame = store.candles.last(args.symbol, tf, args.window + 1)
                venues = store.candles.venues(args.symbol, tf)
                total = store.candles.count(args.symbol, tf, venues[0]) if venues else 0
                offset = total - frame.height
            else:
                frame = store.candles.between(args.symbol, tf)
                total = frame.height
        except AmbiguousVenueError as exc:
            raise CliError(str(exc)) from exc
        finally:
            store.close()
        if frame.height == 0:
            raise CliError(no_stored_bars(args.symbol, tf, source, stored))
    return _Series(frame["close"].to_numpy(), frame["ts"].to_numpy(), tf, source, total, offset)


def run(args: argparse.Namespace) -> int:
    from workstation.cli import CliError

    settings = load_settings()
    if args.csv is None and not args.symbol:
        raise CliError("give a SYMBOL (with --feed demo|db) or --csv FILE")
    if args.csv is not None and args.symbol:
        raise CliError("give either a SYMBOL or --csv FILE, not both")
    args.window = args.window or int(settings.get("cycles.window", 64))
    backend = args.backend or settings.get("cycles.backend", "statevector")
    shots = args.shots or int(settings.get("cycles.shots", 4096))
    if shots < 1:
        raise CliError(f"--shots must be positive, got {shots}")

    if args.csv is not None:
        series = _file_series(args.csv, args.column)
    else:
        series = _feed_series(args, settings)

    from engine.signals.cycles import CycleInputError, detect_cycles

    try:
        report = detect_cycles(
            series.closes,
            window=args.window,
            backend=backend,
            at=args.at,
            shots=shots,
            seed=args.seed,
        )
    except CycleInputError as exc:
        raise CliError(str(exc)) from exc
    out = report.as_dict()
    out["source"] = str(args.csv) if args.csv is not None else f"{args.feed}:{args.symbol}"
    out["timeframe"] = series.timeframe
    out["timeframe_from"] = series.timeframe_from
    out["bars"] = series.total
    out["at"] = series.offset + report.at
    out["first"] = out["at"] - report.window  # the window's first close (bar index)
    ts = series.ts
    out["first_ts"] = int(ts[report.at - report.window]) if ts is not None else None
    out["last_ts"] = int(ts[report.at]) if ts is not None else None
    if args.json:
        print(json.dumps(out))
    else:
        _print_report(out)
    return 0


def spectrum_chart(spectrum: list[float], height: int = 6) -> list[str]:
    """A column chart of the folded spectrum (bins 1..M/2), ``height`` text rows."""
    from engine.signals.qpe import fold_spectrum

    folded = fold_spectrum(spectrum)[1:]
    top = float(folded.max()) or 1.0
    levels = folded / top * height * 8
    return [
        "".join(_BLOCKS[min(8, max(0, round(lv - r * 8)))] for lv in levels)
        for r in range(height - 1, -1, -1)
    ]


def _print_report(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    timeframe = out["timeframe"] or "unknown (no time column)"
    console.print(
        f"{out['source']}  timeframe {timeframe} ({out['timeframe_from']}), {out['bars']} bars",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    when = ""
    if out["first_ts"] is not None and out["last_ts"] is not None:
        when = f", {_iso(out['first_ts'])} .. {_iso(out['last_ts'])} UTC"
    console.print(
        f"window: bars {out['first']}..{out['at']} of 0..{out['bars'] - 1}"
        f" ({out['window'] + 1} closes{when}; bar 0 = the oldest)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    head = (
        f"{out['window']} log-returns (n={out['n']}, m={out['m']} phase qubits),"
        f" backend {out['backend']}"
    )
    if out.get("shots"):
        head += f" ({out['shots']} shots)"
    console.print(head + f", {out['elapsed_ms']:.0f} ms", markup=False, soft_wrap=True)
    table = Table(title="dominant cycles")
    for col in ("#", "period (bars)", "strength", "bin k"):
        table.add_column(col, justify="right")
    for i, c in enumerate(out["cycles"], 1):
        table.add_row(str(i), f"{c['period']:.2f}", f"{c['strength']:.1%}", str(c["k"]))
    console.print(table)
    ph = out["phase"]
    if ph is not None:
        console.print(
            f"phase of the {ph['period']:.2f}-bar cycle (classical least-squares fit):"
            f" {ph['phase']:.2f} rad, next trough in {ph['bars_to_trough']:.1f} bars,"
            f" next peak in {ph['bars_to_peak']:.1f} bars"
        )
    console.print("phase spectrum, folded (bin 1 = longest period → shortest):")
    rows = spectrum_chart(out["spectrum"])
    for row in rows:
        console.print("  |" + row, markup=False, highlight=False)
    width = len(rows[0])
    console.print(f"   {2 ** out['m']:g} bars" + f"{2 ** out['m'] / width:g} bars".rjust(width - 5))


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M")
