from __future__ import annotations

from decimal import Decimal as D

import numpy as np
import pytest

from engine.model import Instrument, OrderType, Side
from engine.trading.schedule import (
    DAY_NS,
    Algo,
    AlgoParams,
    ScheduleError,
    child_qty,
    limit_price,
    parse_duration,
    parse_participation,
    plan,
    target_by,
    volume_profile,
)

MIN = 60_000_000_000
BTC = Instrument("BTC/USDT", "demo", D("0.01"), D("0.001"), "USDT", "BTC", min_qty=D("0.002"))


def test_durations_and_participation_parse_or_say_why() -> None:
    assert parse_duration("30m") == 30 * MIN
    assert parse_duration("1h30m") == 90 * MIN
    assert parse_duration("90s") == 90_000_000_000
    assert parse_duration("2h") == 120 * MIN
    for bad in ("", "30", "m", "1x", "-5m", "0m"):
        with pytest.raises(ScheduleError):
            parse_duration(bad)
    assert parse_participation("10%") == D("0.1")
    assert parse_participation("0.25") == D("0.25")
    for bad in ("0%", "150%", "abc", "-1"):
        with pytest.raises(ScheduleError):
            parse_participation(bad)


def test_params_refuse_what_cannot_be_worked() -> None:
    with pytest.raises(ScheduleError, match="slices"):
        AlgoParams(Algo.TWAP, 30 * MIN, 0)
    with pytest.raises(ScheduleError, match="participation"):
        AlgoParams(Algo.VWAP, 30 * MIN, 10, D("1.5"))
    with pytest.raises(ScheduleError, match="market or limit"):
        AlgoParams(Algo.TWAP, 30 * MIN, 10, child_type=OrderType.STOP)


def test_twap_plan_is_even_on_the_lot_grid_and_ends_at_the_whole_quantity() -> None:
    steps = plan(D("1"), BTC, 0, MIN, [1.0] * 3)
    assert [s.cum_qty for s in steps] == [D("0.333"), D("0.666"), D("1.000")]
    assert [s.due_ns for s in steps] == [MIN, 2 * MIN, 3 * MIN]
    increments = np.diff([0, *[float(s.cum_qty) for s in steps]])
    assert all(float(i) / 0.001 == pytest.approx(round(float(i) / 0.001)) for i in increments)


def test_a_slice_below_the_minimum_waits_for_the_next_and_the_last_rest_joins_the_one_before() -> (
    None
):
    # 0.005 over 4 slices: 0.00125 a slice, below the 0.002 minimum
    steps = plan(D("0.005"), BTC, 0, MIN, [1.0] * 4)
    cum = [s.cum_qty for s in steps]
    assert cum[-1] == D("0.005")
    increments = [b - a for a, b in zip([D(0), *cum], cum, strict=False) if b > a]
    assert all(i >= D("0.002") for i in increments)
    assert sum(increments) == D("0.005")


def test_plan_refuses_off_grid_and_too_small_quantities() -> None:
    with pytest.raises(ScheduleError, match="lot size"):
        plan(D("0.0015"), BTC, 0, MIN, [1.0])
    with pytest.raises(ScheduleError, match="minimum"):
        plan(D("0.001"), BTC, 0, MIN, [1.0, 1.0])
    notional = Instrument("X", "demo", D("0.01"), D("1"), "USD", min_notional=D("100"))
    with pytest.raises(ScheduleError, match="notional"):
        plan(D("5"), notional, 0, MIN, [1.0], price=10.0)


def test_volume_profile_averages_the_same_intervals_of_earlier_days() -> None:
    start = 10 * DAY_NS + 9 * 60 * MIN  # day 10, 09:00
    ts, vol = [], []
    for day in (7, 8, 9):  # three earlier days, 09:00-09:04, volumes 1..4 then 10 for noise
        for m in range(4):
            ts.append(day * DAY_NS + 9 * 60 * MIN + m * MIN)
            vol.append(float(m + 1) * (day - 6))
        ts.append(day * DAY_NS + 12 * 60 * MIN)  # outside the window: not counted
        vol.append(1000.0)
    weights, mean, days = volume_profile(np.array(ts), np.array(vol), start, 2 * MIN, 2, days=5)
    assert days == 3
    # slice 0 = minutes 0,1 -> (1+2) x (1+2+3)/3 ; slice 1 = minutes 2,3 -> (3+4) x 2
    assert mean.tolist() == pytest.approx([6.0, 14.0])
    assert weights.tolist() == pytest.approx([0.3, 0.7])
    even, _, none = volume_profile(np.array(ts), np.array(vol), 100 * DAY_NS, MIN, 4, days=5)
    assert none == 0 and even.tolist() == [0.25] * 4


def test_child_qty_follows_the_plan_under_the_participation_cap() -> None:
    steps = plan(D("1"), BTC, 0, MIN, [1.0, 1.0])
    assert target_by(steps, MIN - 1) == 0
    assert child_qty(steps, MIN - 1, D(0), BTC, D(100), None) == 0
    assert child_qty(steps, MIN, D(0), BTC, D(100), None) == D("0.5")
    # 10 % of 3.2 traded: 0.32 allowed so far
    assert child_qty(steps, MIN, D(0), BTC, D("3.2"), D("0.1")) == D("0.32")
    # held back earlier, caught up later within the cap
    assert child_qty(steps, 2 * MIN, D("0.32"), BTC, D("20"), D("0.1")) == D("0.68")
    # what is left below the venue minimum is not sent
    assert child_qty(steps, 2 * MIN, D("0.999"), BTC, D("20"), None) == 0


def test_limit_children_are_priced_through_the_mark_on_the_tick_grid() -> None:
    assert limit_price(BTC, Side.BUY, 100.004, 2) == D("100.03")
    assert limit_price(BTC, Side.SELL, 100.004, 2) == D("99.98")
    assert limit_price(BTC, Side.BUY, 100.0, 0) == D("100.00")
