"""Attribution on a scripted sequence of fills, every figure worked out by hand below.

Two books on XYZ/USD, with daily closes at the end of days 1..4 of 100, 110, 105, 120 and a
benchmark returning +25%, -50%, +50% from one close to the next; beta 0.5; the mark is 121.

``alpha`` (a long, partly closed, then flipped short):
  F1 day 0.5  buy 10 @ 99     arrival 98.5   fee 1.00   slippage (99 - 98.5) * 10 = 5.0
  F2 day 1.5  sell 4 @ 108    arrival 108.2  fee 0.40   slippage -(108 - 108.2) * 4 = 0.8
                                                        realised long 4 * (108 - 99) = 36
  F3 day 2.5  sell 10 @ 106   no arrival     fee 1.00   closes 6: realised long 6 * 7 = 42,
                                                        fee 0.60 long, 0.40 short; opens -4
  F4 day 3.5  buy 1 @ 118     arrival 117    fee 0.10   realised short 106 - 118 = -12,
                                                        slippage (118 - 117) * 1 = 1.0 short
  open -3 @ 106 at 121: unrealised short -3 * 15 = -45
  market: held 10 at close 1: 0.5 * 0.25 * 10 * 100 = 125; 6 at close 2: 0.5 * -0.5 * 6 * 110
  = -165 (long -40); -4 at close 3: 0.5 * 0.5 * -4 * 105 = -105 (short)
``manual``:
  M1 day 0.2  buy 3 @ 98.7    arrival 98.5   fee 0.30   slippage 0.6
  M2 day 2.2  buy 2 @ 111     arrival 110.5  fee 0.20   slippage 1.0; 5 @ 103.62
  M3 day 3.2  sell 2.5 @ 104  arrival 104.4  fee 0.25   slippage 1.0; realised 2.5 * 0.38 = 0.95
  open 2.5 @ 103.62 at 121: unrealised 43.45
  market: 3 at close 1: 37.5; 3 at close 2: -82.5; 5 at close 3: 131.25; 86.25 in all
"""

from __future__ import annotations

import random
from decimal import Decimal as D
from typing import Any

import numpy as np
import polars as pl
import pytest

from engine.backtest.backtester import BacktestConfig, run_backtest
from engine.model import Fill, OrderType, Side, to_decimal
from engine.strategy import Context, Strategy
from engine.trading.attribution import (
    COLUMNS,
    WRITTEN_OFF,
    AttributionError,
    Carry,
    MarketPath,
    Pnl,
    TaggedFill,
    apportion,
    bar_attribution,
    beta,
    for_display,
    market_pnl,
    reference_price,
    rounded,
    sleeve,
    summarise,
)
from engine.trading.portfolio import apply_fill

DAY = 86_400_000_000_000
SYMBOL = "XYZ/USD"
MARK = D(121)
PATH = MarketPath(
    np.array([1, 2, 3, 4], dtype=np.int64) * DAY,
    np.array([100.0, 110.0, 105.0, 120.0]),
    np.array([0.25, -0.5, 0.5]),
    0.5,
)


def tf(day: float, side: Side, qty: str, price: str, fee: str, arrival: str | None) -> TaggedFill:
    f = Fill(f"c{day}", SYMBOL, side, D(qty), D(price), D(fee), int(day * DAY))
    return TaggedFill(f, None if arrival is None else D(arrival), D(fee))


ALPHA = [
    tf(0.5, Side.BUY, "10", "99", "1.00", "98.5"),
    tf(1.5, Side.SELL, "4", "108", "0.40", "108.2"),
    tf(2.5, Side.SELL, "10", "106", "1.00", None),
    tf(3.5, Side.BUY, "1", "118", "0.10", "117"),
]
MANUAL = [
    tf(0.2, Side.BUY, "3", "98.7", "0.30", "98.5"),
    tf(2.2, Side.BUY, "2", "111", "0.20", "110.5"),
    tf(3.2, Side.SELL, "2.5", "104", "0.25", "104.4"),
]


