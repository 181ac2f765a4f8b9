from __future__ import annotations

import os
from decimal import Decimal as D
from pathlib import Path

import pytest

from engine.model import Fill, Order, OrderStatus, OrderType, Position, Side
from engine.protocols import BrokerUnavailable
from plugins.brokers.paper.ledger import LedgerDamaged, PaperLedger


def order(cid: str, status: OrderStatus, symbol: str = "BTC/USDT") -> Order:
    return Order(cid, symbol, Side.BUY, OrderType.LIMIT, D("1.5"), D("90.25"), status=status)


def fill(cid: str, n: int, ts: int) -> Fill:
    return Fill(
        cid, "BTC/USDT", Side.BUY, D("0.5"), D("90.25"), D("0.045"), ts, f"{cid}-{n}", "USDT"
    )


def test_the_ledger_keeps_its_rows_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "paper.db"
    ledger = PaperLedger(path)
    ledger.seed_balances({"USDT": D("1000.50")})
    with ledger.transaction():
        ledger.put_order(order("w1", OrderStatus.OPEN))
        ledger.put_order(order("w2", OrderStatus.PARTIALLY_FILLED, "ETH/USDT"))
        ledger.put_order(order("done", OrderStatus.FILLED))
        ledger.add_fill(fill("done", 1, 10))
        ledger.add_fill(fill("done", 2, 20))
        ledger.put_position(Position("BTC/USDT", D("1.0"), D("90.25"), "paper", D(0), D("0.09")))
        ledger.set_balance("USDT", D("910.16"))
    ledger.close()

    again = PaperLedger(path)
    again.seed_balances({"USDT": D("1000.50")})  # seeded once in the file's life, not per open
    assert again.balances() == {"USDT": D("910.16")}
    assert [o.client_id for o in again.working_orders()] == ["w1", "w2"]  # arrival order
    assert [o.client_id for o in again.working_orders("ETH/USDT")] == ["w2"]
    assert again.order("done") == order("done", OrderStatus.FILLED)
    assert again.order("nope") is None
    assert again.client_ids() == {"w1", "w2", "done"}
    assert [f.fill_id for f in again.fills_since()] == ["done-1", "done-2"]
    assert [f.fill_id for f in again.fills_since(15)] == ["done-2"]
    assert again.fill_count("done") == 2 and again.fill_count("w1") == 0
    assert again.positions() == [
        Position("BTC/USDT", D("1.0"), D("90.25"), "paper", D(0), D("0.09"))
    ]
    assert again.position("ETH/USDT") is None
    assert again.integrity_check() == "ok"
    again.close()


def test_working_orders_are_what_the_file_holds_for_every_connection(tmp_path: Path) -> None:
    ledger, other = PaperLedger(tmp_path / "paper.db"), PaperLedger(tmp_path / "paper.db")
    assert other.working_orders() == []
    with ledger.transaction():
        ledger.put_order(order("a", OrderStatus.OPEN))
        assert [o.client_id for o in ledger.working_orders()] == ["a"]  # its own write
        assert other.working_orders() == []  # not committed yet
    assert [o.client_id for o in other.working_orders()] == ["a"]
    with other.transaction():
        other.put_order(order("a", OrderStatus.CANCELLED))
    assert ledger.working_orders() == []
    cancelled = ledger.order("a")
    assert cancelled is not None and cancelled.status is OrderStatus.CANCELLED
    ledger.close()
    other.close()


def test_a_nested_transaction_joins_the_open_one(tmp_path: Path) -> None:
    ledger = PaperLedger(tmp_path / "paper.db")
    with pytest.raises(RuntimeError, match="boom"), ledger.transaction():
        with ledger.transaction():
            ledger.put_order(order("a", OrderStatus.OPEN))
        assert ledger.in_transaction
        raise RuntimeError("boom")  # the inner block's write goes with the outer one
    assert ledger.order("a") is None and ledger.working_orders() == []
    ledger.close()


def test_a_write_lock_held_elsewhere_past_the_timeout_is_busy_not_a_raw_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "paper.db"
    ledger = PaperLedger(path, lock_timeout_s=0.1)
    holder = PaperLedger(path)
    with holder.transaction():
        holder.put_order(order("h", OrderStatus.OPEN))
        with pytest.raises(BrokerUnavailable, match="busy"), ledger.transaction():
            ledger.put_order(order("a", OrderStatus.OPEN))
        assert not ledger.in_transaction
    assert ledger.order("a") is None and [o.client_id for o in ledger.working_orders()] == ["h"]
    with ledger.transaction():  # usable again once the lock is free
        ledger.put_order(order("a", OrderStatus.OPEN))
    assert ledger.client_ids() == {"h", "a"}
    ledger.close()
    holder.close()


