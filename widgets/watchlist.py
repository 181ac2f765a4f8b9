"""The watchlist: symbol, last, change %, a sparkline, bid, ask, spread and the latest signal.

It only receives data, from its screen's calls (``update_quote``, ``set_reference``,
``set_signal``); the cursor's moves go up as :class:`Watchlist.Highlighted`. Prices are shown to
each instrument's precision. A changed last price flashes up/down for ``FLASH_S``; the sparkline
keeps the last ``SPARK_POINTS`` prices per symbol in a ring buffer.

Columns are as wide as their widest cell (and header), so a price is never cut; when the
widget is too narrow for them all, the least important go (:data:`KEEP`), and the trend
sparkline narrows to its newest points before it goes. The header marks the sort column.

Drawn with the line API (one cached strip per row, rebuilt only when that row changes): a
DataTable re-renders every cell through rich on each change, which at 2,000 quotes/s over 50
symbols cost ~60 ms a frame; this costs well under a millisecond per changed row.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from engine.model import Action, Signal, Tick
from widgets.prices import price_text


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    align: str  # "<" or ">"
    min_width: int = 0
    """The narrowest it is drawn, whatever its cells (a flexible column: its narrowest)."""
    flexible: bool = False
    """Takes what room is left, from ``min_width`` up to its widest cell (the sparkline)."""


COLUMNS = (
    Column("symbol", "Symbol", "<"),
    Column("last", "Last", ">"),
    Column("chg", "Chg %", ">"),
    Column("spark", "Trend", "<", min_width=5, flexible=True),
    Column("bid", "Bid", ">"),
    Column("ask", "Ask", ">"),
    Column("spread", "Sprd", ">"),
    Column("signal", "Signal", "<", min_width=len("SHORT 1.00")),
)
KEEP = ("symbol", "last", "chg", "bid", "ask", "signal", "spark", "spread")
"""The columns by importance: on a narrow widget they are dropped from the end of this list."""
_KEYS = tuple(c.key for c in COLUMNS)
_BY_KEY = {c.key: c for c in COLUMNS}
_INDEX = {key: i for i, key in enumerate(_KEYS)}
_GAP = 2
SORT_CYCLE = (("symbol", False), ("chg", True), ("last", True), ("spread", False))
FLASH_S = 0.6
SPARK_POINTS = 12
_SPARK = "▁▂▃▄▅▆▇█"
_SIGNAL = {Action.OPEN_LONG: ("LONG", "up"), Action.OPEN_SHORT: ("SHORT", "down"),
           Action.CLOSE: ("CLOSE", "warn"), Action.WAIT: ("wait", "dim")}  # fmt: skip


def sparkline(values: Sequence[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    span = hi - lo
    if span <= 0:
        return _SPARK[3] * len(finite)
    return "".join(_SPARK[min(7, int((v - lo) / span * 8))] for v in finite)


def fit_columns(natural: dict[str, int], width: int) -> list[tuple[Column, int]]:
    """The columns drawn in ``width`` cells, in display order, with their widths: as many of
    :data:`KEEP` as fit whole, in that order (the symbol always), each at its ``natural``
    width; a flexible column at its ``min_width``, then widened with the room left, up to its
    natural width."""
    chosen: dict[str, int] = {}
    used = 1
    for key in KEEP:
        column = _BY_KEY[key]
        need = column.min_width if column.flexible else natural[key]
        extra = need + (_GAP if chosen else 0)
        if chosen and used + extra > width:
            break
        chosen[key] = need
        used += extra
    for key, have in chosen.items():
        if _BY_KEY[key].flexible:
            grow = max(0, min(natural[key] - have, width - used))
            chosen[key] += grow
            used += grow
    return [(c, chosen[c.key]) for c in COLUMNS if c.key in chosen]


@dataclass(slots=True)
class _Row:
    symbol: str
    last: float = math.nan
    bid: float = math.nan
    ask: float = math.nan
    spread: float = math.nan
    chg: float = math.nan
    spark: deque[float] = field(default_factory=lambda: deque(maxlen=SPARK_POINTS))
    signal: tuple[str, str] = ("", "")
    flash: int = 0  # +1 up, -1 down, 0 none
    strip: Strip | None = None
    spark_text: str | None = None  # the sparkline of ``spark``, until it moves
    pending: bool = False  # a repaint of this row is asked for and not yet drawn


class Watchlist(Widget, can_focus=True):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "watchlist--header",
        "watchlist--cursor",
        "watchlist--up",
        "watchlist--down",
        "watchlist--flash-up",
        "watchlist--flash-down",
        "watchlist--warn",
        "watchlist--dim",
        "watchlist--symbol",
    }
    DEFAULT_CSS = """
    Watchlist { height: 1fr; }
    Watchlist > .watchlist--header { text-style: bold; color: $text-muted; }
    Watchlist > .watchlist--cursor { background: $block-cursor-blurred-background; }
    Watchlist:focus > .watchlist--cursor { background: $block-cursor-background; }
    Watchlist > .watchlist--up { color: $success; }
    Watchlist > .watchlist--down { color: $error; }
    Watchlist > .watchlist--flash-up { background: $success 60%; color: $text; text-style: bold; }
    Watchlist > .watchlist--flash-down { background: $error 60%; color: $text; text-style: bold; }
    Watchlist > .watchlist--warn { color: $warning; }
    Watchlist > .watchlist--dim { color: $text-muted; }
    Watchlist > .watchlist--symbol { text-style: bold; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False, id="watchlist.up"),
        Binding("down", "move(1)", "Down", show=False, id="watchlist.down"),
        Binding("pageup", "move(-10)", "Page up", show=False, id="watchlist.page_up"),
        Binding("pagedown", "move(10)", "Page down", show=False, id="watchlist.page_down"),
        Binding("s", "cycle_sort", "Sort", id="watchlist.sort"),
    ]

    cursor: reactive[int] = reactive(0, repaint=False)

    class Highlighted(Message):
        """The cursor moved to ``symbol``."""

        def __init__(self, watchlist: Watchlist, symbol: str) -> None:
            super().__init__()
            self.watchlist = watchlist
            self.symbol = symbol

        @property
        def control(self) -> Watchlist:
            return self.watchlist

    def __init__(
        self,
        symbols: Sequence[str],
        decimals: dict[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._rows: dict[str, _Row] = {s: _Row(s) for s in dict.fromkeys(symbols)}
        self.order: list[str] = list(self._rows)
        self._at: dict[str, int] = {}
        """Each symbol's index in :attr:`order`, so a quote finds its row in O(1)."""
        self._reindex()
        self.decimals = decimals or {}
        self.reference: dict[str, float] = {}
        self.flashing: dict[str, float] = {}
        self.sort_key: str | None = None
        self.sort_reverse = False
        self.updates = 0
        self.top = 0
        self._now = clock
        self._header: Strip | None = None
        self._natural: dict[str, int] = {}
        """Each column's natural width: its widest cell or header (grown as cells widen)."""
        self._layout: list[tuple[Column, int]] | None = None
        self._layout_width = -1
        self._remeasure()
        self._styles: dict[str, Style] = {}
        """Rich styles by component name (and "" for the widget's own), until restyled:
        looking them up walks the DOM, which per row is most of a frame."""
        self._cell_styles: dict[tuple[bool, str], Style] = {}
        """A cell's whole style (the row's base, with the cursor's or not, plus the cell's),
        by (on the cursor, style name), until restyled."""

    # -- compatibility views used by the screen and tests ------------------------------------
    @property
    def symbols(self) -> list[str]:
        return list(self.order)

    @property
    def last(self) -> dict[str, float]:
        return {s: r.last for s, r in self._rows.items() if math.isfinite(r.last)}

    @property
    def change(self) -> dict[str, float]:
        return {s: r.chg for s, r in self._rows.items() if math.isfinite(r.chg)}

    @property
    def history(self) -> dict[str, deque[float]]:
        return {s: r.spark for s, r in self._rows.items() if r.spark}

    def get_cell(self, symbol: str, column: str) -> Text:
        """The cell as text and style (what is drawn), for tests and the screen."""
        text, style = self._cell(self._rows[symbol], column)
        return Text(text.strip(), style=style)

    def on_mount(self) -> None:
        self.set_interval(FLASH_S / 3, self._unflash)
        self._show_sort()

    # -- symbols ----------------------------------------------------------------------------
    def add_symbol(self, symbol: str, decimals: int | None = None) -> bool:
        if symbol in self._rows:
            return False
        self._rows[symbol] = _Row(symbol)
        self.order.append(symbol)
        self._reindex()
        if decimals is not None:
            self.decimals[symbol] = decimals
        self.refresh()
        return True

    def remove_symbol(self, symbol: str) -> bool:
        if symbol not in self._rows:
            return False
        del self._rows[symbol]
        self.order.remove(symbol)
        self._reindex()
        self.reference.pop(symbol, None)
        self.flashing.pop(symbol, None)
        self.cursor = min(self.cursor, max(0, len(self.order) - 1))
        self._remeasure()
        self.refresh()
        return True

    def _reindex(self) -> None:
        self._at = {symbol: i for i, symbol in enumerate(self.order)}

    def selected_symbol(self) -> str | None:
        return self.order[self.cursor] if self.order else None

    def select_symbol(self, symbol: str) -> None:
        if symbol in self._rows:
            self.cursor = self._at[symbol]

    # -- cursor and scrolling ---------------------------------------------------------------
    def _visible_rows(self) -> int:
        return max(1, self.size.height - 1)

    def watch_cursor(self, old: int, new: int) -> None:
        rows = self._visible_rows()
        if new < self.top:
            self.top = new
        elif new >= self.top + rows:
            self.top = new - rows + 1
        for index in (old, new):
            if 0 <= index < len(self.order):
                self._rows[self.order[index]].strip = None
        self.refresh()
        if self.order and old != new:
            self.post_message(self.Highlighted(self, self.order[new]))

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.order) - 1)) if self.order else 0

    def action_move(self, step: int) -> None:
        self.cursor += step

    def on_click(self, event: events.Click) -> None:
        index = self.top + event.y - 1
        if event.y >= 1 and 0 <= index < len(self.order):
            self.cursor = index

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.top = max(0, min(self.top + 1, len(self.order) - self._visible_rows()))
        self.refresh()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.top = max(0, self.top - 1)
        self.refresh()

    # -- quotes -----------------------------------------------------------------------------
    def update_quote(self, tick: Tick) -> None:
        row = self._rows.get(tick.symbol)
        if row is None:
            return
        price = tick.last if math.isfinite(tick.last) else tick.mid
        prev = row.last if math.isfinite(row.last) else price
        row.last, row.bid, row.ask, row.spread = price, tick.bid, tick.ask, tick.spread
        if price != prev:
            row.flash = 1 if price > prev else -1
            self.flashing[row.symbol] = self._now() + FLASH_S
        if not row.spark or row.spark[-1] != price:
            row.spark.append(price)
            row.spark_text = None
        self._measure_change(row)
        self.updates += 1
        self._row_changed(row)

    def _measure_change(self, row: _Row) -> None:
        """The row's change % from its last price and its symbol's reference, when both are in."""
        ref = self.reference.get(row.symbol)
        if ref:
            row.chg = (row.last / ref - 1.0) * 100.0

    def _row_changed(self, row: _Row) -> None:
        """Drop the row's strip and ask for its line to be drawn again, once until it is: at
        2,000 quotes/s a row changes several times between two frames."""
        row.strip = None
        if row.pending:
            return
        index = self._at.get(row.symbol)
        if index is None:
            return
        y = index - self.top + 1
        if 1 <= y < self.size.height:
            row.pending = True
            self.refresh(Region(0, y, self.size.width, 1))

    def _unflash(self) -> None:
        now = self._now()
        for symbol, until in list(self.flashing.items()):
            if until <= now:
                del self.flashing[symbol]
                row = self._rows.get(symbol)
                if row is not None:
                    row.flash = 0
                    self._row_changed(row)

    def set_reference(self, symbol: str, price: float) -> None:
        """The price the change % is measured against (the previous daily close): the row's
        change is measured again now, whether its last quote came before or after it."""
        self.reference[symbol] = price
        row = self._rows.get(symbol)
        if row is not None:
            self._measure_change(row)
            self._row_changed(row)

    def set_signal(self, signal: Signal) -> None:
        row = self._rows.get(signal.symbol)
        if row is None:
            return
        word, style = _SIGNAL[signal.action]
        row.signal = (f"{word} {signal.confidence:.2f}", style)
        self._row_changed(row)

    # -- sorting ----------------------------------------------------------------------------
    def action_cycle_sort(self) -> None:
        """symbol ↑ -> chg ↓ -> last ↓ -> spread ↑ -> symbol ↑ ..."""
        current = (self.sort_key or "symbol", self.sort_reverse)
        i = SORT_CYCLE.index(current) if current in SORT_CYCLE else -1
        self.sort_by(*SORT_CYCLE[(i + 1) % len(SORT_CYCLE)])

    def sort_by(self, key: str, reverse: bool = False) -> None:
        selected = self.selected_symbol()

        def value(symbol: str) -> tuple[bool, object]:
            if key == "symbol":
                return (True, symbol)
            v = getattr(self._rows[symbol], key)
            return (math.isfinite(v) == reverse, v if math.isfinite(v) else 0.0)

        self.order.sort(key=value, reverse=reverse)
        self._reindex()
        self.sort_key, self.sort_reverse = key, reverse
        self._remeasure()
        if selected is not None:
            self.cursor = self._at[selected]
        self._show_sort()
        self.refresh()

    def sort_label(self, column: Column) -> str:
        """The column's header: its label, and the sort's direction if it is the sort column."""
        if column.key != self.sort_key:
            return column.label
        return f"{column.label}{'▼' if self.sort_reverse else '▲'}"

    def _show_sort(self) -> None:
        """The sort key and the current sort, under the list."""
        if self.sort_key is None:
            self.border_subtitle = "s: sort"
        else:
            self.border_subtitle = f"s: sort · {self.sort_label(_BY_KEY[self.sort_key])}"

    # -- column widths ----------------------------------------------------------------------
    def _remeasure(self) -> None:
        """Every column's natural width again, from the headers and every row's cells."""
        self._natural = {c.key: max(c.min_width, cell_len(self.sort_label(c))) for c in COLUMNS}
        for row in self._rows.values():
            self._measure([self._cell(row, key) for key in _KEYS])
        self._relayout()

    def _measure(self, cells: Sequence[tuple[str, str]]) -> bool:
        """Widen the columns these cells overflow; whether any did."""
        natural = self._natural
        grew = False
        for key, (text, _) in zip(_KEYS, cells, strict=True):
            if cell_len(text) > natural[key]:
                natural[key] = cell_len(text)
                grew = True
        return grew

    def _relayout(self) -> None:
        self._layout = None
        self._header = None
        for row in self._rows.values():
            row.strip = None
        self.refresh()

    def _columns(self, width: int) -> list[tuple[Column, int]]:
        if self._layout is None or self._layout_width != width:
            self._layout = fit_columns(self._natural, width)
            self._layout_width = width
            self._header = None
        return self._layout

    @property
    def shown_columns(self) -> list[str]:
        """The keys of the columns drawn at the widget's width now."""
        return [column.key for column, _ in self._columns(self.size.width)]

    # -- drawing ----------------------------------------------------------------------------
    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = (
                self.get_component_rich_style(f"watchlist--{name}", partial=True)
                if name
                else self.rich_style
            )
        return style

    def _fmt(self, symbol: str, price: float) -> str:
        return price_text(price, self.decimals.get(symbol, 2))

    def _cell(self, row: _Row, column: str) -> tuple[str, str]:
        """(text, style name) of one cell."""
        if column == "symbol":
            return row.symbol, "symbol"
        if column == "last":
            flash = {1: "flash-up", -1: "flash-down"}.get(row.flash, "")
            return self._fmt(row.symbol, row.last), flash
        if column == "chg":
            if not math.isfinite(row.chg):
                return "—", "dim"
            return f"{row.chg:+.2f}%", "up" if row.chg > 0 else "down" if row.chg < 0 else ""
        if column == "spark":
            spark = row.spark
            trend = "up" if spark and spark[-1] >= spark[0] else "down"
            if row.spark_text is None:
                row.spark_text = sparkline(spark)
            return row.spark_text, trend
        if column == "signal":
            return row.signal if row.signal[0] else ("—", "dim")
        return self._fmt(row.symbol, getattr(row, column)), ""

    def _cell_style(self, cursor: bool, name: str) -> Style:
        key = (cursor, name)
        style = self._cell_styles.get(key)
        if style is None:
            base = self._style("") + self._style("cursor") if cursor else self._style("")
            style = self._cell_styles[key] = base + self._style(name) if name else base
        return style

    @staticmethod
    def _line(
        layout: list[tuple[Column, int]], cells: list[tuple[str, Style]], base: Style, width: int
    ) -> Strip:
        """The row's strip, exactly ``width`` cells (cells padded to their column, then the
        rest of the line in ``base``), built in one pass. Only a flexible column is ever
        narrower than its text (a sparkline keeps its newest points); the symbol alone may
        be cropped at the line's end, on a widget narrower than it."""
        gap = Segment(" " * _GAP, base)
        segments = [Segment(" ", base)]
        length = 1
        for (column, cell_width), (text, style) in zip(layout, cells, strict=True):
            if length > 1:
                segments.append(gap)
                length += _GAP
            if column.flexible and cell_len(text) > cell_width:
                text = text[len(text) - cell_width :]
            text = f"{text:{column.align}{cell_width}}"
            segments.append(Segment(text, style))
            length += cell_len(text)
        if length < width:
            segments.append(Segment(" " * (width - length), base))
        elif length > width:
            return Strip(segments, length).crop(0, width)
        return Strip(segments, width)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self._style("")
        if y == 0:
            layout = self._columns(width)
            if self._header is None or self._header.cell_length != width:
                header = base + self._style("header")
                cells = [(self.sort_label(column), header) for column, _ in layout]
                self._header = self._line(layout, cells, base, width)
            return self._header
        index = self.top + y - 1
        if not 0 <= index < len(self.order):
            return Strip.blank(width, base)
        row = self._rows[self.order[index]]
        row.pending = False
        if row.strip is None or row.strip.cell_length != width:
            cursor = index == self.cursor
            texts = [self._cell(row, key) for key in _KEYS]
            if self._measure(texts):
                self._relayout()  # the rows drawn already this frame are drawn again
            layout = self._columns(width)
            cells = []
            for column, _ in layout:
                text, style = texts[_INDEX[column.key]]
                cells.append((text, self._cell_style(cursor, style)))
            row.strip = self._line(layout, cells, self._cell_style(cursor, ""), width)
        return row.strip

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._header = None
        self._styles.clear()
        self._cell_styles.clear()
        for row in self._rows.values():
            row.strip = None

    def on_focus(self) -> None:
        self._restyle_cursor()

    def on_blur(self) -> None:
        self._restyle_cursor()

    def _restyle_cursor(self) -> None:
        if self.order:
            self._rows[self.order[self.cursor]].strip = None
            self.refresh()