def with_market(name: str, fills: list[TaggedFill]) -> Any:
    book = sleeve(name, SYMBOL, fills, MARK)
    times = np.array([t.fill.ts_ns for t in fills])
    qty = np.array([float(t.fill.side.sign * t.fill.qty) for t in fills])
    return book.with_market(*market_pnl(PATH, times, qty))


def test_each_side_of_a_book_has_its_realised_unrealised_fees_slippage_and_market() -> None:
    alpha = with_market("alpha", ALPHA)
    assert alpha.long == Pnl(D(78), D(0), D("2.00"), D("5.8"), D(-40))
    assert alpha.short == Pnl(D(-12), D(-45), D("0.50"), D("1.0"), D(-105))
    assert (alpha.qty, alpha.fills, alpha.unpriced) == (D(-3), 4, 1)
    assert (alpha.long.net, alpha.short.net) == (D(76), D("-57.5"))
    assert (alpha.long.rest, alpha.short.rest) == (D("123.8"), D(49))
    manual = with_market("manual", MANUAL)
    assert manual.long == Pnl(D("0.95"), D("43.45"), D("0.75"), D("2.6"), D("86.25"))
    assert manual.short == Pnl()
    assert (manual.long.net, manual.long.rest) == (D("43.65"), D("-39.25"))


def test_every_breakdown_adds_up_to_the_total_to_the_cent() -> None:
    att = summarise([with_market("alpha", ALPHA), with_market("manual", MANUAL)])
    assert att.total == Pnl(D("66.95"), D("-1.55"), D("3.25"), D("9.4"), D("-58.75"))
    assert (att.total.net, att.total.rest) == (D("62.15"), D("133.55"))
    assert att.total.net == att.total.market + att.total.rest - att.total.slippage - att.total.fees
    assert list(att.by_strategy) == ["alpha", "manual"]
    assert att.by_strategy["alpha"].net == D("18.5") and att.by_strategy["manual"].net == D("43.65")
    assert att.by_side["long"] == Pnl(D("78.95"), D("43.45"), D("2.75"), D("8.4"), D("46.25"))
    assert att.by_side["short"] == Pnl(D(-12), D(-45), D("0.50"), D("1.0"), D(-105))
    assert att.by_symbol == {SYMBOL: att.total}
    for group in (att.by_strategy, att.by_side, att.by_symbol):
        added = sum((p.net for p in group.values()), D(0))
        assert added == att.total.net
        shown, summed = for_display(list(group.values()), 2)
        assert summed["net"] == D("62.15") and summed["fees"] == D("3.25")
        assert summed["market"] == D("-58.75") and summed["rest"] == D("133.55")
        for c in COLUMNS:
            assert sum((r[c] for r in shown), D(0)) == summed[c]


def test_the_books_add_up_exactly_to_one_combined_book_of_the_symbol() -> None:
    everything = sorted(ALPHA + MANUAL, key=lambda t: t.fill.ts_ns)
    pos = None
    for t in everything:
        pos = apply_fill(pos, t.fill, "paper")
    assert pos is not None and pos.qty == D("-0.5")
    combined = pos.realized_pnl + pos.qty * (MARK - pos.avg_price)
    att = summarise([sleeve("alpha", SYMBOL, ALPHA, MARK), sleeve("manual", SYMBOL, MANUAL, MARK)])
    assert att.total.gross == D("65.4")
    assert combined == pytest.approx(D("65.4"), abs=D("1e-20"))
    assert att.total.realised != pos.realized_pnl  # the split differs, the total does not


def test_a_position_held_at_the_start_enters_at_its_mark_then() -> None:
    later = ALPHA[2:]  # since day 2: F1 and F2 built 6 long, valued at day 2's close (110)
    book = sleeve("alpha", SYMBOL, later, MARK, Carry(D(6), D(110), 2 * DAY))
    times = np.array([t.fill.ts_ns for t in ALPHA])
    qty = np.array([float(t.fill.side.sign * t.fill.qty) for t in ALPHA])
    book = book.with_market(*market_pnl(PATH, times, qty, start=2 * DAY))
    assert book.long == Pnl(D(-24), D(0), D("0.60"), D(0), D(-165))
    assert book.short == Pnl(D(-12), D(-45), D("0.50"), D("1.0"), D(-105))
    assert book.fills == 2 and book.total.net == D("-81") - D("1.10")


