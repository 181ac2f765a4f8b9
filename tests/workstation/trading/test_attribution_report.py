"""The attribution report from a real store: orders, their arrival prices, fills, daily bars.

Day 0 is 2024-01-01 (UTC). XYZ/USD and the benchmark IDX have daily bars for days 0..4; XYZ
moves exactly half as much as IDX (beta 0.5). The fills:

  a1     alpha   buy 10 XYZ @ 100 (day 0.5)  arrival 99.5  fee 0.5 USD   slippage 5.0
  a1-sl  (leg)   sell 10 XYZ @ 94.9 (2.5)    a stop at 95 placed when the mark was 112:
                 measured from its stop, slippage 1.0; alpha's (its parent's): realised -51
  m2     manual  buy 1000 ABC/JPY @ 150 (1.5)  fee 10 JPY; mark 151; no JPY rate: apart
  m1     manual  buy 2 XYZ @ 106 (3.5)       no arrival; fee 0.001 XYZ = 0.106 USD
  m3     manual  sell 1 XYZ @ 111 (3.6)      arrival 111.2  fee 0.01 BNB (no rate: apart)
                 slippage 0.2; realised 5; open 1 @ 106 at 110: unrealised 4
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import numpy as np
import polars as pl
import pytest

from engine.model import Fill, Instrument, Order, OrderStatus, OrderType, Side
from engine.timeframes import OHLCV_SCHEMA
from engine.trading.attribution import AttributionError, Pnl, for_display
from workstation.store import Store
from workstation.trading.attribution_report import (
    AttributionReport,
    attribution_report,
    daily_closes,
    render,
    report_json,
    strategy_of,
)

DAY = 86_400_000_000_000
D0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000_000
NOW = D0 + 10 * DAY
IDX = [1000.0, 1250.0, 625.0, 937.5, 937.5]
XYZ = [100.0, 112.5, 84.375, 105.46875, 105.46875]
MARKS = {"XYZ/USD": 110.0, "ABC/JPY": 151.0}
INSTRUMENTS = {
    "XYZ/USD": Instrument("XYZ/USD", "test", D("0.01"), D("0.001"), "USD", "XYZ"),
    "ABC/JPY": Instrument("ABC/JPY", "test", D("0.01"), D(1), "JPY", "ABC"),
    "IDX": Instrument("IDX", "test", D("0.01"), D(1), "USD", ""),
}


def daily(closes: list[float], step: int = DAY, t0: int = D0) -> pl.DataFrame:
    c = np.array(closes)
    ts = t0 + step * np.arange(len(c), dtype=np.int64)
    return pl.DataFrame(
        {"ts": ts, "open": c, "high": c, "low": c, "close": c, "volume": np.ones(len(c))},
        schema=OHLCV_SCHEMA,
    )


def trade(
    store: Store,
    cid: str,
    side: Side,
    qty: str,
    symbol: str,
    price: str,
    day: float,
    fee: str,
    fee_ccy: str,
    arrival: str | None,
    strategy: str = "",
    kind: OrderType = OrderType.MARKET,
    stop: str | None = None,
) -> None:
    order = Order(
        cid,
        symbol,
        side,
        kind,
        D(qty),
        stop=None if stop is None else D(stop),
        status=OrderStatus.FILLED,
        filled_qty=D(qty),
        avg_price=D(price),
        ts_ns=int(D0 + day * DAY),
        strategy=strategy,
    )
    store.orders.save(order, arrival=None if arrival is None else D(arrival))
    fill = Fill(cid, symbol, side, D(qty), D(price), D(fee), int(D0 + day * DAY), cid, fee_ccy)
    assert store.fills.add(fill, "paper")


@pytest.fixture
def filled(store: Store) -> Store:
    store.instruments.upsert(INSTRUMENTS.values())
    store.candles.upsert(daily(IDX), "IDX", "1d", "test")
    store.candles.upsert(daily(XYZ), "XYZ/USD", "1d", "test")
    trade(store, "a1", Side.BUY, "10", "XYZ/USD", "100", 0.5, "0.5", "USD", "99.5", "alpha")
    trade(store, "a1-sl", Side.SELL, "10", "XYZ/USD", "94.9", 2.5, "0.5", "USD", "112",
          kind=OrderType.STOP, stop="95")  # fmt: skip
    trade(store, "m2", Side.BUY, "1000", "ABC/JPY", "150", 1.5, "10", "JPY", "150")
    trade(store, "m1", Side.BUY, "2", "XYZ/USD", "106", 3.5, "0.001", "XYZ", None)
    trade(store, "m3", Side.SELL, "1", "XYZ/USD", "111", 3.6, "0.01", "BNB", "111.2")
    return store


def report(store: Store, **kw: Any) -> AttributionReport | None:
    args: dict[str, Any] = {
        "account_ccy": "USD",
        "rates": {"USDT/USD": 1.0},
        "marks": MARKS.get,
        "instruments": INSTRUMENTS.__getitem__,
        "now_ns": NOW,
        "benchmark_setting": "IDX",
    }
    args.update(kw)
    return attribution_report(store, "paper", **args)


def test_the_report_groups_by_strategy_measures_slippage_and_keeps_currencies_apart(
    filled: Store,
) -> None:
    r = report(filled)
    assert r is not None
    att = r.attribution
    alpha, manual = att.by_strategy["alpha"], att.by_strategy["manual"]
    assert (alpha.realised, alpha.unrealised, alpha.fees, alpha.slippage) == (
        D(-51),
        D(0),
        D("1.0"),
        D("6.0"),
    )
    # beta 0.5: held 10 at day 0's close (+25%: 125), 10 at day 1's (-50%: -281.25)
    assert float(alpha.market) == pytest.approx(-156.25)
    assert manual == Pnl(D(5), D(4), D("0.106"), D("0.2"), D(0))
    assert att.total.net == D("-43.106") and list(att.by_symbol) == ["XYZ/USD"]
    assert r.benchmark == "IDX" and r.benchmark_why == "risk.benchmark"
    assert r.betas["XYZ/USD"] == pytest.approx(0.5)
    assert r.unpriced == ("m1",) and r.fees_apart == {"BNB": D("0.01")}
    [jpy] = r.apart
    assert (jpy.symbol, jpy.ccy, jpy.reason) == ("ABC/JPY", "JPY", "no rate to USD")
    assert jpy.pnl == Pnl(D(0), D(1000), D(10), D(0), D(0))
    text = "\n".join(render(r))
    assert "total" in text and "-43.11" in text
    assert "1 fill(s) without an arrival price count no slippage: m1" in text
    assert "ABC/JPY: net 990 JPY" in text and "0.01 BNB" in text
    data = json.loads(json.dumps(report_json(r)))
    assert data["total"]["net"] == "-43.106" and data["by_strategy"]["alpha"]["realised"] == "-51"
    assert data["left_out"][0]["pnl"]["net"] == "990"


def test_with_a_rate_every_symbol_is_converted_and_still_adds_up(filled: Store) -> None:
    r = report(filled, rates={"USD/JPY": 150.0}, benchmark="XYZ/USD")
    assert r is not None and not r.apart
    att = r.attribution
    assert float(att.by_symbol["ABC/JPY"].net) == pytest.approx(990 / 150)
    assert r.benchmark_why == "--benchmark" and r.betas["XYZ/USD"] == 1.0
    assert r.no_market == {"ABC/JPY": "no daily closes"}
    rows, total = for_display(list(att.by_symbol.values()), 2)
    assert total["net"] == sum((v["net"] for v in rows), D(0)) == D("-36.51")


def test_since_values_what_was_held_at_the_last_close_before_it(filled: Store) -> None:
    since = D0 + 3 * DAY
    with pytest.raises(
        AttributionError, match="no stored close of ABC/JPY on or before 2024-01-04"
    ):
        report(filled, since_ns=since)
    hourly = daily([149.0] * 72, step=DAY // 24)  # days 0..2 in hours: resampled to days
    filled.candles.upsert(hourly, "ABC/JPY", "1h", "test")
    r = report(filled, since_ns=since, rates={"USD/JPY": 150.0})
    assert r is not None
    att = r.attribution
    assert list(att.by_strategy) == ["manual"]  # alpha was flat at day 3 and did nothing since
    jpy = att.by_symbol["ABC/JPY"]  # 1000 held, entered at 149: +2 each, no fee since
    assert float(jpy.unrealised) == pytest.approx(2000 / 150) and jpy.fees == 0
    assert att.by_symbol["XYZ/USD"].net == D("8.894") and r.fills == 2
    r = report(filled, since_ns=NOW, rates={"USD/JPY": 150.0})
    assert r is not None and r.fills == 0 and not r.fees_apart
    held = r.attribution.by_symbol["XYZ/USD"]
    assert held == Pnl(unrealised=D(110) - D("105.46875"))  # 1 held, from the last close


def test_daily_closes_come_from_day_bars_or_finer_ones(filled: Store) -> None:
    times, closes = daily_closes(filled, "XYZ/USD", NOW)
    assert list(times) == [D0 + (k + 1) * DAY for k in range(5)] and list(closes) == XYZ
    filled.candles.upsert(daily([1.0, 2.0, 3.0], step=DAY // 2), "HALF", "12h", "test")
    times, closes = daily_closes(filled, "HALF", D0 + DAY)  # day 1 is not over yet
    assert list(times) == [D0 + DAY] and list(closes) == [2.0]
    given = daily([5.0, 6.0])
    times, closes = daily_closes(filled, "NONE", NOW, history=lambda s: given)
    assert list(closes) == [5.0, 6.0]


def test_a_protective_leg_belongs_to_its_parents_strategy() -> None:
    orders = {
        "p": Order("p", "X", Side.BUY, OrderType.MARKET, D(1), strategy="trend"),
        "p-tp.2": Order("p-tp.2", "X", Side.SELL, OrderType.LIMIT, D(1)),
        "own": Order("own", "X", Side.SELL, OrderType.LIMIT, D(1), strategy="mine"),
    }
    assert strategy_of("p-tp.2", orders) == "trend" and strategy_of("p-sl", orders) == "trend"
    assert strategy_of("own", orders) == "mine" and strategy_of("q-x", orders) == ""
