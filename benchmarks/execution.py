"""Order path costs, each against its reference, interleaved A B A B, medians, results checked.

1. OMS submit -> paper fill (a market order: the intent written durably before the broker is
   called, the paper account's own durable transaction, then the answer, its fill, the
   position and the balances in one durable transaction) against one bare
   ``synchronous=FULL`` SQLite commit (BEGIN IMMEDIATE, one 200-byte insert, COMMIT) in the
   same directory, the two timed alternately. Target: the submit's median < 3x the commit's.
   The path pays two fsyncs, and no fewer can keep an order safe: the intent must be on disk
   before the venue is called, and the venue (the paper account, its own file) must have the
   order and its fills on disk before it answers; the answer's own commit needs none (see
   ``workstation/trading/oms.py``). Each of those fsyncs flushes more pages than the bare
   commit's one (a few indexes; the store's also the previous answer's), so the floor is a
   little over 2x and the rest is the CPU of the path, printed as SQL statements per submit
   beside the time. Checked: every submit ends FILLED, and at the end the store's fills and
   positions equal the paper account's in full.
2. Paper ``on_tick`` with 200 resting orders that the ticks cannot fill (buy limits far below
   the market) against 0 resting orders, the same ticks: throughput >= 0.8x (a tick's cost
   does not grow with orders it cannot fill). Checked: both accounts end with the same fills,
   positions and balances (none moved), and the 200 orders still working.
3. One tick that trades through 10 resting orders, with 200 more far from the market, against
   the same tick and 10 orders without the 200: time ratio <= 1.25x (the cost follows the
   orders at the price, not all of them); the same tick through 1 order is printed beside it
   to show the cost growing with the orders it fills. Checked: the same fills in full.

4. A TWAP child sent by the execution desk (its step: the working parents read, the parent's
   children read, the plan's target, the child built and submitted through the same order
   manager, the children read again) against the same market order submitted directly, the
   two timed alternately: the scheduling cost is the difference, target <= 1.25x the bare
   submit. Beside it, the pure planning: a 1,000-slice VWAP plan with its volume profile from
   20 days of 1m bars (28,800 bars). Checked: every child and every direct order FILLED, the
   same quantity each, the parent's children numbered 1..N without a gap.

Run: .venv/bin/python benchmarks/execution.py [--quick] [DIR]   (DIR defaults to a temp dir)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from harness import Timings, assert_same, interleave, ratio_verdict, verdict

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
from engine.trading.schedule import DAY_NS, Algo, AlgoParams, plan, volume_profile
from plugins.brokers.paper import PaperBroker
from workstation.store import Store
from workstation.trading.algos import AlgoDesk
from workstation.trading.oms import OrderManager

BTC = Instrument("BTC/USDT", "demo", Decimal("0.01"), Decimal("0.001"), "USDT", "BTC")
BOOK = OrderBook(
    0,
    "BTC/USDT",
    tuple(BookLevel(99.0 - i, 1e6) for i in range(5)),
    tuple(BookLevel(101.0 + i, 1e6) for i in range(5)),
)
FUNDS = {"USDT": 10**12}
STATEMENTS_BEFORE = 50
"""SQL statements per submit before the order path's reads were merged (store 17, its reader
16, the paper account 17), for the figure printed beside today's."""
# a quote without a trade: no resting limit fills on it
QUIET = Tick(0, "BTC/USDT", 99.0, 101.0, 100.0, 0.0)


