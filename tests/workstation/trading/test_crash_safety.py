"""SIGKILL the order flow at random points, restart it, and check nothing was lost or doubled.

The files live on tmpfs when there is one: SIGKILL keeps the OS page cache, so fsync plays no
part in what this test checks (process death at any instruction) and tmpfs keeps it fast.
"""

from __future__ import annotations

import asyncio
import os
import random
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

from engine.model import OrderStatus, Position
from engine.trading.portfolio import apply_fill
from plugins.brokers.paper import PaperBroker
from workstation.store import Store
from workstation.trading.oms import OrderManager

WORKER = Path(__file__).with_name("crash_worker.py")
SEED = 20261127
KILLS = 10
INTENTS = 200


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        d = Path(tempfile.mkdtemp(dir=shm, prefix="qws-crash-"))
        yield d
        shutil.rmtree(d, ignore_errors=True)
    else:
        yield tmp_path


def run_worker(db: Path, paper: Path, kill_after: float | None, from_start: bool) -> list[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(db), str(paper), str(INTENTS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    timer = None
    if kill_after is not None and from_start:
        timer = threading.Timer(kill_after, proc.send_signal, (signal.SIGKILL,))
        timer.start()
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.strip())
        if line.startswith("READY") and kill_after is not None and not from_start:
            timer = threading.Timer(kill_after, proc.send_signal, (signal.SIGKILL,))
            timer.start()
    proc.wait(timeout=60)
    if timer is not None:
        timer.cancel()
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"worker failed ({proc.returncode}):\n{err}")
    if kill_after is None:
        assert lines and lines[-1] == "DONE", err
    return lines


def test_sigkill_at_random_points_loses_and_duplicates_nothing(workdir: Path) -> None:
    rng = random.Random(SEED)
    db, paper = workdir / "qws.db", workdir / "qws.paper.db"
    acked: dict[str, str] = {}
    killed = 0
    for n in range(KILLS):
        from_start = n % 4 == 3
        delay = rng.uniform(0.2, 1.0) if from_start else rng.uniform(0.0, 0.8)
        lines = run_worker(db, paper, delay, from_start)
        killed += "DONE" not in lines
        for line in lines:
            if line.startswith("ACK "):
                _, cid, status = line.split()
                acked[cid] = status
    lines = run_worker(db, paper, None, False)
    for line in lines:
        if line.startswith("ACK "):
            _, cid, status = line.split()
            acked[cid] = status
    assert killed >= KILLS - 2, "the kills should land before the flow completes"
    asyncio.run(_verify(db, paper, acked))


async def _verify(db: Path, paper_db: Path, acked: dict[str, str]) -> None:
    from tests.workstation.trading.crash_worker import BTC

    store = Store(db)
    broker = PaperBroker(paper_db, {"BTC/USDT": BTC})
    try:
        oms = OrderManager(store, broker, {"BTC/USDT": BTC}.__getitem__, marks=lambda s: 100.0)
        await oms.reconcile()
        assert store.integrity_check() == "ok" and broker.integrity_check() == "ok"
        local = {o.client_id: o for o in store.orders.find(limit=100_000)}
        # every intent was placed exactly once, under its own client id
        assert set(local) == {f"c{i:04d}" for i in range(INTENTS)}
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
        assert all(o.status is OrderStatus.REJECTED for o in never_sent)
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