def test_an_open_position_needs_a_mark() -> None:
    with pytest.raises(AttributionError, match="XYZ/USD: no mark"):
        sleeve("alpha", SYMBOL, ALPHA, None)
    flat = sleeve("m", SYMBOL, [*MANUAL, tf(4.0, Side.SELL, "2.5", "120", "0", None)], None)
    assert flat.qty == 0 and flat.long.unrealised == 0
    assert flat.long.realised == D("0.95") + D("2.5") * (D(120) - D("103.62"))


def test_converted_sleeves_sum_in_the_account_currency() -> None:
    eur = [TaggedFill(Fill("e", "EURX", Side.BUY, D(3), D(10), D("0.1"), 0), D(10), D("0.1"))]
    att = summarise(
        [sleeve("a", "EURX", eur, D("10.5")), sleeve("a", SYMBOL, MANUAL, MARK)],
        {"EURX": D("1.1"), SYMBOL: D(1)},
    )
    assert att.by_symbol["EURX"] == Pnl(D(0), D("1.65"), D("0.11"), D(0), D(0))
    assert att.total.net == D("1.54") + D("43.65")


def test_the_price_a_fill_was_asked_for() -> None:
    a = D(100)
    assert reference_price(Side.BUY, OrderType.MARKET, a) == a
    assert reference_price(Side.BUY, OrderType.LIMIT, a, limit=D(95)) == D(95)  # rested
    assert reference_price(Side.BUY, OrderType.LIMIT, a, limit=D(101)) == a  # marketable
    assert reference_price(Side.SELL, OrderType.LIMIT, a, limit=D(105)) == D(105)
    assert reference_price(Side.SELL, OrderType.STOP, a, stop=D(90)) == D(90)  # a stop-loss
    assert reference_price(Side.BUY, OrderType.STOP, a, stop=D(110)) == D(110)
    assert reference_price(Side.SELL, OrderType.STOP, None, stop=D(90)) is None


def test_beta_of_aligned_returns() -> None:
    bench = np.array([1000.0, 1250.0, 625.0, 937.5])
    asset = np.array([100.0, 112.5, 84.375, 105.46875])  # half the benchmark's returns
    path = MarketPath.of(np.arange(4), asset, np.arange(4), bench)
    assert path is not None and path.beta == pytest.approx(0.5)
    assert list(path.bench_returns) == [0.25, -0.5, 0.5]
    shifted = MarketPath.of(np.arange(4) + 2, asset, np.arange(4), bench)  # two common closes
    assert shifted is None
    assert beta(np.array([0.1, 0.2]), np.array([0.0, 0.0])) is None
    itself = MarketPath.of(np.arange(4), bench, np.arange(4), bench, beta_is_one=True)
    assert itself is not None and itself.beta == 1.0


def test_display_rounding_keeps_every_sum_and_identity() -> None:
    assert apportion([D("1.005"), D("2.005"), D("3.005")], 2) == [D("1.01"), D("2.01"), D("3.00")]
    rng = random.Random(3)
    for _ in range(300):
        rows = [
            Pnl(*(D(rng.randint(-(10**6), 10**6)).scaleb(-rng.randint(2, 5)) for _ in range(5)))
            for _ in range(rng.randint(1, 6))
        ]
        rows.append(Pnl(D("12.345"), D(0), D("0.005"), D(0), D(0)))  # flat, no market
        shown, summed = for_display(rows, 2)
        assert summed["net"] == rounded(sum((p.net for p in rows), D(0)), 2)
        assert summed["fees"] == rounded(sum((p.fees for p in rows), D(0)), 2)
        for c in COLUMNS:
            assert sum((v[c] for v in shown), D(0)) == summed[c]
        for v in [*shown, summed]:
            assert v["net"] == v["realised"] + v["unrealised"] - v["fees"]
            assert v["net"] == v["market"] + v["rest"] - v["slippage"] - v["fees"]
        assert shown[-1]["unrealised"] == 0 and shown[-1]["market"] == 0


