"""SIGKILL the order flow at random points, restart it, and check nothing was lost or doubled.

The files live on tmpfs when there is one: SIGKILL keeps the OS page cache, so fsync plays no
part in what this test checks (process death at any instruction) and tmpfs keeps it fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.model import Order, OrderStatus, OrderType, Position
from engine.trading.portfolio import apply_fill
from plugins.brokers.paper import PaperBroker
from workstation.store import Store
from workstation.trading.oms import OrderManager

WORKER = Path(__file__).with_name("crash_worker.py")
SEED = 20261127
KILLS = 100
INTENTS = 400


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        d = Path(tempfile.mkdtemp(dir=shm, prefix="qws-crash-"))
        yield d
        shutil.rmtree(d, ignore_errors=True)
    else:
        yield tmp_path


class Workers:
    """The worker's fork server: each run is a fresh process (a fork of one that has already
    imported everything), killed with SIGKILL by this side."""

    def __init__(self, workdir: Path, name: str = "worker") -> None:
        self.errors = workdir / f"{name}.err"
        self._err = self.errors.open("w")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENBLAS_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            env=env,
        )

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self._err.close()

    def run(
        self,
        db: Path,
        paper: Path,
        kill_after: float | None,
        from_start: bool,
        intents: range = range(INTENTS),
        worker: int = 0,
    ) -> list[str]:
        """``intents`` as ``worker``; SIGKILL ``kill_after`` s after the start (or after READY);
        the lines the run printed."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{db} {paper} {intents.start} {intents.stop} {worker}\n")
        self.proc.stdin.flush()
        first = self.proc.stdout.readline().split()
        assert first[:1] == ["PID"], (first, self.errors.read_text())
        pid = int(first[1])
        timer = None

        def arm() -> None:
            nonlocal timer
            if kill_after is not None:
                timer = threading.Timer(kill_after, _kill, (pid,))
                timer.start()

        if from_start:
            arm()
        lines: list[str] = []
        for raw in self.proc.stdout:
            line = raw.strip()
            if line.startswith("EXIT "):
                code = int(line.split()[1])
                break
            lines.append(line)
            if line.startswith("READY") and not from_start:
                arm()
        else:
            raise AssertionError(f"the fork server died:\n{self.errors.read_text()}")
        if timer is not None:
            timer.cancel()
        if code not in (0, -signal.SIGKILL):
            raise AssertionError(f"worker failed ({code}):\n{self.errors.read_text()}")
        if kill_after is None:
            assert lines and lines[-1] == "DONE", self.errors.read_text()
        return lines


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _crash_runs(
    workers: Workers,
    db: Path,
    paper: Path,
    intents: range,
    kills: int,
    seed: int,
    acked: dict[str, str],
    worker: int = 0,
) -> int:
    """Run ``intents`` until ``kills`` runs were killed before they finished, then once to
    the end; the number of runs it took."""
    rng = random.Random(seed)
    killed = runs = 0
    # a run that finishes before its kill lands is not a kill: go on until enough have landed,
    # drawing later kills from a shorter span each time a run got to the end (the flow left
    # to run shrinks as intents are placed, and how fast it runs depends on the machine)
    span = 1.0
    while killed < kills and runs < 4 * kills:
        from_start = runs % 4 == 3
        runs += 1
        delay = span * (rng.uniform(0.05, 0.4) if from_start else rng.uniform(0.0, 0.25))
        lines = workers.run(db, paper, delay, from_start, intents, worker)
        finished = "DONE" in lines
        killed += not finished
        if finished:
            span = max(span * 0.7, 0.02)
        _acks(lines, acked)
    assert killed == kills, f"only {killed} of {runs} runs were killed before they finished"
    return runs


def _acks(lines: list[str], acked: dict[str, str]) -> None:
    for line in lines:
        if line.startswith("ACK "):
            _, cid, status = line.split()
            acked[cid] = status


