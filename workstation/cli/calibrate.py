"""``qws calibrate``: is a learnt probability right as often as it says, on this instrument?

    qws calibrate (--csv FILE | SYMBOL [--timeframe TF] [--feed db|demo])
                  [--horizon 4] [--higher TF[,TF]|none] [--min-train 500] [--block 250] [--json]

Walks forward over the whole history with the live pipeline's recipe
(:func:`engine.signals.evidence.fit_signal_model`: fit on the past, score the next block, roll
on) and measures the out-of-sample P(up at the
horizon) against what happened: the reliability table (confidence bucket -> count, hit rate,
95% interval, mean forecast), the Brier score of the model and of forecasting the training
base rate, the Brier skill score and the expected calibration error. ``--json`` prints one
object: ``n``, ``horizon``, ``ece``, ``brier``, ``brier_base``, ``skill``, ``base_rate`` and
``buckets`` (``lo``, ``hi``, ``n``, ``hits``), ``gate`` (the signals at or above the quality
gate: ``n``, ``hits``, ``hit_rate``, its 95% interval and ``per_1000_bars``), ``open`` (the same
at the open threshold) and ``signals_per_1000_bars`` (those OPEN signals per 1,000 scored bars),
with where the bars came from.

The base-rate forecast compared against is the one a trader had at each bar: the rate of ups
in the training past the model was shrunk towards, not the rate of the scored period itself
(which no one knew in advance).

With ``--feed db`` the stored news of the symbol is on the bars (its ``news_sentiment``
feature, as the live pipeline reads it): whether the news has an edge on this instrument is
what the report then says, and with none the model gives it no weight.
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from typing import TYPE_CHECKING, Any

from workstation.cli.common import load_settings

if TYPE_CHECKING:
    from engine.signals.ensemble import EnsembleSettings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="walk-forward calibration of learnt signal probabilities",
        description="Learn P(up at the horizon) from the instrument's own past, walk forward "
        "over its whole history and print how often each confidence bucket was right, out of "
        "sample (reliability table, Brier skill, ECE).",
    )
    p.add_argument("symbol", nargs="?", help="instrument symbol (with --feed)")
    p.add_argument("--csv", help="read bars from this CSV or Parquet file instead of a feed")
    p.add_argument("--timeframe", help="bar timeframe (default: settings app.timeframe)")
    p.add_argument("--feed", choices=("db", "demo"), default="db", help="where bars come from")
    p.add_argument("--horizon", type=int, default=None, help="bars ahead (default: signals)")
    p.add_argument(
        "--higher",
        default=None,
        help="context timeframes, comma-separated (default: the chain of the bars' timeframe,"
        " e.g. 4h,1d for 1h bars; none: no context)",
    )
    p.add_argument("--min-train", type=int, default=500, help="labelled rows before scoring")
    p.add_argument("--block", type=int, default=250, help="bars scored per fit")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def _file_bars(path: str) -> tuple[Any, str | None]:
    from engine.timeframes import bar_spacing, parse, spacing_label
    from feeds.ohlcv_file import OhlcvFileError, read_ohlcv
    from workstation.cli import CliError

    try:
        frame = read_ohlcv(path).frame
    except OhlcvFileError as exc:
        raise CliError(str(exc)) from exc
    gap = bar_spacing(frame["ts"].to_numpy()) if frame.height > 1 else None
    label = spacing_label(gap) if gap is not None else None
    try:
        return frame, str(parse(label)) if label else None
    except ValueError:  # "about 1 month": a spacing with no timeframe of its own
        return frame, None


def _feed_bars(
    args: argparse.Namespace, settings: Any, ensemble: EnsembleSettings
) -> tuple[Any, str]:
    """The symbol's bars (demo: 5,000 made up; db: all stored, with the store's news on them
    as the ``sentiment`` columns the live pipeline gives them)."""
    from engine.signals.sentiment import attach_news
    from workstation.cli import CliError
    from workstation.cli.common import demo_history, named_timeframe

    tf = named_timeframe(args, settings)
    if args.feed == "demo":
        return demo_history(settings, args.symbol, tf, bars=5000), tf
    from workstation.cli.common import no_stored_bars, open_store, stored_timeframe
    from workstation.store import AmbiguousVenueError

    store = open_store(args)
    try:
        tf, source, stored = stored_timeframe(store, args.symbol, tf, bool(args.timeframe))
        frame = store.candles.between(args.symbol, tf)
        frame = attach_news(
            frame, tf, ensemble.sentiment_half_life_s, partial(store.news.scores, args.symbol)
        )
    except AmbiguousVenueError as exc:
        raise CliError(str(exc)) from exc
    finally:
        store.close()
    if frame.height == 0:
        raise CliError(no_stored_bars(args.symbol, tf, source, stored))
    return frame, tf


def _higher(args: argparse.Namespace, timeframe: str | None) -> tuple[str, ...]:
    from engine.signals.outcomes import higher_chain
    from engine.timeframes import TimeframeError, parse
    from workstation.cli import CliError

    if args.higher is None:
        return higher_chain(timeframe) if timeframe else ()
    if args.higher.lower() == "none":
        return ()
    try:
        chain = tuple(str(parse(part.strip())) for part in args.higher.split(","))
    except TimeframeError as exc:
        raise CliError(str(exc)) from exc
    for higher in chain:
        if timeframe and parse(higher).ns <= parse(timeframe).ns:
            raise CliError(f"--higher {higher} is not above the bars' timeframe {timeframe}")
    return chain


def run(args: argparse.Namespace) -> int:
    from engine.signals.ensemble import EnsembleSettings
    from engine.signals.evidence import fit_signal_model
    from engine.signals.outcomes import feature_names
    from workstation.cli import CliError

    settings = load_settings()
    if (args.csv is None) == (not args.symbol):
        raise CliError("give either a SYMBOL (with --feed db|demo) or --csv FILE")
    ensemble = EnsembleSettings.from_mapping(settings.section("signals"))
    horizon = args.horizon if args.horizon is not None else ensemble.horizon_bars
    if horizon < 1:
        raise CliError(f"--horizon must be at least 1 bar, got {horizon}")
    if args.min_train < 1 or args.block < 1:
        raise CliError("--min-train and --block must be at least 1")
    if args.csv is not None:
        bars, timeframe = _file_bars(args.csv)
        source = args.csv
    else:
        bars, timeframe = _feed_bars(args, settings, ensemble)
        source = f"{args.feed}:{args.symbol}"
    higher = _higher(args, timeframe)
    try:
        model = fit_signal_model(
            bars,
            timeframe or "",
            horizon,
            ensemble,
            higher,
            min_train=args.min_train,
            block=args.block,
        )
    except ValueError as exc:
        raise CliError(f"{source}: {exc}") from exc
    report = model.report
    gate = report["gate"]
    out = report | {
        "source": source,
        "timeframe": timeframe,
        "higher": list(higher),
        "bars": bars.height,
        "features": list(feature_names(higher)),
        "signals_per_1000_bars": report["open"]["per_1000_bars"],
    }
    if args.json:
        print(json.dumps(out, allow_nan=False))
        return 0
    calibration = model.calibration
    assert calibration is not None  # just fitted
    context = f", {'/'.join(higher)} context" if higher else ""
    print(
        f"{source}: {bars.height:,} {timeframe or 'unspaced'} bars{context}; P(up in {horizon}"
        f" bars) walk-forward, {calibration.n:,} bars scored out of sample in"
        f" {report['fits']} fits"
    )
    print()
    for line in calibration.table():
        print(f"  {line}")
    print()
    shown_skill = "n/a" if out["skill"] is None else f"{calibration.skill:+.4f}"
    print(
        f"Brier {calibration.brier:.4f}, base rate forecast {calibration.brier_base:.4f}"
        f" (training base rate {calibration.base_rate:.3f}), skill {shown_skill},"
        f" ECE {calibration.ece:.4f}"
    )
    print(f"{out['within_003_of_base']:.0%} of the probabilities are within 0.03 of the base rate")
    opened = report["open"]
    if opened["n"]:
        print(
            f"At or above the {opened['gate']:.0%} open threshold: {opened['n']:,} signals"
            f" ({opened['per_1000_bars']:.1f} per 1,000 bars), {opened['hit_rate']:.1%} right"
        )
    if gate["n"]:
        print(
            f"At or above the {gate['gate']:.0%} gate: {gate['n']:,} signals"
            f" ({gate['per_1000_bars']:.1f} per 1,000 bars), {gate['hit_rate']:.1%} right"
            f" (95% {gate['low']:.1%}-{gate['high']:.1%})"
        )
    else:
        print(
            f"Nothing reaches the {gate['gate']:.0%} gate: this market offers no edge that"
            " strong out of sample"
        )
    return 0
