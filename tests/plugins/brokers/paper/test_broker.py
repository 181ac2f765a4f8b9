from __future__ import annotations

import math
from decimal import Decimal as D
from pathlib import Path

import pytest

from engine.model import (
    BookLevel,
    Instrument,
    Order,
    OrderBook,
    OrderStatus,
    OrderType,
    Side,
    Tick,
    TimeInForce,
)
from engine.protocols import Broker, OrderNotFound, ReconcilingBroker
from plugins.brokers.paper import PaperBroker

BTC = Instrument("BTC/USDT", "demo", D("0.01"), D("0.001"), "USDT", "BTC")


class Clock:
    def __init__(self) -> None:
        self.t = 1_000

    def __call__(self) -> int:
        self.t += 1
        return self.t


def book(bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> OrderBook:
    return OrderBook(
        0,
        "BTC/USDT",
        tuple(BookLevel(p, s) for p, s in bids),
        tuple(BookLevel(p, s) for p, s in asks),
    )


def make(tmp_path: Path, **kw: object) -> PaperBroker:
    return PaperBroker(
        tmp_path / "paper.db",
        {"BTC/USDT": BTC},
        fees={"demo": {"maker": "0.0002", "taker": "0.001"}},
        starting_balances={"USDT": 1_000_000},
        clock=Clock(),
        **kw,
    )


def order(
    cid: str, side: Side, qty: str, type: OrderType = OrderType.MARKET, **kw: object
) -> Order:
    return Order(cid, "BTC/USDT", side, type, D(qty), **kw)  # type: ignore[arg-type]


def standard_book() -> OrderBook:
    return book([(99.0, 1.0), (98.0, 2.0)], [(101.0, 1.0), (102.0, 2.0), (103.0, 5.0)])


async def test_satisfies_the_broker_protocols(tmp_path: Path) -> None:
    b = make(tmp_path)
    assert isinstance(b, Broker) and isinstance(b, ReconcilingBroker)


async def test_market_buy_walks_the_ask_levels_not_the_last_price(tmp_path: Path) -> None:
    b = make(tmp_path)
    b.on_book(standard_book())
    b.on_tick(Tick(0, "BTC/USDT", 99.0, 101.0, 50.0, 1.0))  # a stray last trade must not matter
    o = await b.submit(order("m1", Side.BUY, "2.5"))
    assert o.status is OrderStatus.FILLED
    fills = await b.fills()
    assert [(f.qty, f.price) for f in fills] == [(D("1"), D("101")), (D("1.5"), D("102"))]
    assert o.avg_price == (D(101) + D("1.5") * 102) / D("2.5")
    assert fills[0].fee == D("101") * D("0.001")  # taker
    # the taken liquidity is gone until the next snapshot
    o2 = await b.submit(order("m2", Side.BUY, "1"))
    assert [(f.qty, f.price) for f in (await b.fills())[2:]] == [
        (D("0.5"), D("102")),
        (D("0.5"), D("103")),
    ]
    assert o2.status is OrderStatus.FILLED


async def test_market_order_larger_than_the_book_fills_partially_then_continues(
    tmp_path: Path,
) -> None:
    b = make(tmp_path)
    b.on_book(standard_book())
    o = await b.submit(order("big", Side.SELL, "5"))
    assert o.status is OrderStatus.PARTIALLY_FILLED and o.filled_qty == D("3")
    assert [f.price for f in await b.fills()] == [D("99"), D("98")]
    b.on_book(book([(97.0, 10.0)], [(100.0, 1.0)]))
    o = await b.order("big")
    assert o is not None and o.status is OrderStatus.FILLED and o.filled_qty == D("5")
    ioc = await b.submit(order("ioc", Side.SELL, "20", tif=TimeInForce.IOC))
    assert ioc.status is OrderStatus.CANCELLED and ioc.filled_qty == D("8")
    fok = await b.submit(order("fok", Side.BUY, "2", tif=TimeInForce.FOK))
    assert fok.status is OrderStatus.EXPIRED and fok.filled_qty == 0


async def test_limit_fills_only_on_trade_through_and_only_up_to_traded_volume(
    tmp_path: Path,
) -> None:
    b = make(tmp_path)
    b.on_book(standard_book())
    o = await b.submit(order("l1", Side.BUY, "1", OrderType.LIMIT, price=D("100")))
    assert o.status is OrderStatus.OPEN  # below the ask: rests
    b.on_tick(Tick(0, "BTC/USDT", 99.5, 100.5, 100.0, 5.0))  # trades AT the limit: no fill
    b.on_tick(Tick(0, "BTC/USDT", 99.0, 101.0, 99.0, math.nan))  # bid down, no volume
    assert (await b.order("l1")).status is OrderStatus.OPEN  # type: ignore[union-attr]
    b.on_tick(Tick(0, "BTC/USDT", 99.0, 99.5, 99.5, 0.3))  # through, 0.3 traded
    o = await b.order("l1")
    assert o is not None and o.status is OrderStatus.PARTIALLY_FILLED and o.filled_qty == D("0.3")
    b.on_tick(Tick(0, "BTC/USDT", 98.5, 99.0, 99.0, 4.0))
    o = await b.order("l1")
    assert o is not None and o.status is OrderStatus.FILLED and o.avg_price == D("100")
    fills = await b.fills()
    assert [f.qty for f in fills] == [D("0.3"), D("0.7")]
    assert fills[0].fee == D("0.3") * D("100") * D("0.0002")  # maker


async def test_marketable_limit_takes_only_levels_within_its_price(tmp_path: Path) -> None:
    b = make(tmp_path)
    b.on_book(standard_book())
    o = await b.submit(order("l2", Side.BUY, "2", OrderType.LIMIT, price=D("101.5")))
    assert o.status is OrderStatus.PARTIALLY_FILLED and o.filled_qty == D("1")
    assert (await b.fills())[0].price == D("101")


async def test_stops_trigger_on_bid_ask_not_on_last(tmp_path: Path) -> None:
    b = make(tmp_path)
    b.on_book(standard_book())
    await b.submit(order("s1", Side.SELL, "0.5", OrderType.STOP, stop=D("95")))
    await b.submit(order("s2", Side.BUY, "0.5", OrderType.STOP, stop=D("105")))
    b.on_tick(Tick(0, "BTC/USDT", 96.0, 98.0, 94.0, 1.0))  # last below the sell stop, bid above
    b.on_tick(Tick(0, "BTC/USDT", 96.0, 98.0, 106.0, 1.0))  # last above the buy stop, ask below
    assert {o.client_id for o in await b.open_orders()} == {"s1", "s2"}
    b.on_tick(Tick(0, "BTC/USDT", 95.0, 97.0, 96.0, 1.0))  # bid touches the sell stop
    s1 = await b.order("s1")
    assert s1 is not None and s1.status is OrderStatus.FILLED and s1.avg_price == D("95")
    b.on_tick(Tick(0, "BTC/USDT", 104.0, 105.0, 104.0, 1.0))
    s2 = await b.order("s2")
    assert s2 is not None and s2.status is OrderStatus.FILLED and s2.avg_price == D("105")


async def test_idempotent_submit_cancel_and_rejections(tmp_path: Path) -> None:
    b = make(tmp_path)
    b.on_book(standard_book())
    first = await b.submit(order("x", Side.BUY, "1", OrderType.LIMIT, price=D("90")))
    again = await b.submit(order("x", Side.BUY, "1", OrderType.LIMIT, price=D("90")))
    assert again == first and len(await b.open_orders()) == 1
    cancelled = await b.cancel("x")
    assert cancelled.status is OrderStatus.CANCELLED
    assert (await b.cancel("x")).status is OrderStatus.CANCELLED
    with pytest.raises(OrderNotFound):
        await b.cancel("nope")
    off_grid = await b.submit(order("g", Side.BUY, "0.0005"))
    assert off_grid.status is OrderStatus.REJECTED and "lot size" in off_grid.reason
    rich = await b.submit(order("r", Side.BUY, "100000", OrderType.LIMIT, price=D("100")))
    assert rich.status is OrderStatus.REJECTED and "insufficient funds" in rich.reason


async def test_balances_positions_and_orders_persist_across_restarts(tmp_path: Path) -> None:
    b = make(tmp_path)
    b.on_book(standard_book())
    await b.submit(order("p1", Side.BUY, "1"))
    await b.submit(order("p2", Side.BUY, "1", OrderType.LIMIT, price=D("90")))
    cash = b.balances()["USDT"]
    assert cash == D(1_000_000) - D(101) - D(101) * D("0.001")
    b.close()
    b2 = make(tmp_path)  # starting balances are not applied twice
    assert b2.balances()["USDT"] == cash
    [pos] = await b2.positions()
    assert (pos.qty, pos.avg_price) == (D(1), D(101))
    assert [o.client_id for o in await b2.open_orders()] == ["p2"]
    assert len(await b2.fills()) == 1
    assert b2.integrity_check() == "ok"


async def test_short_sales_need_free_cash_as_margin_but_selling_a_long_does_not(
    tmp_path: Path,
) -> None:
    b = PaperBroker(
        tmp_path / "paper.db",
        {"BTC/USDT": BTC},
        fees={"demo": {"maker": "0", "taker": "0"}},
        starting_balances={"USDT": 1_000},
        clock=Clock(),
    )
    b.on_book(book([(100.0, 50.0)], [(101.0, 50.0)]))
    too_big = await b.submit(order("s0", Side.SELL, "11"))
    assert too_big.status is OrderStatus.REJECTED
    assert "insufficient margin to sell short 11 BTC/USDT: 1100.00 USDT needed" in too_big.reason
    first = await b.submit(order("s1", Side.SELL, "6"))
    assert first.status is OrderStatus.FILLED  # 600 of 1,000 now backs the short
    second = await b.submit(order("s2", Side.SELL, "5"))
    assert (
        second.status is OrderStatus.REJECTED and "500.00 USDT needed, 400.00 free" in second.reason
    )
    assert (await b.submit(order("s3", Side.SELL, "4"))).status is OrderStatus.FILLED

    long_only = PaperBroker(
        tmp_path / "long.db", {"BTC/USDT": BTC}, starting_balances={"USDT": 1_000}, clock=Clock()
    )
    long_only.on_book(book([(100.0, 50.0)], [(101.0, 50.0)]))
    assert (await long_only.submit(order("b", Side.BUY, "9"))).status is OrderStatus.FILLED
    assert (await long_only.submit(order("x", Side.SELL, "9"))).status is OrderStatus.FILLED
