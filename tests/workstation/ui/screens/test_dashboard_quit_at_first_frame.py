"""Quitting at the first frame: the hidden panes, mounted just after it, are let go quietly
instead of failing with a MountError traceback on the way out. A real app in a fresh
interpreter (its first start, before the tab panes are up when the app quits)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]

QUIT_AT_FIRST_PAINT = """
from textual.screen import Screen
from feeds.demo import DemoFeed
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.ui.app import QwsApp
from workstation.ui.screens.dashboard import DashboardScreen

refresh = Screen._compositor_refresh


def first_paint(self):
    refresh(self)
    if isinstance(self, DashboardScreen):
        self.app.exit()


Screen._compositor_refresh = first_paint
QwsApp(DemoFeed(), Store(":memory:"), Settings.load(environ={})).run(headless=True)
print("exited")
"""


def test_quitting_at_the_first_frame_exits_cleanly() -> None:
    out = subprocess.run(
        [sys.executable, "-c", QUIT_AT_FIRST_PAINT],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines()[-1:] == ["exited"], out.stdout[-3000:]
    assert "Error" not in out.stdout + out.stderr
