"""The news: a table of stored and arriving items, newest first, and a detail line for the
highlighted one (its summary and link: no browser is opened).

Items are told by ``(key, id)``: one that arrives twice (the first load and a poll racing it)
shows once. The table holds the newest ``max_rows``; ``f`` filters it to the selected symbol's
items and back. Scores are sentiment in [-1, 1], signed to two decimals and coloured by tone
(component classes, so the .tcss and themes decide the colours). Nothing here scores or
fetches: the items come down by method calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.widgets.data_table import ColumnKey

from engine.model import NewsItem
from widgets.candles import tone

MAX_ROWS = 200
HINT = "↑/↓ a headline for its summary and link · f: the selected symbol's news only / all"
COLUMNS = (("time", "Time", 11), ("score", "Score", 5), ("symbols", "Symbols", 14),
           ("source", "Source", 14), ("headline", "Headline", 80))  # fmt: skip


def news_time(ts_ns: int, now_ns: int) -> str:
    """``14:05`` today (UTC), ``11-17 14:05`` earlier this year, ``2025-11-17`` before."""
    moment, now = time.gmtime(ts_ns / 1e9), time.gmtime(now_ns / 1e9)
    if (moment.tm_year, moment.tm_yday) == (now.tm_year, now.tm_yday):
        return time.strftime("%H:%M", moment)
    if moment.tm_year == now.tm_year:
        return time.strftime("%m-%d %H:%M", moment)
    return time.strftime("%Y-%m-%d", moment)


def score_label(score: float | None) -> str:
    """``+0.42``, ``-0.31``, ``0.00``; ``–`` when the item is not scored."""
    if score is None:
        return "–"
    text = f"{score:+.2f}"
    return "0.00" if text in ("+0.00", "-0.00") else text


class NewsTable(DataTable[Text | str]):
    COMPONENT_CLASSES: ClassVar[set[str]] = DataTable.COMPONENT_CLASSES | {
        "news-table--positive",
        "news-table--negative",
        "news-table--neutral",
    }
    DEFAULT_CSS = """
    NewsTable { height: 1fr; }
    NewsTable > .news-table--positive { color: $success; }
    NewsTable > .news-table--negative { color: $error; }
    NewsTable > .news-table--neutral { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "toggle_filter", "News of the symbol / all", id="news.filter"),
    ]

    class Chosen(Message):
        """The highlighted row's item (the cursor moved onto it)."""

        def __init__(self, item: NewsItem) -> None:
            super().__init__()
            self.item = item

    def __init__(
        self,
        max_rows: int = MAX_ROWS,
        clock: Callable[[], int] = time.time_ns,
        **kwargs: object,
    ) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.max_rows = max_rows
        self.clock = clock
        self.items: dict[tuple[str, str], NewsItem] = {}
        """Every item held (the newest ``max_rows``), by (key, id)."""
        self.symbol = ""
        """The selected symbol, the one the filter keeps."""
        self.filtered = False
        self._shown: list[tuple[str, str]] = []

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)
        self._render_rows()

    # -- data -------------------------------------------------------------------------------
    def add_items(self, items: Iterable[NewsItem]) -> int:
        """Add the items not held yet (any order); the number added. An item already held
        keeps its row, a later copy of it (scored since) replaces it."""
        added = 0
        changed = False
        for item in items:
            ident = (item.key, item.id)
            old = self.items.get(ident)
            if old is None:
                added += 1
            elif old == item:
                continue
            self.items[ident] = item
            changed = True
        if len(self.items) > self.max_rows:
            newest = sorted(self.items.values(), key=_newest_first)[: self.max_rows]
            self.items = {(i.key, i.id): i for i in newest}
        if changed:
            self._render_rows()
        return added

    def set_symbol(self, symbol: str) -> None:
        if symbol != self.symbol:
            self.symbol = symbol
            if self.filtered:
                self._render_rows()

    def action_toggle_filter(self) -> None:
        self.filtered = not self.filtered
        self._render_rows()

    def shown(self) -> list[NewsItem]:
        """The items of the rows, top to bottom."""
        return [self.items[ident] for ident in self._shown]

    def highlighted(self) -> NewsItem | None:
        if not self._shown or not 0 <= self.cursor_row < len(self._shown):
            return None
        return self.items.get(self._shown[self.cursor_row])

    # -- drawing ----------------------------------------------------------------------------
    def _wanted(self) -> list[NewsItem]:
        items = sorted(self.items.values(), key=_newest_first)
        if self.filtered:
            items = [i for i in items if self.symbol in i.symbols]
        return items

    def _render_rows(self) -> None:
        """The rows again, newest first, the cursor kept on its item (few items, rarely: a
        rebuild is simpler than inserting rows in the middle of a DataTable)."""
        if not self.is_mounted or not self.columns:
            return
        keep = self.highlighted()
        wanted = self._wanted()
        self.clear()
        now = self.clock()
        self._shown = []
        for item in wanted:
            ident = (item.key, item.id)
            self._shown.append(ident)
            kind = tone(item.score)
            self.add_row(
                news_time(item.ts_ns, now),
                Text(score_label(item.score), style=self._tone_style(kind), justify="right"),
                ", ".join(item.symbols) or "–",
                item.source or item.key,
                item.headline,
                key=f"{item.key}\x1f{item.id}",
            )
        self.columns[ColumnKey("symbols")].label = Text(
            f"Symbols [{self.symbol}]" if self.filtered else "Symbols"
        )
        if keep is not None and (keep.key, keep.id) in self._shown:
            self.move_cursor(row=self._shown.index((keep.key, keep.id)), scroll=False)

    def _tone_style(self, kind: str) -> Style:
        return self.get_component_rich_style(f"news-table--{kind}", partial=True)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        item = self.highlighted()
        if item is not None:
            self.post_message(self.Chosen(item))


class NewsDetail(Static):
    """One or two lines under the table: the highlighted item's summary and its link."""

    DEFAULT_CSS = "NewsDetail { height: auto; max-height: 3; color: $text-muted; }"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(HINT, markup=False, **kwargs)  # type: ignore[arg-type]
        self.item: NewsItem | None = None

    def show(self, item: NewsItem) -> None:
        self.item = item
        summary = " ".join(item.summary.split()) or item.headline
        self.update(f"{summary}\n{item.link}" if item.link else summary)


def _newest_first(item: NewsItem) -> tuple[int, str, str]:
    return (-item.ts_ns, item.key, item.id)
