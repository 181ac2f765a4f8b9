"""The building blocks every report shares: one self-contained Bokeh document written to a file,
the dark terminal theme, the time axes, the equity and drawdown curves and the tables.

A report is one HTML file with BokehJS inlined (``bokeh.resources.INLINE``): it opens offline,
from a mail attachment or a USB stick, and asks nothing of the network. It is written to a
temporary file beside the target and moved over it, so a reader never sees half a report.

Two time axes: real dates (``x_axis_type="datetime"``, for the account's equity, whose points
are irregular), and bar numbers labelled with their bars' dates (for a backtest, as
backtesting.py draws it: a weekend or a gap between sessions leaves no hole in the candles).
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from bokeh.embed import file_html
from bokeh.layouts import column
from bokeh.models import (
    ColumnDataSource,
    CustomJSTickFormatter,
    HoverTool,
    InlineStyleSheet,
    Range1d,
)
from bokeh.models.layouts import LayoutDOM
from bokeh.models.widgets import DataTable, Div, NumberFormatter, StringFormatter, TableColumn
from bokeh.plotting import figure
from bokeh.resources import INLINE
from bokeh.themes import Theme

BG = "#0b0e11"
PANEL = "#161a1e"
GRID = "#1e2329"
AXIS = "#474d57"
TEXT = "#b7bdc6"
BRIGHT = "#eaecef"
UP = "#0ecb81"
DOWN = "#f6465d"
ACCENT = "#f0b90b"
LINES = ("#f0b90b", "#3b82f6", "#a855f7", "#22d3ee", "#f97316", "#e879f9", "#84cc16")
"""The indicator lines' colours, in turn."""
TOOLS = "xpan,xwheel_zoom,box_zoom,reset,save"

THEME = Theme(
    json={
        "attrs": {
            "Plot": {
                "background_fill_color": BG,
                "border_fill_color": BG,
                "outline_line_color": GRID,
                "min_border_left": 70,
            },
            "Grid": {"grid_line_color": GRID, "grid_line_alpha": 1.0},
            "Axis": {
                "axis_line_color": AXIS,
                "major_tick_line_color": AXIS,
                "minor_tick_line_color": AXIS,
                "major_label_text_color": TEXT,
                "axis_label_text_color": TEXT,
                "major_label_text_font": "monospace",
            },
            "Title": {"text_color": BRIGHT, "text_font": "monospace", "text_font_style": "bold"},
            "Legend": {
                "background_fill_color": PANEL,
                "background_fill_alpha": 0.85,
                "border_line_color": GRID,
                "label_text_color": TEXT,
                "label_text_font": "monospace",
                "inactive_fill_color": BG,
            },
        }
    }
)
PAGE_CSS = f"""{{% block postamble %}}<style>
html, body {{ background: {BG}; color: {BRIGHT}; font-family: monospace; }}
body {{ padding: 8px 16px; }}
</style>{{% endblock %}}"""
"""The page around the Bokeh roots (``file_html`` extends its own template with this)."""
TABLE_CSS = f"""
:host {{ --bk-background: {BG}; }}
.slick-header-columns, .slick-header-column, .slick-headerrow {{
  background: {PANEL} !important; color: {BRIGHT} !important; border-color: {GRID} !important;
  font-family: monospace;
}}
.slick-row, .slick-cell {{
  background: {BG} !important; color: {TEXT} !important; border-color: {GRID} !important;
  font-family: monospace;
}}
.slick-row.odd, .slick-row.odd .slick-cell {{ background: {PANEL} !important; }}
.slick-cell.selected, .slick-row.active .slick-cell {{ background: #2b3139 !important; }}
.slick-viewport {{ background: {BG} !important; }}
"""
TEXT_STYLE = {"color": BRIGHT, "font-family": "monospace"}


class ReportError(ValueError):
    """A report that cannot be written where asked."""


