"""``qws scan``: the full signal pipeline over the latest window of every symbol.

Signals go through the one :class:`~workstation.alerts.announcer.Announcer`: each is stored,
then queued for the configured Telegram chats if it is actionable and at or above the quality
gate (``--min-confidence``, default ``signals.quality_gate``), and marked relayed (whichever
process runs the relay delivers it). The table dims those below the gate. A symbol that cannot
be analysed gets its reason in the output, not a crash.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workstation.cli import CliError
from workstation.cli.common import load_settings, open_store

if TYPE_CHECKING:
    import polars as pl

    from engine.signals.ensemble import EnsembleSettings
    from engine.signals.scanner import CycleDetector, ScanResult
    from workstation.store import Store

PROGRESS_AFTER_S = 1.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scan",
        help="signals for the latest window of every symbol (QPE cycles + indicators)",
        description="Runs encoding, quantum phase estimation, indicators and the ensemble over"
        " the latest bars of each symbol, stores the signals and prints them.",
    )
    p.add_argument(
        "--feed",
        nargs="+",
        default=["demo"],
        metavar="FEED",
        help="demo (default), db (the store), or replay FILE (CSV/Parquet OHLCV)",
    )
    p.add_argument("--symbols", help="comma-separated symbols (default: all the feed has)")
    p.add_argument("--timeframe", help="bar size (default: scan.timeframe, 1h)")
    p.add_argument("--bars", type=int, help="window length per symbol (default: scan.bars, 256)")
    p.add_argument(
        "--min-confidence",
        type=float,
        help="quality gate: signals below are stored, not relayed (default: signals.quality_gate)",
    )
    p.add_argument("--venue", help="with --feed db: which venue's bars")
    p.add_argument(
        "--cycles",
        choices=("qpe", "periodogram"),
        default="qpe",
        help="cycle detector: quantum phase estimation (default) or its classical limit",
    )
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    p.set_defaults(func=cmd_scan)


def cmd_scan(args: argparse.Namespace) -> int:
    from engine.signals.ensemble import EnsembleSettings
    from engine.timeframes import TimeframeError, parse

    settings = load_settings()
    try:
        s = EnsembleSettings.from_mapping(settings.section("signals"))
    except (TypeError, ValueError) as exc:
        raise CliError(f"bad [signals] settings: {exc}") from exc
    try:
        timeframe = str(parse(args.timeframe or settings.get("scan.timeframe", "1h")))
    except TimeframeError as exc:
        raise CliError(str(exc)) from exc
    bars = args.bars if args.bars is not None else int(settings.get("scan.bars", 256))
    if bars < s.min_bars:
        raise CliError(f"--bars must be at least {s.min_bars} (the slowest analyser's warm-up)")
    gate = s.quality_gate if args.min_confidence is None else args.min_confidence
    if not 0.0 <= gate <= 1.0:
        raise CliError("--min-confidence must be in [0, 1]")
    symbols = [x.strip() for x in args.symbols.split(",") if x.strip()] if args.symbols else None

    frames, errors, venue = _load(args, settings, symbols, timeframe, bars)
    detector, detector_note = _detector(args.cycles)
    results = _run(frames, timeframe, s, detector)
    by_symbol = {r.symbol: r for r in results}
    order = [*frames, *errors] if symbols is None else list(dict.fromkeys(symbols))
    ordered = [by_symbol.get(sym) or _failed(sym, errors[sym]) for sym in order]

    store = open_store(args)
    try:
        gated = settings.with_values({"signals.quality_gate": gate})
        relayed = _announce(store, gated, ordered, venue)
        store.audit.add(
            "cli", "scan", ",".join(r.symbol for r in ordered), {"timeframe": timeframe}
        )
    finally:
        store.close()
    if args.json:
        _print_json(ordered, gate, detector.name, relayed)
    else:
        _print_table(ordered, gate, timeframe, detector_note, relayed)
    return 0 if any(r.signal is not None for r in ordered) else 1


def _announce(store: Store, settings: Any, results: list[ScanResult], venue: str) -> set[str]:
    """Store every signal, then relay those that pass the gate; the symbols relayed."""
    from workstation.alerts.announcer import Announcer
    from workstation.trading.broker_factory import instrument_resolver

    announcer = Announcer.from_settings(store, settings, instrument_resolver(store))
    return {r.symbol for r in results if r.signal is not None and announcer.signal(r.signal, venue)}


def _failed(symbol: str, reason: str) -> ScanResult:
    from engine.signals.scanner import ScanResult

    return ScanResult(symbol, reason=reason)


def _detector(choice: str) -> tuple[CycleDetector, str]:
    from engine.signals.scanner import CLASSICAL, qpe_detector

    if choice == "periodogram":
        return CLASSICAL, "cycles: classical periodogram"
    return qpe_detector(), "cycles: quantum phase estimation (statevector, Aer)"


def _load(
    args: argparse.Namespace,
    settings: Any,
    symbols: list[str] | None,
    timeframe: str,
    bars: int,
) -> tuple[dict[str, pl.DataFrame], dict[str, str], str]:
    kind, *rest = args.feed
    if kind == "demo":
        if rest:
            raise CliError("--feed demo takes no file")
        return _load_demo(settings, symbols, timeframe, bars)
    if kind == "db":
        if rest:
            raise CliError("--feed db takes no file")
        return _load_db(args, settings, symbols, timeframe, bars)
    if kind == "replay":
        if len(rest) != 1:
            raise CliError("--feed replay needs exactly one FILE")
        return _load_file(Path(rest[0]), symbols, timeframe, bars)
    raise CliError(f"unknown feed {kind!r}: use demo, db or replay FILE")


def _load_demo(
    settings: Any, symbols: list[str] | None, timeframe: str, bars: int
) -> tuple[dict[str, pl.DataFrame], dict[str, str], str]:
    import asyncio

    from feeds.demo import DemoFeed

    demo = settings.section("demo")
    feed = DemoFeed(seed=int(demo.get("seed", 7)))
    frames: dict[str, pl.DataFrame] = {}
    errors: dict[str, str] = {}
    for sym in symbols or feed.symbols():
        try:
            frames[sym] = asyncio.run(feed.history(sym, timeframe, limit=bars))
        except KeyError as exc:
            errors[sym] = str(exc.args[0])
    return frames, errors, feed.venue


def _load_db(
    args: argparse.Namespace,
    settings: Any,
    symbols: list[str] | None,
    timeframe: str,
    bars: int,
) -> tuple[dict[str, pl.DataFrame], dict[str, str], str]:
    """The stored windows, each with the symbol's stored news as the runtime's scans read it
    (:func:`engine.signals.sentiment.attach_news`)."""
    from functools import partial

    from engine.signals.sentiment import HALF_LIFE_S, attach_news

    half_life = float(settings.get("signals.sentiment_half_life_s", HALF_LIFE_S))
    store = open_store(args)
    try:
        with store.reading():  # one snapshot (and one read transaction) for every symbol
            frames, errors = _read_windows(store, symbols, timeframe, bars, args.venue)
            for sym, frame in frames.items():
                read = partial(store.news.scores, sym)
                frames[sym] = attach_news(frame, timeframe, half_life, read)
    finally:
        store.close()
    return frames, errors, args.venue or "db"


def _read_windows(
    store: Store,
    symbols: list[str] | None,
    timeframe: str,
    bars: int,
    venue: str | None,
) -> tuple[dict[str, pl.DataFrame], dict[str, str]]:
    """Each symbol's latest ``bars`` bars, and why not for those that have none: one key seek
    per symbol (and one per stored venue to find its venue when none is named)."""
    from workstation.store import AmbiguousVenueError

    frames: dict[str, pl.DataFrame] = {}
    errors: dict[str, str] = {}
    wanted = symbols or store.candles.symbols(timeframe, venue)
    if not wanted:
        raise CliError(f"no {timeframe} bars in the store; load some with `qws import`")
    for sym in wanted:
        try:
            frame = store.candles.last(sym, timeframe, bars, venue=venue)
        except AmbiguousVenueError as exc:
            errors[sym] = str(exc)
            continue
        if frame.is_empty():
            errors[sym] = f"no {timeframe} bars stored"
        else:
            frames[sym] = frame
    return frames, errors


def _load_file(
    path: Path, symbols: list[str] | None, timeframe: str, bars: int
) -> tuple[dict[str, pl.DataFrame], dict[str, str], str]:
    import numpy as np

    from engine.timeframes import parse, resample
    from feeds.ohlcv_file import OhlcvFileError, read_ohlcv

    if symbols is not None and len(symbols) != 1:
        raise CliError("--feed replay scans one file: give at most one symbol")
    symbol = symbols[0] if symbols else path.stem.upper()
    try:
        frame = read_ohlcv(path).frame
    except OhlcvFileError as exc:
        raise CliError(str(exc)) from exc
    ts = frame["ts"].to_numpy()
    step = int(np.median(np.diff(ts))) if len(ts) > 1 else 0
    if step > parse(timeframe).ns:
        raise CliError(
            f"{path}: its bars are {step / 1e9:g} s apart, coarser than --timeframe {timeframe}"
        )
    return {symbol: resample(frame, timeframe).tail(bars)}, {}, "replay"


def _run(
    frames: dict[str, pl.DataFrame],
    timeframe: str,
    s: EnsembleSettings,
    detector: CycleDetector,
) -> list[ScanResult]:
    """One pipeline run (all cycle windows in one QPE call); once the scan has taken more than
    a second, a progress bar on a terminal shows the symbols still to go."""
    from rich.console import Console
    from rich.progress import Progress

    from engine.signals.scanner import scan

    console = Console(stderr=True)
    t0 = time.perf_counter()
    bar: dict[str, Any] = {}

    def progress(done: int, total: int) -> None:
        if "p" not in bar:
            if done >= total or time.perf_counter() - t0 < PROGRESS_AFTER_S:
                return
            if not console.is_terminal:
                return
            bar["p"] = Progress(console=console, transient=True)
            bar["p"].start()
            bar["task"] = bar["p"].add_task("scanning", total=total)
        bar["p"].update(bar["task"], completed=done)

    try:
        return scan(frames, timeframe, s, detector, progress=progress)
    finally:
        if "p" in bar:
            bar["p"].stop()


def _print_json(results: list[ScanResult], gate: float, detector: str, relayed: set[str]) -> None:
    from engine.signals.scanner import summary

    out = sys.stdout
    for r in results:
        record = summary(r)
        if r.signal is not None:
            record["passes_gate"] = bool(r.signal.confidence >= gate)
            record["relayed"] = r.symbol in relayed
            record["detector"] = detector
        out.write(json.dumps(record) + "\n")


def _print_table(
    results: list[ScanResult], gate: float, timeframe: str, detector_note: str, relayed: set[str]
) -> None:
    from rich.console import Console
    from rich.table import Table

    caption = detector_note + (f" · {len(relayed)} relayed" if relayed else "")
    table = Table(title=f"scan {timeframe} — quality gate {gate:.2f}", caption=caption)
    table.add_column("symbol", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("conf.", justify="right", no_wrap=True)
    table.add_column("cycle", justify="right", no_wrap=True)
    table.add_column("strength", justify="right", no_wrap=True)
    table.add_column("top reasons", ratio=1)
    for r in results:
        if r.signal is None:
            table.add_row(r.symbol, "—", "", "", "", f"[red]{r.reason}[/red]")
            continue
        sig = r.signal
        style = "" if sig.confidence >= gate else "dim"
        cyc = sig.cycle
        table.add_row(
            sig.symbol,
            str(sig.action),
            f"{sig.confidence:.2f}",
            "" if cyc is None else f"{cyc.period_bars:.1f}",
            "" if cyc is None else f"{cyc.strength:.2f}",
            "; ".join(sig.reasons[:3]),
            style=style,
        )
    Console().print(table)
