"""The News table: newest first, each (key, id) once, bounded, filtered to a symbol by key, the
score signed and coloured by tone, the highlighted item's summary and link in the detail line
(a real Textual pilot)."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets.data_table import ColumnKey

from engine.model import NewsItem
from widgets.news_table import NewsDetail, NewsTable, news_time, score_label

NOW = 1_795_000_000_000_000_000  # 2026-11-18T11:06:40Z
MIN = 60 * 10**9
DAY = 86_400 * 10**9


def _item(n: int, ts_ns: int, symbols: tuple[str, ...] = ("WTI",), score: float | None = 0.5,
          key: str = "http://127.0.0.1/rss") -> NewsItem:  # fmt: skip
    return NewsItem(
        key, f"id-{n}", ts_ns, f"headline {n}", summary=f"summary  of\n{n}",
        link=f"https://example.test/{n}", source="Wire", symbols=symbols, score=score,
    )  # fmt: skip


class _Host(App[None]):
    def __init__(self, max_rows: int = 200) -> None:
        super().__init__()
        self.max_rows = max_rows
        self.chosen: list[NewsItem] = []

    def compose(self) -> ComposeResult:
        yield NewsTable(max_rows=self.max_rows, clock=lambda: NOW)
        yield NewsDetail()

    def on_news_table_chosen(self, message: NewsTable.Chosen) -> None:
        self.chosen.append(message.item)
        for detail in self.query(NewsDetail):  # none once the app is closing
            detail.show(message.item)


def _headlines(table: NewsTable) -> list[str]:
    return [str(table.get_row_at(r)[4]) for r in range(table.row_count)]


def test_times_show_the_date_when_not_today_and_scores_their_sign() -> None:
    assert news_time(NOW - 5 * MIN, NOW) == "11:01"
    assert news_time(NOW - DAY, NOW) == "11-17 11:06"
    assert news_time(NOW - 400 * DAY, NOW) == "2025-10-14"
    assert [score_label(s) for s in (0.4249, -0.31, 0.001, -0.001, None)] == [
        "+0.42", "-0.31", "0.00", "0.00", "–",
    ]  # fmt: skip


async def test_rows_come_newest_first_and_an_item_twice_shows_once() -> None:
    app = _Host()
    async with app.run_test(size=(140, 20)) as pilot:
        table = app.query_one(NewsTable)
        assert table.add_items([_item(1, NOW - 3 * MIN), _item(2, NOW - DAY)]) == 2
        # the same two again (a poll racing the first load), and a newer one
        assert (
            table.add_items([_item(2, NOW - DAY), _item(3, NOW - MIN), _item(1, NOW - 3 * MIN)])
            == 1
        )
        await pilot.pause()
        assert _headlines(table) == ["headline 3", "headline 1", "headline 2"]
        assert [table.get_row_at(r)[0] for r in range(3)] == ["11:05", "11:03", "11-17 11:06"]
        # same id from another endpoint is another item
        assert table.add_items([_item(3, NOW, key="http://127.0.0.1/atom")]) == 1
        assert table.row_count == 4


async def test_the_table_keeps_the_newest_rows_only() -> None:
    app = _Host(max_rows=3)
    async with app.run_test(size=(140, 20)):
        table = app.query_one(NewsTable)
        table.add_items([_item(n, NOW - (10 - n) * MIN) for n in range(6)])
        assert _headlines(table) == ["headline 5", "headline 4", "headline 3"]
        table.add_items([_item(0, NOW - 10 * MIN)])  # older than all it keeps: dropped
        assert _headlines(table) == ["headline 5", "headline 4", "headline 3"]


async def test_scores_are_coloured_by_tone() -> None:
    app = _Host()
    async with app.run_test(size=(140, 20)):
        table = app.query_one(NewsTable)
        table.add_items([
            _item(1, NOW - 1 * MIN, score=0.6),
            _item(2, NOW - 2 * MIN, score=-0.7),
            _item(3, NOW - 3 * MIN, score=0.01),
            _item(4, NOW - 4 * MIN, score=None),
        ])  # fmt: skip
        cells = [table.get_row_at(r)[1] for r in range(4)]
        assert all(isinstance(c, Text) for c in cells)
        assert [str(c) for c in cells] == ["+0.60", "-0.70", "+0.01", "–"]
        styles = [c.style for c in cells if isinstance(c, Text)]
        want = [table.get_component_rich_style(f"news-table--{k}", partial=True)
                for k in ("positive", "negative", "neutral", "neutral")]  # fmt: skip
        assert styles == want
        assert len({str(s.color) for s in want[:3]}) == 3  # three different colours


async def test_f_filters_to_the_selected_symbol_and_back() -> None:
    app = _Host()
    async with app.run_test(size=(140, 20)) as pilot:
        table = app.query_one(NewsTable)
        table.add_items([
            _item(1, NOW - 1 * MIN, symbols=("WTI", "BRENT")),
            _item(2, NOW - 2 * MIN, symbols=("BTC/USDT",)),
            _item(3, NOW - 3 * MIN, symbols=()),
            _item(4, NOW - 4 * MIN, symbols=("BRENT",)),
        ])  # fmt: skip
        assert table.get_row_at(0)[2] == "WTI, BRENT" and table.get_row_at(2)[2] == "–"
        table.set_symbol("BRENT")
        table.focus()
        await pilot.press("f")
        assert table.filtered and _headlines(table) == ["headline 1", "headline 4"]
        assert str(table.columns[ColumnKey("symbols")].label) == "Symbols [BRENT]"
        table.set_symbol("BTC/USDT")  # the selection moved: the filter follows it
        assert _headlines(table) == ["headline 2"]
        table.add_items([_item(5, NOW, symbols=("WTI",))])  # another symbol's: held, not shown
        assert _headlines(table) == ["headline 2"]
        await pilot.press("f")
        assert not table.filtered and table.row_count == 5
        assert str(table.columns[ColumnKey("symbols")].label) == "Symbols"


async def test_the_highlighted_item_shows_its_summary_and_link_and_keeps_the_cursor() -> None:
    app = _Host()
    async with app.run_test(size=(140, 20)) as pilot:
        table = app.query_one(NewsTable)
        table.add_items([_item(1, NOW - 1 * MIN), _item(2, NOW - 2 * MIN)])
        table.focus()
        await pilot.press("down")
        await pilot.pause()
        assert table.highlighted() == _item(2, NOW - 2 * MIN)
        assert app.chosen[-1].id == "id-2"
        detail = app.query_one(NewsDetail)
        assert str(detail.render()) == "summary of 2\nhttps://example.test/2"
        table.add_items([_item(3, NOW)])  # a newer item on top: the cursor stays on item 2
        await pilot.pause()
        assert _headlines(table)[0] == "headline 3"
        assert table.highlighted() is not None and table.highlighted().id == "id-2"  # type: ignore[union-attr]
        assert app.chosen[-1].id == "id-2"
