from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets._footer import FooterKey

from widgets.footer import QuietFooter


class _Plain(Widget, can_focus=True):
    pass


class _Sorts(Widget, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("s", "sort", "Sort")]


class _Host(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit")]

    def __init__(self, settle_s: float = 0.01) -> None:
        super().__init__()
        self.settle_s = settle_s

    def compose(self) -> ComposeResult:
        yield _Plain(id="a")
        yield _Plain(id="b")
        yield _Sorts(id="c")
        yield QuietFooter(settle_s=self.settle_s)


def _keys(app: App[None]) -> list[tuple[str, str]]:
    return [(k.key, k.description) for k in app.query(FooterKey)]


async def _until(pilot: Pilot[None], predicate: Callable[[], bool]) -> None:
    for _ in range(2000):
        if predicate():
            return
        await pilot.pause(0.01)
    raise AssertionError("timed out")


async def test_the_footer_is_rebuilt_only_when_what_it_shows_changes() -> None:
    app = _Host()
    async with app.run_test() as pilot:
        app.query_one("#a").focus()
        await pilot.pause()
        footer = app.query_one(QuietFooter)
        await _until(pilot, lambda: bool(list(app.query(FooterKey))))
        shown = list(app.query(FooterKey))
        assert ("q", "Quit") in _keys(app) and ("s", "Sort") not in _keys(app)
        app.query_one("#b").focus()  # same bindings shown: the same keys stay mounted
        await _until(pilot, lambda: footer._settle is None)
        await pilot.pause()
        assert list(app.query(FooterKey)) == shown
        app.query_one("#c").focus()
        await _until(pilot, lambda: ("s", "Sort") in _keys(app))
        app.query_one("#a").focus()
        await _until(pilot, lambda: ("s", "Sort") not in _keys(app))
        assert ("q", "Quit") in _keys(app)


async def test_a_focus_that_moves_away_and_back_before_the_footer_settles_rebuilds_nothing() -> (
    None
):
    app = _Host(settle_s=3600.0)  # never settles within the test: only the flip is seen
    async with app.run_test() as pilot:
        app.query_one("#a").focus()
        await pilot.pause()
        footer = app.query_one(QuietFooter)
        await _until(pilot, lambda: bool(list(app.query(FooterKey))))
        shown, rebuilds = list(app.query(FooterKey)), footer.rebuilds
        app.query_one("#c").focus()  # the keys asked for change (Sort) ...
        await pilot.pause()
        app.query_one("#a").focus()  # ... and change back before they settle
        await pilot.pause()
        assert footer._settle is not None  # the change waits to settle ...
        footer._settle.stop()
        footer._settled(app.screen)  # ... and, settling now, finds nothing to rebuild
        assert footer.rebuilds == rebuilds and list(app.query(FooterKey)) == shown
