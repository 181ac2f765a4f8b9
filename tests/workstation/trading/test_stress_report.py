from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal as D

import numpy as np
import polars as pl
import pytest

from engine.model import Instrument, Position
from engine.timeframes import OHLCV_SCHEMA
from engine.trading.stress import DAY_NS, StressError, day_ns
from workstation.store import Store
from workstation.trading.stress_report import (
    DRIVER,
    HISTORY_DAYS,
    UNMATCHED,
    money,
    note_lines,
    risk_view,
    scenario_rows,
    store_daily,
    stress_report,
)

HOUR_NS = DAY_NS // 24
INSTRUMENTS = {
    "AAA": Instrument("AAA", "demo", D("0.01"), D("0.001"), "USD", "AAA", asset_class="crypto"),
    "BBB": Instrument("BBB", "demo", D("0.0001"), D("1"), "USD", "EUR", asset_class="fx"),
    "CCC": Instrument("CCC", "demo", D("0.0001"), D("1"), "USD", "CCC", asset_class="crypto"),
}
MARKS = {"AAA": 80.0, "BBB": 1.25, "CCC": 0.3, "EEE": 10.0}
POSITIONS = [
    Position("AAA", D("2"), D("70")),
    Position("BBB", D("-1000"), D("1.2")),
    Position("CCC", D("3"), D("0.25")),
]


def instrument(symbol: str) -> Instrument:
    return INSTRUMENTS[symbol]  # KeyError for the others, as the OMS's resolver


def frame(closes: Sequence[float] | np.ndarray, start: int, step: int = DAY_NS) -> pl.DataFrame:
    c = np.asarray(closes, dtype=np.float64)
    return pl.DataFrame(
        {
            "ts": start + step * np.arange(c.size, dtype=np.int64),
            "open": c,
            "high": c,
            "low": c,
            "close": c,
            "volume": np.ones(c.size),
        },
        schema=OHLCV_SCHEMA,
    )


APR20 = day_ns(date(2022, 4, 20))


def store_history(store: Store) -> None:
    """AAA: 60 daily closes from 2022-04-20, 100 then 50 from 2022-05-09 (a 50 % fall) and
    62.5 from 2022-05-25. BBB: hourly bars only, 40 days from 2022-04-25, 1.0 then 1.25 from
    2022-05-20 (a 25 % rise). CCC: 5 days."""
    aaa = [100.0] * 19 + [50.0] * 16 + [62.5] * 25
    store.candles.upsert(frame(aaa, APR20), "AAA", "1d", "demo")
    apr25 = day_ns(date(2022, 4, 25))
    bbb = [1.0] * (25 * 24) + [1.25] * (15 * 24)
    store.candles.upsert(frame(bbb, apr25, HOUR_NS), "BBB", "1h", "demo")
    store.candles.upsert(frame([0.3] * 5, APR20), "CCC", "1d", "demo")


def test_a_hand_computed_shock_gives_the_exact_pnl(store: Store) -> None:
    report = stress_report(
        store,
        POSITIONS,
        MARKS.get,
        instrument,
        shocks="AAA=-30%,fx=+2%,crypto=-10%,ZZZ=+1%",
        historical=False,
    )
    shock = report.shock
    assert shock is not None and [s.kind for s in report.scenarios] == ["shock"]
    assert [(r.symbol, r.move, r.pnl, r.basis) for r in shock.rows] == [
        ("AAA", D("-0.3"), D("-48.0"), "AAA=-30%"),  # 2 x 80 x -0.30: the base asset's
        ("BBB", D("0.02"), D("-25.00"), "fx=+2%"),  # -1,000 x 1.25 x +0.02: its class
        ("CCC", D("-0.1"), D("-0.09"), "crypto=-10%"),  # 3 x 0.3 x -0.10: its class
    ]
    assert shock.total == D("-73.09")
    assert scenario_rows(shock)[-1] == ["total", "", "", "", "-73.09", "3 of 3 positions"]
    assert report.unapplied == (("ZZZ=+1%", UNMATCHED),)
    assert note_lines(report) == [f"shock ZZZ=+1% moves no position: {UNMATCHED}"]


def test_historical_scenarios_from_daily_and_resampled_hourly_bars(store: Store) -> None:
    store_history(store)
    assert store_daily(store, "BBB").height == 40  # no 1d bars: its 1h bars, by day
    report = stress_report(store, POSITIONS, MARKS.get, instrument, days=(1,))
    worst = report.scenario("worst 1-day move")
    assert [(r.symbol, r.move, r.pnl, r.basis) for r in worst.rows] == [
        ("AAA", D("-0.5"), D("-80.0"), "worst fall 2022-05-08 → 2022-05-09"),
        ("BBB", D("0.25"), D("-312.500"), "worst rise 2022-05-19 → 2022-05-20"),
        ("CCC", None, None, "too little history (5 daily closes)"),
    ]
    assert worst.total == D("-392.5")
    luna = report.scenario("2022-05 Terra/LUNA collapse")
    assert [(r.symbol, r.move, r.pnl) for r in luna.rows][:2] == [
        ("AAA", D("-0.5"), D("-80.0")),  # 05-06's 100 to 05-12's 50
        ("BBB", D("0.0"), D("0")),  # covered, and flat over it
    ]
    ftx = report.scenario("2022-11 FTX collapse")
    assert ftx.moved == 0
    assert ftx.rows[0].basis == "not covered (history 2022-04-20 → 2022-06-18)"
    assert report.short_history == (("CCC", 5),)
    assert report.spans["BBB"][2] == 40
    assert "too little daily history (fewer than 30 closes): CCC (5)" in note_lines(report)


