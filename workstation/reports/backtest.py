"""The report of a backtest (``qws backtest --report``, the backtest screen's "save report") and
of a walk-forward (``--walk-forward ... --report``).

The price chart is drawn on bar numbers with each bar's date as its label (one candle per bar,
the ``candles`` source), so a weekend or a gap between sessions leaves no hole; the trades are
marked where they filled (the ``entries`` and ``exits`` sources, one row per closed trade each;
a long entry is an up triangle, a short one a down triangle). Over the candles go the
indicators in price units the strategy asked for (SMA, EMA, Bollinger, VWAP), in panes below
the others (RSI, MACD, ATR, ADX, stochastic ...), then the equity and the drawdown, all on the
price chart's x range. A walk-forward report marks the out-of-sample trades of every window,
chains the windows' out-of-sample equity, and draws each window's in-sample curve (its chosen
parameters on its training bars) next to its out-of-sample one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from bokeh.layouts import row
from bokeh.models import ColumnDataSource, CustomJS, HoverTool, Range1d
from bokeh.models.annotations import Legend

from engine.backtest.backtester import BacktestResult
from engine.backtest.performance import STAT_LABELS, UNDEFINED, drawdown_curve
from engine.backtest.walkforward import SUMMARY_KEYS, WalkForwardResult, WindowRuns
from engine.strategy.context import IndicatorSeries
from engine.timeframes import format_utc
from workstation.reports.html import (
    ACCENT,
    DOWN,
    LINES,
    TEXT,
    UP,
    bar_range,
    cell,
    drawdown_figure,
    equity_figure,
    heading,
    new_figure,
    note,
    page,
    stats_table,
    table,
    time_hover,
)

PRICE_SCALE = frozenset({"sma", "ema", "bollinger", "vwap"})
"""The indicators of ``engine.signals.indicators`` in the units of their input prices."""
PRICES = frozenset({"open", "high", "low", "close"})
OUTPUTS = {
    "macd": ("macd", "signal", "histogram"),
    "bollinger": ("upper", "middle", "lower"),
    "stochastic": ("%K", "%D"),
}
"""The names of the outputs of the indicators that have several."""
PRICE_FORMAT = "{0,0.00[000000]}"
TRADE_COLUMNS = {
    "trade": "#",
    "side": "side",
    "entry": "entry time",
    "exit": "exit time",
    "size": "size",
    "entry_price": "entry price",
    "exit_price": "exit price",
    "pnl": "P&L",
    "return_pct": "return %",
    "fees": "fees",
    "bars": "bars held",
}


def is_price_scale(series: IndicatorSeries) -> bool:
    """Whether ``series`` is drawn over the candles (prices in, prices out)."""
    return series.name in PRICE_SCALE and set(series.inputs) <= PRICES


def backtest_report(result: BacktestResult, bars: pl.DataFrame, *, symbol: str, title: str) -> Any:
    """The report of one backtest of ``bars`` (the frame it ran on)."""
    ts = bars["ts"].cast(pl.Int64).to_numpy()
    labels = format_utc(ts)
    x = np.arange(len(ts))
    price, x_range = _price_chart(bars, labels, result.trades, symbol)
    _overlays(price, x, [s for s in result.indicators if is_price_scale(s)])
    panes = [
        _pane(s, x, labels, x_range, k)
        for k, s in enumerate(s for s in result.indicators if not is_price_scale(s))
    ]
    equity = equity_figure(x, result.equity, labels, labels=labels, x_range=x_range)
    drawdown = drawdown_figure(x, result.drawdown, labels, labels=labels, x_range=x_range)
    params = ", ".join(f"{k}={v}" for k, v in result.params.items())
    said = [result.config.describe()] if result.config is not None else []
    if result.open_trades.height:
        said.append(f"{result.open_trades.height} trade(s) still open at the end (not counted)")
    if result.cancelled_orders:
        said.append(f"{result.cancelled_orders} order(s) cancelled for lack of margin")
    return page(
        heading(title),
        note(f"{result.strategy}({params}) on {symbol}, {len(ts):,} bars · " + " · ".join(said)),
        price,
        *panes,
        equity,
        drawdown,
        heading("statistics", size="1.1em"),
        row(
            stats_table(stat_rows(result.stats)),
            _trades_table(result.trades, labels),
            sizing_mode="stretch_width",
        ),
    )


def walk_forward_report(
    result: WalkForwardResult,
    runs: Sequence[WindowRuns],
    bars: pl.DataFrame,
    *,
    symbol: str,
    title: str,
) -> Any:
    """The report of a walk-forward over ``bars``, with each window's backtests ``runs``
    (:func:`engine.backtest.walkforward.window_runs`)."""
    ts = bars["ts"].cast(pl.Int64).to_numpy()
    labels = format_utc(ts)
    oos = [
        r.out_of_sample.trades.with_columns(
            pl.col("entry_bar") + (r.window.test_start - r.test_offset),
            pl.col("exit_bar") + (r.window.test_start - r.test_offset),
        )
        for r in runs
        if r.out_of_sample is not None
    ]
    trades = pl.concat(oos) if oos else _no_trades()
    price, x_range = _price_chart(bars, labels, trades, symbol)
    chained = _chained(runs, len(ts))
    start = next((r.window.test_start for r in runs), 0)
    tested = np.flatnonzero(np.isfinite(chained))
    when = [labels[int(i)] for i in tested]
    equity = equity_figure(
        tested,
        chained[tested],
        when,
        title="out-of-sample equity, windows chained",
        labels=labels,
        x_range=x_range,
    )
    dd = drawdown_curve(chained[tested]) if len(tested) else np.zeros(0)
    drawdown = drawdown_figure(tested, dd, when, labels=labels, x_range=x_range)
    metric = result.metric
    windows = table(
        {
            "window": [str(w.window.index) for w in result.windows],
            "train": [
                f"{labels[w.window.train_start]} – {labels[w.window.train_end - 1]}"
                for w in result.windows
            ],
            "test": [
                f"{labels[w.window.test_start]} – {labels[w.window.test_end - 1]}"
                for w in result.windows
            ],
            "params": [", ".join(f"{k}={v}" for k, v in w.params.items()) for w in result.windows],
            "is_metric": [cell(w.in_sample.get(metric)) for w in result.windows],
            "oos_metric": [cell(w.out_of_sample.get(metric)) for w in result.windows],
            "is_return": [cell(w.in_sample.get("return_pct")) for w in result.windows],
            "oos_return": [cell(w.out_of_sample.get("return_pct")) for w in result.windows],
            "oos_trades": [cell(w.out_of_sample.get("trades")) for w in result.windows],
        },
        name="windows",
        titles={
            "is_metric": f"IS {metric}",
            "oos_metric": f"OOS {metric}",
            "is_return": "IS return %",
            "oos_return": "OOS return %",
            "oos_trades": "OOS trades",
        },
        height=min(28 * len(result.windows) + 32, 400),
    )
    summary = table(
        {
            "stat": list(result.summary),
            "in_sample": [cell(v["in_sample"]) for v in result.summary.values()],
            "out_of_sample": [cell(v["out_of_sample"]) for v in result.summary.values()],
        },
        name="summary",
        titles={
            "stat": "mean over windows",
            "in_sample": "in-sample",
            "out_of_sample": "out-of-sample",
        },
        width=520,
        height=28 * (len(SUMMARY_KEYS) + 1) + 32,
    )
    curves = [_window_curves(r, labels) for r in runs]
    return page(
        heading(title),
        note(
            f"walk-forward on {symbol}: {len(result.windows)} windows, parameters chosen by"
            f" {metric}; out-of-sample trades from bar {start:,} ({labels[start]}) on"
        ),
        price,
        equity,
        drawdown,
        heading("windows", size="1.1em"),
        windows,
        summary,
        heading("each window's in-sample next to its out-of-sample return %", size="1.1em"),
        *curves,
    )


def stat_rows(stats: dict[str, Any]) -> list[tuple[str, str]]:
    """The statistics as (label, text); one without a value says why."""
    undefined = stats.get(UNDEFINED, {})
    rows = []
    for key, label in STAT_LABELS.items():
        value = stats.get(key)
        if key in ("start", "end") and value is not None:
            rows.append((label.replace(" (ts ns)", ""), format_utc([int(value)])[0]))
            continue
        text = cell(value)
        if text == "n/a" and undefined.get(key):
            text = f"n/a ({undefined[key]})"
        rows.append((label, text))
    return rows


# -- the price chart ----------------------------------------------------------------------------
def _price_chart(
    bars: pl.DataFrame, labels: Sequence[str], trades: pl.DataFrame, symbol: str
) -> tuple[Any, Any]:
    n = bars.height
    x_range = bar_range(n)
    fig = new_figure(symbol, 420, x_range=x_range, labels=labels)
    o, h, lo, c = (bars[k].cast(pl.Float64).to_numpy() for k in ("open", "high", "low", "close"))
    volume = bars["volume"].cast(pl.Float64).to_numpy() if "volume" in bars.columns else np.zeros(n)
    candles = ColumnDataSource(
        {
            "x": np.arange(n),
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume": volume,
            "when": list(labels),
            "color": np.where(c >= o, UP, DOWN),
        },
        name="candles",
    )
    fig.segment("x", "high", "x", "low", source=candles, color="color")
    body = fig.vbar(
        "x", 0.7, "open", "close", source=candles, fill_color="color", line_color="color"
    )
    time_hover(
        fig,
        body,
        [
            ("open", f"@open{PRICE_FORMAT}"),
            ("high", f"@high{PRICE_FORMAT}"),
            ("low", f"@low{PRICE_FORMAT}"),
            ("close", f"@close{PRICE_FORMAT}"),
            ("volume", "@volume{0,0.[00]}"),
        ],
    )
    _trades(fig, trades, labels)
    _follow_visible_bars(fig, x_range, candles, h, lo)
    return fig, x_range


# Rescales the price axis to the lows and highs of the bars in view whenever the x range moves,
# as a charting terminal does: zoomed into a month, the candles fill the chart, not a sliver.
_FOLLOW = """
const high = candles.data.high, low = candles.data.low;
const i0 = Math.max(0, Math.floor(x.start)), i1 = Math.min(high.length - 1, Math.ceil(x.end));
let lo = Infinity, hi = -Infinity;
for (let i = i0; i <= i1; i++) {
  if (low[i] < lo) lo = low[i];
  if (high[i] > hi) hi = high[i];
}
if (hi >= lo && isFinite(lo) && isFinite(hi)) {
  const pad = Math.max((hi - lo) * 0.05, Math.abs(hi) * 1e-6);
  y.start = lo - pad;
  y.end = hi + pad;
}
"""


def _follow_visible_bars(
    fig: Any, x_range: Range1d, candles: ColumnDataSource, high: np.ndarray, low: np.ndarray
) -> None:
    """The price axis spans the bars in view (all of them at first), and follows the x range."""
    finite = np.isfinite(low) & np.isfinite(high)
    if not finite.any():
        return
    lo, hi = float(low[finite].min()), float(high[finite].max())
    pad = max((hi - lo) * 0.05, abs(hi) * 1e-6)
    fig.y_range = Range1d(start=lo - pad, end=hi + pad, name="price_range")
    x_range.name = "bar_range"
    callback = CustomJS(args={"candles": candles, "x": x_range, "y": fig.y_range}, code=_FOLLOW)
    x_range.js_on_change("start", callback)
    x_range.js_on_change("end", callback)


def _trades(fig: Any, trades: pl.DataFrame, labels: Sequence[str]) -> None:
    size = trades["size"].to_numpy()
    long = size > 0
    side = np.where(long, "long", "short")
    number = np.arange(1, len(size) + 1)
    pnl = trades["pnl"].to_numpy()
    common = {
        "trade": number,
        "side": side,
        "size": np.abs(size),
        "pnl": pnl,
        "return_pct": trades["return_pct"].to_numpy(),
    }
    entry_bar = trades["entry_bar"].to_numpy()
    exit_bar = trades["exit_bar"].to_numpy()
    entries = ColumnDataSource(
        {
            **common,
            "x": entry_bar,
            "price": trades["entry_price"].to_numpy(),
            "when": [labels[i] for i in entry_bar],
            "marker": np.where(long, "triangle", "inverted_triangle"),
            "color": np.where(long, UP, DOWN),
        },
        name="entries",
    )
    exits = ColumnDataSource(
        {
            **common,
            "x": exit_bar,
            "price": trades["exit_price"].to_numpy(),
            "when": [labels[i] for i in exit_bar],
            "color": np.where(long, UP, DOWN),
        },
        name="exits",
    )
    lines = ColumnDataSource(
        {
            "x0": entry_bar,
            "y0": trades["entry_price"].to_numpy(),
            "x1": exit_bar,
            "y1": trades["exit_price"].to_numpy(),
            "color": np.where(pnl >= 0, UP, DOWN),
        },
        name="trade_lines",
    )
    fig.segment(
        "x0",
        "y0",
        "x1",
        "y1",
        source=lines,
        color="color",
        line_dash="dashed",
        line_width=1.2,
        alpha=0.8,
    )
    shown = fig.scatter(
        "x",
        "price",
        source=entries,
        marker="marker",
        size=11,
        fill_color="color",
        line_color="#ffffff",
        line_width=0.6,
        legend_label="entry",
    )
    out = fig.scatter(
        "x",
        "price",
        source=exits,
        marker="x",
        size=10,
        line_color="color",
        line_width=2,
        legend_label="exit",
    )
    tooltips = [
        ("trade", "#@trade @side"),
        ("time", "@when"),
        ("price", f"@price{PRICE_FORMAT}"),
        ("size", "@size{0,0.[00000000]}"),
        ("P&L", "@pnl{0,0.00}"),
        ("return", "@return_pct{0.00}%"),
    ]
    fig.add_tools(HoverTool(renderers=[shown, out], tooltips=tooltips))
    fig.legend.location = "top_left"
    fig.legend.click_policy = "hide"


def _no_trades() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "size": pl.Float64,
            "entry_bar": pl.Int64,
            "exit_bar": pl.Int64,
            "entry_price": pl.Float64,
            "exit_price": pl.Float64,
            "pnl": pl.Float64,
            "return_pct": pl.Float64,
            "fees": pl.Float64,
        }
    )


# -- indicators ---------------------------------------------------------------------------------
def _outputs(series: IndicatorSeries) -> list[str]:
    names = OUTPUTS.get(series.name, ())
    if len(names) != len(series.values):
        names = tuple(str(k) for k in range(len(series.values)))
    return [series.label] if len(series.values) == 1 else [f"{series.label} {n}" for n in names]


def _overlays(fig: Any, x: np.ndarray, series: Sequence[IndicatorSeries]) -> None:
    """Each price-scale indicator as lines over the candles (a source ``overlay:<label>``)."""
    colour = 0
    for s in series:
        names = _outputs(s)
        data: dict[str, Any] = {"x": x}
        data.update({f"y{k}": v for k, v in enumerate(s.values)})
        source = ColumnDataSource(data, name=f"overlay:{s.label}")
        for k, name in enumerate(names):
            fig.line(
                "x",
                f"y{k}",
                source=source,
                color=LINES[colour % len(LINES)],
                line_width=1.3,
                legend_label=name,
            )
            colour += 1


def _pane(s: IndicatorSeries, x: np.ndarray, labels: Sequence[str], x_range: Any, k: int) -> Any:
    """An indicator not in price units, in its own pane under the price chart (a source
    ``pane:<label>``); MACD's histogram as bars."""
    fig = new_figure(s.label, 150, x_range=x_range, labels=labels)
    data: dict[str, Any] = {"x": x}
    data.update({f"y{j}": v for j, v in enumerate(s.values)})
    source = ColumnDataSource(data, name=f"pane:{s.label}")
    items = []
    for j, name in enumerate(_outputs(s)):
        if s.name == "macd" and j == 2:
            r = fig.vbar("x", 0.7, 0, f"y{j}", source=source, color=TEXT, alpha=0.5)
        else:
            r = fig.line(
                "x", f"y{j}", source=source, line_width=1.3, color=LINES[(k + j) % len(LINES)]
            )
        items.append((name, [r]))
    fig.add_layout(Legend(items=items, location="top_left", orientation="horizontal"))
    return fig


