"""Three processes on one paper account file (a workstation and two ``qws order``-style commands
that reopen it every few steps), each with its own feed of the same market, submitting,
cancelling and matching at once; then the whole account is checked against its fills."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.model import OrderStatus, Position
from engine.trading.portfolio import apply_fill
from plugins.brokers.paper import PaperLedger
from tests.plugins.brokers.paper.shared_account_worker import BTC, START

WORKER = Path(__file__).with_name("shared_account_worker.py")
OPS = 300
WORKERS = {"ws": 0, "cli1": 8, "cli2": 8}  # name -> reopen every N steps (0: never)


def run_workers(paper: Path, out: Path) -> dict[str, Any]:
    procs: dict[str, subprocess.Popen[str]] = {}
    for n, (name, reopen) in enumerate(WORKERS.items()):
        peers = ",".join(p for p in WORKERS if p != name)
        procs[name] = subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                str(paper),
                name,
                str(OPS),
                str(1000 + n),
                str(reopen),
                peers,
                str(out / f"{name}.json"),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    for proc in procs.values():  # all open, then all start at once
        assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
    for proc in procs.values():
        assert proc.stdin is not None
        proc.stdin.write("GO\n")
        proc.stdin.flush()
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{name} failed:\n{err}"
    return {name: json.loads((out / f"{name}.json").read_text()) for name in WORKERS}


def test_several_processes_on_one_account_fill_each_order_once(tmp_path: Path) -> None:
    paper = tmp_path / "paper.db"
    reports = run_workers(paper, tmp_path)

    ledger = PaperLedger(paper)
    try:
        orders = {cid: ledger.order(cid) for cid in ledger.client_ids()}
        fills = ledger.fills_since()
        balances = ledger.balances()
        positions = {p.symbol: p for p in ledger.positions()}
        assert ledger.integrity_check() == "ok"
    finally:
        ledger.close()

    duplicates = [fid for fid, n in Counter(f.fill_id for f in fills).items() if n > 1]
    assert duplicates == []
    assert {f.client_id for f in fills} <= set(orders)
    filled: defaultdict[str, Decimal] = defaultdict(Decimal)
    for f in fills:
        filled[f.client_id] += f.qty
    overfilled = [c for c, o in orders.items() if o is not None and filled[c] > o.qty]
    mismatched = [c for c, o in orders.items() if o is not None and filled[c] != o.filled_qty]
    late = []  # filled, or revived, after a process saw it cancelled
    for report in reports.values():
        for cid, at_cancel in report["cancelled"].items():
            o = orders[cid]
            q = Decimal(at_cancel)
            if o is None or (o.status, o.filled_qty, filled[cid]) != (OrderStatus.CANCELLED, q, q):
                late.append(cid)
    assert (len(overfilled), len(mismatched), len(late)) == (0, 0, 0), (
        f"{len(overfilled)} orders filled beyond their qty, {len(mismatched)} whose fills do"
        f" not sum to their filled qty, {len(late)} filled after they were cancelled"
    )

    # the account equals a replay of its fills from the starting balances
    cash = {k: Decimal(v) for k, v in START.items()}
    replayed: dict[str, Position] = {}
    for f in fills:
        replayed[f.symbol] = apply_fill(replayed.get(f.symbol), f, "paper", BTC)
        cash[BTC.quote_ccy] -= f.side.sign * f.qty * f.price + f.fee
    assert balances == cash
    assert positions == replayed

    # every order a process submitted or saw is in the file
    for name, report in reports.items():
        missing = [c for c in [*report["submitted"], *report["seen"]] if c not in orders]
        assert missing == [], name
    assert sum(len(r["submitted"]) for r in reports.values()) == len(orders)
