"""``qws run``: the store it opens (in a thread, while the screen's modules import) is the same
store, and a store that cannot be opened is the same one clear line, before anything is drawn."""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workstation.store.damaged import damage_table
from workstation.cli import CliError
from workstation.cli.run import _open_store_while_importing
from workstation.store import SCHEMA_VERSION, Store

QWS = str(Path(sys.executable).parent / "qws")


def _run(db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QWS, "--db", str(db), "run"], capture_output=True, text=True, timeout=120
    )


def _filled_store(db: Path) -> None:
    with Store(db) as store:
        store.watchlists.set(["BTC/USDT", "ETH/USDT"])


def test_the_store_opened_beside_the_imports_is_the_file_asked_for(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    _filled_store(db)
    store = _open_store_while_importing(argparse.Namespace(db=str(db)))
    try:
        assert store.path == db
        assert store.watchlists.get() == ["BTC/USDT", "ETH/USDT"]
        assert store.schema_version == SCHEMA_VERSION
    finally:
        store.close()
    assert "workstation.ui.app" in sys.modules


def test_a_damaged_store_is_refused_before_the_screen(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    _filled_store(db)
    damage_table(db, "settings")
    with pytest.raises(CliError, match=r"is damaged \(quick_check: .*restore a backup"):
        _open_store_while_importing(argparse.Namespace(db=str(db)))


def test_qws_run_on_a_damaged_store_is_one_clear_line_and_leaves_the_file(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    _filled_store(db)
    damage_table(db, "settings")
    damaged = db.read_bytes()
    out = _run(db)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith(f"qws: error: the store at {db} is damaged")
    assert "restore a backup or move it aside" in errors[0]
    assert db.read_bytes() == damaged


def test_qws_run_on_a_newer_schema_says_upgrade(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    _filled_store(db)
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    out = _run(db)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr, out.stderr
    assert f"schema version {SCHEMA_VERSION + 1} is newer than this qws" in out.stderr
    assert "upgrade qws" in out.stderr
