"""Building the app on the seeded demo feed with a frozen clock, and waiting for it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, Input

from feeds.demo import DemoFeed
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.ui.app import QwsApp

FROZEN_NS = 1_795_000_000_000_000_000  # 2026-11-18T11:06:40Z, a fixed "now" for repeatable screens


def frozen_clock() -> int:
    return FROZEN_NS


def settings(news: bool = False) -> Settings:
    """The default settings, with the demo news poll off unless asked for: its items would
    reach the screen at a moment that depends on the machine's speed (a chart's marker row, the
    News tab), and a screen a test compares must not."""
    return Settings.load(environ={"QWS__NEWS__POLL": "true" if news else "false"})


def make_app(
    store: Store, tick_interval_s: float = 0.2, news: bool = False, **kwargs: object
) -> QwsApp:
    feed = DemoFeed(tick_interval_s=tick_interval_s, history_bars=600, clock=frozen_clock)
    return QwsApp(
        feed,
        store,
        settings(news),
        clock=frozen_clock,
        show_clock=False,
        **kwargs,  # type: ignore[arg-type]
    )


async def wait_for(predicate: Callable[[], object], timeout: float = 60.0) -> None:
    """Poll until ``predicate`` holds; ``timeout`` is a deadline for "eventually" (generous:
    a busy machine is slow, not wrong), never a speed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out waiting for the screen"
        await asyncio.sleep(0.02)


S = TypeVar("S", bound=Screen[Any])


async def screen_up(app: App[Any], kind: type[S]) -> S:
    """The app's screen once it is a ``kind`` with all of its widgets mounted: on a busy
    machine a screen is pushed a while before its fields and selects are in, and a key or a
    query meanwhile meets a half-built screen."""
    await wait_for(
        lambda: (
            isinstance(app.screen, kind)
            and bool(app.screen.children)
            and all(w.is_mounted for w in app.screen.query("*"))
        )
    )
    screen = app.screen
    assert isinstance(screen, kind)
    return screen


async def still(pilot: Pilot[Any]) -> None:
    """Wait until the screen a snapshot takes has stopped moving: cursors not blinking, and
    every table's columns sized to the rows added. A DataTable sizes its columns on its next
    idle, so on a busy machine a screenshot taken right after ``add_row`` shows the rows under
    headers-wide columns (textual keeps that pending in ``_require_update_dimensions``)."""
    screen = pilot.app.screen
    for box in screen.query(Input):
        box.cursor_blink = False
    await wait_for(
        lambda: not any(table._require_update_dimensions for table in screen.query(DataTable))
    )
    await pilot.pause()
