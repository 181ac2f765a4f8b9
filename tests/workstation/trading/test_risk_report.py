from __future__ import annotations

from decimal import Decimal as D

from engine.model import Position
from tests.helpers import random_bars
from workstation.store import Store
from workstation.trading.risk_report import var_report


def test_var_from_stored_bars_scales_with_exposure_and_names_missing_history(
    store: Store,
) -> None:
    store.candles.upsert(random_bars(400, seed=3), "AAA", "1h", "demo")
    one = var_report(store, [Position("AAA", D(10), D(100))], lambda s: 100.0, "1h", 300)
    two = var_report(store, [Position("AAA", D(20), D(100))], lambda s: 100.0, "1h", 300)
    var1, cvar1 = one.levels[0.95]
    assert one.bars == 300 and one.exposures == {"AAA": 1000.0}
    assert 0 < var1 < cvar1 and two.levels[0.95][0] == 2 * var1
    assert one.levels[0.99][0] >= var1
    gap = var_report(
        store,
        [Position("AAA", D(10), D(100)), Position("BBB", D(1), D(5))],
        lambda s: 100.0,
        "1h",
    )
    assert gap.missing == ("BBB",) and set(gap.exposures) == {"AAA"}
