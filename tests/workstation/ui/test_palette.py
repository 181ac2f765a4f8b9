"""The command palette runs the command bar's language on the dashboard, wherever it opens."""

from __future__ import annotations

from textual.command import CommandPalette

from tests.workstation.ui.ui_helpers import make_app, wait_for
from widgets.chart import Chart
from workstation.store import Store
from workstation.ui.palette import CommandConsole
from workstation.ui.screens.backtest import BacktestScreen


async def test_the_palette_runs_commands_on_the_dashboard_beneath_another_screen(
    store: Store,
) -> None:
    app = make_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        chart = app.dashboard.query_one(Chart)
        await wait_for(lambda: chart.bar_count > 0)
        await pilot.press("f3")
        await wait_for(lambda: isinstance(app.screen, BacktestScreen))
        await pilot.press("ctrl+p")
        await wait_for(lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"chart sol 1h")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(lambda: chart.symbol == "SOL/USDT" and chart.timeframe == "1h")
        assert isinstance(app.screen, BacktestScreen)


async def test_the_dashboard_is_the_console_and_other_screens_are_not(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.dashboard, CommandConsole)
        await pilot.press("f3")
        await wait_for(lambda: isinstance(app.screen, BacktestScreen))
        assert not isinstance(app.screen, CommandConsole)