def test_a_damaged_file_is_a_clear_error_on_open(tmp_path: Path) -> None:
    path = tmp_path / "paper.db"
    ledger = PaperLedger(path)
    ledger.seed_balances({"USDT": D(1)})
    ledger.close()
    for name in ("paper.db-wal", "paper.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    data = bytearray(path.read_bytes())
    data[:16] = b"garbage garbage!"  # the SQLite header
    path.write_bytes(bytes(data))
    with pytest.raises(LedgerDamaged, match="not a paper account file or is damaged"):
        PaperLedger(path)


def test_a_rolled_back_transaction_leaves_neither_rows_nor_cache(tmp_path: Path) -> None:
    ledger = PaperLedger(tmp_path / "paper.db")
    ledger.seed_balances({"USDT": D(100)})
    with pytest.raises(RuntimeError, match="boom"), ledger.transaction():
        ledger.put_order(order("a", OrderStatus.OPEN))
        ledger.add_fill(fill("a", 1, 1))
        ledger.set_balance("USDT", D(0))
        raise RuntimeError("boom")
    assert ledger.working_orders() == [] and ledger.order("a") is None
    assert ledger.fills_since() == [] and ledger.balances() == {"USDT": D(100)}
    ledger.close()


def test_writes_outside_a_transaction_are_refused(tmp_path: Path) -> None:
    ledger = PaperLedger(tmp_path / "paper.db")
    with pytest.raises(RuntimeError, match="inside transaction"):
        ledger.put_order(order("a", OrderStatus.OPEN))
    with pytest.raises(RuntimeError, match="inside transaction"):
        ledger.set_balance("USDT", D(1))
    assert ledger.order("a") is None and ledger.balances() == {}
    ledger.close()


def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "paper.db"
    ledger = PaperLedger(path)
    with ledger.transaction():
        ledger.set_balance("USDT", D(1))
    assert os.path.exists(f"{path}-wal")
    ledger.close()


def test_a_transaction_reads_cash_and_positions_once_and_then_its_own_writes(
    tmp_path: Path,
) -> None:
    """Under the write lock no one else writes: what a step read stays true but for its own
    writes, so it is read once; what it holds is what a fresh read finds after the commit."""
    path = tmp_path / "paper.db"
    ledger = PaperLedger(path)
    ledger.seed_balances({"USDT": D("100.50"), "EUR": D(7)})
    btc = Position("BTC/USDT", D("0.50"), D("90.25"), "paper", D("-1.5"), D("0.045"))
    with ledger.transaction():
        ledger.put_position(btc)
    selects: list[str] = []
    ledger._conn.set_trace_callback(lambda s: selects.append(s) if "SELECT" in s else None)
    with ledger.transaction():
        assert ledger.balances() == ledger.balances() == {"EUR": D(7), "USDT": D("100.50")}
        assert ledger.positions() == ledger.positions() == [btc]
        assert ledger.position("BTC/USDT") == btc and ledger.position("ETH/USDT") is None
        ledger.set_balance("USDT", D("50.25"))
        eth = Position("ETH/USDT", D(-2), D(10), "elsewhere")
        ledger.put_position(eth)
        held = (ledger.balances(), ledger.positions(), ledger.position("ETH/USDT"))
    ledger._conn.set_trace_callback(None)
    assert len([s for s in selects if "FROM balances" in s]) == 1
    assert len([s for s in selects if "FROM positions" in s]) == 1
    assert held[0] == {"EUR": D(7), "USDT": D("50.25")}
    assert held[2] == Position("ETH/USDT", D(-2), D(10), "paper")
    fresh = (ledger.balances(), ledger.positions(), ledger.position("ETH/USDT"))
    assert fresh == held and [str(v) for v in fresh[0].values()] == ["7", "50.25"]
    # another connection's commit between two steps is read by the next one
    other = PaperLedger(path)
    with other.transaction():
        other.set_balance("EUR", D(1))
    with ledger.transaction():
        assert ledger.balances()["EUR"] == D(1)
    other.close()
    ledger.close()


def test_a_rolled_back_step_leaves_nothing_held_for_the_next(tmp_path: Path) -> None:
    ledger = PaperLedger(tmp_path / "paper.db")
    ledger.seed_balances({"USDT": D(100)})
    with pytest.raises(RuntimeError, match="boom"), ledger.transaction():
        assert ledger.balances() == {"USDT": D(100)} and ledger.positions() == []
        ledger.set_balance("USDT", D(0))
        ledger.put_position(Position("BTC/USDT", D(1), D(90), "paper"))
        raise RuntimeError("boom")
    with ledger.transaction():
        assert ledger.balances() == {"USDT": D(100)}
        assert ledger.positions() == [] and ledger.position("BTC/USDT") is None
    ledger.close()