class BareCommit:
    """The reference: one FULL-synchronous WAL commit of one small row."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT)")
        self.n = 0

    def __call__(self) -> bool:
        self.n += 1
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("INSERT INTO t VALUES (?, ?)", (self.n, "x" * 200))
        self.conn.execute("COMMIT")
        return True


def _fill_key(f: object) -> tuple[object, ...]:
    return tuple(getattr(f, k) for k in ("client_id", "symbol", "side", "qty", "price", "fee"))


async def submit_vs_commit(d: Path, runs: int) -> Timings:
    """Each submit timed alone, alternating with one bare commit (B A B A ...), in one loop."""
    store = Store(d / "qws.db")
    broker = PaperBroker(d / "paper.db", {"BTC/USDT": BTC}, starting_balances=FUNDS)
    broker.on_book(BOOK)
    oms = OrderManager(store, broker, {"BTC/USDT": BTC}.__getitem__, marks=lambda s: 100.0)
    bare = BareCommit(d / "ref.db")
    ta: list[float] = []
    tb: list[float] = []

    async def one_submit(i: int) -> float:
        side = Side.BUY if i % 2 else Side.SELL
        order = oms.build("BTC/USDT", side, "0.01")
        t0 = time.perf_counter()
        done = await oms.submit(order)
        dt = time.perf_counter() - t0
        assert_same(done.status, OrderStatus.FILLED, f"submit {i}")
        return dt

    def one_commit() -> float:
        t0 = time.perf_counter()
        bare()
        return time.perf_counter() - t0

    for i in range(10):  # warm-up, untimed
        await one_submit(-i)
        one_commit()
    for i in range(runs):
        if i % 2 == 0:
            ta.append(await one_submit(i))
            tb.append(one_commit())
        else:
            tb.append(one_commit())
            ta.append(await one_submit(i))
    counted = await _statements_per_submit(oms, store, broker, 20)
    # the store holds what the venue holds, in full
    assert_same(
        sorted(_fill_key(f) for f in store.fills.find(venue="paper")),
        sorted(_fill_key(f) for f in await broker.fills()),
        "fills",
    )
    assert_same(
        [(p.symbol, p.qty, p.avg_price) for p in store.positions.find("paper") if p.qty],
        [(p.symbol, p.qty, p.avg_price) for p in await broker.positions()],
        "positions",
    )
    assert_same(store.balances.get("paper"), broker.balances(), "balances")
    broker.close()
    store.close()
    bare.conn.close()
    return Timings(ta, tb), counted


async def _statements_per_submit(
    oms: OrderManager, store: Store, broker: PaperBroker, n: int
) -> dict[str, float]:
    """SQL statements per submit on each connection the path uses (the store's writer, this
    thread's store reader, the paper account's), over ``n`` more submits, untimed: a trace
    callback on every statement would slow the timed ones."""
    with store.reading() as reader:
        pass
    conns = {"store": store.conn, "reader": reader, "paper": broker._ledger._conn}
    seen = dict.fromkeys(conns, 0)

    def count(name: str) -> Callable[[str], None]:
        def traced(_sql: str) -> None:
            seen[name] += 1

        return traced

    for name, conn in conns.items():
        conn.set_trace_callback(count(name))
    try:
        for i in range(n):
            done = await oms.submit(oms.build("BTC/USDT", Side.BUY if i % 2 else Side.SELL, "0.01"))
            assert_same(done.status, OrderStatus.FILLED, f"counted submit {i}")
    finally:
        for conn in conns.values():
            conn.set_trace_callback(None)
    return {name: k / n for name, k in seen.items()}


def _limit(cid: str, side: Side, price: str) -> Order:
    return Order(cid, "BTC/USDT", side, OrderType.LIMIT, Decimal("1"), Decimal(price))


def _counter_clock() -> Callable[[], int]:
    counter = itertools.count(1_700_000_000_000_000_000, 1_000)
    return lambda: next(counter)


def _broker(path: Path, far: int) -> PaperBroker:
    """A paper account with ``far`` buy limits at 50, which no tick here reaches."""
    broker = PaperBroker(path, {"BTC/USDT": BTC}, starting_balances=FUNDS, clock=_counter_clock())
    broker.on_book(BOOK)
    _place(broker, [_limit(f"far{i}", Side.BUY, "50.00") for i in range(far)])
    return broker


def _place(broker: PaperBroker, orders: list[Order]) -> None:
    """``orders`` placed as the broker accepts them, in one transaction (not an fsync each)."""
    with broker._ledger.transaction():
        for o in orders:
            broker._ledger.put_order(
                replace(o, status=OrderStatus.OPEN, venue="paper", broker_id=f"P-{o.client_id}")
            )


def _state(broker: PaperBroker) -> tuple[object, ...]:
    fills = [(_fill_key(f), f.ts_ns, f.fill_id) for f in broker._ledger.fills_since()]
    positions = [(p.symbol, p.qty, p.avg_price) for p in broker._ledger.positions()]
    return fills, positions, broker.balances()


def ticks_case(d: Path, runs: int, n: int) -> tuple[Timings, int]:
    """``n`` quotes with a trade at 100 (none reaching a resting order), through an account
    with 200 resting orders (A) and one with none (B)."""
    a, b = _broker(d / "ticks200.db", 200), _broker(d / "ticks0.db", 0)
    ticks = [Tick(0, "BTC/USDT", 99.0 + (i % 3) * 0.01, 101.0, 100.0, 1.0) for i in range(n)]

    def feed(broker: PaperBroker) -> Callable[[], tuple[object, ...]]:
        def run() -> tuple[object, ...]:
            for t in ticks:
                broker.on_tick(t)
            return _state(broker)

        return run

    t = interleave(feed(a), feed(b), runs)
    assert_same(len(a._ledger.working_orders()), 200, "resting orders left")
    a.close()
    b.close()
    return t, n


def _interleave_own_timing(
    a: Callable[[], tuple[float, object]], b: Callable[[], tuple[float, object]], runs: int
) -> Timings:
    """:func:`harness.interleave` for work that times itself (a fresh account is set up in
    each run, outside the timed part): A B, B A, ... after one warm-up round, every round's
    results checked equal in full."""
    assert_same(a()[1], b()[1], "warm-up")
    ta: list[float] = []
    tb: list[float] = []
    for i in range(runs):
        first, second = (a, b) if i % 2 == 0 else (b, a)
        t1, r1 = first()
        t2, r2 = second()
        ra, rb = (r1, r2) if first is a else (r2, r1)
        ta.append(t1 if first is a else t2)
        tb.append(t2 if first is a else t1)
        assert_same(ra, rb, f"round {i}")
    return Timings(ta, tb)


def fill_tick_case(d: Path, runs: int, near: int, far_a: int, far_b: int) -> Timings:
    """One tick that trades through ``near`` resting buy limits at 100.50, placed afresh before
    each run (untimed) in an account that also holds ``far_a`` (A) or ``far_b`` (B) orders far
    from the market; each run's fills checked equal in full."""
    tick = Tick(0, "BTC/USDT", 99.0, 101.0, 100.0, 1e6)
    tag = f"fill{near}-{far_a}-{far_b}"

    def case(name: str, far: int) -> Callable[[], tuple[float, object]]:
        broker = _broker(d / f"{tag}-{name}.db", far)
        broker.on_tick(QUIET)  # moves nothing: the account's orders are read in once
        runs_made = itertools.count()

        def run() -> tuple[float, object]:
            mine = f"near{next(runs_made)}-"
            _place(broker, [_limit(f"{mine}{i}", Side.BUY, "100.50") for i in range(near)])
            t0 = time.perf_counter()
            broker.on_tick(tick)
            dt = time.perf_counter() - t0
            fills = [
                (_fill_key(f), f.fill_id, f.ts_ns)
                for f in broker._ledger.fills_since()
                if f.client_id.startswith(mine)
            ]
            assert_same(len(fills), near, "orders filled by the tick")
            return dt, fills

        return run

    return _interleave_own_timing(case("a", far_a), case("b", far_b), runs)


