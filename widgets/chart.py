"""The price chart: candlesticks, volume, overlays, levels, a crosshair; pan and zoom.

Bars live in bounded numpy arrays (the last ``MAX_BARS``), so a long session never grows
memory. Live ticks update the forming bar in place; history and overlays arrive from the
screen (loaded in workers). Colours come from component classes, so the .tcss and themes
decide them. numpy is imported by the first bars, not by this module: an empty chart (the
first frame) draws without it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, cast

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from engine.model import Bar, Tick
from engine.timeframes import DAY_NS, parse
from widgets.candles import (
    GLYPH_BY_CODE,
    NEWS_GLYPHS,
    candle_cells,
    group_bars,
    news_cells,
    nice_ticks,
    price_range,
    value_row,
    volume_cells,
)

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

MAX_BARS = 2_000
MIN_ZOOM = 8
MINUTE_NS = 60 * 10**9
NO_BARS = cast("np.ndarray", ())
"""The bars of a chart that has none: empty like an array, without importing numpy."""


class PriceLevel(Protocol):
    """A horizontal price line (engine.signals.levels.Level: Fibonacci, Gann...)."""

    @property
    def name(self) -> str: ...

    @property
    def price(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Line:
    """A :class:`PriceLevel` as plain values, e.g. an engine level brought back from the
    engine's worker without importing the engine's modules on the screen's side."""

    name: str
    price: float


@dataclass(frozen=True, slots=True)
class Overlay:
    """A series drawn over the candles, aligned with the chart's bars (NaN = no value)."""

    name: str
    values: np.ndarray
    style: str = "ema"


