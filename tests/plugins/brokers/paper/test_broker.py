from __future__ import annotations

import math
import sqlite3
import threading
from decimal import Decimal as D
from pathlib import Path
from typing import Any

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
from engine.protocols import (
    Broker,
    BrokerError,
    BrokerUnavailable,
    OrderNotFound,
    ReconcilingBroker,
)
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


def make(tmp_path: Path, **kw: Any) -> PaperBroker:
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


async def test_a_trade_without_a_quote_works_resting_limits_and_keeps_the_last_quote(
    tmp_path: Path,
) -> None:
    """A venue's trade stream can run before its first book ticker: bid/ask are NaN then."""
    b = make(tmp_path)
    b.on_book(standard_book())
    before = b.quote("BTC/USDT")
    await b.submit(order("l1", Side.BUY, "1", OrderType.LIMIT, price=D("100")))
    b.on_tick(Tick(0, "BTC/USDT", math.nan, math.nan, 99.0, 0.4))
    o = await b.order("l1")
    assert o is not None and o.filled_qty == D("0.4") and o.avg_price == D("100")
    assert b.quote("BTC/USDT") == before


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


# -- one account, several connections (each a process with its own feed) ----------------------
def two(tmp_path: Path, **kw: Any) -> tuple[PaperBroker, PaperBroker]:
    return make(tmp_path, **kw), make(tmp_path, **kw)


async def test_an_order_placed_by_another_process_is_seen_once_committed(tmp_path: Path) -> None:
    a, b = two(tmp_path)
    a.on_book(standard_book())
    await a.submit(order("ax", Side.BUY, "1", OrderType.LIMIT, price=D("90")))
    assert [o.client_id for o in await b.open_orders()] == ["ax"]
    await a.cancel("ax")
    assert await b.open_orders() == []
    seen = await b.order("ax")
    assert seen is not None and seen.status is OrderStatus.CANCELLED


async def test_an_order_cancelled_by_another_process_never_fills(tmp_path: Path) -> None:
    a = make(tmp_path)
    a.on_book(standard_book())
    await a.submit(order("l", Side.BUY, "1", OrderType.LIMIT, price=D("100")))
    await a.submit(order("s", Side.SELL, "1", OrderType.STOP, stop=D("95")))
    await a.submit(order("m", Side.BUY, "9"))  # more than the book: rests, partly filled
    b = make(tmp_path)
    for cid in ("l", "s", "m"):
        assert (await b.cancel(cid)).status is OrderStatus.CANCELLED
    before = await a.fills()
    a.on_tick(Tick(5, "BTC/USDT", 94.0, 95.0, 94.0, 10.0))  # through the limit, hits the stop
    a.on_book(book([(94.0, 50.0)], [(95.0, 50.0)]))
    assert await a.fills() == before
    for cid in ("l", "s", "m"):
        o = await a.order(cid)
        assert o is not None and o.status is OrderStatus.CANCELLED, cid


async def test_one_trade_seen_by_two_processes_fills_a_resting_order_once(tmp_path: Path) -> None:
    a = make(tmp_path)
    a.on_book(standard_book())
    await a.submit(order("l", Side.BUY, "1", OrderType.LIMIT, price=D("100")))
    b = make(tmp_path)
    trade = Tick(7, "BTC/USDT", 99.0, 99.5, 99.5, 0.3)  # through the limit, 0.3 traded
    a.on_tick(trade)
    b.on_tick(trade)  # the same trade from the other process's own feed
    o = await b.order("l")
    assert o is not None and o.filled_qty == D("0.3")
    assert [f.qty for f in await a.fills()] == [D("0.3")]
    b.on_tick(Tick(8, "BTC/USDT", 99.0, 99.5, 99.5, 0.3))  # a later trade fills again
    o = await a.order("l")
    assert o is not None and o.filled_qty == D("0.6")


async def test_a_resting_order_is_worked_once_by_two_processes(tmp_path: Path) -> None:
    a = make(tmp_path)
    a.on_book(standard_book())
    await a.submit(order("m", Side.BUY, "10"))  # takes the 8 on offer, 2 rest
    b = make(tmp_path)
    fresh = book([(99.0, 1.0)], [(101.0, 5.0)])
    b.on_book(fresh)  # fills the 2 left
    a.on_book(fresh)  # must find nothing left to fill
    o = await a.order("m")
    assert o is not None and o.status is OrderStatus.FILLED and o.filled_qty == D("10")
    assert sum((f.qty for f in await a.fills()), D(0)) == D("10")


async def test_one_book_snapshot_seen_by_two_processes_gives_its_liquidity_once(
    tmp_path: Path,
) -> None:
    a, b = two(tmp_path)
    snapshot = OrderBook(
        42, "BTC/USDT", (BookLevel(99.0, 1.0),), (BookLevel(101.0, 1.0), BookLevel(102.0, 2.0))
    )
    a.on_book(snapshot)
    b.on_book(snapshot)
    await a.submit(order("m1", Side.BUY, "1"))
    await b.submit(order("m2", Side.BUY, "1"))
    assert [(f.client_id, f.price) for f in await a.fills()] == [
        ("m1", D("101")),
        ("m2", D("102")),
    ]


