"""The watchlist takes quotes, reference prices and signals from its screen's calls and posts
its cursor's moves up."""

from __future__ import annotations

from textual.app import App, ComposeResult

from engine.model import Tick
from widgets.watchlist import Watchlist


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