async def child_vs_submit(d: Path, runs: int) -> Timings:
    """Desk step sending one child (A) against a direct submit of the same order (B)."""
    store = Store(d / "algo.db")
    broker = PaperBroker(d / "algo-paper.db", {"BTC/USDT": BTC}, starting_balances=FUNDS)
    broker.on_book(BOOK)
    now = [1_000_000_000_000]
    oms = OrderManager(
        store,
        broker,
        {"BTC/USDT": BTC}.__getitem__,
        marks=lambda s: 100.0,
        clock=lambda: now[0],
    )
    oms.limits = replace(oms.limits, max_orders_per_minute=10**9)
    desk = AlgoDesk(store, oms, "1m", lambda: now[0])
    slices, warm = runs + 10, 10
    parent = desk.new("BTC/USDT", Side.BUY, Decimal("0.01") * slices, AlgoParams(
        Algo.TWAP, slices * 60_000_000_000, slices))  # fmt: skip
    await desk.step(now[0])  # starts it: slice k is due at start + k minutes
    start = desk.store.algos.get(parent.id).start_ns  # type: ignore[union-attr]
    ta: list[float] = []
    tb: list[float] = []
    k = [0]

    async def one_child() -> float:
        k[0] += 1
        now[0] = start + k[0] * 60_000_000_000
        t0 = time.perf_counter()
        sent = await desk.step(now[0])
        dt = time.perf_counter() - t0
        assert_same([(o.status, o.qty) for o in sent], [(OrderStatus.FILLED, Decimal("0.010"))],
                     f"child {k[0]}")  # fmt: skip
        return dt

    async def one_submit() -> float:
        order = oms.build("BTC/USDT", Side.SELL, "0.010")
        t0 = time.perf_counter()
        done = await oms.submit(order)
        dt = time.perf_counter() - t0
        assert_same((done.status, done.qty), (OrderStatus.FILLED, Decimal("0.010")), "submit")
        return dt

    for _ in range(warm):
        await one_child()
        await one_submit()
    for i in range(runs):
        if i % 2 == 0:
            ta.append(await one_child())
            tb.append(await one_submit())
        else:
            tb.append(await one_submit())
            ta.append(await one_child())
    ids = [c.client_id for c in store.orders.children(parent.id)]
    assert_same(ids, [f"{parent.id}.{n}" for n in range(1, runs + warm + 1)], "children")
    broker.close()
    store.close()
    return Timings(ta, tb)


