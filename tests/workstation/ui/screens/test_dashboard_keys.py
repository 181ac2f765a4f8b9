"""The dashboard's keys: the bottom tabs by keyboard, and what is typed right after ``:``
landing in the command bar, never on a hotkey (real app on the demo feed, real store)."""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.widgets import TabbedContent

from tests.workstation.ui.ui_helpers import make_app, screen_up, wait_for
from widgets.command_bar import CommandBar
from widgets.watchlist import Watchlist
from workstation.store import Store
from workstation.ui.screens.dashboard import PANELS
from workstation.ui.screens.help import HelpScreen
from workstation.ui.screens.messages import TicketRequested
from workstation.ui.screens.order_ticket import OrderTicket

_KEY_NAMES = {":": "colon", " ": "space", "/": "slash", ".": "full_stop"}


def _type_at_once(app: object, text: str) -> None:
    """Every key of ``text`` queued on the app in one go, as a terminal delivers a fast typist's
    burst: nothing runs between two keys (a pilot's ``press`` waits for idle after each)."""
    from textual.app import App

    assert isinstance(app, App)
    for char in text:
        app.post_message(events.Key(_KEY_NAMES.get(char, char), char))


async def test_keys_typed_right_after_the_colon_land_in_the_command_bar(store: Store) -> None:
    app = make_app(store)
    seen: list[Message] = []
    async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
        bar = app.dashboard.query_one(CommandBar)
        await wait_for(lambda: isinstance(app.focused, Watchlist))
        _type_at_once(app, ":buy 1 btc")
        await wait_for(lambda: bar.value == "buy 1 btc")
        await pilot.pause()
        assert app.focused is bar
        assert app.screen is app.dashboard
        assert not [m for m in seen if isinstance(m, TicketRequested)]
        await pilot.press("enter")  # the typed command, not a hotkey, opens the ticket
        await screen_up(app, OrderTicket)
        assert app.screen.draft.symbol == "BTC/USDT"  # type: ignore[attr-defined]


async def test_a_colon_typed_in_the_open_bar_is_text(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        bar = app.dashboard.query_one(CommandBar)
        await pilot.press("colon", *"strategy start sma", "colon", "f")
        assert bar.value == "strategy start sma:f"


async def test_tab_keys_switch_the_bottom_panels(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        panels = app.dashboard.query_one("#panels", TabbedContent)
        assert panels.active == "tab-cycles"
        await pilot.press("alt+3")
        assert panels.active == "tab-positions"
        await pilot.press("alt+6")
        assert panels.active == "tab-log"
        await pilot.press("alt+7")
        assert panels.active == "tab-calibration"
        await pilot.press("alt+8")
        assert panels.active == "tab-news"
        await pilot.press("right_square_bracket")
        assert panels.active == "tab-cycles"  # wraps round
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert panels.active == "tab-calibration"
        await pilot.press("alt+1", "right_square_bracket")
        assert panels.active == "tab-signals"
        await pilot.press("colon", "right_square_bracket")  # typed into the bar: no switch
        assert app.dashboard.query_one(CommandBar).value == "]"
        assert panels.active == "tab-signals"


async def test_help_lists_the_tab_keys(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f1")
        await wait_for(lambda: isinstance(app.screen, HelpScreen))
        rows = {row[3]: row[1] for row in app.screen.rows}  # type: ignore[attr-defined]
        for i, pane in enumerate(PANELS, start=1):
            assert rows[f"dashboard.tab_{pane}"] == f"alt+{i}"
        assert rows["dashboard.next_tab"] == "]"
        assert rows["dashboard.previous_tab"] == "["
        assert rows["watchlist.sort"] == "s"
