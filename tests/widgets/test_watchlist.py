"""The watchlist takes quotes, reference prices and signals from its screen's calls and posts
its cursor's moves up."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from engine.model import Tick
from tests.workstation.ui.ui_helpers import still
from widgets.watchlist import KEEP, Watchlist, fit_columns


class _Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.highlighted: list[str] = []

    def compose(self) -> ComposeResult:
        yield Watchlist(["EURUSD", "XAUUSD"], {"EURUSD": 5, "XAUUSD": 2})

    def on_watchlist_highlighted(self, event: Watchlist.Highlighted) -> None:
        self.highlighted.append(event.symbol)


async def test_change_is_measured_against_the_reference_price() -> None:
    app = _Host()
    async with app.run_test(size=(100, 10)):
        watchlist = app.query_one(Watchlist)
        watchlist.set_reference("EURUSD", 1.0)
        watchlist.update_quote(Tick(1, "EURUSD", 1.0999, 1.1001, 1.1, 1.0))
        assert watchlist.get_cell("EURUSD", "last").plain == "1.10000"
        assert watchlist.get_cell("EURUSD", "chg").plain == "+10.00%"
        assert watchlist.get_cell("XAUUSD", "chg").plain == "—"


async def test_a_reference_that_comes_after_the_quote_shows_the_change_at_once() -> None:
    app = _Host()
    async with app.run_test(size=(100, 10)) as pilot:
        watchlist = app.query_one(Watchlist)
        watchlist.update_quote(Tick(1, "EURUSD", 1.0999, 1.1001, 1.1, 1.0))
        assert watchlist.get_cell("EURUSD", "chg").plain == "—"
        watchlist.set_reference("EURUSD", 1.0)
        assert watchlist.get_cell("EURUSD", "chg").plain == "+10.00%"
        watchlist.set_reference("EURUSD", 1.1)
        await pilot.pause()
        assert watchlist.get_cell("EURUSD", "chg").plain == "+0.00%"
        watchlist.set_reference("XAUUSD", 2000.0)  # no quote yet: nothing to measure
        assert watchlist.get_cell("XAUUSD", "chg").plain == "—"


async def test_moving_the_cursor_posts_highlighted_to_the_parent() -> None:
    app = _Host()
    async with app.run_test(size=(100, 10)) as pilot:
        app.query_one(Watchlist).focus()
        await pilot.press("down")
        await pilot.pause()
        assert app.highlighted == ["XAUUSD"]


async def test_a_quote_repaints_its_own_row_after_the_order_changes() -> None:
    app = _Host()
    async with app.run_test(size=(100, 10)) as pilot:
        watchlist = app.query_one(Watchlist)
        watchlist.update_quote(Tick(1, "EURUSD", 1.0, 1.0002, 1.0001, 1.0))
        watchlist.update_quote(Tick(1, "XAUUSD", 2000.0, 2000.5, 2000.2, 1.0))
        watchlist.sort_by("last", reverse=True)  # XAUUSD first now
        assert watchlist.order == ["XAUUSD", "EURUSD"]
        await pilot.pause()
        watchlist.update_quote(Tick(2, "EURUSD", 1.1, 1.1002, 1.1001, 1.0))
        await pilot.pause()
        assert "1.10010" in watchlist.render_line(2).text  # EURUSD's row, second
        assert "1.10010" not in watchlist.render_line(1).text
        assert watchlist.remove_symbol("XAUUSD")
        watchlist.update_quote(Tick(3, "EURUSD", 1.2, 1.2002, 1.2001, 1.0))
        await pilot.pause()
        assert "1.20010" in watchlist.render_line(1).text
        watchlist.update_quote(Tick(4, "XAUUSD", 1.0, 1.0, 1.0, 1.0))  # gone: ignored
        assert watchlist.symbols == ["EURUSD"]


async def test_quotes_between_two_frames_ask_for_one_repaint_and_the_frame_shows_the_last() -> None:
    app = _Host()
    async with app.run_test(size=(100, 10)) as pilot:
        watchlist = app.query_one(Watchlist)
        watchlist.update_quote(Tick(0, "EURUSD", 1.0999, 1.1001, 1.1))  # the columns' widths
        await pilot.pause()
        asked: list[object] = []
        real = watchlist.refresh

        def counted(*regions: object, **kwargs: object) -> Watchlist:
            asked.append(regions)
            return real(*regions, **kwargs)  # type: ignore[arg-type]

        watchlist.refresh = counted  # type: ignore[method-assign]
        for i, price in enumerate((1.1001, 1.1002, 1.1003)):
            watchlist.update_quote(Tick(i, "EURUSD", price - 0.0001, price + 0.0001, price))
        assert len(asked) == 1
        await pilot.pause()
        watchlist.update_quote(Tick(9, "EURUSD", 1.1003, 1.1005, 1.1004))
        assert len(asked) == 2  # the frame drew the row: the next quote asks again
        await pilot.pause()
        assert "1.10040" in watchlist.render_line(1).text


_QUOTES = [
    Tick(1, "BTC/USDT", 164_010.25, 164_010.5, 164_010.4, 1.0),
    Tick(1, "EURUSD", 1.08498, 1.08506, 1.08502, 1.0),
    Tick(1, "XAUUSD", 2_350.04, 2_350.29, 2_350.1, 1.0),
]
_DECIMALS = {"BTC/USDT": 2, "EURUSD": 5, "XAUUSD": 2}


class _Sized(App[None]):
    """A watchlist ``width`` cells wide (the dashboard's: 31 inside at 80x24, 70 at 160x50)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width

    def compose(self) -> ComposeResult:
        watchlist = Watchlist([q.symbol for q in _QUOTES], dict(_DECIMALS))
        watchlist.styles.width = self.width
        yield watchlist


async def _quoted(app: _Sized, pilot: Pilot) -> Watchlist:
    watchlist = app.query_one(Watchlist)
    for tick in _QUOTES:
        watchlist.update_quote(tick)
    await pilot.pause()
    return watchlist


def _lines(watchlist: Watchlist) -> list[str]:
    return [watchlist.render_line(y).text for y in range(len(watchlist.symbols) + 1)]


@pytest.mark.parametrize("width", [12, 20, 31, 45, 70, 100])
async def test_a_price_is_shown_whole_or_its_column_is_left_out(width: int) -> None:
    app = _Sized(width)
    async with app.run_test(size=(120, 10)) as pilot:
        watchlist = await _quoted(app, pilot)
        shown = watchlist.shown_columns
        header, *rows = _lines(watchlist)
        assert all(len(line) == width for line in (header, *rows))
        assert shown[0] == "symbol"
        labels = {"last": "Last", "bid": "Bid", "ask": "Ask", "chg": "Chg %", "spread": "Sprd"}
        for key in shown:
            if key in labels:
                assert f" {labels[key]}" in header
        for tick, line in zip(_QUOTES, rows, strict=True):
            for key in ("last", "bid", "ask", "spread"):
                text = watchlist.get_cell(tick.symbol, key).plain
                assert (f" {text}" in line) == (key in shown), (key, line)
        kept = [key for key in KEEP if key in shown]
        assert kept == list(KEEP[: len(kept)])  # the less important go first


async def test_at_the_dashboards_widths_the_ask_column_fits_or_goes_whole() -> None:
    for width, expected in (
        (31, ["symbol", "last", "chg"]),
        (70, ["symbol", "last", "chg", "bid", "ask", "signal"]),
    ):
        app = _Sized(width)
        async with app.run_test(size=(120, 10)) as pilot:
            watchlist = await _quoted(app, pilot)
            assert watchlist.shown_columns == expected
            if "ask" in expected:
                assert "164,010.50" in _lines(watchlist)[1]


def test_fit_columns_narrows_the_sparkline_before_dropping_it() -> None:
    natural = {"symbol": 8, "last": 9, "chg": 6, "spark": 12, "bid": 9, "ask": 9,
               "spread": 4, "signal": 10}  # fmt: skip
    wide = dict(fit_columns(natural, 200))
    narrow = {c.key: w for c, w in fit_columns(natural, 70)}
    assert {c.key for c in wide} == set(natural)
    assert narrow["spark"] < 12 and "spread" not in narrow


async def test_the_sort_key_and_column_are_shown() -> None:
    app = _Sized(100)
    async with app.run_test(size=(120, 10)) as pilot:
        watchlist = await _quoted(app, pilot)
        watchlist.focus()
        assert watchlist.border_subtitle == "s: sort"
        await pilot.press("s")
        assert "Chg %▼" in _lines(watchlist)[0]
        assert watchlist.border_subtitle == "s: sort · Chg %▼"
        await pilot.press("s")
        header = _lines(watchlist)[0]
        assert "Last▼" in header and "Chg %▼" not in header
        assert watchlist.order == ["BTC/USDT", "XAUUSD", "EURUSD"]
        await pilot.press("s", "s")
        assert " Symbol▲" in _lines(watchlist)[0]


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_watchlist_snapshot(snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, _Sized)
        await _quoted(app, pilot)
        await still(pilot)

    # the dashboard's watchlist widths at those terminal sizes
    app = _Sized(31 if size[0] == 80 else 70)
    assert snap_compare(app, terminal_size=size, run_before=run_before)
