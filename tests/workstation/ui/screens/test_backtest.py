"""The backtest screen runs a real strategy over the feed's bars in a worker."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, ProgressBar, Select, Sparkline, Static

import workstation.ui.screens.backtest as backtest_screen
from engine.backtest.backtester import BacktestConfig, run_backtest
from feeds.demo import DemoFeed
from plugins.strategies.sma_cross import SmaCross
from tests.workstation.ui.ui_helpers import frozen_clock, make_app, still, wait_for
from workstation.cli import main
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.ui.app import QwsApp
from workstation.ui.screens.backtest import BacktestScreen, format_stats

APP_CSS = Path(backtest_screen.__file__).parent.parent / "app.tcss"


def _stats_text(screen: BacktestScreen) -> str:
    return str(screen.query_one("#bt-stats", Static).render())


async def _opened(app: App[Any]) -> BacktestScreen:
    """The screen once pushed and mounted (its selects hold their values)."""

    def mounted() -> bool:
        screen = app.screen
        if not isinstance(screen, BacktestScreen) or not screen.query("#bt-symbol"):
            return False
        return screen.query_one("#bt-symbol", Select).value is not Select.NULL

    await wait_for(mounted)
    screen = app.screen
    assert isinstance(screen, BacktestScreen)
    return screen


async def test_a_command_with_a_strategy_runs_at_once_and_shows_stats_equity_trades(
    store: Store,
) -> None:
    app = make_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        app.dashboard.run_command("backtest sma_cross fast=5 slow=20 on eth 1h")
        screen = await _opened(app)
        assert screen.query_one("#bt-strategy", Select).value == "sma_cross"
        assert screen.query_one("#bt-symbol", Select).value == "ETH/USDT"
        assert screen.query_one("#bt-timeframe", Select).value == "1h"
        assert screen.query_one("#bt-params", Input).value == "fast=5 slow=20"
        await wait_for(lambda: screen.result is not None)  # no ctrl+r
        result = screen.result
        assert result.params == {"fast": 5, "slow": 20}
        assert result.stats["bars"] > 100
        stats = _stats_text(screen)
        assert "Return %" in stats and "sma_cross(fast=5, slow=20) on ETH/USDT 1h" in stats
        assert screen.query_one("#bt-trades", DataTable).row_count == min(500, result.trades.height)
        assert len(screen.query_one("#bt-equity", Sparkline).data or []) > 100
        bar = screen.query_one("#bt-progress", ProgressBar)
        assert (bar.total, bar.progress) == (100, 100)
        await pilot.press("escape")
        await wait_for(lambda: not isinstance(app.screen, BacktestScreen))


async def test_f3_opens_the_screen_without_running(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f3")
        screen = await _opened(app)
        await pilot.pause()
        await pilot.pause()
        assert screen.result is None
        assert "press Run" in _stats_text(screen)
        assert screen.query_one("#bt-progress", ProgressBar).progress == 0


async def test_bad_input_is_reported_not_run(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f3")
        screen = await _opened(app)
        await pilot.pause()
        screen.query_one("#bt-params", Input).value = "fast"
        await pilot.press("ctrl+r")
        assert "key=value" in _stats_text(screen)
        screen.query_one("#bt-params", Input).value = ""
        for field, text, message in [
            ("#bt-cash", "lots", "cash must be a number, got 'lots'"),
            ("#bt-cash", "0", "cash must be positive"),
            ("#bt-lot", "-1", "lot must be positive"),
            ("#bt-commission", "x", "commission must be a number"),
        ]:
            box = screen.query_one(field, Input)
            before = box.value
            box.value = text
            await pilot.press("ctrl+r")
            assert message in _stats_text(screen), field
            box.value = before
        screen.query_one("#bt-params", Input).value = "nonsense=3"
        await pilot.press("ctrl+r")
        await wait_for(lambda: "nonsense" in _stats_text(screen))
        assert screen.result is None
        assert screen.query_one("#bt-progress", ProgressBar).total == 100


async def test_while_it_runs_the_bar_is_indeterminate_and_says_for_how_long(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One engine call has no steps to count: no percentage that could stick."""
    release = threading.Event()
    real_run = backtest_screen._run

    def gated(*args: Any) -> Any:
        assert release.wait(60)
        return real_run(*args)

    monkeypatch.setattr(backtest_screen, "_run", gated)
    app = make_app(store)
    async with app.run_test(size=(120, 40)):
        app.dashboard.run_command("backtest sma_cross on eth 1h")
        screen = await _opened(app)
        await wait_for(lambda: "running" in _stats_text(screen))
        bar = screen.query_one("#bt-progress", ProgressBar)
        assert bar.total is None and bar.percentage is None
        assert re.search(
            r"running sma_cross on ETH/USDT 1h, [\d,]+ bars… \d+s", _stats_text(screen)
        )
        release.set()
        await wait_for(lambda: screen.result is not None)
        assert (bar.total, bar.progress) == (100, 100)
        assert "running" not in _stats_text(screen)


