from __future__ import annotations

import asyncio
from decimal import Decimal as D
from pathlib import Path

from engine.model import BookLevel, Instrument, OrderBook, OrderStatus, OrderType, Side, Tick
from plugins.paper import PaperBroker
from workstation.execution import run_execution
from workstation.hub import Hub
from workstation.oms import OrderManager
from workstation.store import Store

BTC = Instrument("BTC/USDT", "demo", D("0.01"), D("0.001"), "USDT", "BTC")


async def test_hub_market_data_fills_a_resting_paper_order(store: Store, tmp_path: Path) -> None:
    broker = PaperBroker(tmp_path / "p.db", {"BTC/USDT": BTC}, starting_balances={"USDT": 10**6})
    oms = OrderManager(store, broker, {"BTC/USDT": BTC}.__getitem__, marks=lambda s: 100.0)
    hub = Hub()
    task = asyncio.create_task(run_execution(hub, oms, min_sync_interval_s=0.0))
    await asyncio.sleep(0.01)
    book = OrderBook(0, "BTC/USDT", (BookLevel(99.0, 1.0),), (BookLevel(101.0, 1.0),))
    await hub.publish(book)
    await hub.publish(Tick(0, "BTC/USDT", 99.0, 101.0, 100.0, 1.0))
    await asyncio.sleep(0.01)
    o = await oms.submit(oms.build("BTC/USDT", Side.BUY, "2", OrderType.LIMIT, price="98"))
    assert o.status is OrderStatus.OPEN
    await hub.publish(Tick(0, "BTC/USDT", 96.0, 97.0, 97.0, 5.0))  # trades through 98
    for _ in range(100):
        await asyncio.sleep(0.01)
        if store.order(o.client_id).status is OrderStatus.FILLED:  # type: ignore[union-attr]
            break
    task.cancel()
    assert store.order(o.client_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert store.positions("paper")[0].qty == D(2)
