"""What the first frame waits for: the screen's own modules, not the trading runtime's (numpy,
polars, sqlite-utils, the runtime and its order manager); they load after it. A test of
imports, not of time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

LATER = (
    "numpy",
    "polars",
    "pandas",
    "sqlite_utils",
    "workstation.trader.runtime",
    "workstation.trading.oms",
    "qiskit",
    "numba",
    "feedparser",  # the news: its sources and scorer run in the runtime, never for the screen
    "vaderSentiment",
)

PROBE = f"""
import asyncio, sys
from textual.screen import Screen

LATER = {LATER!r}
painted = []
early = []


class Watch:
    def find_spec(self, name, path=None, target=None):
        if name in LATER and not painted:
            early.append(name)
        return None


sys.meta_path.insert(0, Watch())
from feeds.demo import DemoFeed
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.ui.app import QwsApp
from workstation.ui.screens.dashboard import DashboardScreen

refresh = Screen._compositor_refresh


def first_paint(self):
    refresh(self)
    if isinstance(self, DashboardScreen):
        painted.append(True)


Screen._compositor_refresh = first_paint


async def main():
    app = QwsApp(DemoFeed(), Store(":memory:"), Settings.load(environ={{}}))
    async with app.run_test():
        while app.oms is None or app.dashboard.history_loads == 0:
            await asyncio.sleep(0.05)
        started = sorted(m for m in ("polars", "workstation.trader.runtime") if m in sys.modules)
    print(sorted(set(early)), started)


asyncio.run(main())
"""


def test_the_first_frame_waits_for_none_of_the_runtime_s_modules() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT, timeout=180
    )
    assert out.returncode == 0, out.stderr[-3000:]
    # none began importing before the dashboard's first paint; the runtime and the chart's
    # history (polars) still come up after it
    assert out.stdout.split("\n")[-2] == "[] ['polars', 'workstation.trader.runtime']"