def planning_ms(runs: int) -> float:
    """Median ms of a 1,000-slice VWAP plan from a 20-day profile of 1m bars."""
    import numpy as np

    bars = 20 * 1440
    start = 21 * DAY_NS
    ts = np.arange(bars, dtype=np.int64) * 60_000_000_000 + DAY_NS
    volume = np.random.default_rng(1).uniform(1, 100, bars)
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        weights, _, days = volume_profile(ts, volume, start, 60_000_000_000, 1000, 20)
        steps = plan(Decimal("1000"), BTC, start, 60_000_000_000, weights, 100.0)
        samples.append(time.perf_counter() - t0)
        assert_same((days, len(steps), steps[-1].cum_qty), (20, 1000, Decimal("1000")), "plan")
    return sorted(samples)[len(samples) // 2] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir", nargs="?")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="qws-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    print(f"dir: {base}")

    runs = 60 if args.quick else 300
    sub, counted = asyncio.run(submit_vs_commit(base, runs))
    print(
        f"OMS submit -> paper fill: {sub.a_median * 1e3:.3f} ms median"
        f" (p99 {sorted(sub.a)[int(0.99 * len(sub.a))] * 1e3:.3f} ms);"
        f" bare FULL commit {sub.b_median * 1e3:.3f} ms median, interleaved"
    )
    print(
        f"SQL statements per submit: {sum(counted.values()):.0f} ("
        + ", ".join(f"{name} {k:.0f}" for name, k in counted.items())
        + f"; {STATEMENTS_BEFORE} before the reads were merged); 2 fsyncs: the intent, the"
        " paper account's step"
    )
    ratio_verdict("OMS submit -> paper fill vs a bare FULL commit", sub, at_most=3.0)

    tt, n = ticks_case(base, 6 if args.quick else 12, 2_000 if args.quick else 5_000)
    rate_a, rate_b = n / tt.a_median, n / tt.b_median
    print(f"paper on_tick, no resting orders:            {rate_b:10,.0f} ticks/s")
    print(f"paper on_tick, 200 resting (none reachable): {rate_a:10,.0f} ticks/s")
    verdict(
        "paper on_tick throughput, 200 resting orders it cannot fill vs none",
        f"{rate_a:,.0f} vs {rate_b:,.0f} ticks/s = {rate_a / rate_b:.2f}x"
        f" (median of {len(tt.a)} runs of {n:,} ticks)",
        ">= 0.8x",
        rate_a / rate_b >= 0.8,
    )

    fr = 8 if args.quick else 40
    near10 = fill_tick_case(base, fr, near=10, far_a=200, far_b=0)
    near1 = fill_tick_case(base, fr, near=1, far_a=200, far_b=0)
    print(
        f"one tick filling 1 order:   {near1.a_median * 1e3:.3f} ms with 200 far orders,"
        f" {near1.b_median * 1e3:.3f} ms without"
    )
    print(
        f"one tick filling 10 orders: {near10.a_median * 1e3:.3f} ms with 200 far orders,"
        f" {near10.b_median * 1e3:.3f} ms without"
        f"  ({near10.b_median / near1.b_median:.2f}x the 1-order tick; each is one"
        " FULL commit, which dominates on a disk)"
    )
    ratio_verdict(
        "a tick filling 10 orders, 200 unreachable beside them vs none", near10, at_most=1.25
    )

    child = asyncio.run(child_vs_submit(base, 60 if args.quick else 300))
    print(
        f"TWAP child through the desk: {child.a_median * 1e3:.3f} ms median; the same order"
        f" submitted directly {child.b_median * 1e3:.3f} ms; scheduling cost"
        f" {(child.a_median - child.b_median) * 1e3:+.3f} ms a child"
    )
    ratio_verdict("TWAP child sent by the desk vs the same order submitted directly", child,
                  at_most=1.25)  # fmt: skip
    ms = planning_ms(5 if args.quick else 21)
    verdict(
        "VWAP plan: 1,000 slices from a 20-day profile of 1m bars (28,800 bars)",
        f"{ms:.2f} ms (median)",
        "< 50 ms",
        ms < 50,
    )


if __name__ == "__main__":
    main()
