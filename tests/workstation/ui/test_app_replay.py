"""The workstation on a replay of a real file (backtesting.py's hourly EURUSD sample): the chart
shows the file's own bars, in order, with their stored OHLC; the log says what the speed means,
the status line where the replay is, and the book pane that a replay has no depth.

Signal scans and the engine panels are off here: they read the same bars and do not change
what the chart shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import backtesting
import polars as pl
from textual.pilot import Pilot
from textual.widgets import Static

from engine.timeframes import OHLCV_SCHEMA
from feeds.replay import ReplayFeed
from tests.workstation.ui.ui_helpers import frozen_clock, still, wait_for
from widgets.chart import MAX_BARS
from widgets.log_pane import LogPane
from widgets.order_book import OrderBookLadder
from widgets.watchlist import Watchlist
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.ui.app import QwsApp

EURUSD = Path(backtesting.__file__).parent / "test" / "EURUSD.csv"
QUIET = {"QWS__SCAN__ON_BAR": "false", "QWS__APP__ENGINE_DELAY_S": "3600"}


def _app(store: Store, speed: float) -> tuple[QwsApp, ReplayFeed]:
    feed = ReplayFeed(EURUSD, timeframe="1h", speed=speed)
    app = QwsApp(
        feed,
        store,
        Settings.load(environ=QUIET),
        timeframe="1h",
        clock=frozen_clock,
        show_clock=False,
    )
    return app, feed


def _status(app: QwsApp) -> str:
    return str(app.dashboard.query_one("#status", Static).render())


def _log(app: QwsApp) -> list[str]:
    panes = app.dashboard.query(LogPane)
    return [text for _, text in panes.first().entries] if panes else []


def _file_bars() -> pl.DataFrame:
    return ReplayFeed(EURUSD, timeframe="1h").frame.cast(OHLCV_SCHEMA)  # type: ignore[arg-type]


async def test_a_replay_at_full_speed_charts_the_files_own_bars_in_order(store: Store) -> None:
    app, feed = _app(store, speed=0)
    async with app.run_test(size=(160, 50)):
        chart = app.dashboard.chart
        last_ts = feed.frame["ts"][-1]
        await wait_for(lambda: app._runtime is not None and app._runtime.feed_ended.is_set())
        await wait_for(lambda: chart.bar_count and chart.bars()["ts"][-1] == last_ts)
        batches = app.screen_batches
        assert batches is not None
        await wait_for(lambda: not batches.in_flight and not batches.pending)

        shown = chart.bars().cast(OHLCV_SCHEMA)  # type: ignore[arg-type]
        assert shown.height == MAX_BARS
        assert shown.equals(_file_bars().tail(MAX_BARS))
        ts = shown["ts"].to_numpy()
        assert (ts[1:] > ts[:-1]).all()
        assert chart.readout().startswith(
            "EURUSD 1h  02-07 15:00  O 1.23427 H 1.23444 L 1.22904 C 1.22904 (-0.42%) V 6,143"
        )

        app.refresh_status()
        await wait_for(lambda: "bar 4,000 of 4,000 · 2018-02-07 15:00" in _status(app))
        await wait_for(
            lambda: any(line.startswith("replay EURUSD.csv as fast") for line in _log(app))
        )


async def test_a_paced_replay_says_its_speed_and_progress_and_that_it_has_no_depth(
    store: Store,
) -> None:
    app, feed = _app(store, speed=0.001)
    async with app.run_test(size=(160, 50)):
        await _first_bar_played(app)
        assert feed.summary() in _log(app)
        assert "at 0.001x: one 1h bar every 41.7 days" in feed.summary()
        assert "bar 1 of 4,000 · 2017-06-16 01:00 · next in 41.7 days" in _status(app)
        book = app.dashboard.query_one(OrderBookLadder)
        assert str(book.render()) == "EURUSD: no depth in a replay"

        bars = app.dashboard.chart.bars().cast(OHLCV_SCHEMA)  # type: ignore[arg-type]
        assert bars.equals(_file_bars().slice(400, 601))


async def _first_bar_played(app: QwsApp) -> None:
    """The replay has played its first bar and waits (41.7 days) for the next one; the screen
    shows it all, the change % measured from the previous day's close (whether the watchlist
    got that close before the quote or after it)."""
    chart = app.dashboard.chart
    await wait_for(lambda: app.bars_stored == 1 and chart.bar_count == 601)
    assert isinstance(app.feed, ReplayFeed)
    played = _file_bars().row(app.feed.warmup, named=True)
    await wait_for(lambda: chart.bars().tail(1).row(0, named=True) == played)
    await wait_for(lambda: not chart.behind)  # and drawn: the chart redraws four times a second
    await wait_for(lambda: app.quotes_seen == 1)
    await wait_for(lambda: bool(_log(app)))
    feed = app.feed
    daily = await feed.history("EURUSD", "1d", limit=1)
    assert daily["ts"][-1] == 1_497_484_800 * 10**9  # 2017-06-15: the day before the bar's
    watchlist = app.dashboard.query_one(Watchlist)
    await wait_for(lambda: watchlist.reference.get("EURUSD") == daily["close"][-1])
    assert watchlist.get_cell("EURUSD", "chg").plain == "+0.04%"  # 1.11533 on 1.11489
    await wait_for(lambda: not watchlist.flashing)
    app.refresh_status()
    await wait_for(lambda: "next in" in _status(app))


def test_the_paced_replay_screen(snap_compare: Any, store: Store) -> None:
    app, _ = _app(store, speed=0.001)

    async def run_before(pilot: Pilot) -> None:
        await _first_bar_played(app)
        await still(pilot)

    assert snap_compare(app, terminal_size=(160, 50), run_before=run_before)
