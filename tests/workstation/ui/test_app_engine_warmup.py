"""The engine's warm-up in the app: its worker starts and loads what the first cycle scan needs
at the first frame, before any request, and the cycle panel shows each stage until the result."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import polars as pl
import pytest

from feeds.demo import DemoFeed
from tests.workstation.ui.ui_helpers import frozen_clock, wait_for
from widgets.cycle_panel import CyclePanel
from workstation.runtime import engine_thread
from workstation.runtime.config import Settings
from workstation.runtime.engine_warmup import STAGES
from workstation.store import Store
from workstation.ui.app import QwsApp
from workstation.ui.screens.dashboard import DashboardScreen


class HeldHistory(DemoFeed):
    """The demo feed, its history held back until the test lets it through."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = asyncio.Event()

    async def history(
        self, symbol: str, timeframe: str, start: int | None = None, limit: int | None = None
    ) -> pl.DataFrame:
        await self.release.wait()
        return await super().history(symbol, timeframe, start, limit)


async def test_the_worker_warms_up_at_the_first_frame_before_any_request_showing_each_stage(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QWS_ENGINE")
    store.settings.set("app.engine_delay_s", 600.0)  # the thread's delay: not the worker's
    sent: list[str] = []
    run_engine = engine_thread.run_engine

    async def recorded(fn: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(fn.__name__)
        return await run_engine(fn, *args, **kwargs)

    monkeypatch.setattr(engine_thread, "run_engine", recorded)
    shown: list[str] = []
    set_progress = CyclePanel.set_progress

    def progress(panel: CyclePanel, stage: str) -> None:
        shown.append(stage)
        set_progress(panel, stage)

    monkeypatch.setattr(CyclePanel, "set_progress", progress)
    logged: list[str] = []
    log_line = DashboardScreen.log_line

    def log(screen: DashboardScreen, text: str, *args: Any) -> None:
        logged.append(text)
        log_line(screen, text, *args)

    monkeypatch.setattr(DashboardScreen, "log_line", log)

    # the feed's clock stands still, so no bar closes while the warm-up runs: a closed bar
    # would ask for a cycle scan (rightly), on a busy machine as the minute turns
    feed = HeldHistory(tick_interval_s=0.05, clock=frozen_clock)
    app = QwsApp(feed, store, Settings.load(environ={}))
    async with app.run_test(size=(120, 40)) as pilot:
        dashboard = app.dashboard
        panel = dashboard.query_one(CyclePanel)
        done = ("engine ready", "engine warm-up")
        await wait_for(lambda: any(line.startswith(done) for line in logged), 120)
        assert not any(line.startswith("engine warm-up") for line in logged), logged
        await wait_for(lambda: panel.status == "QPE cycle detector: waiting for bars", 30)
        assert panel.stage == ""
        assert sent == ["warm_up"] and dashboard.cycle_runs == 0  # no request was made
        pid = engine_thread.engine_pid()
        assert pid is not None and pid != os.getpid()
        assert shown == ["engine starting", *(f"engine starting: {s}" for s in STAGES)]
        assert any(line.startswith("engine ready (importing qiskit ") for line in logged)

        feed.release.set()
        await wait_for(lambda: dashboard.cycle_runs >= 1, 120)
        assert sent[1] == "cycle_scan"  # the panel's scan goes before the chart's overlays
        assert engine_thread.engine_pid() == pid  # the warmed worker ran it
        assert panel.result is not None and panel.stage == ""
        assert "statevector" in panel.summary()
        await pilot.press("q")
