"""The ledger's fills read again and again (the order manager after every order): what another
connection commits is seen, a rolled-back fill never is, and the cursor lists only new ones."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from engine.model import Fill, Side
from plugins.brokers.paper.ledger import PaperLedger


def fill(n: int, ts: int) -> Fill:
    return Fill("c", "BTC/USDT", Side.BUY, D("0.5"), D("90.25"), D("0.045"), ts, f"c-{n}", "USDT")


def test_fills_since_sees_every_connection_and_never_a_rollback(tmp_path: Path) -> None:
    ledger, other = PaperLedger(tmp_path / "paper.db"), PaperLedger(tmp_path / "paper.db")
    with ledger.transaction():
        ledger.add_fill(fill(1, 100))
    assert [f.fill_id for f in ledger.fills_since(50)] == ["c-1"]
    with other.transaction():
        other.add_fill(fill(2, 10))  # stamped early: ts order is not seq order
        other.add_fill(fill(3, 200))
    assert [f.fill_id for f in ledger.fills_since(50)] == ["c-1", "c-3"]
    assert [f.fill_id for f in ledger.fills_since(5)] == ["c-1", "c-2", "c-3"]
    assert [f.fill_id for f in ledger.fills_since(150)] == ["c-3"]
    with pytest.raises(RuntimeError), ledger.transaction():
        ledger.add_fill(fill(4, 300))
        assert [f.fill_id for f in ledger.fills_since(250)] == ["c-4"]  # its own, uncommitted
        raise RuntimeError("rolled back")
    assert ledger.fills_since(250) == []
    assert [f.fill_id for f in ledger.fills_since()] == ["c-1", "c-2", "c-3"]
    ledger.close()
    other.close()


def test_the_cursor_lists_the_fills_committed_after_it_in_commit_order(tmp_path: Path) -> None:
    ledger, other = PaperLedger(tmp_path / "paper.db"), PaperLedger(tmp_path / "paper.db")
    start = ledger.fill_cursor()
    assert ledger.fills_after(start) == ([], start)
    with other.transaction():
        other.add_fill(fill(1, 500))
    with ledger.transaction():
        ledger.add_fill(fill(2, 1))  # an earlier stamp, committed later
    got, cursor = ledger.fills_after(start)
    assert [f.fill_id for f in got] == ["c-1", "c-2"]
    assert ledger.fills_after(cursor) == ([], cursor)
    assert cursor == other.fill_cursor()
    ledger.close()
    other.close()
