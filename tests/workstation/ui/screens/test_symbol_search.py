"""Symbol search offers the feed's symbols and the ones the store knows for its venue, and a
query that matches nothing says so (a host app for the screen alone, and the real app)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static

from engine.model import Instrument
from tests.workstation.ui.ui_helpers import make_app, wait_for
from workstation.store import Store
from workstation.ui.screens.symbol_search import KNOWN_MARK, SymbolSearch


class _Host(App[None]):
    CSS_PATH = "../../../../workstation/ui/app.tcss"

    def __init__(self, search: SymbolSearch) -> None:
        super().__init__()
        self.search = search
        self.chosen: list[str | None] = []

    def on_mount(self) -> None:
        self.push_screen(self.search, self.chosen.append)


async def test_known_symbols_follow_the_feeds_and_are_marked() -> None:
    search = SymbolSearch(["BTC/USDT", "ETH/USDT"], known=["ETH/USDT", "ADA/USDT"])
    app = _Host(search)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert search.offered == ["BTC/USDT", "ETH/USDT", "ADA/USDT"]
        results = search.query_one(OptionList)
        assert KNOWN_MARK in str(results.get_option_at_index(2).prompt)
        assert KNOWN_MARK not in str(results.get_option_at_index(1).prompt)
        await pilot.press(*"ada", "enter")
        assert app.chosen == ["ADA/USDT"]


async def test_a_query_that_matches_nothing_says_so() -> None:
    search = SymbolSearch(["BTC/USDT", "EURUSD"])
    app = _Host(search)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"xyz")
        empty = search.query_one("#search-empty", Static)
        assert search.offered == []
        assert empty.display and str(empty.render()) == "no symbol matches 'xyz'"
        await pilot.press("enter")
        assert app.screen is search and app.chosen == []  # still open: nothing was chosen
        await pilot.press("backspace", "backspace", "backspace", *"eur")
        assert search.offered == ["EURUSD"] and not empty.display


async def test_the_dashboards_search_offers_the_stores_instruments_of_its_venue(
    store: Store,
) -> None:
    store.instruments.upsert(
        [
            Instrument("ADA/USDT", "demo", Decimal("0.0001"), Decimal("1"), "USDT"),
            Instrument("DOGE/USDT", "elsewhere", Decimal("0.00001"), Decimal("1"), "USDT"),
        ]
    )
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("slash")
        await wait_for(lambda: isinstance(app.screen, SymbolSearch))
        search = app.screen
        assert isinstance(search, SymbolSearch)
        assert search.known == ["ADA/USDT"]
        assert search.offered[: len(app.feed.symbols())] == app.feed.symbols()
        await pilot.press(*"ada")
        assert search.offered == ["ADA/USDT"]
        await pilot.press(*"zzz")
        assert search.offered == []
        await pilot.press("escape")


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_search_snapshot(snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await pilot.press(*"xyz")
        pilot.app.screen.query_one(Input).cursor_blink = False
        await pilot.pause()

    search = SymbolSearch(["BTC/USDT", "EURUSD"], known=["ADA/USDT"])
    assert snap_compare(_Host(search), terminal_size=size, run_before=run_before)
