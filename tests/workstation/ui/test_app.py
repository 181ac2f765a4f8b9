from __future__ import annotations

import asyncio
from pathlib import Path

from rich.text import Text

import workstation.ui.app
from feeds.demo import DemoFeed
from widgets.watchlist import Watchlist
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.ui.app import QwsApp


async def _wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_watchlist_updates_from_the_demo_feed_and_bars_are_stored(store: Store) -> None:
    clock_ns = [1_704_067_200_000_000_000]

    def clock() -> int:
        clock_ns[0] += 1_000_000_000  # one second of market time per reading
        return clock_ns[0]

    feed = DemoFeed(tick_interval_s=0.005, clock=clock)
    app = QwsApp(feed, store, Settings.load(environ={}))
    async with app.run_test(size=(100, 30)) as pilot:
        watchlist = app.screen.query_one(Watchlist)
        await _wait_for(lambda: watchlist.updates > 50)
        for symbol in ("BTC/USDT", "EURUSD", "XAUUSD", "US500"):
            cell = watchlist.get_cell(symbol, "last")
            assert isinstance(cell, Text) and cell.plain != "—"
        first = watchlist.get_cell("EURUSD", "bid").plain
        await _wait_for(lambda: watchlist.get_cell("EURUSD", "bid").plain != first)
        await _wait_for(lambda: app.bars_stored > 0)
        await pilot.press("q")
    assert store.candles.venues("BTC/USDT", "1m") == ["demo"]


async def test_saved_watchlist_wins_and_unknown_symbols_are_left_out(store: Store) -> None:
    store.watchlists.set(["XAUUSD", "NOT/REAL", "EURUSD"])
    app = QwsApp(DemoFeed(tick_interval_s=0.01), store, Settings.load(environ={}))
    async with app.run_test(size=(100, 30)):
        watchlist = app.screen.query_one(Watchlist)
        assert watchlist.order == ["XAUUSD", "EURUSD"]


async def test_the_status_line_shows_the_feeds_health(store: Store) -> None:
    from textual.widgets import Static

    from feeds.health import FeedHealth
    from tests.workstation.ui.ui_helpers import frozen_clock

    feed = DemoFeed(tick_interval_s=0.2, clock=frozen_clock)
    feed.health = FeedHealth("demo")  # type: ignore[attr-defined]
    feed.health.state = "reconnecting"  # type: ignore[attr-defined]
    feed.health.reconnects = 2  # type: ignore[attr-defined]
    feed.health.drop("nan_price")  # type: ignore[attr-defined]
    app = QwsApp(feed, store, Settings.load(environ={}), clock=frozen_clock, show_clock=False)
    async with app.run_test(size=(160, 30)) as pilot:
        app.refresh_status()
        await pilot.pause()
        status = str(app.dashboard.query_one("#status", Static).render())
        assert "reconnecting · reconnects 2" in status
        assert "bad input dropped 1 (nan_price 1)" in status


def test_the_symbols_asked_for_win_then_the_saved_list_then_the_default() -> None:
    from workstation.ui.app import choose_symbols

    known = ["A", "B", "C"]
    assert choose_symbols(["C", "X"], ["B"], ["A"], known) == ["C"]
    assert choose_symbols(None, ["B", "A"], ["C"], known) == ["B", "A"]
    assert choose_symbols(None, None, ["C"], known) == ["C"]
    assert choose_symbols(["X"], None, None, known) == known  # none left: all of the feed's


async def test_a_subclass_calling_super_on_mount_still_mounts_once(store: Store) -> None:
    """Textual calls ``on_mount`` of every class in the MRO: a subclass that also calls
    ``super().on_mount()`` must not push the dashboard, or start the runtime, twice."""
    starts: list[int] = []

    class Probe(QwsApp):
        CSS_PATH = str(Path(workstation.ui.app.__file__).with_name("app.tcss"))

        async def on_mount(self) -> None:
            await super().on_mount()

        def start_runtime(self) -> None:  # type: ignore[override]
            starts.append(1)

    app = Probe(DemoFeed(), store, Settings.load(environ={}))
    async with app.run_test(size=(100, 30)) as pilot:
        await _wait_for(lambda: starts)
        await pilot.pause()
        assert app.screen_stack.count(app.dashboard) == 1
        assert starts == [1]
