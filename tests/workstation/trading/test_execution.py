from __future__ import annotations

import asyncio
from decimal import Decimal as D
from pathlib import Path

from engine.model import (
    BookLevel,
    Instrument,
    Order,
    OrderBook,
    OrderStatus,
    OrderType,
    Side,
    Tick,
)
from engine.protocols import BrokerUnavailable
from plugins.brokers.paper import PaperBroker
from workstation.store import Store
from workstation.trading.execution import poll_venue
from workstation.trading.oms import Discrepancy, OrderManager

BTC = Instrument("BTC/USDT", "demo", D("0.01"), D("0.001"), "USDT", "BTC")


async def test_remote_broker_is_polled_and_reconciled_after_an_outage(
    store: Store, tmp_path: Path
) -> None:
    class Remote(PaperBroker):
        on_tick = None  # type: ignore[assignment]  # a venue that fills on its own
        down = False

        async def order(self, client_id: str, symbol: str | None = None) -> Order | None:
            if self.down:
                raise BrokerUnavailable("connection reset")
            return await super().order(client_id, symbol)

    broker = Remote(tmp_path / "p.db", {"BTC/USDT": BTC}, starting_balances={"USDT": 10**6})
    PaperBroker.on_book(
        broker, OrderBook(0, "BTC/USDT", (BookLevel(99.0, 9.0),), (BookLevel(101.0, 9.0),))
    )
    oms = OrderManager(store, broker, {"BTC/USDT": BTC}.__getitem__, marks=lambda s: 100.0)
    o = await oms.submit(oms.build("BTC/USDT", Side.BUY, "1", OrderType.LIMIT, price="98"))
    found: list[Discrepancy] = []
    task = asyncio.create_task(poll_venue(oms, 0.01, found.append))
    await asyncio.sleep(0.05)
    broker.down = True
    PaperBroker.on_tick(broker, Tick(0, "BTC/USDT", 96.0, 97.0, 97.0, 5.0))  # fills meanwhile
    await asyncio.sleep(0.05)
    assert store.orders.get(o.client_id).status is OrderStatus.OPEN  # type: ignore[union-attr]
    broker.down = False
    for _ in range(100):
        await asyncio.sleep(0.01)
        if store.orders.get(o.client_id).status is OrderStatus.FILLED:  # type: ignore[union-attr]
            break
    task.cancel()
    assert store.orders.get(o.client_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert [d.kind for d in found] == ["changed_while_away"]
    actions = [r["action"] for r in store.audit.recent(200)]
    assert "broker.unreachable" in actions and "broker.reachable" in actions
