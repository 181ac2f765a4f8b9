"""The cycle panel draws what its screen hands it: a CycleResult, or a status line."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from engine.model import Cycle, CyclePhase
from widgets.cycle_panel import CyclePanel, CycleResult, spectrum_rows

ROOT = Path(__file__).resolve().parents[2]


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield CyclePanel(id="cycles")


def _result() -> CycleResult:
    spectrum = np.zeros(17)
    spectrum[4] = 0.6
    spectrum[2] = 0.3
    return CycleResult(
        "BTC/USDT", "1h", spectrum, (Cycle(8.0, 0.6, 4),), CyclePhase(8.0, 1.0, 2.0, 3.0, 7.0),
        12.0, "statevector",
    )  # fmt: skip


def test_a_result_is_a_frozen_value() -> None:
    result = _result()
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.elapsed_ms = 0.0  # type: ignore[misc]
    assert dataclasses.replace(result, elapsed_ms=0.0).elapsed_ms == 0.0


def test_the_tallest_bin_fills_every_row() -> None:
    rows = spectrum_rows(np.array([0.0, 1.0, 0.5]), rows=2, width=2)
    assert rows == ["█ ", "██"]


async def test_the_panel_shows_its_status_until_a_result_and_then_summarises_it() -> None:
    app = _Host()
    async with app.run_test(size=(100, 12)) as pilot:
        panel = app.query_one(CyclePanel)
        panel.set_status("QPE cycle detector: running…")
        assert panel.summary() == "QPE cycle detector: running…"
        panel.set_result(_result())
        await pilot.pause()
        summary = panel.summary()
        assert summary.startswith("BTC/USDT 1h · dominant 8.0 bars · strength 60%")
        assert "next trough in 3.0 bars" in summary and summary.endswith("statevector 12 ms")


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _ProgressHost(App[None]):
    def __init__(self, clock: _Clock) -> None:
        super().__init__()
        self.clock = clock

    def compose(self) -> ComposeResult:
        yield CyclePanel(clock=self.clock, id="cycles")


async def test_the_engine_s_stages_show_with_the_seconds_since_the_first_until_a_result() -> None:
    clock = _Clock()
    app = _ProgressHost(clock)
    async with app.run_test(size=(100, 12)) as pilot:
        panel = app.query_one(CyclePanel)
        panel.set_progress("engine starting")
        assert panel.summary() == "engine starting… 0 s"
        clock.now += 1.6
        panel.set_progress("engine starting: importing qiskit")
        assert panel.summary() == "engine starting: importing qiskit… 2 s"
        clock.now += 1.5
        assert panel.summary() == "engine starting: importing qiskit… 3 s"  # it keeps counting
        assert str(panel.render()) == "engine starting: importing qiskit… 3 s"
        panel.set_progress("engine starting: compiling kernels")
        clock.now += 2.0
        panel.set_progress("engine starting: first scan")
        assert panel.summary() == "engine starting: first scan… 5 s"
        panel.set_result(_result())
        await pilot.pause()
        assert panel.stage == "" and panel.summary().startswith("BTC/USDT 1h · dominant 8.0")
        panel.result = None
        clock.now += 60.0
        panel.set_progress("QPE cycle detector: scanning ETH/USDT 1m")  # a new wait: from 0
        assert panel.summary() == "QPE cycle detector: scanning ETH/USDT 1m… 0 s"
        panel.set_status("QPE cycle detector: waiting for bars")
        assert panel.summary() == "QPE cycle detector: waiting for bars"
        clock.now += 9.0
        panel.set_progress("engine starting")
        assert panel.summary() == "engine starting… 0 s"  # a status ended the last wait


def test_the_panel_s_progress_snapshot(snap_compare: Callable[..., bool]) -> None:
    clock = _Clock()

    async def run_before(pilot: Pilot[None]) -> None:
        panel = pilot.app.query_one(CyclePanel)
        panel.set_progress("engine starting")
        clock.now += 4.2
        panel.set_progress("engine starting: compiling kernels")
        await pilot.pause()

    assert snap_compare(_ProgressHost(clock), terminal_size=(60, 6), run_before=run_before)


def test_the_panel_s_module_does_not_import_numpy() -> None:
    """The first frame shows the panel; numpy (0.1-0.2 s) loads only once there is a spectrum."""
    probe = "import sys, widgets.cycle_panel; print('numpy' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
