"""News markers on the chart: a glyph coloured by the item's tone in the row over the time
axis, under the bar of its time; none for news outside the bars drawn (a real Textual pilot,
the rendered strips read back)."""

from __future__ import annotations

import numpy as np
import polars as pl
from rich.style import Style
from textual.app import App, ComposeResult

from engine.timeframes import OHLCV_SCHEMA
from widgets.candles import news_cells, tone
from widgets.chart import Chart

MIN = 60_000_000_000
T0 = 1_795_000_000_000_000_000 // MIN * MIN


class _Pair(App[None]):
    def compose(self) -> ComposeResult:
        yield Chart(id="news")
        yield Chart(id="plain")


def _bars(n: int) -> pl.DataFrame:
    close = 100.0 + np.sin(np.arange(n) / 7.0) * 5
    ts = T0 + np.arange(n, dtype=np.int64) * MIN
    columns = {"ts": ts, "open": close - 0.5, "high": close + 1, "low": close - 1, "close": close}
    return pl.DataFrame({**columns, "volume": np.ones(n)}, schema=OHLCV_SCHEMA)


def _row(chart: Chart, y: int) -> list[tuple[str, Style | None]]:
    """Line ``y`` as rendered, one (character, style) per cell."""
    return [(ch, s.style) for s in chart.render_line(y) for ch in s.text]


def _markers(chart: Chart) -> dict[int, tuple[str, Style | None]]:
    row = _row(chart, chart.size.height - 2)  # the row over the time axis
    return {x: cell for x, cell in enumerate(row) if cell[0] != " "}


def _first_shown(chart: Chart) -> int:
    start, _, _ = chart._window()
    return start


async def test_a_marker_sits_under_the_bar_of_its_time_with_its_tone() -> None:
    app = _Pair()
    async with app.run_test(size=(80, 40)) as pilot:
        chart, plain = app.query_one("#news", Chart), app.query_one("#plain", Chart)
        for c in (chart, plain):
            c.set_history("WTI", "1m", _bars(300), 2)
        await pilot.pause()
        first = _first_shown(chart)
        up_bar, down_bar, flat_bar = first + 3, first + 20, 299
        chart.set_news([
            (T0 + up_bar * MIN + 15_000_000_000, 0.6),  # within the bar's minute
            (T0 + down_bar * MIN, -0.4),
            (T0 + flat_bar * MIN + 59 * 10**9, None),  # the newest bar: unscored, neutral
            (T0 + (first - 1) * MIN, 0.9),  # a bar left of the view: not drawn
            (T0 + 300 * MIN, -0.9),  # after the newest bar's end: not drawn
            (T0 - MIN, 0.9),  # before any bar
        ])  # fmt: skip
        await pilot.pause()
        markers = _markers(chart)
        assert sorted(markers) == [3, 20, 299 - first]
        styles = {k: chart.get_component_rich_style(f"chart--news-{k}", partial=True)
                  for k in ("positive", "negative", "neutral")}  # fmt: skip
        for x, glyph, kind in ((3, "▲", "positive"), (20, "▼", "negative"),
                               (299 - first, "•", "neutral")):  # fmt: skip
            ch, style = markers[x]
            assert ch == glyph
            assert style is not None and style.color == styles[kind].color
        assert styles["positive"].color != styles["negative"].color
        # the marker row takes one price row; the rest of the chart is the same chart
        assert _row(chart, chart.size.height - 1) == _row(plain, plain.size.height - 1)
        assert _row(chart, 0) == _row(plain, 0)


async def test_markers_follow_the_view_and_go_with_the_symbol() -> None:
    app = _Pair()
    async with app.run_test(size=(80, 40)) as pilot:
        chart = app.query_one("#news", Chart)
        chart.set_history("WTI", "1m", _bars(300), 2)
        chart.set_news([(T0 + 290 * MIN, 0.5), (T0 + 291 * MIN, -0.9)])
        await pilot.pause()
        first = _first_shown(chart)
        assert sorted(_markers(chart)) == [290 - first, 291 - first]
        chart.zoom = 600  # several bars a column: both in one column, by their mean's tone
        await pilot.pause()
        assert chart._window()[2] > 1
        marks = _markers(chart)
        assert len(marks) == 1 and next(iter(marks.values()))[0] == "▼"
        chart.zoom = 0
        chart.bars_back = 50  # panned back past them: not drawn, the row stays
        await pilot.pause()
        assert _markers(chart) == {}
        chart.switch_to("BRENT", "1m", 2)
        assert chart.news == []
        chart.set_history("BRENT", "1m", _bars(300), 2)
        await pilot.pause()
        drawn = {ch for y in range(chart.size.height) for ch, _ in _row(chart, y)}
        assert not drawn & {"▲", "▼", "•"}  # and no marker row: the volume is over the axis


async def test_no_news_draws_the_chart_as_before() -> None:
    app = _Pair()
    async with app.run_test(size=(80, 30)) as pilot:
        chart, plain = app.query_one("#news", Chart), app.query_one("#plain", Chart)
        for c in (chart, plain):
            c.set_history("WTI", "1m", _bars(300), 2)
        chart.set_news([(T0 + 290 * MIN, 0.5)])
        chart.set_news([])
        await pilot.pause()
        rows = range(chart.size.height)
        assert [_row(chart, y) for y in rows] == [_row(plain, y) for y in rows]


def test_news_cells_group_like_the_bars() -> None:
    ts = T0 + np.arange(10, dtype=np.int64) * MIN
    # bars 1..9 shown, 2 a column aligned right: columns (2,3) (4,5) (6,7) (8,9); bar 1 left out
    marks = [(int(ts[1]), 0.9), (int(ts[2]), 0.9), (int(ts[3]), -0.3), (int(ts[9]) + 5, -0.5)]
    assert news_cells(ts, MIN, 1, 10, 2, 4, marks) == {0: "positive", 3: "negative"}
    assert news_cells(ts, MIN, 1, 10, 2, 3, marks) == {2: "negative"}  # the plot shows 3
    assert news_cells(ts, MIN, 0, 10, 1, 10, []) == {}
    assert [tone(s) for s in (0.05, 0.049, -0.05, None, float("nan"))] == [
        "positive", "neutral", "negative", "neutral", "neutral",
    ]  # fmt: skip
