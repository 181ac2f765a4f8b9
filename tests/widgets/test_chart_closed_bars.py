"""A closed bar given to the chart is shown with its own OHLCV, in its place in time: it
replaces the flat bar the quotes built for it, fills one they never reached, and a quote that
comes after it no longer changes it."""

from __future__ import annotations

import numpy as np
import polars as pl

from engine.model import Bar, Tick
from engine.timeframes import OHLCV_SCHEMA
from widgets.chart import MAX_BARS, Chart

HOUR = 3_600_000_000_000


def _bars(n: int) -> pl.DataFrame:
    close = 100.0 + np.arange(n, dtype=np.float64)
    ts = np.arange(n, dtype=np.int64) * HOUR
    columns = {"ts": ts, "open": close, "high": close + 1, "low": close - 1, "close": close}
    return pl.DataFrame({**columns, "volume": np.ones(n)}, schema=OHLCV_SCHEMA)


def _chart(n: int = 10) -> Chart:
    chart = Chart()
    chart.set_history("X", "1h", _bars(n), 2)
    return chart


def _row(chart: Chart, ts: int) -> tuple[float, ...]:
    row = chart.bars().filter(pl.col("ts") == ts)
    assert row.height == 1
    return tuple(float(row[c][0]) for c in ("open", "high", "low", "close", "volume"))


def test_a_closed_bar_replaces_the_bar_its_quote_built() -> None:
    chart = _chart()
    ts = 10 * HOUR
    assert chart.add_tick(Tick(ts, "X", 7.0, 7.0, 7.0, 50.0))
    assert _row(chart, ts) == (7.0, 7.0, 7.0, 7.0, 50.0)
    assert chart.add_bar(Bar(ts, "X", "1h", 6.0, 9.0, 5.0, 7.0, 50.0))
    assert _row(chart, ts) == (6.0, 9.0, 5.0, 7.0, 50.0)
    assert not chart.add_tick(Tick(ts, "X", 7.0, 7.0, 7.0, 50.0))
    assert _row(chart, ts) == (6.0, 9.0, 5.0, 7.0, 50.0)
    assert chart.bar_count == 11


def test_closed_bars_the_quotes_never_reached_go_in_their_place_in_time() -> None:
    chart = _chart()
    assert chart.add_tick(Tick(13 * HOUR, "X", 3.0, 3.0, 3.0, 1.0))
    assert chart.add_bar(Bar(11 * HOUR, "X", "1h", 1.0, 2.0, 0.5, 1.5, 4.0))
    assert chart.add_bar(Bar(10 * HOUR, "X", "1h", 1.5, 2.5, 1.0, 2.0, 3.0))
    ts = chart.bars()["ts"].to_list()
    assert ts == [h * HOUR for h in (*range(12), 13)]
    assert _row(chart, 11 * HOUR) == (1.0, 2.0, 0.5, 1.5, 4.0)
    assert _row(chart, 13 * HOUR) == (3.0, 3.0, 3.0, 3.0, 1.0)


def test_a_full_chart_keeps_its_newest_bars() -> None:
    chart = _chart(MAX_BARS)
    assert chart.add_bar(Bar(MAX_BARS * HOUR, "X", "1h", 1.0, 2.0, 0.5, 1.5, 4.0))
    assert chart.bar_count == MAX_BARS
    assert chart.bars()["ts"][0] == HOUR
    assert not chart.add_bar(Bar(-HOUR, "X", "1h", 1.0, 2.0, 0.5, 1.5, 4.0))
    assert chart.bars()["ts"][0] == HOUR


def test_a_bar_of_another_series_is_not_shown() -> None:
    chart = _chart()
    assert not chart.add_bar(Bar(10 * HOUR, "Y", "1h", 1.0, 2.0, 0.5, 1.5, 4.0))
    assert not chart.add_bar(Bar(10 * HOUR, "X", "4h", 1.0, 2.0, 0.5, 1.5, 4.0))
    assert not Chart().add_bar(Bar(10 * HOUR, "X", "1h", 1.0, 2.0, 0.5, 1.5, 4.0))
    assert chart.bar_count == 10


def test_a_bar_or_quote_leaves_the_chart_behind_until_it_is_redrawn() -> None:
    chart = _chart()
    assert not chart.behind
    chart.add_bar(Bar(10 * HOUR, "X", "1h", 6.0, 9.0, 5.0, 7.0, 50.0))
    assert chart.behind
    chart.refresh()  # what the chart's flush does, four times a second
    assert not chart.behind
    chart.add_tick(Tick(11 * HOUR, "X", 7.0, 7.0, 7.0, 1.0))
    assert chart.behind
    chart.set_levels([])  # any full redraw draws the quotes too
    assert not chart.behind