def test_propagation_moves_the_unshocked_by_beta_times_the_shock(store: Store) -> None:
    rng = np.random.default_rng(11)
    a = rng.normal(0, 0.03, 120)
    b = 0.4 * a + rng.normal(0, 0.01, 120)
    d = rng.normal(0, 0.02, 120)
    for symbol, r in (("AAA", a), ("BBB", b), ("DDD", d)):
        closes = 100 * np.cumprod(np.concatenate(([1.0], 1 + r)))
        store.candles.upsert(frame(closes, APR20), symbol, "1d", "demo")
    held = POSITIONS[:2]
    report = stress_report(
        store, held, MARKS.get, instrument, shocks="AAA=-30%", historical=False, propagating=True
    )
    stored = {s: store_daily(store, s)["close"].to_numpy() for s in ("AAA", "BBB")}
    ra, rb = (stored[s][1:] / stored[s][:-1] - 1 for s in ("AAA", "BBB"))
    beta = np.cov(rb, ra)[0, 1] / np.var(ra, ddof=1)
    shock = report.shock
    assert shock is not None
    row = shock.rows[1]
    assert row.symbol == "BBB" and row.move is not None
    assert float(row.move) == pytest.approx(beta * -0.3, rel=1e-9)
    assert row.pnl == D("-1000") * D("1.25") * row.move
    assert row.basis == f"propagated: β {beta:.2f} to AAA (120 days)"
    assert 0.3 < beta < 0.5

    # a shocked symbol not held still moves the others when its history is there
    both = stress_report(
        store, held, MARKS.get, instrument, shocks="AAA=-30%,DDD=-10%", propagating=True,
        historical=False,
    )  # fmt: skip
    assert both.unapplied == (("DDD=-10%", DRIVER),)
    assert both.shock is not None
    assert both.shock.rows[1].basis == "propagated from AAA, DDD (120 days)"
    with pytest.raises(StressError, match="give one"):
        stress_report(store, held, MARKS.get, instrument, propagating=True)


def test_history_fills_in_what_the_store_lacks_and_unmarked_positions_are_listed(
    store: Store,
) -> None:
    asked: list[tuple[str, str, int]] = []

    def history(symbol: str, timeframe: str, n: int) -> pl.DataFrame | None:
        asked.append((symbol, timeframe, n))
        return frame([10.0] * 20 + [8.0] * 20, APR20) if symbol == "EEE" else None

    positions = [Position("EEE", D("5"), D("9")), Position("FFF", D("1"), D("1"))]
    report = stress_report(store, positions, MARKS.get, instrument, days=(1,), history=history)
    [row] = report.scenario("worst 1-day move").rows
    assert (row.symbol, row.pnl) == ("EEE", D("-10.0"))  # 5 x 10 x -20 %
    assert asked == [("EEE", "1d", HISTORY_DAYS)]
    assert report.unvalued == ("FFF",)
    assert note_lines(report)[-1] == "not revalued (no mark in USD): FFF"
    assert money(row.pnl) == "-10.00"


async def test_risk_view_fetches_only_what_the_store_lacks(store: Store) -> None:
    store_history(store)
    fetched: list[tuple[str, str, int]] = []

    async def fetch(symbol: str, timeframe: str, n: int) -> pl.DataFrame:
        fetched.append((symbol, timeframe, n))
        if symbol == "CCC" and timeframe == "1d":
            return frame([0.3] * 50, APR20)
        return frame(100 + np.sin(np.arange(n)), APR20, HOUR_NS)

    view = await risk_view(
        store, POSITIONS, MARKS.get, instrument, fetch, "USD", "crypto=-10%", days=(1,)
    )
    # AAA has days but no hours; BBB's hours make its days too; CCC has 5 days only
    assert sorted(fetched) == [("AAA", "1h", 500), ("CCC", "1d", HISTORY_DAYS), ("CCC", "1h", 500)]
    assert view.var is not None and set(view.var.exposures) == {"AAA", "BBB", "CCC"}
    assert view.stress.short_history == ()
    assert view.stress.shock is not None and view.stress.shock.total == D("-16.09")
    with pytest.raises(StressError, match="write the move as a percentage"):
        await risk_view(store, POSITIONS, MARKS.get, instrument, fetch, "USD", "AAA=-0.3")