class Chart(Widget, can_focus=True):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "chart--up",
        "chart--down",
        "chart--axis",
        "chart--ema",
        "chart--band",
        "chart--level",
        "chart--cursor",
        "chart--turn",
        "chart--readout",
        "chart--news-positive",
        "chart--news-negative",
        "chart--news-neutral",
    }
    DEFAULT_CSS = """
    Chart { height: 1fr; min-height: 6; }
    Chart > .chart--up { color: $success; }
    Chart > .chart--down { color: $error; }
    Chart > .chart--axis { color: $text-muted; }
    Chart > .chart--ema { color: $warning; }
    Chart > .chart--band { color: $accent 70%; }
    Chart > .chart--level { color: $secondary; }
    Chart > .chart--cursor { background: $foreground 15%; }
    Chart > .chart--turn { color: $accent; text-style: bold; }
    Chart > .chart--readout { color: $text; }
    Chart > .chart--news-positive { color: $success; text-style: bold; }
    Chart > .chart--news-negative { color: $error; text-style: bold; }
    Chart > .chart--news-neutral { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "cursor(-1)", "◀ bar", show=False, id="chart.cursor_left"),
        Binding("right", "cursor(1)", "bar ▶", show=False, id="chart.cursor_right"),
        Binding("shift+left,h", "pan(10)", "Pan back", show=False, id="chart.pan_back"),
        Binding("shift+right,l", "pan(-10)", "Pan fwd", show=False, id="chart.pan_forward"),
        Binding("plus,equals_sign", "zoom(0.5)", "Zoom in", id="chart.zoom_in"),
        Binding("minus", "zoom(2)", "Zoom out", id="chart.zoom_out"),
        Binding("end", "latest", "Latest", show=False, id="chart.latest"),
        Binding("home", "oldest", "Oldest", show=False, id="chart.oldest"),
    ]

    zoom: reactive[int] = reactive(0, always_update=True)  # 0 = one bar per column
    bars_back: reactive[int] = reactive(0, always_update=True)  # 0 = the latest bar at the right
    cursor: reactive[int | None] = reactive(None, always_update=True)

    class ViewChanged(Message):
        """The visible window moved (pan/zoom); the screen may show the range."""

        def __init__(self, zoom: int, bars_back: int) -> None:
            super().__init__()
            self.zoom = zoom
            self.bars_back = bars_back

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.symbol = ""
        self.timeframe = "1m"
        self.decimals = 2
        self.message = "loading…"
        self._tf_ns = parse("1m").ns
        self._sealed: int | None = None
        """The time of the newest closed bar put in place: quotes no longer change it."""
        self._ts = self._o = self._h = self._l = self._c = self._v = NO_BARS
        self.overlays: list[Overlay] = []
        self.levels: list[PriceLevel] = []
        self.turns: list[tuple[float, str]] = []  # (bars ahead of the last bar, "peak"|"trough")
        self.news: list[tuple[int, float | None]] = []
        """The shown symbol's news as (ts_ns, score): markers in a row of their own under
        the volume, at the bar of their time."""
        self.redraws = 0
        self.ticks = 0
        self._dirty = False
        self._strips: list[Strip] | None = None
        self._strips_width = 0
        self._era = 0
        """Counts the changes other than the forming bar's (history, a new bar, overlays,
        levels, turns): the price rows' cached columns are only good within one era."""
        self._rows_key: tuple[object, ...] | None = None
        self._rows: list[tuple[list[Segment], tuple[str, Style] | None]] = []
        """Per price row: the segments of every column but the last, and the last run of
        them still open to merge with the last column (see :meth:`_price_row`)."""

    # -- data -------------------------------------------------------------------------------
    @property
    def bar_count(self) -> int:
        return len(self._c)

    def switch_to(self, symbol: str, timeframe: str, decimals: int) -> None:
        """Show ``symbol`` at ``timeframe`` from now on, in one step: the bars of the pair shown
        so far go, and the chart says it is loading until :meth:`set_history` brings the new
        pair's bars. No frame shows one pair's bars under the other's name."""
        tf_ns = parse(timeframe).ns
        self.symbol, self.timeframe, self.decimals, self._tf_ns = symbol, timeframe, decimals, tf_ns
        self._ts = self._o = self._h = self._l = self._c = self._v = NO_BARS
        self.overlays, self.levels, self.turns, self.news = [], [], [], []
        self.bars_back, self.cursor = 0, None
        self.message = f"loading {symbol} {timeframe}…"
        self._era += 1
        self.refresh()

    def set_history(self, symbol: str, timeframe: str, frame: pl.DataFrame, decimals: int) -> None:
        import numpy as np

        frame = frame.tail(MAX_BARS)
        self.symbol, self.timeframe, self.decimals = symbol, timeframe, decimals
        self._tf_ns = parse(timeframe).ns
        self._ts = frame["ts"].to_numpy().astype(np.int64).copy()
        self._o, self._h, self._l, self._c, self._v = (
            frame[c].to_numpy().astype(np.float64).copy()
            for c in ("open", "high", "low", "close", "volume")
        )
        self.overlays, self.levels, self.turns = [], [], []
        self.bars_back, self.cursor = 0, None
        self._sealed = None
        self.message = "" if len(self._c) else f"no {timeframe} history for {symbol}"
        self._era += 1
        self.refresh()

    def set_message(self, text: str) -> None:
        self.message = text
        self._era += 1
        self.refresh()

    def bars(self) -> pl.DataFrame:
        """The chart's bars as an OHLCV frame (for overlays computed elsewhere)."""
        import numpy as np
        import polars as pl

        prices = {
            name: np.asarray(values, dtype=np.float64)
            for name, values in (
                ("open", self._o), ("high", self._h), ("low", self._l),
                ("close", self._c), ("volume", self._v),
            )
        }  # fmt: skip
        return pl.DataFrame({"ts": np.asarray(self._ts, dtype=np.int64), **prices})

    def add_tick(self, tick: Tick) -> bool:
        """Fold a live tick into the forming bar; True if it opened a new bar."""
        if tick.symbol != self.symbol or not len(self._ts):
            return False
        price = tick.last if math.isfinite(tick.last) else tick.mid
        if not math.isfinite(price):
            return False
        self.ticks += 1
        start = tick.ts_ns - tick.ts_ns % self._tf_ns
        opened = False
        if start > self._ts[-1]:
            self._append(start, price)
            opened = True
        elif start < self._ts[-1] or start == self._sealed:
            return False
        i = len(self._c) - 1
        self._h[i] = max(self._h[i], price)
        self._l[i] = min(self._l[i], price)
        self._c[i] = price
        self._v[i] += tick.volume
        self._dirty = True
        return opened

    def add_bar(self, bar: Bar) -> bool:
        """Put a closed bar of the chart's series in its place with its own OHLCV: it replaces
        the bar the quotes built for its time, or fills one they never reached. True if shown
        (a bar of another symbol or timeframe, or before any history, is not)."""
        if bar.symbol != self.symbol or not len(self._ts) or parse(bar.timeframe).ns != self._tf_ns:
            return False
        import numpy as np

        values = (bar.open, bar.high, bar.low, bar.close, bar.volume)
        i = int(np.searchsorted(self._ts, bar.ts_ns))
        if i < len(self._ts) and self._ts[i] == bar.ts_ns:
            for column, value in zip(
                (self._o, self._h, self._l, self._c, self._v), values, strict=True
            ):
                column[i] = value
        else:
            if i == 0 and len(self._ts) >= MAX_BARS:
                return False
            self._ts = np.insert(self._ts, i, bar.ts_ns)[-MAX_BARS:]
            self._o, self._h, self._l, self._c, self._v = (
                np.insert(column, i, value)[-MAX_BARS:]
                for column, value in zip(
                    (self._o, self._h, self._l, self._c, self._v), values, strict=True
                )
            )
            self.overlays = [
                Overlay(o.name, np.insert(o.values, i, np.nan)[-MAX_BARS:], o.style)
                for o in self.overlays
            ]
        if self._sealed is None or bar.ts_ns > self._sealed:
            self._sealed = bar.ts_ns
        self._era += 1
        self._dirty = True
        return True

    def _append(self, start: int, price: float) -> None:
        import numpy as np

        keep = MAX_BARS - 1
        self._ts = np.append(self._ts[-keep:], start)
        self._o = np.append(self._o[-keep:], price)
        self._h = np.append(self._h[-keep:], price)
        self._l = np.append(self._l[-keep:], price)
        self._c = np.append(self._c[-keep:], price)
        self._v = np.append(self._v[-keep:], 0.0)
        self.overlays = [
            Overlay(o.name, np.append(o.values[-keep:], np.nan), o.style) for o in self.overlays
        ]
        self._era += 1

    def set_overlays(self, overlays: Sequence[Overlay]) -> None:
        n = len(self._c)
        self.overlays = [o for o in overlays if len(o.values) == n]
        self._era += 1
        self.refresh()

    def set_levels(self, levels: Sequence[PriceLevel]) -> None:
        self.levels = list(levels)
        self._era += 1
        self.refresh()

    def set_turns(self, turns: Sequence[tuple[float, str]]) -> None:
        self.turns = list(turns)
        self._era += 1
        self.refresh()

    def set_news(self, marks: Sequence[tuple[int, float | None]]) -> None:
        """The news of the shown symbol as (ts_ns, score in [-1, 1] or None), in any order:
        a marker each under the bar of its time (▲ positive, ▼ negative, • neutral; a column
        of several shows their mean's). They go with the symbol (:meth:`switch_to`); new bars
        of the same symbol keep them."""
        self.news = list(marks)
        self._era += 1  # the marker row takes a price row: the cached rows are stale
        self.refresh()

    def on_mount(self) -> None:
        self.set_interval(1 / 4, self._flush)

    def _flush(self) -> None:
        if self._dirty:
            self._dirty = False
            self.refresh()

    # -- view -------------------------------------------------------------------------------
    def _plot_width(self) -> int:
        return max(1, self.size.width - self._axis_width())

    def _axis_width(self) -> int:
        """Room for every price the axis can show (the range is padded past the bars, and a
        tick can round up a digit) and every level's whole label, a space either side."""
        if not len(self._c):
            return 10
        import numpy as np

        finite = np.isfinite(self._h) & np.isfinite(self._l)
        if finite.any():
            high, low = float(self._h[finite].max()), float(self._l[finite].min())
        else:
            high = low = 1.0
        reach = max(abs(high), abs(low)) * 1.25 + 1.0
        price = len(f"{-reach if min(high, low) < 0 else reach:,.{self.decimals}f}")
        label = max((len(lv.name) for lv in self.levels), default=0)
        return max(price, label) + 2

    def _window(self) -> tuple[int, int, int]:
        """(start, end, k): source bars [start, end) shown, k bars per column."""
        n = len(self._c)
        width = self._plot_width()
        zoom = max(MIN_ZOOM, min(self.zoom or width, max(n, MIN_ZOOM)))
        k = max(1, math.ceil(zoom / width))
        end = max(0, n - self.bars_back)
        start = max(0, end - zoom)
        return start, end, k

    def validate_zoom(self, value: int) -> int:
        return 0 if value == 0 else max(MIN_ZOOM, min(value, MAX_BARS))

    @property
    def visible_bars(self) -> int:
        start, end, _ = self._window()
        return end - start

    def validate_bars_back(self, value: int) -> int:
        return max(0, min(value, max(0, len(self._c) - MIN_ZOOM)))

    def watch_zoom(self) -> None:
        self.post_message(self.ViewChanged(self.zoom, self.bars_back))

    def watch_bars_back(self) -> None:
        self.post_message(self.ViewChanged(self.zoom, self.bars_back))

    def action_zoom(self, factor: float) -> None:
        self.zoom = round((self.zoom or self._plot_width()) * factor)

    def action_pan(self, bars: int) -> None:
        self.bars_back += bars

    def action_latest(self) -> None:
        self.bars_back, self.cursor = 0, None

    def action_oldest(self) -> None:
        self.bars_back = len(self._c)

    def action_cursor(self, step: int) -> None:
        columns = self._columns()
        if columns == 0:
            return
        current = columns - 1 if self.cursor is None else self.cursor
        target = current + step
        if target < 0:
            self.bars_back += 1
            target = 0
        elif target >= columns:
            if self.bars_back > 0:
                self.bars_back -= 1
            target = columns - 1
        self.cursor = target

    def _columns(self) -> int:
        start, end, k = self._window()
        return (end - start) // k

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.action_zoom(0.8)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.action_zoom(1.25)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        start, end, k = self._window()
        columns = (end - start) // k
        if 0 <= event.x < columns:
            self.cursor = event.x

    def on_leave(self, event: events.Leave) -> None:
        self.cursor = None

    # -- drawing ----------------------------------------------------------------------------
    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"chart--{name}", partial=True)

    def readout(self, width: int | None = None) -> str:
        """The crosshair line: the bar under the cursor (or the latest) in words; in ``width``
        cells, the fullest of its shorter forms that fits (:func:`fit_readout`)."""
        start, end, k = self._window()
        if end <= start:
            text = f"{self.symbol} {self.timeframe}  {self.message}"
            return text if width is None else text[:width]
        o, h, lo, c, v = group_bars(
            self._o[start:end], self._h[start:end], self._l[start:end],
            self._c[start:end], self._v[start:end], k,
        )  # fmt: skip
        col = len(c) - 1 if self.cursor is None else min(self.cursor, len(c) - 1)
        ts_index = end - (len(c) - col) * k
        bar = ReadoutBar(
            f"{self.symbol} {self.timeframe}{'×' + str(k) if k > 1 else ''}",
            int(self._ts[max(ts_index, 0)]), self._tf_ns,
            float(o[col]), float(h[col]), float(lo[col]), float(c[col]), float(v[col]),
        )  # fmt: skip
        return fit_readout(bar, self.decimals, width)

    @property
    def behind(self) -> bool:
        """Whether bars or quotes came in that the screen does not show yet: they are drawn
        by the next flush, at most a quarter of a second away (quotes coalesce until then)."""
        return self._dirty

    def refresh(self, *regions: Any, **kwargs: Any) -> Self:
        self._strips = None
        self._dirty = False
        return super().refresh(*regions, **kwargs)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self._strips is None or self._strips_width != width:
            base = self.rich_style  # walks the DOM for the background: once per build
            self._strips = [
                Strip(line).extend_cell_length(width, base).crop(0, width)
                for line in self._build(base).lines
            ]
            self._strips_width = width
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self.rich_style)

    def _build(self, base: Style) -> _Lines:
        self.redraws += 1
        width, height = self.size.width, self.size.height
        out = _Lines(base)
        out.append(self.readout(width), self._style("readout"))
        if height < 4 or not len(self._c):
            if self.message:
                out.append("\n" + self.message[:width], self._style("axis"))
            return out
        vol_rows = 2 if height >= 14 else 1 if height >= 9 else 0
        news_rows = 1 if self.news and height >= 6 else 0
        rows = height - 2 - vol_rows - news_rows
        start, end, k = self._window()
        o, h, lo, c, v = group_bars(
            self._o[start:end], self._h[start:end], self._l[start:end],
            self._c[start:end], self._v[start:end], k,
        )  # fmt: skip
        overlays = [(ov, self._grouped_overlay(ov.values, start, end, k)) for ov in self.overlays]
        bottom, top = price_range(h, lo, *(vals for _, vals in overlays))
        cells = candle_cells(o, h, lo, c, rows, bottom, top)
        up = c >= o
        axis_w = self._axis_width()
        plot_w = width - axis_w
        cols = min(len(c), plot_w)
        cells, up = cells[:, -cols:] if cols else cells[:, :0], up[-cols:] if cols else up[:0]
        overlay_rows = [
            (ov.style, [value_row(x, rows, bottom, top) for x in vals[-cols:]] if cols else [])
            for ov, vals in overlays
        ]
        level_rows = [(lv, value_row(lv.price, rows, bottom, top)) for lv in self.levels]
        tick_rows = {value_row(t, rows, bottom, top): t for t in nice_ticks(bottom, top, rows // 2)}
        last_row = value_row(float(c[-1]), rows, bottom, top) if self.bars_back == 0 else None
        cursor = None if self.cursor is None else min(self.cursor, cols - 1)
        s_up, s_down, s_axis = self._style("up"), self._style("down"), self._style("axis")
        s_cursor, s_level = self._style("cursor"), self._style("level")
        d = self.decimals
        styles = (out.base, s_up, s_down, s_axis, s_cursor, s_level)
        key = (self._era, width, height, start, end, k, bottom, top, cursor, styles,
               tuple(self._style(ov.style) for ov in self.overlays))  # fmt: skip
        if key != self._rows_key:
            self._rows_key, self._rows = key, []
        codes, ups = cells.tolist(), up.tolist()
        if not self._rows:
            level_at = [lr for _, lr in level_rows]
            self._rows = self._price_rows(
                out.base, cols - 1, cells, up, overlay_rows, level_at, cursor, styles
            )
        for r in range(rows):
            out.append("\n")
            level_here = [lv for lv, lr in level_rows if lr == r]
            args = (codes[r], ups, overlay_rows, r, cursor, level_here, styles)
            segments, tail = self._rows[r]
            line = [tail] if tail is not None else []
            if cols:
                line = _merge_into(line, self._cell(cols - 1, *args))
            pad = plot_w - cols
            if pad > 0:
                fill = "┈" if level_here else " "
                line = _merge_into(line, (fill * pad, s_level if level_here else s_axis))
            out.lines[-1].extend(segments)
            for ch, style in line:
                out.append(ch, style)
            if r == last_row:
                out.append(f" {c[-1]:,.{d}f}".ljust(axis_w)[:axis_w], s_up if up[-1] else s_down)
            elif level_here:
                out.append(f" {level_here[0].name}"[:axis_w].ljust(axis_w), self._style("level"))
            elif r in tick_rows:
                out.append(f" {tick_rows[r]:,.{d}f}".ljust(axis_w)[:axis_w], s_axis)
            else:
                out.append(" " * axis_w)
        dim = Style(dim=True)
        vol_styles = [out.base + (s_down + dim), out.base + (s_up + dim)]
        vol_cursor = [out.base + (s_down + dim + s_cursor), out.base + (s_up + dim + s_cursor)]
        for line_text in volume_cells(v[-cols:] if cols else v[:0], vol_rows):
            out.append("\n")
            line_segments = out.lines[-1]
            for x, ch in enumerate(line_text):
                full = (vol_cursor if x == cursor else vol_styles)[ups[x]]
                line_segments.append(Segment(ch, full))
            out.append(" " * (width - len(line_text)))
        if news_rows:
            out.append("\n")
            self._news_row(out, start, end, k, cols, cursor, width)
        out.append("\n")
        out.append(self._time_axis(start, end, k, cols, width), s_axis)
        return out

    def _news_row(
        self, out: _Lines, start: int, end: int, k: int, cols: int, cursor: int | None, width: int
    ) -> None:
        """The marker row: a glyph under each column with news, coloured by its tone (the
        cursor's column highlighted as in the rows above)."""
        marks = news_cells(self._ts, self._tf_ns, start, end, k, cols, self.news)
        if cursor is not None and 0 <= cursor < cols:
            marks.setdefault(cursor, "")
        s_cursor = self._style("cursor")
        x = 0
        for column in sorted(marks):
            if column > x:
                out.append(" " * (column - x))
            kind = marks[column]
            glyph, style = (NEWS_GLYPHS[kind], self._style(f"news-{kind}")) if kind else (" ", None)
            if column == cursor:
                style = s_cursor if style is None else style + s_cursor
            out.append(glyph, style)
            x = column + 1
        out.append(" " * (width - x))

    def _cell(
        self,
        x: int,
        codes: list[int],
        ups: list[bool],
        overlay_rows: list[tuple[str, list[int | None]]],
        r: int,
        cursor: int | None,
        levels: list[PriceLevel],
        styles: tuple[Style, ...],
    ) -> tuple[str, Style]:
        """Price row ``r``, column ``x``: its glyph and style."""
        code = codes[x]
        style = styles[1] if ups[x] else styles[2]
        ch = GLYPH_BY_CODE[code]
        if code == 0:
            ch, style = self._overlay_glyph(overlay_rows, r, x, levels, style)
        if cursor is not None and x == cursor:
            style = style + styles[4]
        return ch, style

    def _price_rows(
        self,
        base: Style,
        columns: int,
        cells: np.ndarray,
        up: np.ndarray,
        overlay_rows: list[tuple[str, list[int | None]]],
        level_at: list[int | None],
        cursor: int | None,
        styles: tuple[Style, ...],
    ) -> list[tuple[list[Segment], tuple[str, Style] | None]]:
        """Every price row's first ``columns`` columns, merged into runs of one style: all but
        the last run as segments, and the last run, which the next column may join. Only the
        last column (the forming bar) changes with a tick, so these are kept for the era.

        Built over the whole grid with numpy (a glyph and a style number per cell, as
        :meth:`_cell` picks them), so Python only loops over the runs, not the cells."""
        rows = cells.shape[0]
        if columns <= 0:
            return [([], None)] * rows
        import numpy as np

        codes = cells[:, :columns]
        glyphs = np.asarray(GLYPH_BY_CODE)[codes]
        # Style numbers: 0 down, 1 up, 2 level, 3.. each overlay; plus len(palette) when the
        # cursor's style is added.
        palette = [styles[2], styles[1], self._style("level")]
        palette += [self._style(name) for name, _ in overlay_rows]
        sid = np.broadcast_to(up[:columns].astype(np.int64), codes.shape).copy()
        free = codes == 0
        row_index = np.arange(rows)[:, None]
        for i, (name, ys) in enumerate(overlay_rows):
            at = np.array([-1 if y is None else y for y in ys[:columns]], dtype=np.int64)
            hit = free & (at[None, :] == row_index)
            glyphs[hit] = "•" if name == "ema" else "·"
            sid[hit] = 3 + i
            free &= ~hit
        levelled = np.zeros(rows, dtype=bool)
        levelled[[lr for lr in level_at if lr is not None]] = True
        hit = free & levelled[:, None]
        glyphs[hit] = "┈"
        sid[hit] = 2
        if cursor is not None and 0 <= cursor < columns:
            sid[:, cursor] += len(palette)
        palette += [style + styles[4] for style in palette]
        canonical = np.array([palette.index(style) for style in palette], dtype=np.int64)
        sid = canonical[sid]
        full = [base + style for style in palette]
        texts = np.ascontiguousarray(glyphs).view(f"<U{columns}").ravel().tolist()
        changes = np.diff(sid, axis=1) != 0
        out: list[tuple[list[Segment], tuple[str, Style] | None]] = []
        for r in range(rows):
            text, row_sid = texts[r], sid[r]
            cuts = [0, *(np.flatnonzero(changes[r]) + 1).tolist(), columns]
            ids = row_sid[cuts[:-1]].tolist()
            runs = zip(cuts[:-2], cuts[1:-1], ids[:-1], strict=True)
            segments = [Segment(text[a:b], full[i]) for a, b, i in runs]
            out.append((segments, (text[cuts[-2] :], palette[ids[-1]])))
        return out

    def _grouped_overlay(self, values: np.ndarray, start: int, end: int, k: int) -> np.ndarray:
        seg = values[start:end]
        if k <= 1:
            return seg
        n = len(seg) // k * k
        return seg[len(seg) - n :].reshape(-1, k)[:, -1]

    def _overlay_glyph(
        self,
        overlay_rows: list[tuple[str, list[int | None]]],
        r: int,
        x: int,
        levels: list[PriceLevel],
        default: Style,
    ) -> tuple[str, Style]:
        for style_name, ys in overlay_rows:
            if ys[x] == r:
                return ("•" if style_name == "ema" else "·"), self._style(style_name)
        if levels:
            return "┈", self._style("level")
        return " ", default

    def _time_axis(self, start: int, end: int, k: int, cols: int, width: int) -> str:
        if cols == 0:
            return ""
        ts = self._ts[start:end]
        n = len(ts) // k * k
        stamps = ts[len(ts) - n :: k][-cols:].tolist()
        turns = " · ".join(f"{kind} in {ahead:.1f}" for ahead, kind in sorted(self.turns))
        note = f" next {turns} bars" if turns and self.bars_back == 0 else ""
        room = max(0, min(cols, width - len(note)))
        text = time_labels(stamps, self._tf_ns * k, room).ljust(width - len(note))
        return (text + note)[:width]


def time_labels(stamps: Sequence[int], tf_ns: int, width: int) -> str:
    """The time axis under columns starting at ``stamps`` (UTC ns), in ``width`` cells: a label
    every dozen columns or so, each whole. Intraday, a label shows the date (``12-01``) where the
    day changed since the label before it, and the time (``04:00``) otherwise; daily and longer,
    the year (``2025``) where the year changed and the date otherwise. No label repeats the one
    beside it."""
    daily = tf_ns >= DAY_NS
    clock = "%H:%M" if tf_ns >= MINUTE_NS else "%H:%M:%S"
    label_w = 5 if daily or tf_ns >= MINUTE_NS else 8
    step = max(12, label_w + 3)
    chars = [" "] * width
    previous: tuple[time.struct_time, str] | None = None
    for x in range(0, min(len(stamps), width - label_w + 1), step):
        moment = time.gmtime(stamps[x] / 1e9)
        if daily:
            new_era = previous is None or previous[0].tm_year != moment.tm_year
            label = time.strftime("%Y" if new_era and previous else "%m-%d", moment)
        else:
            day = moment.tm_yday, moment.tm_year
            new_day = previous is None or (previous[0].tm_yday, previous[0].tm_year) != day
            label = time.strftime("%m-%d" if new_day else clock, moment)
        if previous is not None and label == previous[1]:
            continue
        chars[x : x + len(label)] = label
        previous = moment, label
    return "".join(chars)


@dataclass(frozen=True, slots=True)
class ReadoutBar:
    """The bar the readout describes: ``head`` (symbol and timeframe), its start, its prices."""

    head: str
    ts_ns: int
    tf_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: float


def fit_readout(bar: ReadoutBar, decimals: int, width: int | None = None) -> str:
    """The readout in ``width`` cells (all of it when None). Shorter forms drop whole fields,
    never part of one: the volume is abbreviated, then dropped; then the date of an intraday
    bar (the time stays); then the change, the open, the high and low. Prices keep the
    instrument's ``decimals`` in every form."""
    daily = bar.tf_ns >= DAY_NS
    moment = time.gmtime(bar.ts_ns / 1e9)
    long_stamp = time.strftime("%Y-%m-%d" if daily else "%m-%d %H:%M", moment)
    short_stamp = time.strftime("%m-%d" if daily else "%H:%M", moment)
    o, h, lo, c = (f"{p:,.{decimals}f}" for p in (bar.open, bar.high, bar.low, bar.close))
    chg = f"({(bar.close / bar.open - 1) * 100 if bar.open else 0.0:+.2f}%)"
    ohlc = f"O {o} H {h} L {lo} C {c}"
    forms = [
        (long_stamp, f"{ohlc} {chg} V {_exact(bar.volume)}"),
        (long_stamp, f"{ohlc} {chg} V {_abbreviated(bar.volume)}"),
        (long_stamp, f"{ohlc} {chg}"),
        (short_stamp, f"{ohlc} {chg}"),
        (short_stamp, ohlc),
        (short_stamp, f"H {h} L {lo} C {c}"),
        (short_stamp, f"C {c} {chg}"),
        (short_stamp, f"C {c}"),
        ("", f"C {c}"),
    ]
    if width is None:
        return "  ".join((bar.head, *forms[0]))
    for form in forms:
        text = "  ".join(part for part in (bar.head, *form) if part)
        if len(text) <= width:
            return text
    return bar.head[:width]


def _exact(quantity: float) -> str:
    """A quantity as it is, to 8 decimals (the finest lot of any venue), zeros trimmed."""
    if not math.isfinite(quantity):
        return str(quantity)
    text = f"{quantity:,.8f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _abbreviated(quantity: float) -> str:
    """A quantity of a thousand or more to three significant digits with its scale (``12.3k``,
    ``4.56M``); a smaller one as it is."""
    if not math.isfinite(quantity) or abs(quantity) < 1e3:
        return _exact(quantity)
    for scale, suffix in ((1e3, "k"), (1e6, "M"), (1e9, "B"), (1e12, "T")):
        text = f"{quantity / scale:.3g}"
        if "e" not in text:
            return text + suffix
    return f"{quantity:.3g}"


class _Lines:
    """Segments line by line (what ``render_line`` serves), built like a rich Text."""

    def __init__(self, base: Style) -> None:
        self.base = base
        self.lines: list[list[Segment]] = [[]]

    def append(self, text: str, style: Style | None = None) -> None:
        full = self.base + style if style is not None else self.base
        for i, part in enumerate(text.split("\n")):
            if i:
                self.lines.append([])
            if part:
                self.lines[-1].append(Segment(part, full))


def _merge_into(runs: list[tuple[str, Style]], cell: tuple[str, Style]) -> list[tuple[str, Style]]:
    """``runs`` with ``cell`` added as :func:`_merge` would add it."""
    if runs and runs[-1][1] == cell[1]:
        runs[-1] = (runs[-1][0] + cell[0], cell[1])
    else:
        runs.append(cell)
    return runs