def check_target(path: Path | str) -> Path:
    """``path`` as a report can be written to it (its folder exists, it is no folder itself),
    else a ReportError saying why; a command checks it before it does the work."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise ReportError(f"{target} is a folder; give the report a file name, e.g. report.html")
    if not target.parent.is_dir():
        raise ReportError(f"cannot write {target}: the folder {target.parent} does not exist")
    return target


def write_html(layout: LayoutDOM, path: Path | str, title: str) -> Path:
    """Write ``layout`` as one self-contained HTML document to ``path`` (atomically: a
    temporary file in the same folder, then moved over it) and return the path."""
    target = check_target(path)
    folder = target.parent
    html = file_html(layout, INLINE, title, template=PAGE_CSS, theme=THEME)
    # opened here rather than by mkstemp, so the file gets the umask's mode as any other
    tmp = folder / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with tmp.open("x", encoding="utf-8") as out:
            out.write(html)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


# -- time ---------------------------------------------------------------------------------------
def dates(ts_ns: np.ndarray) -> np.ndarray:
    """UTC nanoseconds as the datetimes Bokeh draws on a datetime axis."""
    return np.asarray(ts_ns, dtype=np.int64).astype("datetime64[ns]").astype("datetime64[ms]")


def time_hover(fig: Any, renderer: Any, tooltips: list[tuple[str, str]]) -> None:
    """Hover over ``renderer`` at the pointer's x: its time (``@when``) first, then
    ``tooltips``."""
    fig.add_tools(
        HoverTool(renderers=[renderer], tooltips=[("time", "@when"), *tooltips], mode="vline")
    )


def bar_axis(fig: Any, labels: Sequence[str]) -> None:
    """Label ``fig``'s x axis of bar numbers with each bar's date (``labels[i]``)."""
    fig.xaxis.formatter = CustomJSTickFormatter(
        args={"labels": list(labels)},
        code="const i = Math.round(tick); return (i >= 0 && i < labels.length) ? labels[i] : ''",
    )


def new_figure(
    title: str,
    height: int,
    *,
    x_range: Any = None,
    labels: Sequence[str] | None = None,
    y_label: str = "",
) -> Any:
    """A stretched figure of the report's look: on bar numbers labelled with ``labels``, or
    on real dates when ``labels`` is None; sharing ``x_range`` when given."""
    kwargs: dict[str, Any] = {} if x_range is None else {"x_range": x_range}
    fig = figure(
        title=title,
        height=height,
        sizing_mode="stretch_width",
        tools=TOOLS,
        active_drag="xpan",
        active_scroll="xwheel_zoom",
        x_axis_type="linear" if labels is not None else "datetime",
        **kwargs,
    )
    fig.toolbar.logo = None
    fig.yaxis.axis_label = y_label
    if labels is not None:
        bar_axis(fig, labels)
    return fig


def bar_range(n: int) -> Range1d:
    """The x range of ``n`` bars, with half a bar of room at each end; zooming stops there."""
    return Range1d(start=-0.5, end=n - 0.5, bounds=(-0.5, max(n - 0.5, 0.5)))


# -- curves -------------------------------------------------------------------------------------
def equity_figure(
    x: np.ndarray,
    equity: np.ndarray,
    when: Sequence[str],
    *,
    title: str = "equity",
    name: str = "equity",
    labels: Sequence[str] | None = None,
    x_range: Any = None,
    height: int = 220,
) -> Any:
    """The equity curve (a source named ``name``: x, equity, the time as text)."""
    fig = new_figure(title, height, x_range=x_range, labels=labels)
    source = ColumnDataSource(
        {"x": x, "equity": np.asarray(equity, dtype=float), "when": list(when)}, name=name
    )
    line = fig.line("x", "equity", source=source, color=ACCENT, line_width=1.6)
    time_hover(fig, line, [("equity", "@equity{0,0.00}")])
    return fig


def drawdown_figure(
    x: np.ndarray,
    drawdown: np.ndarray,
    when: Sequence[str],
    *,
    name: str = "drawdown",
    labels: Sequence[str] | None = None,
    x_range: Any = None,
    height: int = 140,
) -> Any:
    """The drawdown (``1 - equity / peak``) as a red area below zero, in percent."""
    fig = new_figure("drawdown %", height, x_range=x_range, labels=labels)
    pct = -100 * np.asarray(drawdown, dtype=float)
    source = ColumnDataSource({"x": x, "drawdown": pct, "when": list(when)}, name=name)
    fig.varea("x", 0, "drawdown", source=source, fill_color=DOWN, fill_alpha=0.35)
    line = fig.line("x", "drawdown", source=source, color=DOWN, line_width=1)
    time_hover(fig, line, [("drawdown", "@drawdown{0.00}%")])
    return fig


# -- text and tables ----------------------------------------------------------------------------
def heading(text: str, *, size: str = "1.4em") -> Div:
    return Div(text=f"<b>{_escape(text)}</b>", styles={**TEXT_STYLE, "font-size": size})


def note(text: str) -> Div:
    return Div(text=_escape(text), styles={**TEXT_STYLE, "color": TEXT})


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cell(value: Any, places: int = 2) -> str:
    """A value for a text cell: numbers grouped to ``places`` (small ones to 4 significant
    digits), an undefined number ``n/a``."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        x = float(value)
        if not math.isfinite(x):
            return "n/a"
        return f"{x:,.4g}" if 0 < abs(x) < 1 else f"{x:,.{places}f}"
    return str(value)


def stats_table(rows: Sequence[tuple[str, str]], *, name: str = "stats", width: int = 420) -> Any:
    """Two columns, statistic and value, already formatted."""
    return table(
        {"stat": [r[0] for r in rows], "value": [r[1] for r in rows]},
        name=name,
        titles={"stat": "statistic", "value": "value"},
        width=width,
        height=min(26 * len(rows) + 32, 700),
    )


def table(
    columns: Mapping[str, Sequence[Any] | np.ndarray],
    *,
    name: str,
    titles: Mapping[str, str] | None = None,
    numbers: Mapping[str, str] | None = None,
    hidden: Mapping[str, Sequence[Any]] | None = None,
    right: Sequence[str] = (),
    width: int | None = None,
    height: int = 300,
) -> DataTable:
    """A ``DataTable`` of ``columns`` (a source named ``name``, which also holds the columns
    of ``hidden``, not shown); the columns named in ``numbers`` are numbers shown right-aligned
    in that format (``"0,0.00"``), the others text (right-aligned where named in ``right``:
    figures already formatted)."""
    data = {k: list(v) for k, v in {**columns, **(hidden or {})}.items()}
    source = ColumnDataSource(data, name=name)
    shown = []
    for key in columns:
        fmt = (numbers or {}).get(key)
        formatter = (
            NumberFormatter(format=fmt, text_align="right", nan_format="n/a")
            if fmt
            else StringFormatter(text_align="right" if key in right else "left")
        )
        shown.append(
            TableColumn(field=key, title=(titles or {}).get(key, key), formatter=formatter)
        )
    sizing: dict[str, Any] = (
        {"width": width} if width is not None else {"sizing_mode": "stretch_width"}
    )
    return DataTable(
        source=source,
        columns=shown,
        height=height,
        index_position=None,
        reorderable=False,  # reordering columns needs jquery-ui, which BokehJS does not ship
        stylesheets=[InlineStyleSheet(css=TABLE_CSS)],
        **sizing,
    )


def page(*parts: Any) -> LayoutDOM:
    """The report's parts one under the other, the width of the window."""
    return column(*parts, sizing_mode="stretch_width")
