"""The dashboard: the default screen (watchlist and status line; more panels as they land)."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from widgets.watchlist import Watchlist


class DashboardScreen(Screen[None]):
    def __init__(self, symbols: Sequence[str], decimals: dict[str, int]) -> None:
        super().__init__(id="dashboard")
        self._symbols = list(symbols)
        self._decimals = decimals

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        yield Watchlist(self._symbols, self._decimals, id="watchlist")
        yield Static("starting…", id="status")
        yield Footer()

    def set_status(self, text: str) -> None:
        self.query_one("#status", Static).update(text)
