"""The cycle panel draws what its screen hands it: a CycleResult, or a status line."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from textual.app import App, ComposeResult

from engine.model import Cycle, CyclePhase
from widgets.cycle_panel import CyclePanel, CycleResult, spectrum_rows


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
