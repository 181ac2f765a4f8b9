"""The order flow run by the crash test in a subprocess (killed with SIGKILL at random points).

Usage: ``python crash_worker.py DB PAPER_DB FIRST LAST [WORKER]`` runs intents ``FIRST`` to
``LAST - 1``; ``python crash_worker.py serve`` imports everything once, then for each line
``DB PAPER_DB FIRST LAST WORKER`` on stdin forks a child that runs them, prints ``PID n``
before the child starts and ``EXIT code`` once it ended (a fork costs milliseconds where a
fresh interpreter costs a second of imports: a hundred restarts stay fast).

Intent ``i`` is fixed by ``i`` alone (side, type, size, price, and on some a stop-loss and/or
take-profit), has client id ``c{i}`` and is placed only if the store has never seen that client
id: exactly what a restarted workstation does with a user's earlier intent. The marks follow
the market the worker feeds the paper broker. Prints ``READY WORKER`` after reconciling,
``ACK cid status`` after the broker answered, ``DONE`` at the end.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import traceback
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
    spec: dict[str, object] = {"side": side, "qty": qty, "type": kind}
    entry = Decimal(100)
    if kind is OrderType.LIMIT:
        entry = spec["price"] = 100 - side.sign * off
    elif kind is OrderType.STOP:
        entry = spec["stop"] = 100 + side.sign * off
    bracket = r.random()
    if bracket < 0.5:  # half of the intents protect their position
        spec["sl"] = entry - side.sign * Decimal(r.randint(150, 500)) / 100
        if bracket < 0.35:
            spec["tp"] = entry + side.sign * Decimal(r.randint(150, 500)) / 100
    return spec


def say(line: str) -> None:
    """One line in one write: a kill never leaves half a line for the reader to misread."""
    os.write(1, f"{line}\n".encode())


async def main(db: str, paper_db: str, first: int, last: int, worker: str = "0") -> None:
    store = Store(db)
    broker = PaperBroker(Path(paper_db), {"BTC/USDT": BTC}, starting_balances={"USDT": 10**9})

    def mark(symbol: str) -> float | None:
        quote = broker.quote(symbol)
        return None if quote is None else float(sum(quote)) / 2

    book, tick = market(first)
    broker.on_book(book)
    broker.on_tick(tick)
    oms = OrderManager(store, broker, {"BTC/USDT": BTC}.__getitem__, marks=mark)
    await oms.reconcile()
    say(f"READY {worker}")
    for i in range(first, last):
        cid = f"c{i:04d}"
        if store.orders.get(cid) is None:
            spec = intent(i)
            order = oms.build("BTC/USDT", client_id=cid, **spec)  # type: ignore[arg-type]
            result = await oms.submit(order)
            say(f"ACK {cid} {result.status}")
        if i % 3 == 0:
            book, tick = market(i)
            broker.on_book(book)
            broker.on_tick(tick)
            await oms.sync()
        if i % 5 == 4:
            victim = store.orders.get(f"c{i - 2:04d}")
            if victim is not None and victim.status in (OrderStatus.OPEN,):
                await oms.cancel(victim.client_id)
    say("DONE")
    broker.close()
    store.close()


def _run(args: list[str]) -> None:
    asyncio.run(main(args[0], args[1], int(args[2]), int(args[3]), *args[4:5]))


def serve() -> None:
    """Fork one child per request line; the child waits until its pid is announced."""
    for line in sys.stdin:
        args = line.split()
        if not args:
            continue
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            os.read(go_r, 1)
            try:
                _run(args)
            except BaseException:
                traceback.print_exc()
                sys.stderr.flush()
                os._exit(1)
            os._exit(0)
        os.close(go_r)
        say(f"PID {pid}")
        os.close(go_w)
        _, status = os.waitpid(pid, 0)
        say(f"EXIT {os.waitstatus_to_exitcode(status)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve()
    else:
        _run(sys.argv[1:])
