from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from workstation.store import MIGRATIONS, SCHEMA_VERSION, Store, StoreError


def test_new_file_gets_the_whole_schema(db_path: Path) -> None:
    with Store(db_path) as s:
        assert s.schema_version == SCHEMA_VERSION
        tables = {r[0] for r in s.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"candles", "orders", "fills", "alerts", "audit_log", "balances"} <= tables
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrates_from_the_previous_version_keeping_data(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("PRAGMA user_version=1")
    conn.execute("INSERT INTO candles VALUES ('import', 'X', '1h', 1, 1.0, 2.0, 0.5, 1.5, 10.0)")
    conn.commit()
    conn.close()
    with Store(db_path) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.candles.last("X", "1h")["close"].to_list() == [1.5]
        s.balances.set("paper", "USDT", Decimal("10000.5"))
        assert s.balances.get("paper") == {"USDT": Decimal("10000.5")}


def test_refuses_a_newer_schema(db_path: Path) -> None:
    Store(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(db_path)
