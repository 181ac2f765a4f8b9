from __future__ import annotations

from decimal import Decimal as D

import pytest

from engine.model import Fill, Instrument, Position, Side
from engine.trading.portfolio import Portfolio, apply_fill, fx_rate, unrealized_pnl

BTC = Instrument("BTC/USDT", "demo", D("0.01"), D("0.0001"), "USDT", "BTC")
EUR = Instrument("EURUSD", "demo", D("0.00001"), D("1000"), "USD", "EUR")


def fill(
    side: Side, qty: str, price: str, fee: str = "0", sym: str = "BTC/USDT", ccy: str = ""
) -> Fill:
    return Fill("c", sym, side, D(qty), D(price), D(fee), 0, "", ccy)


def test_average_price_realized_and_flip() -> None:
    p = apply_fill(None, fill(Side.BUY, "1", "100", "0.1"), "paper")
    p = apply_fill(p, fill(Side.BUY, "1", "110", "0.1"), "paper")
    assert (p.qty, p.avg_price) == (D(2), D(105))
    p = apply_fill(p, fill(Side.SELL, "0.5", "120"), "paper")
    assert (p.qty, p.avg_price, p.realized_pnl) == (D("1.5"), D(105), D("7.5"))
    p = apply_fill(p, fill(Side.SELL, "2", "100"), "paper")  # closes 1.5 at a loss, opens -0.5
    assert p.qty == D("-0.5") and p.avg_price == D(100)
    assert p.realized_pnl == D("7.5") + D("1.5") * D(-5)
    assert p.fees == D("0.2")
    assert unrealized_pnl(p, 90.0) == pytest.approx(5.0)  # short gains when price falls
    p = apply_fill(p, fill(Side.BUY, "0.5", "90"), "paper")
    assert p.qty == 0 and p.avg_price == 0 and p.realized_pnl == D("5")


def test_fee_in_base_asset_is_valued_at_the_fill_price() -> None:
    p = apply_fill(None, fill(Side.BUY, "1", "100", "0.001", ccy="BTC"), "paper", BTC)
    assert p.fees == D("0.1")


def test_fx_rate_direct_inverse_and_one_hop() -> None:
    rates = {"EUR/USD": 1.25, "USD/JPY": 150.0}
    assert fx_rate("EUR", "USD", rates) == 1.25
    assert fx_rate("USD", "EUR", rates) == pytest.approx(0.8)
    assert fx_rate("EUR", "JPY", rates) == pytest.approx(187.5)
    assert fx_rate("JPY", "EUR", rates) == pytest.approx(1 / 187.5)
    with pytest.raises(KeyError):
        fx_rate("GBP", "USD", rates)


def test_portfolio_equity_in_account_currency() -> None:
    pf = Portfolio("EUR", cash={"USD": D(10_000)}, instruments={"EURUSD": EUR, "BTC/USDT": BTC})
    pf.apply(fill(Side.BUY, "1000", "1.2", "1", sym="EURUSD"), "paper")
    rates = {"EUR/USD": 1.25, "USDT/USD": 1.0}
    assert pf.cash["USD"] == D(10_000) - D(1200) - D(1)
    marks = {"EURUSD": 1.25}
    assert pf.unrealized(marks, rates) == pytest.approx(50 / 1.25)
    assert pf.equity(marks, rates) == pytest.approx((10_000 - 1 + 50) / 1.25)
    assert pf.realized(rates) == pytest.approx(-1 / 1.25)
    assert pf.exposures(marks, rates) == {"EURUSD": pytest.approx(1000.0)}
    assert isinstance(pf.positions[("paper", "EURUSD")], Position)
