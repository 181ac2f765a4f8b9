from __future__ import annotations

from decimal import Decimal

import pytest

from engine.model import Action, Instrument, ModelError, Signal


@pytest.fixture
def btc() -> Instrument:
    return Instrument(
        "BTC/USDT",
        "demo",
        Decimal("0.01"),
        Decimal("0.00001"),
        "USDT",
        "BTC",
        min_qty=Decimal("0.0001"),
    )


def test_prices_and_quantities_on_the_grid_pass_exactly(btc: Instrument) -> None:
    assert btc.check_price(64000.01) == Decimal("64000.01")
    assert btc.check_qty("0.00123") == Decimal("0.00123")
    assert btc.price_decimals == 2 and btc.qty_decimals == 5


def test_off_grid_values_are_refused_not_rounded(btc: Instrument) -> None:
    with pytest.raises(ModelError, match=r"tick size 0\.01.*nearest: 64000\.01"):
        btc.check_price("64000.012")
    with pytest.raises(ModelError, match="lot size"):
        btc.check_qty("0.000015")
    with pytest.raises(ModelError, match="below the minimum"):
        btc.check_qty("0.00005")
    with pytest.raises(ModelError, match="finite"):
        btc.check_price(float("nan"))
    with pytest.raises(ModelError, match="positive"):
        btc.check_qty(0)


def test_round_qty_never_sizes_up(btc: Instrument) -> None:
    assert btc.round_qty("0.000019") == Decimal("0.00001")
    assert btc.round_price("64000.015") == Decimal("64000.02")


def test_signal_confidence_must_be_a_probability() -> None:
    with pytest.raises(ModelError):
        Signal(0, "X", "1m", Action.WAIT, 1.5, 1.0)
    with pytest.raises(ModelError):
        Signal(0, "X", "1m", Action.WAIT, float("nan"), 1.0)
