"""The help screen is composed once and shown again on the next f1 (its tables are costly to
build, and a key should not wait for that)."""

from __future__ import annotations

from feeds.demo import DemoFeed
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.ui.app import QwsApp
from workstation.ui.screens.help import HelpScreen


async def test_f1_shows_the_same_help_screen_each_time(store: Store) -> None:
    app = QwsApp(DemoFeed(), store, Settings.load(environ={}), show_clock=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        first = app.screen
        assert isinstance(first, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.dashboard
        await pilot.press("f1")
        await pilot.pause()
        assert app.screen is first and first.query("Static")
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.dashboard
