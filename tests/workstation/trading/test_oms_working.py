"""``OrderManager.has_working_orders``: kept between calls, yet it follows every writer of the
file: this process's own orders, another process's on the same account, and a store of its own
in memory."""

from __future__ import annotations

from pathlib import Path

from engine.model import OrderStatus, OrderType, Side
from workstation.store import Store

from .test_oms import oms, paper


async def test_it_follows_this_process_and_another_one_on_the_same_account(
    db_path: Path, tmp_path: Path
) -> None:
    mine, theirs = Store(db_path), Store(db_path)
    try:
        a, b = oms(mine, paper(tmp_path)), oms(theirs, paper(tmp_path))
        assert not a.has_working_orders() and not a.has_working_orders()

        filled = await a.submit(a.build("BTC/USDT", Side.BUY, "1"))
        assert filled.status is OrderStatus.FILLED
        assert not a.has_working_orders()

        own = await a.submit(a.build("BTC/USDT", Side.BUY, "1", OrderType.LIMIT, price="90"))
        assert own.status is OrderStatus.OPEN
        assert a.has_working_orders() and b.has_working_orders()
        await a.cancel(own.client_id)
        assert not a.has_working_orders() and not b.has_working_orders()

        other = await b.submit(b.build("BTC/USDT", Side.BUY, "1", OrderType.LIMIT, price="91"))
        assert other.status is OrderStatus.OPEN
        assert a.has_working_orders()
        assert a.has_working_orders()  # asked again with nothing changed: the same answer
        await b.cancel(other.client_id)
        assert not a.has_working_orders()
    finally:
        mine.close()
        theirs.close()


async def test_a_store_in_memory_is_followed_through_its_own_writes(tmp_path: Path) -> None:
    store = Store(":memory:")
    try:
        m = oms(store, paper(tmp_path))
        assert not m.has_working_orders()
        resting = await m.submit(m.build("BTC/USDT", Side.BUY, "1", OrderType.LIMIT, price="90"))
        assert m.has_working_orders()
        await m.cancel(resting.client_id)
        assert not m.has_working_orders()
    finally:
        store.close()
