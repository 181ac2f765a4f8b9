from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import numpy as np
import pytest

from engine.trading.stress import (
    DAY_NS,
    Asset,
    Level,
    Propagated,
    StressError,
    Window,
    aligned_closes,
    as_decimal,
    conditional_move,
    day_ns,
    match_shocks,
    parse_shocks,
    position_pnl,
    propagate,
    total,
    window_move,
    worst_moves,
)

T0 = day_ns(date(2022, 5, 1))


def days(n: int, start: int = T0) -> np.ndarray:
    return start + DAY_NS * np.arange(n, dtype=np.int64)


# -- parsing -----------------------------------------------------------------------------------
def test_a_spec_reads_symbols_base_assets_and_classes_as_exact_fractions() -> None:
    shocks = parse_shocks("BTC/USDT=-30%,EURUSD=+2%, BTC = -20 % ,crypto=-10%,US500=-2.5%,")
    assert [(s.target, s.move) for s in shocks] == [
        ("BTC/USDT", D("-0.3")),
        ("EURUSD", D("0.02")),
        ("BTC", D("-0.2")),
        ("crypto", D("-0.1")),
        ("US500", D("-0.025")),
    ]
    assert [s.text for s in shocks] == [
        "BTC/USDT=-30%",
        "EURUSD=+2%",
        "BTC=-20%",
        "crypto=-10%",
        "US500=-2.5%",
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("BTC=-0.3", "shock 'BTC=-0.3': write the move as a percentage, e.g. BTC=-30%"),
        ("BTC-30%", "shock 'BTC-30%': write TARGET=MOVE%, e.g. BTC/USDT=-30%"),
        ("=-30%", "shock '=-30%': write TARGET=MOVE%"),
        ("ETH=lots%", "shock 'ETH=lots%': 'lots%' is not a percentage like -30% or +2.5%"),
        ("ETH=-150%", "shock 'ETH=-150%': a price cannot fall by more than 100%"),
        ("BTC USDT=-3%", "shock 'BTC USDT=-3%': 'BTC USDT' is not a symbol, base asset or"),
        ("BTC=-30%,btc=-10%", "shock 'btc=-10%': btc is already shocked (BTC=-30%)"),
        (" , ", "no shocks given"),
    ],
)
def test_a_bad_item_is_refused_by_name(spec: str, message: str) -> None:
    with pytest.raises(StressError) as caught:
        parse_shocks(spec)
    assert str(caught.value).startswith(message)


# -- matching ----------------------------------------------------------------------------------
BTC = Asset("BTC/USDT", "BTC", "crypto")
ETH = Asset("ETH/USDT", "ETH", "crypto")
EUR = Asset("EURUSD", "EUR", "fx")
GOLD = Asset("XAUUSD", "XAU", "metal")


def test_symbol_beats_base_beats_class_and_unused_shocks_are_reported() -> None:
    shocks = parse_shocks("crypto=-10%,btc=-20%,XAG=-5%,btc/usdt=-30%,eth=-25%,fx=+1%")
    crypto, base_btc, silver, symbol_btc, base_eth, fx = shocks
    match = match_shocks(shocks, [BTC, ETH, EUR, GOLD])
    assert match.applied == {
        "BTC/USDT": (symbol_btc, Level.SYMBOL),
        "ETH/USDT": (base_eth, Level.BASE),
        "EURUSD": (fx, Level.ASSET_CLASS),
    }
    assert match.unmatched == (silver,)  # names nothing held
    # both name positions, each moved by a more specific shock
    assert match.overridden == (crypto, base_btc)


def test_a_class_shock_moves_every_position_of_the_class_not_named_closer() -> None:
    shocks = parse_shocks("CRYPTO=-10%,ETH/USDT=+5%")
    match = match_shocks(shocks, [BTC, ETH, Asset("SOLUSD")])
    assert {s: (sh.text, lv) for s, (sh, lv) in match.applied.items()} == {
        "BTC/USDT": ("CRYPTO=-10%", Level.ASSET_CLASS),
        "ETH/USDT": ("ETH/USDT=+5%", Level.SYMBOL),
    }
    assert match.unmatched == () and match.overridden == ()


# -- worst historical moves --------------------------------------------------------------------
def test_worst_moves_with_their_dates_on_a_hand_made_series() -> None:
    closes = np.array([100.0, 110.0, 99.0, 99.0, 120.0, 60.0, 66.0])
    t = days(closes.size)
    one = worst_moves(t, closes, 1)
    assert one is not None and one.samples == 6
    assert one.fall.change == pytest.approx(-0.5)
    assert (one.fall.start_ns, one.fall.end_ns) == (t[4], t[5])
    assert one.fall.dates == "2022-05-05 → 2022-05-06"
    assert one.rise.change == pytest.approx(120 / 99 - 1)
    assert one.rise.dates == "2022-05-04 → 2022-05-05"
    assert one.fall.exact == D("-0.5") and one.rise.exact == D(120) / D(99) - 1
    two = worst_moves(t, closes, 2)
    assert two is not None
    assert two.fall.change == pytest.approx(66 / 120 - 1) and two.fall.dates.endswith("05-07")
    assert two.fall.exact == D("-0.45")  # the float is -0.44999999999999996
    assert two.rise.change == pytest.approx(120 / 99 - 1)
    assert (two.rise.start_ns, two.rise.end_ns) == (t[2], t[4])  # the first of the tie
    assert two.against(D("1")) is two.fall and two.against(D("-3")) is two.rise
    assert worst_moves(t, closes, 7) is None  # 7 closes: no 7-day span