def _flat_bars(n: int) -> pl.DataFrame:
    day = 86_400_000_000_000
    return pl.DataFrame(
        {
            "ts": np.arange(n, dtype=np.int64) * day,
            "open": np.full(n, 10.0),
            "high": np.full(n, 10.0),
            "low": np.full(n, 10.0),
            "close": np.full(n, 10.0),
            "volume": np.ones(n),
        }
    )


def test_undefined_statistics_show_n_a_and_why_never_nan() -> None:
    result = run_backtest(SmaCross(fast=5, slow=20), _flat_bars(200), BacktestConfig())
    assert result.stats["trades"] == 0
    text = format_stats(result.stats)
    assert "nan" not in text.lower().replace("n/a", "")
    assert "[b]Sharpe[/b] n/a (no trades)" in text
    assert "[b]Win %[/b] n/a (no closed trades)" in text
    assert "[b]Profit factor[/b] n/a (no closed trades)" in text
    assert "[b]Trades[/b] 0" in text
    assert format_stats({"sharpe": float("nan")}).startswith("[b]Return %[/b] n/a")
    assert "[b]Sharpe[/b] n/a  " in format_stats({"sharpe": float("nan")})


def _settings(**env: str) -> Settings:
    return Settings.load(environ={f"QWS__BACKTEST__{k.upper()}": v for k, v in env.items()})


async def test_cash_lot_and_commission_come_from_the_settings_and_are_shown(
    store: Store,
) -> None:
    feed = DemoFeed(tick_interval_s=0.2, history_bars=600, clock=frozen_clock)
    settings = _settings(cash="25000", commission="0.001")
    app = QwsApp(feed, store, settings, clock=frozen_clock, show_clock=False)
    async with app.run_test(size=(120, 40)):
        app.dashboard.run_command("backtest sma_cross on eth 1h")
        screen = await _opened(app)
        assert screen.query_one("#bt-cash", Input).value == "25000"
        assert screen.query_one("#bt-commission", Input).value == "0.001"
        lot = screen.query_one("#bt-lot", Input)
        assert lot.value == "" and lot.placeholder == "instrument's: 0.0001"
        await wait_for(lambda: screen.result is not None)
        config = screen.result.config
        assert (config.cash, config.lot, config.commission) == (25_000.0, 0.0001, 0.001)
        assert "cash 25,000 · lot 0.0001 · commission 0.001" in _stats_text(screen)


async def test_the_screen_and_the_cli_use_the_same_defaults(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(store)
    async with app.run_test(size=(120, 40)):
        app.dashboard.run_command("backtest sma_cross on btc 1h")
        screen = await _opened(app)
        await wait_for(lambda: screen.result is not None)
        ours = screen.result.to_dict()["config"]
    monkeypatch.setenv("QWS_DB", str(store.path.parent / "none.db"))
    capsys.readouterr()
    args = ["backtest", "--symbol", "BTC/USDT", "--timeframe", "1h", "--bars", "300"]
    assert await asyncio.to_thread(main, [*args, "--strategy", "sma_cross", "--json"]) == 0
    theirs = json.loads(capsys.readouterr().out)["config"]
    assert ours == theirs == {"cash": 10_000.0, "lot": 0.00001, "commission": 0.0}


class _Host(App[None]):
    """The backtest screen alone, styled as in the workstation, on the frozen demo feed."""

    CSS_PATH = str(APP_CSS)

    def on_mount(self) -> None:
        feed = DemoFeed(tick_interval_s=0, history_bars=600, clock=frozen_clock)
        self.push_screen(
            BacktestScreen(
                feed, "ETH/USDT", "1h", "sma_cross", {"fast": 5, "slow": 20}, run_now=True
            )
        )


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_backtest_screen_after_a_command_ran(
    snap_compare: Callable[..., bool], size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot) -> None:
        screen = await _opened(pilot.app)
        await wait_for(lambda: screen.result is not None)
        await still(pilot)

    assert snap_compare(_Host(), terminal_size=size, run_before=run_before)
