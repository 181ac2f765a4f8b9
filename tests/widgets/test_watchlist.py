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
