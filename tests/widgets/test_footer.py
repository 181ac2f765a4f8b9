from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets._footer import FooterKey

from widgets.footer import QuietFooter


class _Plain(Widget, can_focus=True):
    pass


class _Sorts(Widget, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("s", "sort", "Sort")]


class _Host(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield _Plain(id="a")
        yield _Plain(id="b")
        yield _Sorts(id="c")
        yield QuietFooter()


def _keys(app: App[None]) -> list[tuple[str, str]]:
    return [(k.key, k.description) for k in app.query(FooterKey)]


async def test_the_footer_is_rebuilt_only_when_what_it_shows_changes() -> None:
    app = _Host()
    async with app.run_test() as pilot:
        app.query_one("#a").focus()
        await pilot.pause()
        shown = list(app.query(FooterKey))
        assert ("q", "Quit") in _keys(app) and ("s", "Sort") not in _keys(app)
        app.query_one("#b").focus()  # same bindings shown: the same keys stay mounted
        await pilot.pause()
        assert list(app.query(FooterKey)) == shown
        app.query_one("#c").focus()
        await pilot.pause()
        assert ("s", "Sort") in _keys(app)
        app.query_one("#a").focus()
        await pilot.pause()
        assert ("s", "Sort") not in _keys(app) and ("q", "Quit") in _keys(app)
