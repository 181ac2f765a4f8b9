"""``qws backtest``: run a strategy over stored, demo or file bars; optionally walk-forward."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workstation.cli import CliError

DEFAULT_DEMO_BARS = 5_000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backtest",
        help="backtest a strategy (backtesting.py semantics), optionally walk-forward",
        description="Bars come from --csv FILE (CSV/Parquet), or the store for --symbol/"
        "--timeframe (falling back to the demo feed's history for demo symbols). Orders fill at"
        " the next bar's open; commission is charged on entry and exit.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--csv", type=Path, help="OHLCV file (CSV or Parquet)")
    src.add_argument("--symbol", help="symbol in the store (or a demo symbol)")
    p.add_argument("--timeframe", help="bar size with --symbol, e.g. 1m 1h 1d")
    p.add_argument("--venue", default=None, help="venue of stored bars (default: any)")
    p.add_argument(
        "--bars",
        type=int,
        default=DEFAULT_DEMO_BARS,
        help=f"demo history length (default {DEFAULT_DEMO_BARS})",
    )
    p.add_argument("--strategy", required=True, help="strategy name (see qws strategies list)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="K=V",
        help="strategy parameter (repeatable)",
    )
    p.add_argument(
        "--cash", type=float, default=None, help="starting cash (default: backtest.cash)"
    )
    p.add_argument(
        "--commission",
        type=float,
        default=None,
        help="fraction of traded value, charged on entry and on exit (default:"
        " backtest.commission)",
    )
    p.add_argument("--spread", type=float, default=0.0, help="relative spread paid on entry")
    p.add_argument("--slippage", type=float, default=0.0, help="adverse price per fill")
    p.add_argument(
        "--slippage-atr", type=float, default=0.0, help="adverse slippage as a fraction of ATR(14)"
    )
    p.add_argument("--margin", type=float, default=1.0, help="margin ratio (0.1 = 10x)")
    p.add_argument(
        "--lot",
        type=float,
        default=None,
        help="smallest tradable quantity (default: backtest.lot; its default 0 is the"
        " instrument's lot size where the store or the demo feed knows it, else 1 unit;"
        " e.g. 0.0001 for BTC)",
    )
    p.add_argument(
        "--trade-on-close", action="store_true", help="fill market orders at the signal bar's close"
    )
    p.add_argument("--hedging", action="store_true", help="allow long and short trades at once")
    p.add_argument(
        "--exclusive", action="store_true", help="each new order closes the open position first"
    )
    p.add_argument("--long-only", action="store_true", help="never open short trades")
    p.add_argument(
        "--finalize",
        action="store_true",
        help="close trades still open at the end (and count them)",
    )
    p.add_argument(
        "--walk-forward",
        metavar="TRAIN:TEST",
        help="rolling walk-forward: choose params on TRAIN bars, test on the next TEST",
    )
    p.add_argument(
        "--optimize",
        action="append",
        default=[],
        metavar="NAME=START:STOP:STEP",
        help="sweep a parameter over a range (the stop included) or a list (NAME=A,B,C);"
        " repeatable: every combination is backtested, batched where the strategy is"
        " vectorised, and shown as a heatmap of --metric and the --top best (--param fixes"
        " the others)",
    )
    p.add_argument(
        "--top", type=int, default=None, help="with --optimize: the best N shown (default 10)"
    )
    p.add_argument(
        "--metric",
        default="sharpe",
        help="what --walk-forward chooses by and --optimize ranks by (higher is better):"
        " sharpe, return_pct, sortino, calmar, profit_factor or expectancy_pct",
    )
    p.add_argument("--search", choices=("grid", "random"), default="grid")
    p.add_argument("--max-evals", type=int, default=50, help="parameter sets per window")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="most processes for walk-forward (default: CPU count); a pool is started only"
        " when the jobs left after timing the first few would take over 0.3 s of CPU here"
        " (5 s where processes are spawned), else all run in this process; 1 never starts"
        " one. With --optimize: the most threads. The results are the same either way",
    )
    p.add_argument(
        "--accuracy",
        action="store_true",
        help="signal accuracy report (hit rate at 1/5/20 bars, binomial p-values)",
    )
    p.add_argument(
        "--attribution",
        action="store_true",
        help="split the final P&L (final equity - cash) by side (long/short trades) and into"
        " market (the exposure held times the bars' close-to-close move: beta 1 to the"
        " instrument itself, or to --benchmark), rest (timing: the fills against the closes),"
        " slippage and spread (against the price before them) and commission; it adds up to"
        " the cent",
    )
    p.add_argument(
        "--benchmark",
        metavar="FILE|SYMBOL",
        help="with --attribution: the market's benchmark, an OHLCV file or a symbol's bars at"
        " --timeframe (store, or demo); its returns over the bars both have, times the beta"
        " from them",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--report",
        type=Path,
        metavar="FILE.html",
        help="also write an interactive HTML report (one file that opens offline): candles with"
        " the trades, the strategy's indicators, equity, drawdown, stats and trades; with"
        " --walk-forward the out-of-sample trades and each window's in-sample next to its"
        " out-of-sample curve",
    )
    p.add_argument("--plot", action="store_true", help="draw the equity curve in the terminal")
    p.set_defaults(func=cmd_backtest)


def parse_params(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--param must look like name=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def load_bars(args: argparse.Namespace) -> tuple[Any, str, str, float | None]:
    """(bars, symbol, timeframe, the instrument's lot size or None) from the file, the store
    or the demo feed."""
    if args.csv is not None:
        from feeds.ohlcv_file import OhlcvFileError, read_ohlcv

        try:
            result = read_ohlcv(args.csv)
        except OhlcvFileError as exc:
            raise CliError(str(exc)) from exc
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
        return result.frame, args.csv.stem, args.timeframe or "", None
    if not args.timeframe:
        raise CliError("--symbol needs --timeframe (e.g. --timeframe 1h)")
    from engine.timeframes import TimeframeError, parse

    try:
        tf = str(parse(args.timeframe))
    except TimeframeError as exc:
        raise CliError(str(exc)) from exc
    from workstation.cli.common import db_path, open_store

    if db_path(args).exists():
        store = open_store(args)
        try:
            frame = store.candles.between(args.symbol, tf, venue=args.venue)
            venue = args.venue or store.instruments.venue_of(args.symbol)
            instrument = None if venue is None else store.instruments.get(args.symbol, venue)
        finally:
            store.close()
        if frame.height:
            lot = None if instrument is None else float(instrument.lot_size)
            return frame, args.symbol, tf, lot
    from feeds.demo import DEMO_INSTRUMENTS, DemoFeed

    if args.symbol not in DEMO_INSTRUMENTS:
        raise CliError(
            f"no stored {tf} bars for {args.symbol}: load some with `qws import FILE --symbol "
            f"{args.symbol} --timeframe {tf}` or `qws fetch`, or use --csv FILE"
        )
    import asyncio

    from workstation.cli.common import load_settings

    seed = int(load_settings().get("demo.seed", 7))
    print(
        f"note: no stored bars for {args.symbol} {tf}; using {args.bars} demo bars", file=sys.stderr
    )
    feed = DemoFeed(seed=seed)
    frame = asyncio.run(feed.history(args.symbol, tf, limit=args.bars))
    return frame, args.symbol, tf, float(feed.instrument(args.symbol).lot_size)


def _config(args: argparse.Namespace, instrument_lot: float | None) -> Any:
    """The options given, the others from the ``[backtest]`` settings (as the screen's)."""
    from engine.backtest.backtester import BacktestConfig, BacktestError
    from workstation.cli.common import load_settings
    from workstation.runtime.config import BacktestDefaults, ConfigError

    try:
        defaults = BacktestDefaults.of(load_settings())
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    try:
        return BacktestConfig(
            cash=defaults.cash if args.cash is None else args.cash,
            commission=defaults.commission if args.commission is None else args.commission,
            spread=args.spread,
            slippage=args.slippage,
            slippage_atr=args.slippage_atr,
            margin=args.margin,
            lot=defaults.lot_for(instrument_lot) if args.lot is None else args.lot,
            trade_on_close=args.trade_on_close,
            hedging=args.hedging,
            exclusive_orders=args.exclusive,
            allow_short=not args.long_only,
            finalize_trades=args.finalize,
        )
    except BacktestError as exc:
        raise CliError(str(exc)) from exc


def cmd_backtest(args: argparse.Namespace) -> int:
    from engine.backtest.backtester import BacktestError, run_backtest
    from engine.strategy import StrategyError
    from workstation.strategies.discovery import StrategyNotFound, get

    if args.optimize:
        _check_optimize(args)
    elif args.top is not None:
        raise CliError("--top goes with --optimize")
    if args.benchmark and not args.attribution:
        raise CliError("--benchmark goes with --attribution")
    if args.attribution and args.walk_forward:
        raise CliError("--attribution is for one backtest, not --walk-forward")
    params = parse_params(args.param)
    try:
        cls = get(args.strategy)
        if args.optimize:
            fixed = cls.coerce_params(params)
        else:
            strategy = cls(**params)
    except (StrategyNotFound, StrategyError) as exc:
        raise CliError(str(exc)) from exc
    if args.report is not None:
        _check_report(args.report)
    bars, symbol, tf, instrument_lot = load_bars(args)
    config = _config(args, instrument_lot)
    if args.optimize:
        source = str(args.csv) if args.csv is not None else f"{symbol} {tf}"
        return _optimize(args, cls, fixed, bars, config, source)
    if args.walk_forward:
        return _walk_forward(args, cls, params, bars, config, symbol, tf)
    try:
        result = run_backtest(strategy, bars, config, symbol=symbol)
    except (BacktestError, StrategyError) as exc:
        raise CliError(str(exc)) from exc
    report = result.to_dict()
    if args.accuracy:
        report["accuracy"] = _accuracy(strategy, bars)
    attribution = _attribution(args, result, bars, symbol, tf) if args.attribution else None
    if attribution is not None:
        report["attribution"] = attribution[1]

    def write_report() -> None:
        from workstation.reports.backtest import backtest_report

        title = f"{_described(result.strategy, result.params)} on {symbol} {tf}".rstrip()
        layout = backtest_report(result, bars, symbol=symbol, title=title)
        _write_report(layout, args.report, title, args.json)

    if args.json:
        if args.report is not None:
            write_report()
        print(json.dumps(report, default=str))
        return 0
    _print_stats(result, symbol)
    if args.accuracy:
        _print_accuracy(report["accuracy"])
    if attribution is not None:
        print("\n".join(attribution[0]))
    if args.plot:
        from workstation.cli.textplot import line_chart

        print(line_chart(result.equity, title="equity"))
    if args.report is not None:
        write_report()
    return 0


def _attribution(
    args: argparse.Namespace, result: Any, bars: Any, symbol: str, timeframe: str
) -> tuple[list[str], dict[str, Any]]:
    """The attribution's text lines and its JSON (every figure exact, as strings)."""
    from engine.model import to_decimal
    from engine.trading.attribution import bar_attribution, summarise
    from workstation.trading.attribution_report import attribution_json, exact, notes, tables

    bench = None
    label = f"{symbol} itself (beta 1)"
    if args.benchmark:
        frame = _benchmark_bars(args, timeframe)
        bench = (frame["ts"].to_numpy(), frame["close"].to_numpy())
        label = args.benchmark
    final = to_decimal(float(result.equity[-1])) - to_decimal(float(result.config.cash))
    fills = {c: result.fills[c].to_numpy() for c in result.fills.columns}
    book, beta = bar_attribution(
        result.strategy,
        symbol,
        bars["ts"].to_numpy(),
        bars["close"].to_numpy(),
        fills,
        final,
        bench,
    )
    att = summarise([book])
    said = [
        f"market: the exposure held at each close * the next close-to-close return of {label}"
        + ("" if beta is None or bench is None else f" * beta {beta:.4g}")
        + "; rest: timing (the fills against the closes, at the prices before slippage)",
        "net = realised + unrealised - fees = market + rest - slippage - fees; slippage (and"
        " spread) is inside realised and unrealised, shown apart; fees: every commission"
        " charged, also on trades still open (the stats' Fees count closed trades)",
        "each trade is its own book: a side is the side of a trade",
    ]
    if beta is None:
        said.append(f"no market figure: too few bars beside {label}'s; all of it is in rest")
    if book.written_off:
        said.append(
            "written off: the equity hit zero and the backtest stopped; the loss beyond the"
            f" cash is not counted ({exact(book.written_off)})"
        )
    lines = [
        "",
        f"P&L attribution (final equity - cash = {final:,.2f})",
        "",
        *tables(att, 2, {symbol: beta}),
        "",
        *notes(said),
    ]
    data = {
        **attribution_json(att),
        "final_pnl": exact(final),
        "benchmark": label,
        "beta": None if beta is None else repr(beta),
    }
    return lines, data


def _benchmark_bars(args: argparse.Namespace, timeframe: str) -> Any:
    """The --benchmark bars: a file, else a symbol's bars at the backtest's timeframe."""
    path = Path(args.benchmark)
    if path.exists():
        from feeds.ohlcv_file import OhlcvFileError, read_ohlcv

        try:
            return read_ohlcv(path).frame
        except OhlcvFileError as exc:
            raise CliError(f"--benchmark: {exc}") from exc
    if not timeframe:
        raise CliError(
            f"--benchmark {args.benchmark}: no such file; a symbol's bars need --timeframe"
        )
    other = argparse.Namespace(**{**vars(args), "csv": None, "symbol": args.benchmark})
    other.timeframe = timeframe
    return load_bars(other)[0]


def _accuracy(strategy: Any, bars: Any) -> list[dict[str, Any]]:
    from dataclasses import asdict

    from engine.backtest.accuracy import signal_accuracy
    from engine.strategy import Indicators

    cols = {c: bars[c].to_numpy() for c in ("open", "high", "low", "close", "volume")}
    vec = strategy.vectorized(bars, Indicators(cols, lambda: bars.height - 1))
    if vec is None:
        raise CliError(
            f"--accuracy needs a strategy with vectorized signals; {strategy.name} has only on_bar"
        )
    direction = vec.side if vec.direction is None else vec.direction
    rows = signal_accuracy(cols["close"], direction, vec.confidence)
    return [asdict(r) for r in rows]


def _fmt(value: Any, reason: str | None = None) -> str:
    """A statistic for the table; one without a value is ``n/a`` and why, never ``nan``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return f"n/a ({reason})" if reason else "n/a"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
    return str(value)


def _print_stats(result: Any, symbol: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from engine.backtest.performance import STAT_LABELS, UNDEFINED

    params = ", ".join(f"{k}={v}" for k, v in result.params.items())
    table = Table(
        title=f"{result.strategy}({params}) on {symbol}",
        caption=result.config.describe(),
        show_header=False,
    )
    table.add_column("stat")
    table.add_column("value", justify="right")
    undefined = result.stats.get(UNDEFINED, {})
    for key, label in STAT_LABELS.items():
        if key in ("start", "end"):
            continue
        table.add_row(label, _fmt(result.stats.get(key), undefined.get(key)))
    console = Console()
    console.print(table)
    if result.open_trades.height:
        console.print(
            f"{result.open_trades.height} trade(s) still open at the end (not counted;"
            " --finalize closes them)"
        )
    if result.cancelled_orders:
        console.print(f"{result.cancelled_orders} order(s) cancelled for lack of margin")
        if not result.stats["trades"]:
            console.print(
                "hint: if one unit costs more than the cash, trade fractions with"
                " --lot (e.g. --lot 0.001)"
            )


def _print_accuracy(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="signal accuracy (one-sided binomial p-values)")
    for col in (
        "horizon",
        "confidence",
        "signals",
        "hit rate",
        "base rate",
        "p vs 50%",
        "p vs base",
    ):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r["horizon"]),
            f"{r['conf_low']:.1f}–{r['conf_high']:.1f}",
            str(r["signals"]),
            f"{r['hit_rate']:.1%}",
            f"{r['base_rate']:.1%}",
            f"{r['p_vs_half']:.3g}",
            f"{r['p_vs_base']:.3g}",
        )
    Console().print(table)


def _check_report(path: Path) -> None:
    from workstation.reports.html import ReportError, check_target

    try:
        check_target(path)
    except ReportError as exc:
        raise CliError(f"--report: {exc}") from exc


def _write_report(layout: Any, path: Path, title: str, to_stderr: bool) -> None:
    """Write the report; ``report written: PATH`` on stdout, or on stderr beside --json."""
    from workstation.reports.html import ReportError, write_html

    try:
        written = write_html(layout, path, title)
    except (ReportError, OSError) as exc:
        raise CliError(f"--report: cannot write it: {exc}") from exc
    print(f"report written: {written}", file=sys.stderr if to_stderr else sys.stdout)


def _described(strategy: str, params: dict[str, Any]) -> str:
    return f"{strategy}({', '.join(f'{k}={v}' for k, v in params.items())})"


def _check_optimize(args: argparse.Namespace) -> None:
    """Refuse what does not go with a sweep, before any bars are loaded."""
    from engine.backtest.sweep import METRICS

    if args.walk_forward:
        raise CliError(
            "--optimize does not go with --walk-forward: a walk-forward searches the parameters"
            " itself, on each train window (--param fixes the others); use one or the other"
        )
    if args.report is not None:
        raise CliError("--optimize does not go with --report: a report draws one backtest")
    for option, given in (
        ("--attribution", args.attribution),
        ("--accuracy", args.accuracy),
        ("--plot", args.plot),
    ):
        if given:
            raise CliError(f"--optimize does not go with {option}: {option} is for one backtest")
    if args.metric not in METRICS:
        raise CliError(
            f"--metric {args.metric!r} cannot rank a sweep; use one of {', '.join(METRICS)}"
        )
    if args.top is not None and args.top < 1:
        raise CliError(f"--top must be at least 1, got {args.top}")


def _optimize(
    args: argparse.Namespace,
    cls: Any,
    fixed: dict[str, Any],
    bars: Any,
    config: Any,
    source: str,
) -> int:
    """``--optimize``: every combination of the axes, a heatmap and the best (or --json)."""
    import time

    from engine.backtest.backtester import BacktestError, json_value
    from engine.backtest.sweep import SweepError, parse_axis, sweep
    from engine.strategy import StrategyError

    axes: dict[str, list[Any]] = {}
    try:
        for text in args.optimize:
            name, values = parse_axis(text)
            if name in axes:
                raise SweepError(f"{name}: --optimize gives it twice")
            axes[name] = values
        started = time.perf_counter()
        with _progress("sweep", args.json) as progress:
            result = sweep(cls, bars, axes, config, metric=args.metric, fixed=fixed,
                           threads=args.workers, progress=progress)  # fmt: skip
        elapsed = time.perf_counter() - started
    except (SweepError, BacktestError, StrategyError) as exc:
        raise CliError(str(exc)) from exc
    if args.json:
        used = {"cash": config.cash, "lot": config.lot, "commission": config.commission}
        report = {
            "strategy": result.strategy,
            "metric": result.metric,
            "axes": result.axes,
            "bars": result.bars,
            "batched": result.batched,
            "config": used,
            "skipped": [{"params": p, "reason": why} for p, why in result.skipped],
            "results": [
                {"params": r.params, "stats": {k: json_value(v) for k, v in r.stats.items()}}
                for r in result.runs
            ],
        }
        print(json.dumps(report, default=str))
        return 0
    from workstation.cli import sweep_view

    lines = [
        *sweep_view.header(result, source, elapsed),
        config.describe(),
        "",
        *sweep_view.heatmap(result, colour=sys.stdout.isatty()),
        "",
        *sweep_view.top_table(result, 10 if args.top is None else args.top),
    ]
    print("\n".join(lines))
    return 0


@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A transient progress bar on stderr, when it is a terminal and not ``quiet`` (--json):
    the ``progress(done, total)`` callback to hand the long job, else None."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _walk_forward(
    args: argparse.Namespace,
    cls: Any,
    params: dict[str, str],
    bars: Any,
    config: Any,
    symbol: str,
    timeframe: str,
) -> int:
    from engine.backtest.walkforward import AutoPool, WalkForwardError, parse_spec, walk_forward

    try:
        train, test = parse_spec(args.walk_forward)
    except WalkForwardError as exc:
        raise CliError(str(exc)) from exc
    fixed = cls.coerce_params(params)

    def run(map_fn: Any, progress: Any) -> Any:
        return walk_forward(
            cls,
            bars,
            train,
            test,
            config,
            metric=args.metric,
            search=args.search,
            max_evals=args.max_evals,
            fixed=fixed,
            map_fn=map_fn,
            progress=progress,
        )

    try:
        with (
            AutoPool(args.workers or None) as pool_map,
            _progress("walk-forward", args.json) as progress,
        ):
            result = run(pool_map, progress)
    except WalkForwardError as exc:
        raise CliError(str(exc)) from exc
    if args.report is not None:
        from engine.backtest.walkforward import window_runs
        from workstation.reports.backtest import walk_forward_report

        title = f"walk-forward {cls.name} {args.walk_forward} on {symbol} {timeframe}".rstrip()
        runs = window_runs(cls, bars, result, config)
        layout = walk_forward_report(result, runs, bars, symbol=symbol, title=title)
        _write_report(layout, args.report, title, args.json)
    if args.json:
        used = {"cash": config.cash, "lot": config.lot, "commission": config.commission}
        print(json.dumps({"walk_forward": result.to_dict(), "config": used}, default=str))
        return 0
    _print_walk_forward(result)
    print(config.describe())
    return 0


def _print_walk_forward(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    metric = result.metric
    table = Table(title=f"walk-forward windows (chosen by {metric})")
    for col in (
        "#",
        "train bars",
        "test bars",
        "params",
        f"IS {metric}",
        f"OOS {metric}",
        "IS return %",
        "OOS return %",
        "OOS trades",
    ):
        table.add_column(col)
    for w in result.windows:
        table.add_row(
            str(w.window.index),
            f"{w.window.train_start}–{w.window.train_end}",
            f"{w.window.test_start}–{w.window.test_end}",
            ", ".join(f"{k}={v}" for k, v in w.params.items()),
            _fmt(w.in_sample.get(metric)),
            _fmt(w.out_of_sample.get(metric)),
            _fmt(w.in_sample.get("return_pct")),
            _fmt(w.out_of_sample.get("return_pct")),
            _fmt(w.out_of_sample.get("trades")),
        )
    summary = Table(title="in-sample vs out-of-sample (mean over windows)")
    for col in ("", "in-sample", "out-of-sample"):
        summary.add_column(col, justify="right")
    for key, row in result.summary.items():
        summary.add_row(key, _fmt(row["in_sample"]), _fmt(row["out_of_sample"]))
    console = Console()
    console.print(table)
    console.print(summary)
