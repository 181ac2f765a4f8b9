"""workstation/ui/screens/confirm_action.py: the dialog that asks before a typed command moves
the protection of a position; the safe choice (Keep) has the focus and escape keeps."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Button

from tests.workstation.ui.ui_helpers import wait_for
from workstation.ui.screens.confirm_action import ConfirmAction

DETAIL = (
    "BTC/USDT: move the stop-loss to 58000.\n"
    "The new order is placed before the old one is cancelled."
)


class _Host(App[None]):
    CSS_PATH = "../../../../workstation/ui/app.tcss"

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[bool | None] = []

    def on_mount(self) -> None:
        self.push_screen(ConfirmAction("Move the protection?", DETAIL), self.answers.append)


async def test_keep_has_the_focus_escape_keeps_and_do_it_confirms() -> None:
    app = _Host()
    async with app.run_test(size=(80, 24)) as pilot:

        async def shown() -> ConfirmAction:
            await wait_for(lambda: isinstance(app.screen, ConfirmAction))
            dialog = app.screen
            assert isinstance(dialog, ConfirmAction)
            await wait_for(lambda: all(w.is_mounted for w in dialog.query("*")))
            await pilot.pause()
            return dialog

        dialog = await shown()
        focused = dialog.focused
        assert isinstance(focused, Button) and focused.id == "confirm-keep"
        await pilot.press("enter")  # the focused button: keep
        await wait_for(lambda: app.answers == [False])
        app.push_screen(ConfirmAction("Move the protection?", DETAIL), app.answers.append)
        await shown()
        await pilot.press("escape")
        await wait_for(lambda: app.answers == [False, False])
        app.push_screen(ConfirmAction("Move the protection?", DETAIL), app.answers.append)
        await shown()
        await pilot.click("#confirm-do")
        await wait_for(lambda: app.answers == [False, False, True])


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_confirm_action_snapshot(snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await pilot.pause()

    assert snap_compare(_Host(), terminal_size=size, run_before=run_before)
