"""Strategies under the screen: started from the command bar, listed with their position and
P&L, stopped with a key; the runtime runs them, the screen only asks."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import TabbedContent

from tests.workstation.ui.ui_helpers import make_app, wait_for
from widgets.strategies_table import StrategiesTable
from workstation.runtime.config import Settings
from workstation.store import Store


async def test_a_strategy_starts_from_the_command_bar_and_stops_with_a_key(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(lambda: app.oms is not None)
        app.dashboard.run_command("strategy start sma_cross:fast=5,slow=20 BTC/USDT 1m")
        await wait_for(lambda: "sma_cross BTC/USDT 1m" in app.runtime.runners)
        runner = app.runtime.runners["sma_cross BTC/USDT 1m"]
        assert runner.bars.height > 20  # warmed up from the stored history
        app.dashboard.query_one(TabbedContent).active = "tab-strategies"
        table = app.dashboard.query_one(StrategiesTable)
        await wait_for(lambda: "sma_cross BTC/USDT 1m" in table.rows_by_key)
        assert table.get_cell("sma_cross BTC/USDT 1m", "state") == "running"
        table.focus()
        await pilot.press("s")
        await wait_for(lambda: not app.runtime.runners)
        [row] = store.alerts.find(limit=10) or [None]  # no chat configured: nothing queued
        assert row is None
        actions = [r["action"] for r in store.audit.recent(50)]
        assert "kill_switch" not in actions  # stopping a strategy is not a kill


async def test_an_unknown_strategy_is_one_clear_line(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(120, 36)):
        await wait_for(lambda: app.oms is not None)
        app.dashboard.run_command("strategy start nope BTC/USDT")
        await wait_for(lambda: any("unknown strategy 'nope'" in t for _, t in _log(app)))
        assert not app.runtime.runners


def _log(app):  # type: ignore[no-untyped-def]
    from widgets.log_pane import LogPane

    return app.dashboard.query_one(LogPane).entries


async def test_a_live_strategy_order_asks_on_the_screen_and_escape_refuses(store: Store) -> None:
    import asyncio

    from engine.model import Side
    from workstation.ui.screens.confirm_order import ConfirmOrder, describe

    app = make_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(lambda: app.oms is not None)
        assert app.runtime.confirmer is not None
        order = app.runtime.build("BTC/USDT", Side.BUY, "0.01", sl="60000")
        asked = asyncio.ensure_future(app.runtime.confirmer(order))
        # pushed, then composed: the button exists a moment after the screen is current
        await wait_for(
            lambda: isinstance(app.screen, ConfirmOrder) and app.screen.query("#confirm-send")
        )
        assert describe(order) == "buy 0.01 BTC/USDT market at market SL 60000"
        send = app.screen.query_one("#confirm-send")
        await wait_for(lambda: send.region.area > 0)  # laid out, so the click lands on it
        await pilot.click(send)
        assert await asked is True
        again = asyncio.ensure_future(app.runtime.confirmer(order))
        await wait_for(lambda: isinstance(app.screen, ConfirmOrder))
        await pilot.press("escape")
        assert await again is False
        assert not isinstance(app.screen, ConfirmOrder)


async def test_a_bad_configured_strategy_is_one_line_and_trading_still_starts(
    store: Store, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[[strategies.run]]\nsymbols = ["BTC/USDT"]\n', encoding="utf-8")
    app = make_app(store)
    app.settings = Settings.load(config, environ={})
    async with app.run_test(size=(120, 36)):
        await wait_for(lambda: app.oms is not None)
        await wait_for(lambda: any("strategies.run" in t for _, t in _log(app)))
        [line] = [(s, t) for s, t in _log(app) if "strategies.run" in t]
        assert line[0] == "error" and "has no name" in line[1]
        assert not app.runtime.runners
