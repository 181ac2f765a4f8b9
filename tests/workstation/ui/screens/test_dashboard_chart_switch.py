"""``:chart SYMBOL TF`` switches the chart's symbol and timeframe together: every frame drawn
after the command shows the new pair (loading, then its bars), never the old bars under the new
title, and the history loads once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import polars as pl

from tests.workstation.ui.ui_helpers import make_app, wait_for
from widgets.chart import Chart, _Lines
from workstation.store import Store

FOUR_HOURS_NS = 4 * 3_600 * 10**9


@dataclass(frozen=True)
class Frame:
    title: str
    symbol: str
    timeframe: str
    bars: int
    spacing_ns: int
    first_ts: int
    last_ts: int
    header: str


def _record(chart: Chart, frames: list[Frame]) -> None:
    build = chart._build

    def recording(base: object) -> _Lines:
        lines = build(base)  # type: ignore[arg-type]
        ts = chart.bars()["ts"].to_numpy() if chart.bar_count > 1 else None
        spacing = int(ts[-1] - ts[-2]) if ts is not None else 0
        first_ts = int(ts[0]) if ts is not None else 0
        last_ts = int(ts[-1]) if ts is not None else 0
        header = "".join(segment.text for segment in lines.lines[0])
        frames.append(
            Frame(
                str(chart.border_title), chart.symbol, chart.timeframe, chart.bar_count, spacing,
                first_ts, last_ts, header,
            )
        )  # fmt: skip
        return lines

    chart._build = recording  # type: ignore[method-assign]


async def test_chart_symbol_and_timeframe_switch_draws_only_the_new_pair(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(160, 50)) as pilot:
        chart = app.dashboard.query_one(Chart)
        await wait_for(lambda: chart.symbol == "BTC/USDT" and chart.bar_count > 0)
        await pilot.pause()
        dashboard = app.dashboard
        loads = dashboard.history_loads
        market = dashboard.market
        released = asyncio.Event()
        asked: list[tuple[str, str]] = []
        history = market.history

        async def slow_history(
            symbol: str, timeframe: str, start: int | None = None, limit: int | None = None
        ) -> pl.DataFrame:
            asked.append((symbol, timeframe))
            await released.wait()  # a slow venue: the screen paints while the bars come
            return await history(symbol, timeframe, start, limit)

        market.history = slow_history  # type: ignore[method-assign]
        frames: list[Frame] = []
        _record(chart, frames)
        await pilot.press("colon", *"chart EURUSD 4h", "enter")
        await wait_for(lambda: any("EURUSD" in f.title + f.symbol for f in frames))
        released.set()
        await wait_for(lambda: chart.symbol == "EURUSD" and chart.bar_count > 0)
        await wait_for(lambda: any(f.bars and f.symbol == "EURUSD" for f in frames))
        assert asked == [("EURUSD", "4h")]
        assert dashboard.history_loads == loads + 1
        first = next(i for i, f in enumerate(frames) if "EURUSD" in f.title + f.symbol)
        frames = frames[first:]
        for frame in frames:
            assert (frame.title, frame.symbol, frame.timeframe) == ("EURUSD · 4h", "EURUSD", "4h")
            assert frame.header.startswith("EURUSD 4h")
            if frame.bars:
                assert frame.spacing_ns == FOUR_HOURS_NS
            else:
                assert "loading EURUSD 4h" in frame.header
        stored = await history("EURUSD", "4h", limit=600)
        drawn = next(f for f in frames if f.bars)
        # the stored history, and at most the forming bar a quote opened after it (a quote can
        # land between the history and the first paint of it)
        forming = drawn.bars == len(stored) + 1
        assert drawn.bars == len(stored) + forming > 0
        assert drawn.first_ts == stored["ts"][0]
        assert drawn.last_ts == int(stored["ts"][-1]) + forming * FOUR_HOURS_NS
