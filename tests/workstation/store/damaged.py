"""Page damage on a real SQLite file: garbage written over the pages that hold a table."""

from __future__ import annotations

import sqlite3
from pathlib import Path

PAGE_GARBAGE = bytes(range(256)) * 16


def damage_table(path: Path, table: str) -> None:
    """Overwrite the root page of ``table`` with garbage. The file must be closed by every
    connection (so the WAL is checkpointed into it)."""
    conn = sqlite3.connect(path)
    try:
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        root = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    assert root is not None, f"no table {table} in {path}"
    garbage = (PAGE_GARBAGE * (page_size // len(PAGE_GARBAGE) + 1))[:page_size]
    with path.open("r+b") as f:
        f.seek((root[0] - 1) * page_size)
        f.write(garbage)
