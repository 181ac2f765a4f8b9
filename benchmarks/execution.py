"""Order path costs: OMS submit -> paper fill (durable writes on both sides) against one bare
``synchronous=FULL`` SQLite commit in the same directory, and paper tick processing with 0 and
200 resting orders.

Run: .venv/bin/python benchmarks/execution.py [DIR]   (DIR defaults to a temp dir)
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from engine.model import BookLevel, Instrument, Order, OrderBook, OrderType, Side, Tick
from plugins.brokers.paper import PaperBroker
from workstation.store import Store
from workstation.trading.oms import OrderManager

BTC = Instrument("BTC/USDT", "demo", Decimal("0.01"), Decimal("0.001"), "USDT", "BTC")
BOOK = OrderBook(
    0,
    "BTC/USDT",
    tuple(BookLevel(99.0 - i, 1e6) for i in range(5)),
    tuple(BookLevel(101.0 + i, 1e6) for i in range(5)),
)


def bare_commit_ms(path: Path, n: int = 200) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (?, ?)", (i, "x" * 200))
        conn.execute("COMMIT")
        times.append(time.perf_counter() - t0)
    conn.close()
    return statistics.median(times) * 1e3


async def submit_ms(d: Path, n: int = 200) -> tuple[float, float]:
    store = Store(d / "qws.db")
    broker = PaperBroker(d / "paper.db", {"BTC/USDT": BTC}, starting_balances={"USDT": 10**12})
    broker.on_book(BOOK)
    oms = OrderManager(store, broker, {"BTC/USDT": BTC}.__getitem__, marks=lambda s: 100.0)
    times = []
    for i in range(n):
        side = Side.BUY if i % 2 else Side.SELL
        t0 = time.perf_counter()
        await oms.submit(oms.build("BTC/USDT", side, "0.01"))
        times.append(time.perf_counter() - t0)
    times.sort()
    broker.close()
    store.close()
    return statistics.median(times) * 1e3, times[int(0.99 * len(times))] * 1e3


def ticks_per_s(d: Path, resting: int, n: int = 5_000) -> float:
    broker = PaperBroker(
        d / f"ticks{resting}.db", {"BTC/USDT": BTC}, starting_balances={"USDT": 10**12}
    )
    broker.on_book(BOOK)
    for i in range(resting):
        broker.submit_now(
            Order(f"r{i}", "BTC/USDT", Side.BUY, OrderType.LIMIT, Decimal("1"), Decimal("50.00"))
        )
    ticks = [Tick(0, "BTC/USDT", 99.0 + (i % 3) * 0.01, 101.0, 100.0, 1.0) for i in range(n)]
    t0 = time.perf_counter()
    for t in ticks:
        broker.on_tick(t)
    dt = time.perf_counter() - t0
    broker.close()
    return n / dt


def main() -> None:
    base = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="qws-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    ref = bare_commit_ms(base / "ref.db")
    med, p99 = asyncio.run(submit_ms(base))
    print(f"dir: {base}")
    print(f"bare FULL commit (reference): {ref:8.3f} ms median")
    print(
        f"OMS submit -> paper fill:     {med:8.3f} ms median, {p99:.3f} ms p99"
        f"  = {med / ref:.1f}x the reference commit"
    )
    t0 = ticks_per_s(base, 0)
    t200 = ticks_per_s(base, 200)
    print(f"paper on_tick, no resting orders:  {t0:10,.0f} ticks/s")
    print(f"paper on_tick, 200 resting orders: {t200:10,.0f} ticks/s  ({t200 / t0:.2f}x)")


if __name__ == "__main__":
    main()