def test_sigkill_at_random_points_loses_and_duplicates_nothing(workdir: Path) -> None:
    db, paper = workdir / "qws.db", workdir / "qws.paper.db"
    acked: dict[str, str] = {}
    workers = Workers(workdir)
    try:
        _crash_runs(workers, db, paper, range(INTENTS), KILLS, SEED, acked)
        _acks(workers.run(db, paper, None, False), acked)
    finally:
        workers.close()
    asyncio.run(_verify(db, paper, acked))


def test_two_processes_on_one_account_killed_at_random_lose_and_duplicate_nothing(
    workdir: Path,
) -> None:
    """The workstation and a second process share the store and the paper account; each is
    killed at random points, KILLS in all, while the other carries on."""
    db, paper = workdir / "qws.db", workdir / "qws.paper.db"
    halves = (range(0, INTENTS // 2), range(INTENTS // 2, INTENTS))
    acked: list[dict[str, str]] = [{}, {}]
    pools = [Workers(workdir, f"worker{n}") for n in (0, 1)]
    errors: list[BaseException] = []

    def side(n: int) -> None:
        try:
            _crash_runs(pools[n], db, paper, halves[n], KILLS // 2, SEED + n, acked[n], n)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=side, args=(n,)) for n in (0, 1)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        for n in (0, 1):  # the second half last: its market is the one _verify expects
            _acks(pools[n].run(db, paper, None, False, halves[n], n), acked[n])
    finally:
        for pool in pools:
            pool.close()
    asyncio.run(_verify(db, paper, {**acked[0], **acked[1]}))


async def _verify(db: Path, paper_db: Path, acked: dict[str, str]) -> None:
    from tests.workstation.trading.crash_worker import BTC

    store = Store(db)
    broker = PaperBroker(paper_db, {"BTC/USDT": BTC})
    try:
        before = {o.client_id for o in store.orders.find(limit=100_000)}
        oms = OrderManager(store, broker, {"BTC/USDT": BTC}.__getitem__, marks=lambda s: 100.0)
        await oms.reconcile()
        assert store.integrity_check() == "ok" and broker.integrity_check() == "ok"
        local = {o.client_id: o for o in store.orders.find(limit=100_000)}
        assert set(local) == before, "the last run left a position to protect"
        intents = {cid: o for cid, o in local.items() if LEG.fullmatch(cid) is None}
        # every intent was placed exactly once, under its own client id
        assert set(intents) == {f"c{i:04d}" for i in range(INTENTS)}
        _verify_protection(store, local, intents)
        # no acknowledged order lost
        for cid, status in acked.items():
            assert cid in local, cid
            if status != "REJECTED":
                assert await broker.order(cid) is not None, cid
        # nothing at the venue that the store does not know (no orphans, no duplicates)
        remote = {}
        for cid in local:
            r = await broker.order(cid)
            if r is not None:
                remote[cid] = r
        assert broker._ledger.client_ids() == set(remote)
        for cid, r in remote.items():
            mine = local[cid]
            assert (mine.status, mine.filled_qty) == (r.status, r.filled_qty), cid
            assert r.filled_qty <= r.qty
        never_sent = [o for o in local.values() if o.client_id not in remote]
        # never sent: refused, or given up (a crashed submit, cancelled by the other process)
        unsent = (OrderStatus.REJECTED, OrderStatus.CANCELLED)
        assert [o for o in never_sent if o.status not in unsent] == []
        # fills recorded once each, identical on both sides
        venue_fills = await broker.fills()
        local_fills = store.fills.find(venue="paper")
        assert sorted(f.fill_id for f in local_fills) == sorted(f.fill_id for f in venue_fills)
        assert len({f.fill_id for f in local_fills}) == len(local_fills)
        for cid, r in remote.items():
            total = sum((f.qty for f in venue_fills if f.client_id == cid), Decimal(0))
            assert total == r.filled_qty, cid
        # positions equal the broker's, and because the fills were applied exactly once:
        # no reconciliation ever had to overwrite a position
        venue_pos = {p.symbol: p.qty for p in await broker.positions()}
        local_pos = {p.symbol: p.qty for p in store.positions.find("paper") if p.qty != 0}
        assert local_pos == venue_pos
        replayed: dict[str, Position] = {}
        for f in local_fills:
            replayed[f.symbol] = apply_fill(replayed.get(f.symbol), f, "paper")
        assert {s: p.qty for s, p in replayed.items() if p.qty} == local_pos
        overwritten = [
            r
            for r in store.audit.recent(1_000_000)
            if r["action"] == "discrepancy.position_mismatch"
        ]
        assert overwritten == []
        assert sum(1 for o in remote.values() if o.filled_qty > 0) > 20
    finally:
        broker.close()
        store.close()


LEG = re.compile(r"(c[0-9]{4})-(sl|tp|x)(?:\.([0-9]+))?")


def _verify_protection(store: Store, local: dict[str, Order], intents: dict[str, Order]) -> None:
    """Every open bracket (oldest first) owns what is left of its fills, up to the position on
    its side that older ones left; it is protected by exactly one working stop-loss (and
    take-profit where set) of exactly that size, on the protective side of the market; a
    settled bracket has nothing working."""
    from tests.workstation.trading.crash_worker import market

    legs: dict[str, list[Order]] = {cid: [] for cid in intents}
    for cid, o in local.items():
        found = LEG.fullmatch(cid)
        if found:
            parent = intents[found[1]]
            assert parent.sl is not None or parent.tp is not None, cid
            assert o.side is not parent.side and o.symbol == parent.symbol, cid
            legs[found[1]].append(o)
    position = sum((p.qty for p in store.positions.find("paper")), Decimal(0))
    open_ids = {o.client_id for o in store.orders.open_brackets("paper")}
    book, _ = market(INTENTS - 1 - (INTENTS - 1) % 3)  # the market of the last sync
    bid, ask = book.bids[0].price, book.asks[0].price
    taken = {1: Decimal(0), -1: Decimal(0)}
    for parent in sorted(intents.values(), key=lambda o: (o.ts_ns, o.client_id)):
        mine = legs[parent.client_id]
        working = [o for o in mine if not o.status.is_final]
        if parent.client_id not in open_ids:
            assert working == [], parent.client_id
            continue
        sign = parent.side.sign
        left = parent.filled_qty - sum((o.filled_qty for o in mine), Decimal(0))
        need = max(Decimal(0), min(left, max(Decimal(0), sign * position - taken[sign])))
        taken[sign] += need
        if need == 0 or any(o.type is OrderType.MARKET for o in working):
            assert all(o.type is OrderType.MARKET for o in working), parent.client_id
            continue
        for kind, level in (("sl", parent.sl), ("tp", parent.tp)):
            these = [o for o in working if f"-{kind}" in o.client_id]
            if level is None:
                assert these == [], parent.client_id
                continue
            assert len(these) == 1, (parent.client_id, kind, these)
            [leg] = these
            assert leg.qty - leg.filled_qty == need, (parent.client_id, kind)
            assert (leg.stop if kind == "sl" else leg.price) == level, leg.client_id
        for leg in working:
            if leg.type is OrderType.STOP:  # a stop on the wrong side would have fired at once
                assert leg.stop is not None
                assert float(leg.stop) < bid if sign > 0 else float(leg.stop) > ask, leg
    fired = [o for o in local.values() if LEG.fullmatch(o.client_id) and o.filled_qty > 0]
    kinds = {LEG.fullmatch(o.client_id)[2] for o in fired}  # type: ignore[index]
    assert {"sl", "tp"} <= kinds, "stop-losses and take-profits should have executed"
    assert len(fired) > 10
    placed = [o.client_id for o in local.values() if LEG.fullmatch(o.client_id)]
    assert len(placed) > 50, "half of the intents carry a bracket"
    assert any(cid.endswith(".2") for cid in placed), "legs were resized or placed again"
    assert any("-x" in cid for cid in placed), "a crossed level closed a position at market"