# -- tables -------------------------------------------------------------------------------------
def _trades_table(trades: pl.DataFrame, labels: Sequence[str]) -> Any:
    size = trades["size"].to_numpy()
    entry_bar = trades["entry_bar"].to_numpy()
    exit_bar = trades["exit_bar"].to_numpy()
    return table(
        {
            "trade": np.arange(1, len(size) + 1),
            "side": ["long" if s > 0 else "short" for s in size],
            "entry": [labels[i] for i in entry_bar],
            "exit": [labels[i] for i in exit_bar],
            "size": np.abs(size),
            "entry_price": trades["entry_price"].to_numpy(),
            "exit_price": trades["exit_price"].to_numpy(),
            "pnl": trades["pnl"].to_numpy(),
            "return_pct": trades["return_pct"].to_numpy(),
            "fees": trades["fees"].to_numpy(),
            "bars": exit_bar - entry_bar,
        },
        name="trades",
        titles=TRADE_COLUMNS,
        numbers={
            "trade": "0",
            "size": "0,0.[00000000]",
            "entry_price": "0,0.00[000000]",
            "exit_price": "0,0.00[000000]",
            "pnl": "0,0.00",
            "return_pct": "0.00",
            "fees": "0,0.00[00]",
            "bars": "0",
        },
        height=min(26 * len(size) + 32, 600),
    )


