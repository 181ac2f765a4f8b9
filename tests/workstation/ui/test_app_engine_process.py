"""The app as users run it: engine calls in the worker process (the rest of the UI tests run
the engine on its thread, ``QWS_ENGINE=thread`` in tests/conftest.py, to spare a worker's
start-up per app)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from feeds.demo import DemoFeed
from widgets.cycle_panel import CyclePanel
from workstation.runtime import engine_thread
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.ui.app import QwsApp


async def _wait_for(predicate, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_the_app_runs_the_engine_in_a_worker_that_may_die_without_taking_it_down(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QWS_ENGINE")
    app = QwsApp(DemoFeed(tick_interval_s=0.05), store, Settings.load(environ={}))
    async with app.run_test(size=(120, 40)) as pilot:
        dashboard = app.dashboard
        await _wait_for(lambda: dashboard.cycle_runs >= 1 and dashboard.overlay_runs >= 1)
        first = engine_thread.engine_pid()
        assert first is not None and first != os.getpid() and _alive(first)
        # the screen's engine calls live outside its module: the worker never loads Textual
        loaded = "sorted(m for m in __import__('sys').modules if m.split('.')[0] in {s!r})"
        worker = await engine_thread.run_engine(eval, loaded.format(s={"textual", "widgets"}))
        assert worker == [] and "textual" in sys.modules
        assert "engine.signals.cycles" in await engine_thread.run_engine(
            eval, "list(__import__('sys').modules)"
        )

        await _wait_for(lambda: "cycles" not in dashboard._busy)
        os.kill(first, signal.SIGKILL)  # a segfault or the OOM killer, as the app sees it
        runs = dashboard.cycle_runs
        dashboard.detect_cycles()  # dead between calls: this run gets a fresh worker
        await _wait_for(lambda: "cycles" not in dashboard._busy)
        if dashboard.cycle_runs == runs:  # it died during a call: said so, and the next works
            assert "engine" in dashboard.query_one(CyclePanel).status
            dashboard.detect_cycles()
        await _wait_for(lambda: dashboard.cycle_runs > runs)
        second = engine_thread.engine_pid()
        assert second is not None and second != first and _alive(second)
        assert not _alive(first)  # the dead one was reaped, not left a zombie
        await pilot.press("q")
    assert engine_thread.engine_pid() is None  # the worker went with the app: no orphan
    await _wait_for(lambda: not _alive(second), timeout=10)
