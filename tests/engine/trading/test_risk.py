from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from engine.model import Instrument, Order, OrderType, Side
from engine.trading.risk import (
    NS_PER_MINUTE,
    RiskContext,
    RiskError,
    RiskLimits,
    atr_stop,
    check_order,
    fixed_fraction_size,
    historical_cvar,
    historical_var,
    kelly_fraction,
    portfolio_pnl,
    portfolio_var,
    size_order,
)

BTC = Instrument(
    "BTC/USDT",
    "demo",
    Decimal("0.01"),
    Decimal("0.001"),
    "USDT",
    "BTC",
    Decimal("0.001"),
    Decimal("10"),
)


def order(qty: str, side: Side = Side.BUY, **kw: object) -> Order:
    return Order("c1", "BTC/USDT", side, kw.pop("type", OrderType.MARKET), Decimal(qty), **kw)  # type: ignore[arg-type]


def test_fixed_fraction_loses_exactly_the_risk_at_the_stop() -> None:
    qty = fixed_fraction_size(10_000, 0.01, entry=100.0, stop=95.0)
    assert qty == pytest.approx(20.0)
    assert qty * (100.0 - 95.0) == pytest.approx(100.0)
    with pytest.raises(RiskError):
        fixed_fraction_size(10_000, 0.01, 100.0, 100.0)


def test_size_order_rounds_down_to_the_lot_and_never_up() -> None:
    qty = size_order(BTC, equity=10_000, risk_fraction=0.01, entry=60_000, stop=59_000)
    assert qty == Decimal("0.1")
    tiny = size_order(BTC, equity=10, risk_fraction=0.01, entry=60_000, stop=59_000)
    assert tiny == 0


def test_atr_stop_sits_on_the_losing_side() -> None:
    assert atr_stop(100.0, 2.0, 1.5, Side.BUY) == 97.0
    assert atr_stop(100.0, 2.0, 1.5, Side.SELL) == 103.0


def test_kelly_is_capped_and_never_negative() -> None:
    assert kelly_fraction(0.6, 1.0, cap=1.0) == pytest.approx(0.2)
    assert kelly_fraction(0.6, 1.0, cap=0.1) == 0.1
    assert kelly_fraction(0.3, 1.0, cap=0.5) == 0.0


def test_check_rejects_off_grid_and_small_orders_with_a_reason() -> None:
    d = check_order(order("0.0015"), BTC, 60_000, RiskLimits(), RiskContext())
    assert not d.ok and "lot size" in d.reason
    d = check_order(
        order("0.01", type=OrderType.LIMIT, price=Decimal("60000.005")),
        BTC,
        60_000,
        RiskLimits(),
        RiskContext(),
    )
    assert not d.ok and "tick size" in d.reason
    d = check_order(order("0.001"), BTC, 5_000, RiskLimits(), RiskContext())
    assert not d.ok and "minimum" in d.reason
    assert check_order(order("0.001"), BTC, 60_000, RiskLimits(), RiskContext()).ok


def test_notional_position_and_exposure_limits() -> None:
    limits = RiskLimits(
        max_order_notional=1_000, max_position_notional=1_500, max_total_exposure=2_000
    )
    assert not check_order(order("0.02"), BTC, 60_000, limits, RiskContext()).ok
    ctx = RiskContext(positions={"BTC/USDT": 0.02}, marks={"BTC/USDT": 60_000})
    d = check_order(order("0.01"), BTC, 60_000, limits, ctx)
    assert not d.ok and "per-symbol" in d.reason
    ctx = RiskContext(positions={"ETH/USDT": 0.5}, marks={"ETH/USDT": 3_000})
    d = check_order(order("0.01"), BTC, 60_000, limits, ctx)
    assert not d.ok and "total exposure" in d.reason
    # reducing a position too large for the limits is always allowed
    ctx = RiskContext(positions={"BTC/USDT": 0.05}, marks={"BTC/USDT": 60_000})
    assert check_order(order("0.01", Side.SELL), BTC, 60_000, limits, ctx).ok


def test_rate_limit_and_daily_loss_trip_the_kill_switch() -> None:
    now = 10 * NS_PER_MINUTE
    ctx = RiskContext(recent_orders_ns=[now - 1, now - 2, now - NS_PER_MINUTE - 1], now_ns=now)
    d = check_order(order("0.001"), BTC, 60_000, RiskLimits(max_orders_per_minute=2), ctx)
    assert not d.ok and "last minute" in d.reason and not d.trip_kill_switch
    assert check_order(order("0.001"), BTC, 60_000, RiskLimits(max_orders_per_minute=3), ctx).ok
    d = check_order(
        order("0.001"), BTC, 60_000, RiskLimits(daily_loss_limit=500), RiskContext(daily_pnl=-500.0)
    )
    assert not d.ok and d.trip_kill_switch


