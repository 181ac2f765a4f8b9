"""The SQLite file: the one connection to it, its pragmas, migrations and transactions.

WAL mode. Candle writes run with ``synchronous=NORMAL`` (a power cut may lose the last
batch, which the feed re-fetches); order state changes run inside :meth:`Store.durable`,
which switches to ``synchronous=FULL`` so an intent is on disk before a broker is called.
The schema is versioned with ``PRAGMA user_version`` and migrated forward on open.
The tables themselves are reached through the repositories the store exposes
(``store.candles``, ``store.orders``, ...).
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workstation.store.account import BalanceRepository, EquityRepository, PositionRepository
from workstation.store.alerts import AlertRepository
from workstation.store.audit import AuditRepository
from workstation.store.candles import CandleRepository
from workstation.store.errors import StoreError
from workstation.store.instruments import InstrumentRepository
from workstation.store.orders import FillRepository, OrderRepository
from workstation.store.preferences import SettingRepository, WatchlistRepository
from workstation.store.schema import MIGRATIONS, SCHEMA_VERSION
from workstation.store.signals import SignalRepository


def _import_sqlite_utils() -> Any:
    """sqlite_utils imports pandas (~0.5 s) only to map pandas dtypes, which this store never
    hands it (bulk data is polars); hiding pandas during that one import keeps ``qws`` start-up
    fast. A pandas already imported by someone else is used as usual."""
    import importlib

    if "pandas" in sys.modules:
        return importlib.import_module("sqlite_utils")
    sys.modules["pandas"] = None  # type: ignore[assignment]  # makes `import pandas` fail
    try:
        return importlib.import_module("sqlite_utils")
    finally:
        del sys.modules["pandas"]


sqlite_utils = _import_sqlite_utils()


class Store:
    """The SQLite file. One connection, serialised by a lock so thread workers can share it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self.db: Any = sqlite_utils.Database(conn)
        self.conn = conn
        self._lock = threading.RLock()
        self._depth = 0
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        self.migrate()
        self.instruments = InstrumentRepository(self)
        self.candles = CandleRepository(self)
        self.signals = SignalRepository(self)
        self.orders = OrderRepository(self)
        self.fills = FillRepository(self)
        self.positions = PositionRepository(self)
        self.balances = BalanceRepository(self)
        self.equity = EquityRepository(self)
        self.alerts = AlertRepository(self)
        self.watchlists = WatchlistRepository(self)
        self.settings = SettingRepository(self)
        self.audit = AuditRepository(self)

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self, target: int = SCHEMA_VERSION) -> None:
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {current} is newer than this qws ({SCHEMA_VERSION});"
                " upgrade qws"
            )
        for version in range(current, target):
            with self.transaction():
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version={version + 1}")

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for reads, held against other threads; no transaction is opened
        (autocommit reads see what is committed, or the open transaction's own writes)."""
        with self._lock:
            yield self.conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit; nested uses join the outer transaction."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
            finally:
                self._depth = 0

    @contextmanager
    def durable(self) -> Iterator[sqlite3.Connection]:
        """A transaction committed with ``synchronous=FULL`` (order state, balances)."""
        with self._lock:
            outer = self._depth > 0
            if not outer:
                self.conn.execute("PRAGMA synchronous=FULL")
            try:
                with self.transaction() as conn:
                    yield conn
            finally:
                if not outer:
                    self.conn.execute("PRAGMA synchronous=NORMAL")

    def integrity_check(self) -> str:
        with self._lock:
            return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])
