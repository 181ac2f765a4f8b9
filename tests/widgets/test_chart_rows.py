"""The chart's full rebuild (the price rows built over the whole grid with numpy) draws exactly
what the per-cell build drew: the same segments, text and style, line by line."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult

from engine.timeframes import OHLCV_SCHEMA
from widgets.chart import Chart, Overlay


def _merge(cells: list[tuple[str, Style]]) -> list[tuple[str, Style]]:
    out: list[tuple[str, Style]] = []
    for ch, style in cells:
        if out and out[-1][1] == style:
            out[-1] = (out[-1][0] + ch, style)
        else:
            out.append((ch, style))
    return out


class _PerCellChart(Chart):
    """The chart as it was: every price cell picked by :meth:`Chart._cell`, one at a time."""

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
        codes, ups = cells.tolist(), up.tolist()
        out: list[tuple[list[Segment], tuple[str, Style] | None]] = []
        for r in range(cells.shape[0]):
            levels = [lv for lv, lr in zip(self.levels, level_at, strict=True) if lr == r]
            args = (codes[r], ups, overlay_rows, r, cursor, levels, styles)
            runs = _merge([self._cell(x, *args) for x in range(max(columns, 0))])
            if not runs:
                out.append(([], None))
            else:
                out.append(([Segment(ch, base + st) for ch, st in runs[:-1]], runs[-1]))
        return out


class _Pair(App[None]):
    def compose(self) -> ComposeResult:
        yield Chart(id="fast")
        yield _PerCellChart(id="slow")


class _Level:
    def __init__(self, name: str, price: float) -> None:
        self.name, self.price = name, price


def _frame(close: np.ndarray, spread: float = 1.0) -> pl.DataFrame:
    n = len(close)
    ts = np.arange(n, dtype=np.int64) * 60_000_000_000
    open_ = np.roll(close, 1)
    open_[0] = close[0]
    columns = {
        "ts": ts,
        "open": open_,
        "high": np.maximum(open_, close) + spread,
        "low": np.minimum(open_, close) - spread,
        "close": close,
        "volume": np.abs(np.sin(np.arange(n))) * 100,
    }
    return pl.DataFrame(columns, schema=OHLCV_SCHEMA)


def _walk(n: int, seed: int) -> np.ndarray:
    return 100.0 + np.cumsum(np.random.default_rng(seed).normal(0, 0.8, n))


def _with_nans(n: int) -> pl.DataFrame:
    frame = _frame(_walk(n, 1))
    mask = np.zeros(n, dtype=bool)
    mask[[3, 40, 41, 42, n - 5]] = True
    return frame.with_columns(
        *(pl.when(pl.Series(mask)).then(None).otherwise(pl.col(c)).alias(c)
          for c in ("open", "high", "low", "close"))
    ).fill_null(float("nan"))  # fmt: skip


def _gapped(n: int) -> pl.DataFrame:
    close = _walk(n, 2)
    close[n // 2 :] += 25.0  # a gap up: empty rows between the two halves
    frame = _frame(close, spread=0.1)
    ts = frame["ts"].to_numpy().copy()
    ts[n // 2 :] += 3_600_000_000_000  # and an hour missing
    return frame.with_columns(pl.Series("ts", ts))


BAR_SETS = {
    "walk": lambda: _frame(_walk(300, 0)),
    "flat": lambda: _frame(np.full(150, 50.0), spread=0.0),
    "nan": lambda: _with_nans(200),
    "gapped": lambda: _gapped(240),
    "few": lambda: _frame(_walk(5, 3)),
}


def _lines(chart: Chart) -> list[list[tuple[str, object]]]:
    chart.refresh()
    return [[(s.text, s.style) for s in chart.render_line(y)] for y in range(chart.size.height)]


@pytest.mark.parametrize("name", sorted(BAR_SETS))
async def test_the_numpy_rows_draw_what_the_per_cell_rows_drew(name: str) -> None:
    app = _Pair()
    async with app.run_test(size=(100, 60)) as pilot:
        fast, slow = app.query_one("#fast", Chart), app.query_one("#slow", Chart)
        frame = BAR_SETS[name]()
        close = frame["close"].to_numpy()
        ema = pl.Series(close).ewm_mean(span=10).to_numpy().copy()
        ema[:12] = np.nan
        band = ema + 2.0
        views: list[tuple[int, int | None, int, bool]] = [
            (0, None, 0, False),  # zoom, cursor, bars back, overlays and levels
            (0, 7, 0, True),
            (0, 0, 0, True),
            (40, 3, 0, True),
            (0, None, 12, True),
            (600, 20, 0, True),  # several bars per column
        ]
        for zoom, cursor, back, extras in views:
            for chart in (fast, slow):
                chart.set_history("X", "1m", frame, 2)
                if extras:
                    n = chart.bar_count
                    chart.set_overlays(
                        [Overlay("ema", ema[-n:], "ema"), Overlay("up", band[-n:], "band")]
                    )
                    mid = float(np.nanmedian(close))
                    chart.set_levels([_Level("fib 50", mid), _Level("far", mid * 10)])
                chart.zoom, chart.bars_back, chart.cursor = zoom, back, cursor
            await pilot.pause()
            assert _lines(fast) == _lines(slow), (name, zoom, cursor, back, extras)
