"""``qws import FILE`` and ``qws bars SYMBOL``: getting bars into the store and looking at them."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from workstation.cli import CliError
from workstation.cli.common import open_store

if TYPE_CHECKING:
    import polars as pl

    from engine.timeframes import Timeframe


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="load an OHLCV CSV or Parquet file into the store",
        description="Columns are found case-insensitively (Date/Datetime/Timestamp/Time or an"
        " unnamed first column; Open High Low Close [Volume]). All or nothing: a file with an"
        " error imports nothing.",
    )
    p.add_argument("file", type=Path)
    p.add_argument("--symbol", required=True)
    p.add_argument("--timeframe", required=True, help="bar size, e.g. 1m 5m 1h 4h 1d")
    p.add_argument("--venue", default="import", help="where the bars come from (default: import)")
    p.add_argument(
        "--force",
        action="store_true",
        help="store the bars as --timeframe even when the file's bars are further apart",
    )
    p.set_defaults(func=cmd_import)

    b = sub.add_parser("bars", help="print stored bars of a symbol")
    b.add_argument("symbol")
    b.add_argument("--timeframe", required=True)
    b.add_argument("--limit", type=int, default=20, help="latest N bars (default 20)")
    b.add_argument("--venue", default=None)
    b.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    b.set_defaults(func=cmd_bars)


def iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def cmd_import(args: argparse.Namespace) -> int:
    """Reads and checks the file a chunk at a time while the store stages it: a bad line fails
    when it is reached, and nothing of the file is stored unless all of it is good."""
    from itertools import chain

    from rich.console import Console
    from rich.progress import Progress

    from engine.timeframes import TimeframeError, parse
    from feeds.ohlcv_file import OhlcvFileError, OhlcvStream

    try:
        tf = parse(args.timeframe)
    except TimeframeError as exc:
        raise CliError(str(exc)) from exc
    try:
        stream = OhlcvStream(args.file)
        chunks = iter(stream)
        first = next(chunks)  # a file bad from the start fails before the store is opened
    except OhlcvFileError as exc:
        raise CliError(str(exc)) from exc
    console = Console(stderr=True)
    coarser = _coarser_than(first, tf, args.file)
    if coarser is not None and not args.force:
        raise CliError(f"{coarser[0]}: {coarser[1]}, or pass --force to store them as {tf} bars")
    if coarser is not None:
        console.print(f"warning: {coarser[0]}; stored as {tf} bars (--force)", soft_wrap=True)
    checked = _one_bar_each(chain([first], chunks), tf, args.file)
    store = open_store(args)
    try:
        if console.is_terminal:
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task(f"importing {args.file.name}", total=None)
                rows = store.candles.import_bars(
                    checked,
                    args.symbol,
                    str(tf),
                    args.venue,
                    str(args.file),
                    lambda phase, n: progress.advance(task, n) if phase == "staged" else None,
                )
        else:
            rows = store.candles.import_bars(
                checked, args.symbol, str(tf), args.venue, str(args.file)
            )
        store.audit.add("cli", "import", args.symbol, {"file": str(args.file), "rows": rows})
    except OhlcvFileError as exc:
        raise CliError(str(exc)) from exc
    finally:
        store.close()
    for note in stream.notes:
        console.print(f"note: {note}")
    assert stream.first_ts is not None and stream.last_ts is not None
    start, end = sorted((stream.first_ts, stream.last_ts))
    print(
        f"imported {rows} {tf} bars of {args.symbol} ({args.venue}) from {args.file}:"
        f" {iso(start)} .. {iso(end)}"
    )
    return 0


SPACING_SLACK = 1.5
"""A file whose median bar gap is more than this many ``--timeframe`` bars is coarser."""


def _coarser_than(first: pl.DataFrame, tf: Timeframe, file: Path) -> tuple[str, str] | None:
    """When the bars of the file's first chunk are further apart than ``tf`` by their median
    gap (a monthly file as ``--timeframe 1d``): what is wrong, and what to do instead."""
    from engine.timeframes import bar_spacing, spacing_label, spacing_timeframe

    gap = bar_spacing(first["ts"].to_numpy())
    if gap is None or gap <= tf.ns * SPACING_SLACK:
        return None
    exact = spacing_timeframe(gap)
    label = spacing_label(gap)
    instead = (
        f"import it with --timeframe {exact}"
        if exact is not None and label == exact
        else "there is no timeframe for that (units s m h d w)"
    )
    return f"{file}: its bars are {label} apart (median gap), not {tf}", instead


def _one_bar_each(
    chunks: Iterator[pl.DataFrame], tf: Timeframe, file: Path
) -> Iterator[pl.DataFrame]:
    """The chunks, refused at the first two bars that fall in one ``tf`` bar (a file finer
    than ``--timeframe``)."""
    import numpy as np

    last: tuple[int, int] | None = None  # (ts, bucket) of the previous chunk's last bar
    for chunk in chunks:
        ts = chunk["ts"].to_numpy()
        buckets = tf.bucket(ts)
        if last is not None:
            ts, buckets = np.concatenate(([last[0]], ts)), np.concatenate(([last[1]], buckets))
        same = np.flatnonzero(np.diff(buckets) == 0)
        if same.size:
            i = int(same[0])
            a, b = sorted((int(ts[i]), int(ts[i + 1])))
            raise CliError(
                f"{file}: bars at {iso(a)} and {iso(b)} fall in the same"
                f" {tf} bar: the file is finer than --timeframe {tf}"
            )
        last = int(ts[-1]), int(buckets[-1])
        yield chunk


def cmd_bars(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from engine.timeframes import TimeframeError, parse
    from workstation.store import AmbiguousVenueError

    try:
        tf = str(parse(args.timeframe))
    except TimeframeError as exc:
        raise CliError(str(exc)) from exc
    if args.limit <= 0:
        raise CliError("--limit must be a positive number of bars")
    store = open_store(args)
    try:
        frame = store.candles.last(args.symbol, tf, args.limit, venue=args.venue)
    except AmbiguousVenueError as exc:
        raise CliError(str(exc)) from exc
    finally:
        store.close()
    if frame.is_empty():
        raise CliError(f"no {tf} bars stored for {args.symbol}; load some with `qws import`")
    rows = frame.iter_rows()
    if args.json:
        out = sys.stdout
        for ts, o, h, lo, c, v in rows:
            record = {"ts": iso(ts), "open": o, "high": h, "low": lo, "close": c, "volume": v}
            out.write(json.dumps(record) + "\n")
        return 0
    table = Table(title=f"{args.symbol} {tf}")
    for col in ("time (UTC)", "open", "high", "low", "close", "volume"):
        table.add_column(col, justify="right")
    for ts, o, h, lo, c, v in rows:
        table.add_row(iso(ts), *(f"{x:.10g}" for x in (o, h, lo, c, v)))
    Console().print(table)
    return 0
