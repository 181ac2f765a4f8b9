"""The layering of DESIGN.md, checked in fresh interpreters."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_engine_feeds_plugins_do_not_import_textual_or_workstation() -> None:
    code = (
        "import sys, pkgutil, importlib\n"
        "import engine, feeds, plugins\n"
        "for pkg in (engine, feeds, plugins):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "upper = ('textual', 'workstation', 'widgets')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in upper)\n"
        "print(bad)\n"
    )
    assert _run(code) == "[]"


def test_import_engine_does_not_import_qiskit_or_numba() -> None:
    code = (
        "import sys, engine, engine.model, engine.timeframes, engine.protocols\n"
        "print(sorted(m for m in ('qiskit', 'numba') if m in sys.modules))"
    )
    assert _run(code) == "[]"


def test_the_app_reaches_its_first_frame_without_qiskit_or_numba() -> None:
    code = (
        "import asyncio, sys\n"
        "from feeds.demo import DemoFeed\n"
        "from workstation.ui.app import QwsApp\n"
        "from workstation.runtime.config import Settings\n"
        "from workstation.store.store import Store\n"
        "async def main():\n"
        "    app = QwsApp(DemoFeed(), Store(':memory:'), Settings.load(environ={}))\n"
        "    async with app.run_test() as pilot:\n"
        "        await pilot.pause()\n"
        "        print(sorted(m for m in ('qiskit', 'numba') if m in sys.modules))\n"
        "asyncio.run(main())\n"
    )
    assert _run(code) == "[]"
