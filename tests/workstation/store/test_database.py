from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from tests.helpers import random_bars
from tests.workstation.store.damaged import damage_table
from workstation.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Store,
    StoreDamagedError,
    StoreError,
    database,
)


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


def test_reads_do_not_wait_for_a_write_held_by_another_thread(store: Store) -> None:
    store.candles.upsert(random_bars(10), "X", "1h", "import")
    held, read_done = threading.Event(), threading.Event()
    seen_while_held: list[bool] = []

    def writer() -> None:
        with store.transaction() as conn:
            conn.execute("DELETE FROM candles")
            held.set()
            seen_while_held.append(read_done.wait(timeout=60))

    thread = threading.Thread(target=writer)
    thread.start()
    assert held.wait(timeout=60)
    try:
        assert store.candles.last("X", "1h").height == 10  # the uncommitted delete is not seen
        assert store.settings.get("absent", "default") == "default"
    finally:
        read_done.set()
        thread.join(timeout=60)
    assert seen_while_held == [True]
    assert store.candles.last("X", "1h").is_empty()


HOLD_A_WRITE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("DELETE FROM candles")
print("held", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


def test_a_write_held_by_another_process_does_not_block_reads(db_path: Path) -> None:
    with Store(db_path) as s:
        s.candles.upsert(random_bars(10), "X", "1h", "import")
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_WRITE, str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
        with Store(db_path) as s:
            assert s.candles.last("X", "1h").height == 10
            with s.reading() as conn:
                assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
                assert int(conn.execute("PRAGMA busy_timeout").fetchone()[0]) >= 10_000
            assert int(s.conn.execute("PRAGMA busy_timeout").fetchone()[0]) >= 10_000
    finally:
        assert other.stdin is not None
        other.stdin.write("\n")
        other.stdin.close()
        assert other.wait(timeout=60) == 0


def test_a_damaged_file_is_refused_with_what_to_do(db_path: Path) -> None:
    with Store(db_path) as s:
        s.candles.upsert(random_bars(3000), "X", "1h", "import")
    damage_table(db_path, "candles")
    with pytest.raises(StoreDamagedError) as info:
        Store(db_path)
    message = str(info.value)
    assert str(db_path) in message and "damaged" in message
    assert "backup" in message and "qws doctor" in message


def test_damage_a_query_meets_is_a_store_error(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the size for a full check on open, damage shows when a query reaches it."""
    with Store(db_path) as s:
        s.candles.upsert(random_bars(3000), "X", "1h", "import")
    damage_table(db_path, "candles")
    monkeypatch.setattr(database, "FULL_CHECK_MAX_BYTES", 0)
    with Store(db_path) as s:
        with pytest.raises(StoreDamagedError, match="damaged"):
            s.candles.last("X", "1h")
        with pytest.raises(StoreDamagedError, match="damaged"):
            s.candles.upsert(random_bars(5), "X", "1h", "import")


def test_processes_opening_a_new_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    """The workstation and a CLI command started together on a fresh data folder: six
    processes open each of 30 fresh files at the same moment (SQLite refuses the switch to
    WAL at once, without waiting, to all but one of them; every opener must still get in)."""
    rounds = 30
    opener = (
        "import sys; from workstation.store import Store\n"
        "for line in sys.stdin:\n"
        "    s = Store(line.strip()); print(s.schema_version, flush=True); s.close()\n"
    )
    root = Path(__file__).parents[3]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", opener],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    versions: list[str] = []
    for k in range(rounds):
        path = tmp_path / f"fresh{k}.db"
        for p in procs:  # all told before any answers: they open together
            assert p.stdin is not None
            p.stdin.write(f"{path}\n")
            p.stdin.flush()
        for p in procs:
            assert p.stdout is not None
            versions.append(p.stdout.readline().strip())
            if not versions[-1]:
                break
        if not versions[-1]:
            break
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err for _, err in results]
    assert versions == [str(SCHEMA_VERSION)] * (6 * rounds)


def test_db_query_gives_rows_as_dicts_from_the_thread_s_connection(store: Store) -> None:
    with store.transaction() as conn:
        conn.execute("INSERT INTO settings (key, value) VALUES ('k', '\"v\"')")
        inside = list(store.db.query("SELECT key, value FROM settings WHERE key = ?", ["k"]))
    assert inside == [{"key": "k", "value": '"v"'}]  # the transaction's own write
    assert list(store.db.query("SELECT key FROM settings WHERE key = 'nope'")) == []


def test_opening_the_store_imports_neither_polars_nor_sqlite_utils(db_path: Path) -> None:
    code = (
        "import sys\n"
        "from workstation.store import Store\n"
        f"s = Store({str(db_path)!r})\n"
        "s.watchlists.get(); s.settings.get('app.theme'); s.instruments.get('X', 'v')\n"
        "heavy = ('polars', 'numpy', 'pandas', 'sqlite_utils')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
