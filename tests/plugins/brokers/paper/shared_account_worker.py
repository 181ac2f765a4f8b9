"""One process of the shared paper account test (``test_shared_account.py``).

Usage: python shared_account_worker.py PAPER_DB NAME OPS SEED REOPEN_EVERY PEERS OUT

Opens the paper account at PAPER_DB, prints ``READY`` and waits for a line on stdin, then runs
OPS steps. Step ``i`` first hands the broker market event ``i`` (the same for every process, as
if each had its own feed of one exchange: a book on even steps, a trade on odd ones, stamped
``i + 1``), then does one thing chosen by ``SEED``: submit an order (client id ``NAME-i``),
cancel an order (one of the account's open orders, or a peer's guessed client id), or read one
of its own orders back. With REOPEN_EVERY > 0 the broker is closed and opened afresh every that
many steps, the way each ``qws order`` command is a new process on the account. Writes what it
saw to OUT as JSON and prints ``DONE``.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from decimal import Decimal
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
    TimeInForce,
)
from engine.protocols import OrderNotFound
from plugins.brokers.paper import PaperBroker

BTC = Instrument("BTC/USDT", "demo", Decimal("0.01"), Decimal("0.001"), "USDT", "BTC")
FEES = {"demo": {"maker": "0.0002", "taker": "0.001"}}
START = {"USDT": 10_000_000}


def market(i: int) -> OrderBook | Tick:
    mid = 100.0 + (i * 7) % 13 - 6
    if i % 2 == 0:
        return OrderBook(
            i + 1,
            "BTC/USDT",
            tuple(BookLevel(mid - 0.5 - k, 0.5 + k) for k in range(4)),
            tuple(BookLevel(mid + 0.5 + k, 0.5 + k) for k in range(4)),
        )
    last = mid - 2.0 if i % 4 == 1 else mid + 2.0
    return Tick(i + 1, "BTC/USDT", mid - 0.5, mid + 0.5, last, 1.0)


def open_broker(path: str) -> PaperBroker:
    return PaperBroker(Path(path), {"BTC/USDT": BTC}, fees=FEES, starting_balances=START)


def new_order(cid: str, rng: random.Random) -> Order:
    side = Side.BUY if rng.random() < 0.5 else Side.SELL
    qty = Decimal(rng.randint(1, 20)) / 10
    kind = rng.choice([OrderType.MARKET, OrderType.LIMIT, OrderType.LIMIT, OrderType.STOP])
    tif = TimeInForce.IOC if kind is not OrderType.STOP and rng.random() < 0.15 else None
    extra: dict[str, object] = {"tif": tif} if tif is not None else {}
    if kind is OrderType.LIMIT:
        extra["price"] = Decimal(100 - side.sign * rng.randint(0, 5))
    elif kind is OrderType.STOP:
        extra["stop"] = Decimal(100 + side.sign * rng.randint(1, 5))
    return Order(cid, "BTC/USDT", side, kind, qty, **extra)  # type: ignore[arg-type]


async def run(
    path: str, name: str, ops: int, seed: int, reopen_every: int, peers: list[str]
) -> dict[str, object]:
    rng = random.Random(seed)
    broker = open_broker(path)
    print("READY", flush=True)
    sys.stdin.readline()
    submitted: dict[str, str] = {}
    cancelled: dict[str, str] = {}
    seen: set[str] = set()
    for i in range(ops):
        if reopen_every and i and i % reopen_every == 0:
            broker.close()
            broker = open_broker(path)
        event = market(i)
        if isinstance(event, OrderBook):
            broker.on_book(event)
        else:
            broker.on_tick(event)
        roll = rng.random()
        if roll < 0.45:
            cid = f"{name}-{i}"
            result = await broker.submit(new_order(cid, rng))
            submitted[cid] = str(result.status)
        elif roll < 0.7:
            if rng.random() < 0.5:
                working = await broker.open_orders()
                seen.update(o.client_id for o in working)
                victim = rng.choice(working).client_id if working else None
            else:
                victim = f"{rng.choice(peers)}-{rng.randint(0, i)}"
            if victim is not None:
                try:
                    done = await broker.cancel(victim)
                except OrderNotFound:
                    continue
                if done.status is OrderStatus.CANCELLED:
                    cancelled[victim] = str(done.filled_qty)
        elif submitted:
            cid = rng.choice(sorted(submitted))
            mine = await broker.order(cid)
            if mine is None:
                raise AssertionError(f"{name}: own order {cid} vanished")
            seen.add(cid)
    seen.update(o.client_id for o in await broker.open_orders())
    broker.close()
    return {"submitted": submitted, "cancelled": cancelled, "seen": sorted(seen)}


def main() -> None:
    path, name, ops, seed, reopen, peers, out = sys.argv[1:8]
    report = asyncio.run(run(path, name, int(ops), int(seed), int(reopen), peers.split(",")))
    Path(out).write_text(json.dumps(report))
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