async def test_a_fill_made_by_another_process_is_in_this_ones_reads(tmp_path: Path) -> None:
    a = make(tmp_path)
    a.on_book(standard_book())
    await a.submit(order("l", Side.BUY, "1", OrderType.LIMIT, price=D("100")))
    b = make(tmp_path)
    b.on_tick(Tick(9, "BTC/USDT", 98.0, 99.0, 99.0, 5.0))
    o = await a.order("l")
    assert o is not None and o.status is OrderStatus.FILLED
    assert [f.client_id for f in await a.fills()] == ["l"]
    assert await a.open_orders() == []
    [pos] = await a.positions()
    assert pos.qty == D("1")
    assert a.balances() == b.balances()


# -- a file locked by another connection --------------------------------------------------
def hold_write_lock(path: Path) -> sqlite3.Connection:
    other = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO balances (asset, total) VALUES ('EUR', '5')")
    return other


async def test_a_submit_waits_for_a_lock_held_by_another_connection(tmp_path: Path) -> None:
    b = make(tmp_path)
    b.on_book(standard_book())
    other = hold_write_lock(b.state_path)
    released = threading.Event()

    def release() -> None:
        released.set()
        other.execute("COMMIT")

    timer = threading.Timer(0.3, release)
    timer.start()
    try:
        o = await b.submit(order("w", Side.BUY, "1"))
    finally:
        timer.join()
        other.close()
    assert released.is_set()  # it finished only after the other connection let go
    assert o.status is OrderStatus.FILLED
    assert (await b.order("w")) == o and b.balances()["EUR"] == D(5)


async def test_a_lock_held_too_long_is_a_clear_error_and_nothing_half_written(
    tmp_path: Path,
) -> None:
    b = make(tmp_path, lock_timeout_s=0.2)
    b.on_book(standard_book())
    await b.submit(order("rest", Side.BUY, "1", OrderType.LIMIT, price=D("90")))
    cash = b.balances()
    other = hold_write_lock(b.state_path)
    try:
        with pytest.raises(BrokerUnavailable, match="busy"):
            await b.submit(order("w", Side.BUY, "1"))
        with pytest.raises(BrokerUnavailable, match="busy"):
            await b.cancel("rest")
        b.on_tick(Tick(3, "BTC/USDT", 88.0, 89.0, 89.0, 5.0))  # market data: dropped, counted
        assert b.busy_drops == 1
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await b.order("w") is None and b.balances() == cash
    rest = await b.order("rest")
    assert rest is not None and rest.status is OrderStatus.OPEN
    assert (await b.submit(order("w", Side.BUY, "1"))).status is OrderStatus.FILLED


# -- a damaged file ----------------------------------------------------------------------------
def test_a_damaged_state_file_is_a_clear_error_and_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "paper.db"
    junk = b"this is not a database, it was overwritten by something else" * 100
    path.write_bytes(junk)
    with pytest.raises(BrokerError, match=r"paper\.db.*not a paper account file"):
        make(tmp_path)
    assert path.read_bytes() == junk


def test_another_sqlite_file_is_not_taken_for_a_paper_account(tmp_path: Path) -> None:
    path = tmp_path / "paper.db"
    conn = sqlite3.connect(str(path))
    conn.execute("CREATE TABLE orders (client_id TEXT PRIMARY KEY, state TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(BrokerError, match="not a paper account file"):
        make(tmp_path)


async def test_a_submit_writes_its_order_once_and_numbers_its_fills_in_order(
    tmp_path: Path,
) -> None:
    """A market or limit order is stored once, as its step leaves it; its fills are numbered
    from 1 on arrival and go on from there when it fills later, resting."""
    b = make(tmp_path)
    b.on_book(standard_book())
    writes: list[str] = []
    b._ledger._conn.set_trace_callback(
        lambda s: writes.append(s) if s.startswith("INSERT INTO orders") else None
    )
    done = await b.submit(order("m1", Side.BUY, "1.5"))
    b.on_book(standard_book())  # the liquidity the market order took, back
    rest = await b.submit(order("l1", Side.BUY, "3", OrderType.LIMIT, price=D("101.00")))
    b._ledger._conn.set_trace_callback(None)
    assert len(writes) == 2
    assert done.status is OrderStatus.FILLED and done == await b.order("m1")
    assert rest.status is OrderStatus.PARTIALLY_FILLED and rest == await b.order("l1")
    b.on_tick(Tick(0, "BTC/USDT", 99.0, 100.0, 100.0, 1.0))  # trades through 101: 1 more
    b.on_tick(Tick(0, "BTC/USDT", 99.0, 100.0, 100.0, 5.0))  # the rest
    fills = {f.fill_id: f.qty for f in await b.fills()}
    assert fills == {"m1-1": D(1), "m1-2": D("0.5"), "l1-1": D(1), "l1-2": D(1), "l1-3": D(1)}
    final = await b.order("l1")
    assert final is not None and final.status is OrderStatus.FILLED and final.filled_qty == D(3)
    assert await b.submit(order("l1", Side.BUY, "3", OrderType.LIMIT, price=D("101.00"))) == final
