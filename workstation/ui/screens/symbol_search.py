"""Fuzzy symbol search over the symbols the screen is given; returns the chosen symbol.

It offers the feed's symbols first, then the ``known`` ones (instruments its venue lists in the
store: seen before, fetched or imported), marked as such. A query that matches nothing says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.fuzzy import Matcher
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

KNOWN_MARK = "stored"


def fuzzy_rank(query: str, symbols: Sequence[str]) -> list[str]:
    """Symbols matching ``query`` best first (all of them, in order, for an empty query)."""
    if not query.strip():
        return list(symbols)
    matcher = Matcher(query)
    scored = [(matcher.match(s), i, s) for i, s in enumerate(symbols)]
    return [s for score, _, s in sorted(scored, key=lambda t: (-t[0], t[1])) if score > 0]


def no_match(query: str) -> str:
    return f"no symbol matches {query.strip()!r}"


class SymbolSearch(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="search.cancel"),
        Binding("down", "move(1)", "Next", show=False, id="search.next"),
        Binding("up", "move(-1)", "Previous", show=False, id="search.previous"),
    ]

    def __init__(
        self,
        symbols: Sequence[str],
        query: str = "",
        title: str = "Symbol",
        known: Sequence[str] = (),
    ) -> None:
        """``symbols`` are the feed's; ``known`` the others the screen knows of."""
        super().__init__(id="symbol-search")
        self.symbols = list(dict.fromkeys(symbols))
        feed = set(self.symbols)
        self.known = [s for s in dict.fromkeys(known) if s not in feed]
        self.query_text = query
        self.title_text = title

    @property
    def choices(self) -> list[str]:
        """Every symbol offered: the feed's, then the known ones."""
        return [*self.symbols, *self.known]

    def compose(self) -> ComposeResult:
        with Vertical(id="search-box") as box:
            box.border_title = self.title_text
            yield Input(self.query_text, placeholder="type to search…", id="search-input")
            yield OptionList(id="search-results")
            yield Static("", id="search-empty", markup=False)

    def on_mount(self) -> None:
        self._fill(self.query_text)
        self.query_one(Input).focus()

    def _fill(self, query: str) -> None:
        results = self.query_one(OptionList)
        results.clear_options()
        known = set(self.known)
        results.add_options([self._option(s, s in known) for s in fuzzy_rank(query, self.choices)])
        empty = self.query_one("#search-empty", Static)
        empty.update(no_match(query) if not results.option_count else "")
        empty.display = not results.option_count
        results.display = bool(results.option_count)
        if results.option_count:
            results.highlighted = 0

    @staticmethod
    def _option(symbol: str, known: bool) -> Option:
        if not known:
            return Option(Text(symbol), id=symbol)
        return Option(Text.assemble(symbol, (f"  {KNOWN_MARK}", "dim")), id=symbol)

    @property
    def offered(self) -> list[str]:
        """The symbols listed now, in order."""
        results = self.query_one(OptionList)
        return [str(results.get_option_at_index(i).id) for i in range(results.option_count)]

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def action_move(self, step: int) -> None:
        results = self.query_one(OptionList)
        if results.option_count:
            current = results.highlighted or 0
            results.highlighted = max(0, min(results.option_count - 1, current + step))

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        results = self.query_one(OptionList)
        if results.highlighted is not None and results.option_count:
            self.dismiss(results.get_option_at_index(results.highlighted).id)
        else:
            self.notify(no_match(event.value), severity="warning")

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
