"""The backtest screen runs a real strategy over the feed's bars in a worker."""

from __future__ import annotations

from textual.widgets import DataTable, Input, ProgressBar, Select, Sparkline, Static

from tests.workstation.ui.ui_helpers import make_app, wait_for
from workstation.store import Store
from workstation.ui.screens.backtest import BacktestScreen


async def test_a_command_opens_the_screen_prefilled_and_a_run_shows_stats_equity_trades(
    store: Store,
) -> None:
    app = make_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        app.dashboard.run_command("backtest sma_cross fast=5 slow=20 on eth 1h")
        await wait_for(lambda: isinstance(app.screen, BacktestScreen))
        screen = app.screen
        assert isinstance(screen, BacktestScreen)
        await pilot.pause()
        assert screen.query_one("#bt-strategy", Select).value == "sma_cross"
        assert screen.query_one("#bt-symbol", Select).value == "ETH/USDT"
        assert screen.query_one("#bt-timeframe", Select).value == "1h"
        assert screen.query_one("#bt-params", Input).value == "fast=5 slow=20"
        screen.query_one("#bt-bars", Input).value = "800"
        await pilot.press("ctrl+r")
        await wait_for(lambda: screen.result is not None)
        result = screen.result
        assert result.params == {"fast": 5, "slow": 20}
        assert result.stats["bars"] == 800
        stats = str(screen.query_one("#bt-stats", Static).render())
        assert "Return %" in stats and "sma_cross(fast=5, slow=20) on ETH/USDT 1h" in stats
        assert screen.query_one("#bt-trades", DataTable).row_count == min(500, result.trades.height)
        assert len(screen.query_one("#bt-equity", Sparkline).data or []) > 100
        assert screen.query_one("#bt-progress", ProgressBar).progress == 100
        await pilot.press("escape")
        await wait_for(lambda: not isinstance(app.screen, BacktestScreen))


async def test_bad_params_are_reported_not_run(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f3")
        await wait_for(lambda: isinstance(app.screen, BacktestScreen))
        screen = app.screen
        assert isinstance(screen, BacktestScreen)
        await pilot.pause()
        screen.query_one("#bt-params", Input).value = "fast"
        await pilot.press("ctrl+r")
        assert "key=value" in str(screen.query_one("#bt-stats", Static).render())
        screen.query_one("#bt-params", Input).value = "nonsense=3"
        await pilot.press("ctrl+r")
        await wait_for(lambda: "nonsense" in str(screen.query_one("#bt-stats", Static).render()))
        assert screen.result is None
