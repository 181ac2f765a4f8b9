"""The order flow run by the crash test in a subprocess (killed with SIGKILL at random points).

Usage: python crash_worker.py DB PAPER_DB INTENTS. Intent ``i`` is fixed by ``i`` alone (side,
type, size, price), has client id ``c{i}`` and is placed only if the store has never seen that
client id: exactly what a restarted workstation does with a user's earlier intent. Prints
``READY`` after reconciling, ``ACK cid status`` after the broker answered, ``DONE`` at the end.
"""

from __future__ import annotations

import asyncio
import random
import sys
from decimal import Decimal
from pathlib import Path

from engine.model import BookLevel, Instrument, OrderBook, OrderStatus, OrderType, Side, Tick
from plugins.brokers.paper import PaperBroker
from workstation.store import Store
from workstation.trading.oms import OrderManager

BTC = Instrument("BTC/USDT", "demo", Decimal("0.01"), Decimal("0.001"), "USDT", "BTC")


def market(step: int) -> tuple[OrderBook, Tick]:
    mid = 100.0 + (step % 11) - 5
    book = OrderBook(
        0,
        "BTC/USDT",
        tuple(BookLevel(mid - 0.5 - i, 0.8 + i) for i in range(4)),
        tuple(BookLevel(mid + 0.5 + i, 0.8 + i) for i in range(4)),
    )
    last = mid - 3 if step % 2 else mid + 3
    return book, Tick(0, "BTC/USDT", mid - 0.5, mid + 0.5, last, 1.5)


def intent(i: int) -> dict[str, object]:
    r = random.Random(i)
    side = Side.BUY if r.random() < 0.55 else Side.SELL
    qty = Decimal(r.randint(1, 30)) / 10
    kind = r.choice([OrderType.MARKET, OrderType.LIMIT, OrderType.LIMIT, OrderType.STOP])
    off = Decimal(r.randint(1, 6))
    if kind is OrderType.LIMIT:
        return {"side": side, "qty": qty, "type": kind, "price": 100 - side.sign * off}
    if kind is OrderType.STOP:
        return {"side": side, "qty": qty, "type": kind, "stop": 100 + side.sign * off}
    return {"side": side, "qty": qty, "type": kind}


async def main(db: str, paper_db: str, intents: int) -> None:
    store = Store(db)
    broker = PaperBroker(Path(paper_db), {"BTC/USDT": BTC}, starting_balances={"USDT": 10**9})
    book, tick = market(0)
    broker.on_book(book)
    broker.on_tick(tick)
    oms = OrderManager(store, broker, {"BTC/USDT": BTC}.__getitem__, marks=lambda s: 100.0)
    await oms.reconcile()
    print("READY", flush=True)
    for i in range(intents):
        cid = f"c{i:04d}"
        if store.orders.get(cid) is None:
            spec = intent(i)
            order = oms.build("BTC/USDT", client_id=cid, **spec)  # type: ignore[arg-type]
            result = await oms.submit(order)
            print(f"ACK {cid} {result.status}", flush=True)
        if i % 3 == 0:
            book, tick = market(i)
            broker.on_book(book)
            broker.on_tick(tick)
            await oms.sync()
        if i % 5 == 4:
            victim = store.orders.get(f"c{i - 2:04d}")
            if victim is not None and victim.status in (OrderStatus.OPEN,):
                await oms.cancel(victim.client_id)
    print("DONE", flush=True)
    broker.close()
    store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
