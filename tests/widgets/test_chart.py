"""The chart's view: how far it is panned back from the latest bar, told up as ViewChanged."""

from __future__ import annotations

import numpy as np
import polars as pl
from textual.app import App, ComposeResult

from engine.timeframes import OHLCV_SCHEMA
from widgets.chart import Chart


class _Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.views: list[tuple[int, int]] = []

    def compose(self) -> ComposeResult:
        yield Chart()

    def on_chart_view_changed(self, event: Chart.ViewChanged) -> None:
        self.views.append((event.zoom, event.bars_back))


def _bars(n: int) -> pl.DataFrame:
    close = 100.0 + np.arange(n, dtype=np.float64)
    ts = np.arange(n, dtype=np.int64) * 60_000_000_000
    columns = {"ts": ts, "open": close, "high": close + 1, "low": close - 1, "close": close}
    return pl.DataFrame({**columns, "volume": np.ones(n)}, schema=OHLCV_SCHEMA)


async def test_panning_moves_the_view_back_and_end_returns_to_the_latest_bar() -> None:
    app = _Host()
    async with app.run_test(size=(80, 20)) as pilot:
        chart = app.query_one(Chart)
        chart.set_history("X", "1m", _bars(300), 2)
        chart.focus()
        await pilot.pause()
        await pilot.press("h")
        assert chart.bars_back == 10
        await pilot.press("end")
        await pilot.pause()
        assert chart.bars_back == 0
        assert (0, 10) in app.views and app.views[-1] == (0, 0)
        assert chart.offset == (0, 0)  # the widget's own offset (styles) is left alone


class _Pair(App[None]):
    def compose(self) -> ComposeResult:
        yield Chart(id="live")
        yield Chart(id="fresh")


def _lines(chart: Chart) -> list[list[tuple[str, object]]]:
    return [[(s.text, s.style) for s in chart.render_line(y)] for y in range(chart.size.height)]


async def test_a_chart_kept_up_by_ticks_draws_what_a_fresh_one_draws_from_the_same_bars() -> None:
    from engine.model import Tick

    app = _Pair()
    async with app.run_test(size=(80, 40)) as pilot:
        live, fresh = app.query_one("#live", Chart), app.query_one("#fresh", Chart)
        bars = _bars(120)
        live.set_history("X", "1m", bars, 2)
        await pilot.pause()
        _lines(live)  # drawn once: the price rows are kept from here
        last_ts = int(bars["ts"][-1])
        for i, price in enumerate((219.5, 240.0, 150.0, 219.9)):  # in range, above, below
            live.add_tick(Tick(last_ts + 1, "X", price, price, price, 1.0))
            live.cursor = 30 if i == 3 else None
            live.refresh()
            fresh.set_history("X", "1m", live.bars(), 2)
            fresh.cursor = live.cursor
            assert _lines(live) == _lines(fresh)
        live.add_tick(Tick(last_ts + 60_000_000_000, "X", 220.0, 220.0, 220.0, 1.0))  # a new bar
        live.refresh()
        fresh.set_history("X", "1m", live.bars(), 2)
        fresh.cursor = live.cursor
        assert _lines(live) == _lines(fresh)