def test_var_and_cvar_on_a_known_distribution() -> None:
    r = np.arange(-50, 50, dtype=float)  # 100 equally likely outcomes
    assert historical_var(r, 0.95) == 46.0  # 5th smallest loss
    assert historical_cvar(r, 0.95) == pytest.approx(np.mean([50, 49, 48, 47, 46]))
    assert historical_cvar(r, 0.99) >= historical_var(r, 0.99) >= historical_var(r, 0.95)
    assert historical_var(np.ones(10), 0.95) == 0.0


def test_portfolio_var_hedged_book_has_no_risk() -> None:
    rng = np.random.default_rng(1)
    a = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 500)))
    closes = {"A": a, "B": a.copy()}
    hedged = portfolio_var(closes, {"A": 1_000.0, "B": -1_000.0})
    assert hedged[0.95] == (0.0, 0.0)
    long = portfolio_var(closes, {"A": 1_000.0})
    var95, cvar95 = long[0.95]
    assert 5 < var95 < 40 and cvar95 > var95
    assert long[0.99][0] > var95
    assert len(portfolio_pnl({"A": a[:10], "B": a}, {"A": 1.0, "B": 1.0})) == 9
    with pytest.raises(RiskError):
        portfolio_pnl({"A": a}, {"C": 1.0})
    assert math.isfinite(var95)


EURUSD = Instrument("EURUSD", "demo", Decimal("0.00001"), Decimal("1000"), "USD", "EUR")


def fx(side: Side, **kw: object) -> Order:
    return Order("c1", "EURUSD", side, kw.pop("type", OrderType.MARKET), Decimal(1000), **kw)  # type: ignore[arg-type]


def test_a_protective_level_on_the_wrong_side_of_the_entry_is_refused() -> None:
    def verdict(o: Order, price: float = 1.0843, mark: float | None = None) -> tuple[bool, str]:
        d = check_order(o, EURUSD, price, RiskLimits(), RiskContext(), mark=mark)
        return d.ok, d.reason

    assert verdict(fx(Side.BUY, sl=Decimal("1.2"))) == (
        False,
        "stop-loss 1.2 is above the entry 1.08430 of a buy: it would fire at once",
    )
    assert verdict(fx(Side.SELL, sl=Decimal("1.05"))) == (
        False,
        "stop-loss 1.05 is below the entry 1.08430 of a sell: it would fire at once",
    )
    assert verdict(fx(Side.BUY, tp=Decimal("1.08"))) == (
        False,
        "take-profit 1.08 is below the entry 1.08430 of a buy: it would fill at once",
    )
    assert verdict(fx(Side.SELL, tp=Decimal("1.1"))) == (
        False,
        "take-profit 1.1 is above the entry 1.08430 of a sell: it would fill at once",
    )
    # a level at the entry itself is just as wrong
    assert not verdict(fx(Side.BUY, sl=Decimal("1.0843")))[0]
    assert verdict(fx(Side.BUY, sl=Decimal("1.08"), tp=Decimal("1.09"))) == (True, "")
    assert verdict(fx(Side.SELL, sl=Decimal("1.09"), tp=Decimal("1.08"))) == (True, "")
    # a stop entry fills at its stop: a stop-loss between the market and the stop is fine
    breakout = fx(Side.BUY, type=OrderType.STOP, stop=Decimal("1.1"), sl=Decimal("1.09"))
    assert verdict(breakout, 1.1, mark=1.0843) == (True, "")
    # a marketable buy limit fills at the market, below its limit: the level is checked there
    marketable = fx(Side.BUY, type=OrderType.LIMIT, price=Decimal("1.1"), sl=Decimal("1.09"))
    ok, reason = verdict(marketable, 1.1, mark=1.0843)
    assert not ok and reason.startswith("stop-loss 1.09 is above the entry 1.08430 of a buy")
    resting = fx(Side.BUY, type=OrderType.LIMIT, price=Decimal("1.07"), sl=Decimal("1.075"))
    assert not verdict(resting, 1.07, mark=1.0843)[0]
