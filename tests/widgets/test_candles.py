from __future__ import annotations

import numpy as np

from widgets.candles import (
    GLYPH_BY_CODE,
    candle_cells,
    group_bars,
    nice_ticks,
    price_range,
    value_row,
    volume_cells,
)


def _column(o: float, h: float, lo: float, c: float, rows: int = 5) -> str:
    cells = candle_cells(
        np.array([o]), np.array([h]), np.array([lo]), np.array([c]), rows, 0.0, 10.0
    )
    return "".join(GLYPH_BY_CODE[code] for code in cells[:, 0])


def test_a_candle_has_a_heavy_body_between_open_and_close_and_light_wicks_beyond() -> None:
    # rows of 2 price units, halves of 1 unit; top row covers 8..10
    assert _column(4.0, 9.0, 1.0, 6.0) == "╷│┃│╵"
    # the same bar falling has the same shape (colour tells direction)
    assert _column(6.0, 9.0, 1.0, 4.0) == "╷│┃│╵"


def test_half_cells_give_twice_the_vertical_resolution() -> None:
    assert _column(5.0, 5.0, 3.0, 3.0) == "  ╻╹ "  # body 3..5: lower half of row 2, upper of 3
    assert _column(3.0, 7.0, 3.0, 5.0) == " ╷╽╹ "  # wick above a body that starts mid-cell


def test_a_doji_still_shows_one_half_cell_of_body() -> None:
    col = _column(5.1, 6.0, 4.0, 5.1)
    assert any(ch in "┃╹╻╽╿" for ch in col)


def test_missing_bars_draw_nothing() -> None:
    assert _column(np.nan, np.nan, np.nan, np.nan) == "     "


def test_group_bars_merges_from_the_right_end() -> None:
    o = np.array([1.0, 2, 3, 4, 5])
    h = np.array([2.0, 3, 9, 5, 6])
    lo = np.array([0.5, 1, 2, 3, 4])
    c = np.array([2.0, 3, 4, 5, 6])
    v = np.ones(5)
    go, gh, gl, gc, gv = group_bars(o, h, lo, c, v, 2)
    assert go.tolist() == [2.0, 4.0] and gc.tolist() == [4.0, 6.0]
    assert gh.tolist() == [9.0, 6.0] and gl.tolist() == [1.0, 3.0] and gv.tolist() == [2.0, 2.0]


def test_volume_bars_scale_to_the_largest() -> None:
    lines = volume_cells(np.array([0.0, 5.0, 10.0]), 2)
    assert lines == ["  █", " ██"]
    assert volume_cells(np.array([2.0, 16.0]), 1) == ["▁█"]


def test_ranges_rows_and_ticks() -> None:
    bottom, top = price_range(np.array([10.0, 12.0]), np.array([8.0, 9.0]))
    assert bottom < 8.0 and top > 12.0
    assert value_row(top, 10, bottom, top) == 0
    assert value_row(bottom, 10, bottom, top) == 9
    assert value_row(top + 1, 10, bottom, top) is None
    ticks = nice_ticks(8.0, 12.0, 4)
    assert ticks == [8.0, 9.0, 10.0, 11.0, 12.0]


def test_a_bar_without_an_open_draws_its_wick_and_no_made_up_body() -> None:
    col = _column(np.nan, 9.0, 1.0, 6.0)
    assert col == "╷│││╵"