BARS_TS = np.arange(5, dtype=np.int64) * DAY
BARS_CLOSE = np.array([8.0, 16.0, 8.0, 16.0, 32.0])
BAR_FILLS = {  # a long trade, 2 from bar 1 to bar 3, and a short of 1 from bar 3, still open
    "bar": np.array([1, 3, 3]),
    "trade": np.array([0, 0, 1]),
    "size": np.array([2.0, -2.0, -1.0]),
    "price": np.array([15.7, 15.9, 15.8]),
    "fee": np.array([0.2, 0.2, 0.1]),
    "reference": np.array([15.5, 16.0, 16.0]),
}


def test_a_backtests_trades_by_side_with_the_bars_own_market() -> None:
    book, b = bar_attribution("s", "X", BARS_TS, BARS_CLOSE, BAR_FILLS, D("-16.3"))
    assert b == 1.0 and book.written_off == 0
    # long: 2 * (15.9 - 15.7); slippage 2 * 0.2 + 2 * 0.1; market 2*16*-0.5 + 2*8*1 = 0
    assert book.long == Pnl(D("0.4"), D(0), D("0.4"), D("0.6"), D(0))
    assert book.long.rest == D("1.0")  # bought at 15.5 before a close of 16, sold at 16
    # short: open at 32: -(32 - 15.8); slippage 0.2; market -1 * 16 * +100%
    assert book.short == Pnl(D(0), D("-16.2"), D("0.1"), D("0.2"), D(-16))
    assert book.total.net == D("-16.3") and book.total.rest == D("1.0")
    bench = (BARS_TS, np.array([100.0, 150.0, 112.5, 168.75, 253.125]))  # half the returns
    with_bench, b = bar_attribution("s", "X", BARS_TS, BARS_CLOSE, BAR_FILLS, D("-16.3"), bench)
    assert b == pytest.approx(2.0)
    assert float(with_bench.short.market) == pytest.approx(-16.0)
    assert with_bench.total.net == D("-16.3")


def test_a_loss_beyond_the_cash_is_written_off() -> None:
    book, _ = bar_attribution("s", "X", BARS_TS, BARS_CLOSE, BAR_FILLS, D(-20))
    assert book.written_off == D("-3.7")
    att = summarise([book])
    assert att.by_side[WRITTEN_OFF] == Pnl(realised=D("-3.7")) and att.total.net == D(-20)


class ShortOnce(Strategy):
    name = "short_once"
    warmup = 1

    def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
        if ctx.bar_index == 1:
            ctx.sell(size=0.99)


def test_a_wiped_out_backtest_still_adds_up_to_its_final_pnl() -> None:
    prices = [10.0] * 3 + [30.0] * 3
    bars = pl.DataFrame(
        {"ts": np.arange(6, dtype=np.int64) * DAY, "open": prices, "high": prices,
         "low": prices, "close": prices, "volume": [1.0] * 6}
    )  # fmt: skip
    res = run_backtest(ShortOnce(), bars, BacktestConfig(cash=100, margin=0.5, commission=0.001))
    assert res.equity[-1] == 0
    f = {c: res.fills[c].to_numpy() for c in res.fills.columns}
    final = to_decimal(float(res.equity[-1])) - D(100)
    book, _ = bar_attribution("short_once", "X", bars["ts"].to_numpy(), np.array(prices), f, final)
    assert book.total.net == D(-100) and book.written_off > 0
    assert book.short.realised < D(-100)  # the short lost more than the cash
    _, summed = for_display(list(summarise([book]).by_side.values()), 2)
    assert summed["net"] == D("-100.00")
