"""Building the app on the seeded demo feed with a frozen clock, and waiting for it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from feeds.demo import DemoFeed
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.ui.app import QwsApp

FROZEN_NS = 1_795_000_000_000_000_000  # 2026-11-18T07:46:40Z, a fixed "now" for repeatable screens


def frozen_clock() -> int:
    return FROZEN_NS


def make_app(store: Store, tick_interval_s: float = 0.2, **kwargs: object) -> QwsApp:
    feed = DemoFeed(tick_interval_s=tick_interval_s, history_bars=600, clock=frozen_clock)
    return QwsApp(
        feed,
        store,
        Settings.load(environ={}),
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
