"""Fuzzy symbol search over the active feed's symbols; returns the chosen symbol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.fuzzy import Matcher
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option


def fuzzy_rank(query: str, symbols: Sequence[str]) -> list[str]:
    """Symbols matching ``query`` best first (all of them, in order, for an empty query)."""
    if not query.strip():
        return list(symbols)
    matcher = Matcher(query)
    scored = [(matcher.match(s), i, s) for i, s in enumerate(symbols)]
    return [s for score, _, s in sorted(scored, key=lambda t: (-t[0], t[1])) if score > 0]


class SymbolSearch(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="search.cancel"),
        Binding("down", "move(1)", "Next", show=False, id="search.next"),
        Binding("up", "move(-1)", "Previous", show=False, id="search.previous"),
    ]

    def __init__(self, symbols: Sequence[str], query: str = "", title: str = "Symbol") -> None:
        super().__init__(id="symbol-search")
        self.symbols = list(symbols)
        self.query_text = query
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="search-box") as box:
            box.border_title = self.title_text
            yield Input(self.query_text, placeholder="type to search…", id="search-input")
            yield OptionList(id="search-results")

    def on_mount(self) -> None:
        self._fill(self.query_text)
        self.query_one(Input).focus()

    def _fill(self, query: str) -> None:
        results = self.query_one(OptionList)
        results.clear_options()
        results.add_options([Option(s, id=s) for s in fuzzy_rank(query, self.symbols)])
        if results.option_count:
            results.highlighted = 0

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def action_move(self, step: int) -> None:
        results = self.query_one(OptionList)
        if results.option_count:
            current = results.highlighted or 0
            results.highlighted = max(0, min(results.option_count - 1, current + step))

    @on(Input.Submitted)
    def _submit(self) -> None:
        results = self.query_one(OptionList)
        if results.highlighted is not None and results.option_count:
            self.dismiss(results.get_option_at_index(results.highlighted).id)
        else:
            self.notify("no symbol matches", severity="warning")

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
