"""The Calibration tab: the reliability diagram of the selected symbol's learnt model, or why
there is none (real app on the demo feed, real store)."""

from __future__ import annotations

import numpy as np
from textual.widgets import TabbedContent

from engine.signals.calibration import calibration_report
from tests.workstation.ui.ui_helpers import make_app, wait_for
from widgets.reliability import ReliabilityDiagram
from workstation.store import Store
from workstation.ui.screens.messages import ModelReady


def _report(seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.3, 0.7, 2000)
    hit = (rng.random(2000) < p).astype(float)
    return {**calibration_report(p, hit, 4, base_rate=0.5).as_dict(), "version": 2}


async def test_the_calibration_tab_follows_the_selected_symbol(store: Store) -> None:
    app = make_app(store)
    async with app.run_test(size=(120, 36)) as pilot:
        d = app.dashboard
        await wait_for(lambda: bool(d.query(ReliabilityDiagram)))
        diagram = d.query_one(ReliabilityDiagram)
        first = d.symbol
        await wait_for(lambda: bool(diagram.problem) and first in diagram.title)
        assert diagram.calibration is None and "no learnt confidence model yet" in diagram.problem

        other = next(s for s in d.watchlist.symbols if s != first)
        d.post_message(ModelReady(other, "1m", _report(1)))
        await pilot.pause()
        assert diagram.calibration is None  # another symbol's model: not shown

        d.post_message(ModelReady(first, "1m", _report(2)))
        await wait_for(lambda: diagram.calibration is not None)
        assert diagram.calibration is not None and diagram.calibration.n == 2000
        assert first in diagram.title

        await pilot.press("alt+7")
        assert d.query_one("#panels", TabbedContent).active == "tab-calibration"
        d.select(other, d.timeframe)
        await wait_for(lambda: other in diagram.title)
        assert diagram.calibration is not None and diagram.calibration.version == 2
