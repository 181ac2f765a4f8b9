"""The News tab and the chart's news markers (real app on the demo feed, real store): the
stored news is loaded at start, the runtime's NewsArrived adds rows and markers, the chart
shows only the selected symbol's news, at the bar of its time."""

from __future__ import annotations

from textual.widgets import TabbedContent

from engine.model import NewsItem
from tests.workstation.ui.ui_helpers import FROZEN_NS, make_app, wait_for
from widgets.chart import Chart
from widgets.news_table import NewsDetail, NewsTable
from workstation.store import Store
from workstation.trader.events import NewsArrived

KEY = "http://127.0.0.1:1/rss"


def _item(n: int, ts_ns: int, symbols: tuple[str, ...], score: float) -> NewsItem:
    return NewsItem(KEY, f"guid-{n}", ts_ns, f"headline {n}", summary=f"summary {n}",
                    link=f"https://example.test/{n}", source="Wire", symbols=symbols,
                    score=score)  # fmt: skip


def _markers(chart: Chart) -> dict[int, str]:
    """The marker row (over the time axis): column -> glyph."""
    line = "".join(s.text for s in chart.render_line(chart.size.height - 2))
    return {x: ch for x, ch in enumerate(line) if ch in "▲▼•"}


def _column(chart: Chart, ts_ns: int) -> int:
    """The plot column of the bar starting at ``ts_ns`` (one bar a column)."""
    start, _, k = chart._window()
    assert k == 1
    bars = chart.bars()["ts"].to_list()
    return bars.index(ts_ns) - start


async def test_news_reaches_the_tab_and_the_selected_symbol_s_chart(store: Store) -> None:
    app = make_app(store)
    # stored before the start (an earlier poll): one for each of two symbols, one for neither
    minute = 60 * 10**9
    now_bar = FROZEN_NS // minute * minute
    stored = [
        _item(1, now_bar - 20 * minute, ("BTC/USDT",), -0.6),
        _item(2, now_bar - 30 * minute, ("ETH/USDT",), 0.8),
        _item(3, now_bar - 40 * minute, (), 0.0),
    ]
    assert len(store.news.add(stored, FROZEN_NS)) == 3
    async with app.run_test(size=(160, 50)) as pilot:
        d = app.dashboard
        chart = d.chart
        await wait_for(lambda: chart.symbol == "BTC/USDT" and chart.bar_count > 0)
        await wait_for(lambda: bool(d.query(NewsTable)))
        table = d.query_one(NewsTable)
        await wait_for(lambda: table.row_count == 3)
        assert [i.id for i in table.shown()] == ["guid-1", "guid-2", "guid-3"]
        await wait_for(lambda: bool(_markers(chart)))
        bar_1 = now_bar - 20 * minute
        assert _markers(chart) == {_column(chart, bar_1): "▼"}  # BTC's only

        # the runtime stores a poll's new items and tells its clients
        await wait_for(lambda: app.oms is not None)
        bar_4 = now_bar - 10 * minute
        arrived = [
            _item(4, bar_4 + 5 * 10**9, ("BTC/USDT", "ETH/USDT"), 0.5),
            _item(5, now_bar - 12 * minute, ("ETH/USDT",), -0.9),
            stored[0],  # polled again: stored once, told once
        ]
        new = store.news.add(arrived, FROZEN_NS)
        assert [i.id for i in new] == ["guid-4", "guid-5"]
        app.runtime.emit(NewsArrived(tuple(new)))
        await wait_for(lambda: table.row_count == 5)
        assert [i.id for i in table.shown()][:2] == ["guid-4", "guid-5"]
        await wait_for(lambda: len(_markers(chart)) == 2)
        assert _markers(chart) == {_column(chart, bar_1): "▼", _column(chart, bar_4): "▲"}

        # the News tab by key; f keeps the selected symbol's rows; a row's summary and link
        await pilot.press("alt+8")
        assert d.query_one("#panels", TabbedContent).active == "tab-news"
        table.focus()
        await pilot.press("f")
        assert [i.id for i in table.shown()] == ["guid-4", "guid-1"]
        await pilot.press("down")
        detail = d.query_one(NewsDetail)
        await wait_for(lambda: detail.item is not None and detail.item.id == "guid-1")
        assert str(detail.render()) == "summary 1\nhttps://example.test/1"

        # another symbol: its own news on the chart (from the store), the filter follows it
        d.show_symbol("ETH/USDT")
        await wait_for(lambda: chart.symbol == "ETH/USDT" and chart.bar_count > 0)
        await wait_for(lambda: len(_markers(chart)) == 3)
        assert _markers(chart) == {
            _column(chart, bar_4): "▲",
            _column(chart, now_bar - 12 * minute): "▼",
            _column(chart, now_bar - 30 * minute): "▲",
        }
        await wait_for(lambda: table.symbol == "ETH/USDT")
        assert [i.id for i in table.shown()] == ["guid-4", "guid-5", "guid-2"]


async def test_the_runtime_s_own_poll_fills_the_tab(store: Store) -> None:
    """The demo feed's demo news source, polled by the real runtime: what it stores is what
    the News tab shows, each item once."""
    app = make_app(store, news=True)
    async with app.run_test(size=(120, 36)):
        d = app.dashboard
        await wait_for(lambda: bool(d.query(NewsTable)))
        table = d.query_one(NewsTable)
        await wait_for(lambda: table.row_count > 0 and store.news.count() > 0)

        def same() -> bool:
            stored = {(i.key, i.id) for i in store.news.recent(limit=200)}
            return {(i.key, i.id) for i in table.shown()} == stored

        await wait_for(same)
        assert len(table.shown()) == table.row_count == len(set(table.shown()))
