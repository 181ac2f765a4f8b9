"""Screenshots of the main screens at 80x24 and 160x50 on the seeded demo feed, frozen clock.

The feed quotes one round and then sleeps for an hour, so every run shows the same prices.
Update after an intended change with ``pytest --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from feeds.demo import DemoFeed
from tests.workstation.ui.ui_helpers import frozen_clock, settings, still, wait_for
from widgets.chart import Chart
from widgets.cycle_panel import CyclePanel
from widgets.watchlist import Watchlist
from workstation.store import Store
from workstation.ui.app import QwsApp
from workstation.ui.screens.backtest import BacktestScreen

SIZES = [(80, 24), (160, 50)]


async def _settle(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, QwsApp)
    dashboard = app.dashboard
    await wait_for(lambda: dashboard.query_one(Chart).bar_count > 0)
    await wait_for(lambda: len(dashboard.query_one(Watchlist).reference) == len(app.symbols))
    await wait_for(lambda: app.quotes_seen > 0)
    seen = -1
    while seen != app.quotes_seen:  # every quote of the feed is on screen
        seen = app.quotes_seen
        await asyncio.sleep(0.2)
    await wait_for(lambda: not dashboard.query_one(Watchlist).flashing)
    # overlays and cycles again, now that every quote is in the forming bar
    await wait_for(lambda: dashboard.engine_ready)
    runs = (dashboard.overlay_runs, dashboard.cycle_runs)
    dashboard.compute_overlays()
    dashboard.detect_cycles()
    await wait_for(lambda: dashboard.overlay_runs > runs[0] and dashboard.cycle_runs > runs[1])
    await pilot.pause()
    panel = dashboard.query_one(CyclePanel)
    assert panel.result is not None
    panel.set_result(replace(panel.result, elapsed_ms=0.0))  # wall-clock run time: frozen too
    app.refresh_status()
    await wait_for(lambda: not dashboard.query_one(Chart).behind)
    await still(pilot)


class FirstQuotes(DemoFeed):
    """The seeded demo feed, stopped after its first ``EVENTS`` events (then silent)."""

    EVENTS = 80

    async def stream(self, symbols, timeframe="1m"):  # type: ignore[no-untyped-def,override]
        n = 0
        async for event in super().stream(symbols, timeframe):
            yield event
            n += 1
            if n >= self.EVENTS:
                break
        await asyncio.Event().wait()


def _app(store: Store) -> QwsApp:
    feed = FirstQuotes(tick_interval_s=0, history_bars=600, clock=frozen_clock)
    return QwsApp(feed, store, settings(), clock=frozen_clock, show_clock=False)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard(snap_compare, store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(_app(store), terminal_size=size, run_before=_settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_order_ticket(snap_compare, store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot) -> None:
        await _settle(pilot)
        await pilot.press("b", *"0.0123456")
        await still(pilot)

    assert snap_compare(_app(store), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_backtest_screen(snap_compare, store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot) -> None:
        await _settle(pilot)
        await pilot.press("f3")
        screen = pilot.app.screen
        assert isinstance(screen, BacktestScreen)
        await pilot.pause()
        screen.query_one("#bt-bars", Input).value = "600"
        await pilot.press("ctrl+r")
        await wait_for(lambda: screen.result is not None)
        await pilot.pause()
        await still(pilot)

    assert snap_compare(_app(store), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_settings_screen(snap_compare, store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot) -> None:
        await _settle(pilot)
        await pilot.press("f2")
        await still(pilot)

    assert snap_compare(_app(store), terminal_size=size, run_before=run_before)