# -- walk-forward -------------------------------------------------------------------------------
def _oos_equity(r: WindowRuns) -> np.ndarray | None:
    """The window's out-of-sample equity over its test bars alone."""
    if r.out_of_sample is None:
        return None
    return r.out_of_sample.equity[r.test_offset :]


def _chained(runs: Sequence[WindowRuns], n: int) -> np.ndarray:
    """The windows' out-of-sample equity one after the other, each window growing what the
    one before it ended with (NaN before the first test bar)."""
    out = np.full(n, np.nan)
    level: float | None = None
    for r in runs:
        eq = _oos_equity(r)
        if eq is None or not len(eq):
            continue
        level = float(eq[0]) if level is None else level
        out[r.window.test_start : r.window.test_start + len(eq)] = level * eq / eq[0]
        level = float(out[r.window.test_start + len(eq) - 1])
    return out


def _window_curves(r: WindowRuns, labels: Sequence[str]) -> Any:
    """Window ``r``'s in-sample return curve next to its out-of-sample one."""
    w = r.window
    figs = []
    for side, first, eq in (
        ("in_sample", w.train_start, r.in_sample.equity if r.in_sample is not None else None),
        ("out_of_sample", w.test_start, _oos_equity(r)),
    ):
        what = "in-sample" if side == "in_sample" else "out-of-sample"
        fig = new_figure(f"window {w.index} {what}", 180, labels=labels)
        if eq is not None and len(eq):
            x = np.arange(first, first + len(eq))
            source = ColumnDataSource(
                {"x": x, "return_pct": (eq / eq[0] - 1) * 100, "when": [labels[int(i)] for i in x]},
                name=f"window{w.index}:{side}",
            )
            line = fig.line(
                "x",
                "return_pct",
                source=source,
                line_width=1.5,
                color=ACCENT if side == "in_sample" else UP,
            )
            time_hover(fig, line, [("return", "@return_pct{0.00}%")])
        figs.append(fig)
    return row(*figs, sizing_mode="stretch_width")