def test_worst_moves_skip_unusable_closes_and_read_them_in_time_order() -> None:
    t = days(5)
    closes = np.array([100.0, np.nan, 80.0, 0.0, 40.0])
    moves = worst_moves(t[::-1], closes[::-1], 1)  # newest first, as some sources send them
    assert moves is not None and moves.samples == 2
    assert moves.fall.change == pytest.approx(-0.5) and moves.fall.start_ns == t[2]
    assert moves.rise.change == pytest.approx(-0.2)  # never rose: its "worst rise" is a fall
    with pytest.raises(StressError, match="at least 1 day"):
        worst_moves(t, closes, 0)


# -- named windows -----------------------------------------------------------------------------
LUNA = Window("2022-05", date(2022, 5, 7), date(2022, 5, 12), "Terra/LUNA collapse")


def test_a_window_runs_from_the_close_before_it_to_its_last_close() -> None:
    t = days(31)  # 2022-05-01 .. 2022-05-31
    closes = 100.0 + np.arange(31, dtype=np.float64)  # the close of 2022-05-D is 99 + D
    move = window_move(t, closes, LUNA)
    assert move is not None
    assert move.change == pytest.approx(111 / 105 - 1)  # 05-06's close to 05-12's
    assert move.dates == "2022-05-06 → 2022-05-12"


def test_a_window_is_covered_only_when_the_history_holds_both_ends() -> None:
    t = days(31)
    closes = np.full(31, 50.0)
    assert window_move(t[6:], closes[6:], LUNA) is None  # starts on 05-07: nothing before
    assert window_move(t[:11], closes[:11], LUNA) is None  # ends on 05-11: short of the end
    assert window_move(t[5:12], closes[5:12], LUNA) is not None  # 05-06 .. 05-12 suffices
    weekdays = np.delete(np.arange(31), [11])  # no bar on the last day (a market closed)
    move = window_move(t[weekdays], 100.0 + weekdays, LUNA)
    assert move is not None and move.dates == "2022-05-06 → 2022-05-11"


# -- propagation -------------------------------------------------------------------------------
def correlated(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 0.02, n)
    b = rng.normal(0, 0.01, n)
    u = 0.8 * a - 0.5 * b + rng.normal(0, 0.005, n)
    return u, a, b


def test_one_shocked_asset_propagates_its_beta_times_the_shock() -> None:
    u, a, _ = correlated(400)
    move, betas = conditional_move(u, a[:, None], np.array([-0.3]))
    beta = np.cov(u, a)[0, 1] / np.var(a, ddof=1)
    assert betas[0] == pytest.approx(beta, rel=1e-12)
    assert move == pytest.approx(beta * -0.3, rel=1e-12)
    assert 0.7 < beta < 0.9


def test_two_shocked_assets_give_the_closed_form() -> None:
    u, a, b = correlated(500)
    shocks = np.array([-0.3, 0.02])
    move, _ = conditional_move(u, np.column_stack((a, b)), shocks)
    c = np.cov(np.vstack((u, a, b)))
    saa, sab, sbb, sua, sub = c[1, 1], c[1, 2], c[2, 2], c[0, 1], c[0, 2]
    det = saa * sbb - sab * sab
    inverse = np.array([[sbb, -sab], [-sab, saa]]) / det
    expected = np.array([sua, sub]) @ inverse @ shocks
    assert move == pytest.approx(expected, rel=1e-10)


def test_propagation_aligns_the_closes_on_the_days_all_series_have() -> None:
    u, a, _ = correlated(200)
    t = days(201)
    cu = 100 * np.cumprod(np.concatenate(([1.0], 1 + u)))
    ca = 50 * np.cumprod(np.concatenate(([1.0], 1 + a)))
    missing = np.arange(201) % 7 != 3  # the driver has no close one day a week
    common, closes = aligned_closes([(t, cu), (t[missing], ca[missing])])
    assert common.tolist() == t[missing].tolist() and closes.shape == (missing.sum(), 2)
    found = propagate((t, cu), {"A": ((t[missing], ca[missing]), -0.25)})
    assert isinstance(found, Propagated)
    r = closes[1:] / closes[:-1] - 1
    beta = np.cov(r[:, 0], r[:, 1])[0, 1] / np.var(r[:, 1], ddof=1)
    assert found.observations == r.shape[0]
    assert found.betas["A"] == pytest.approx(beta, rel=1e-12)
    assert found.move == pytest.approx(beta * -0.25, rel=1e-12)
    assert propagate((t[:20], cu[:20]), {"A": ((t, ca), -0.25)}) == 19  # too few in common


# -- P&L ---------------------------------------------------------------------------------------
def test_pnl_under_a_shock_is_exact_to_the_last_digit() -> None:
    btc = parse_shocks("BTC/USDT=-30%")[0]
    eur = parse_shocks("EURUSD=+2%")[0]
    long_btc = position_pnl(D("0.5"), as_decimal(64000.005), btc.move)
    short_eur = position_pnl(D("-10000"), as_decimal(1.0850), eur.move)
    assert long_btc == D("-9600.00075")  # 0.5 x 64,000.005 x -0.30
    assert short_eur == D("-217.000")  # -10,000 x 1.085 x +0.02
    assert total([long_btc, short_eur]) == D("-9817.00075")
    assert as_decimal(0.1) == D("0.1")  # the float as written, not its binary expansion
    with pytest.raises(StressError, match="not a finite number"):
        as_decimal(float("nan"))
