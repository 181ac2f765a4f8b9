"""The SQLite file: its connections, pragmas, integrity, migrations and transactions.

WAL mode, so readers never wait for a writer: writes go through one connection, serialised
by a first-come-first-served lock, and each reading thread has a read-only connection of its
own (a read inside a thread's open transaction uses that transaction, and sees its writes).
Candle writes run with ``synchronous=NORMAL`` (a power cut may lose the last batch, which
the feed re-fetches); order state changes run inside :meth:`Store.durable`, which switches
to ``synchronous=FULL`` so an intent is on disk before a broker is called. The schema is
versioned with ``PRAGMA user_version`` and migrated forward on open.

A damaged file is refused on open (``PRAGMA quick_check``: the whole file up to
:data:`FULL_CHECK_MAX_BYTES`, every table but the candles above it) and damage a later
query meets is raised as :class:`StoreDamagedError`, never as a raw sqlite3 error. The tables
themselves are reached through the repositories the store exposes (``store.candles``, ...).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from workstation.store.account import BalanceRepository, EquityRepository, PositionRepository
from workstation.store.alerts import AlertRepository
from workstation.store.algos import AlgoRepository
from workstation.store.audit import AuditRepository
from workstation.store.candles import CandleRepository
from workstation.store.errors import StoreDamagedError, StoreError
from workstation.store.instruments import InstrumentRepository
from workstation.store.models import ModelRepository
from workstation.store.news import NewsRepository
from workstation.store.orders import FillRepository, OrderRepository
from workstation.store.preferences import SettingRepository, WatchlistRepository
from workstation.store.schema import MIGRATIONS, SCHEMA_VERSION
from workstation.store.signals import SignalRepository


class Rows:
    """Rows as dicts keyed by column name, over one connection: ``query`` is the one piece of
    sqlite-utils the store used, and sqlite-utils cost ``qws`` start-up ~0.2 s of imports
    (numpy among them)."""

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def query(self, sql: str, params: Sequence[Any] | None = None) -> Iterator[dict[str, Any]]:
        cursor = self.conn.execute(sql, tuple(params or ()))
        keys = [d[0] for d in cursor.description]
        for row in cursor:
            yield dict(zip(keys, row, strict=True))


BUSY_TIMEOUT_S = 30.0
# quick_check reads every page: about 3.5 ms per MB with a warm cache (benchmarks/
# store_import.py). Up to this size the whole file is checked on open (about 0.1 s); above it,
# every table but the candles (the bulk of a big file, whose damage shows on the query that
# meets it).
FULL_CHECK_MAX_BYTES = 32 * 1024 * 1024
_BULK_TABLES = ("candles", "import_rows")


def _is_damage(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _connect(path: str | Path) -> sqlite3.Connection:
    return sqlite3.connect(
        str(path), check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S
    )


def _enter_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL. On a fresh file opened by several processes at once, SQLite
    answers "database is locked" at once to all but one of them (it does not wait on the busy
    timeout there, to avoid a deadlock), so the switch is retried until the timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.002
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", 0) & 0xFF in (
                sqlite3.SQLITE_BUSY,
                sqlite3.SQLITE_LOCKED,
            )
            if not busy or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _first_problem(conn: sqlite3.Connection, size: int) -> str | None:
    """The first thing ``PRAGMA quick_check`` finds wrong, or None."""
    if size <= FULL_CHECK_MAX_BYTES:
        checks = ["PRAGMA quick_check(1)"]
    else:
        tables = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        checks = [f"PRAGMA quick_check('{name}')" for (name,) in tables if name not in _BULK_TABLES]
    for check in checks:
        result = str(conn.execute(check).fetchone()[0])
        if result != "ok":
            return result
    return None


def check_file(path: str | Path, what: str = "store") -> None:
    """Raise :class:`StoreDamagedError` if the SQLite file at ``path`` (when it exists) is
    damaged. For files other owners keep (the paper account's ledger)."""
    path = Path(path)
    if not path.exists():
        return
    conn = _connect(path)
    try:
        problem = _first_problem(conn, path.stat().st_size)
    except sqlite3.DatabaseError as exc:
        if not _is_damage(exc):
            raise
        problem = str(exc)
    finally:
        conn.close()
    if problem is not None:
        raise StoreDamagedError(path, problem, what)


class _TurnLock:
    """A re-entrant lock served in arrival order: a writer waiting for its turn (an order)
    gets it before a long job (an import between chunks) takes it again."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._next = 0
        self._serving = 0

    def owned(self) -> bool:
        return self._owner == threading.get_ident()

    def __enter__(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            ticket = self._next
            self._next += 1
            while self._owner is not None or self._serving != ticket:
                self._cond.wait()
            self._owner, self._depth = me, 1
            self._serving += 1

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()


@dataclass(slots=True)
class _Reader:
    conn: sqlite3.Connection
    db: Rows
    depth: int = 0


class Store:
    """The SQLite file: one write connection shared by threads, one read connection per
    reading thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._memory = str(path) == ":memory:"
        if not self._memory:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(path)
        self.conn = conn
        self._writer_db = Rows(conn)
        self._lock = _TurnLock()
        self._depth = 0
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        try:
            with self._damage_as_error():
                _enter_wal(conn)
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
                if not self._memory:
                    problem = _first_problem(conn, self.path.stat().st_size)
                    if problem is not None:
                        raise StoreDamagedError(self.path, problem)
            self.migrate()
            self.instruments = InstrumentRepository(self)
            self.candles = CandleRepository(self)
            self.signals = SignalRepository(self)
            self.models = ModelRepository(self)
            self.orders = OrderRepository(self)
            self.fills = FillRepository(self)
            self.positions = PositionRepository(self)
            self.balances = BalanceRepository(self)
            self.equity = EquityRepository(self)
            self.alerts = AlertRepository(self)
            self.watchlists = WatchlistRepository(self)
            self.settings = SettingRepository(self)
            self.audit = AuditRepository(self)
            self.news = NewsRepository(self)
            self.algos = AlgoRepository(self)
            self.candles.recover_imports()
        except BaseException:
            conn.close()
            raise

    @property
    def db(self) -> Rows:
        """Rows as dicts from the connection this thread is using now."""
        reader: _Reader | None = getattr(self._local, "reader", None)
        if reader is not None and reader.depth and not self._lock.owned():
            return reader.db
        return self._writer_db

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
                # another process opening the same file may have run this step meanwhile:
                # the version is read again under the write lock
                if self.schema_version > version:
                    continue
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version={version + 1}")

    def close(self) -> None:
        with self._lock:
            self.conn.close()
        with self._readers_lock:
            for reader in self._readers:
                reader.close()
            self._readers.clear()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _damaged(self, exc: BaseException) -> NoReturn:
        raise StoreDamagedError(self.path, str(exc)) from exc

    @contextmanager
    def _damage_as_error(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if _is_damage(exc):
                self._damaged(exc)
            raise

    def _reader(self) -> _Reader:
        reader: _Reader | None = getattr(self._local, "reader", None)
        if reader is None:
            conn = _connect(self.path)
            conn.execute("PRAGMA query_only=ON")
            reader = _Reader(conn, Rows(conn))
            with self._readers_lock:
                self._readers.append(conn)
            self._local.reader = reader
        return reader

    def _raise_if_damage(self, exc: BaseException | None) -> None:
        if exc is not None and isinstance(exc, sqlite3.DatabaseError) and _is_damage(exc):
            self._damaged(exc)

    def reading(self) -> _Reading:
        """A connection for reads that never waits for a writer: this thread's read
        connection, in one read transaction (one snapshot of what is committed); inside this
        thread's own open transaction, that transaction (which sees its own writes)."""
        return _Reading(self)

    def stamp(self) -> tuple[int, int, int] | None:
        """A mark that moves whenever what this thread reads may have changed, for caching a
        small read: another connection's commit moves the reader's ``PRAGMA data_version``
        (this process's writer, another process), and a write of this process's writer moves
        its ``total_changes`` first. None where nothing may be cached: in an open transaction
        of this thread (its writes may still roll back), inside a read snapshot, or in a
        ``:memory:`` store."""
        if self._memory or self._lock.owned():
            return None
        reader = self._reader()
        if reader.depth:
            return None
        try:
            version = int(reader.conn.execute("PRAGMA data_version").fetchone()[0])
        except BaseException as exc:
            self._raise_if_damage(exc)
            raise
        return id(reader.conn), version, self.conn.total_changes

    def transaction(self) -> _Transaction:
        """One atomic unit (it takes the write lock: reads use :meth:`reading`); nested uses
        join the outer transaction."""
        return _Transaction(self)

    def durable(self) -> _Durable:
        """A transaction committed with ``synchronous=FULL`` (order state, balances)."""
        return _Durable(self)

    def integrity_check(self) -> str:
        with self._lock:
            return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])


class _Transaction:
    """:meth:`Store.transaction`. A class rather than a generator: an order's dozen writes
    each open one, nested in the transaction around them, and a nested one costs only the
    lock's re-entry."""

    __slots__ = ("_outer", "_store")

    def __init__(self, store: Store) -> None:
        self._store = store
        self._outer = False

    def __enter__(self) -> sqlite3.Connection:
        store = self._store
        store._lock.__enter__()
        if store._depth:
            store._depth += 1
            return store.conn
        try:
            store.conn.execute("BEGIN IMMEDIATE")
        except BaseException as exc:
            store._lock.__exit__()
            store._raise_if_damage(exc)
            raise
        store._depth = 1
        self._outer = True
        return store.conn

    def __exit__(self, _type: object, exc: BaseException | None, _tb: object) -> None:
        store = self._store
        try:
            if not self._outer:
                store._depth -= 1
                return
            try:
                if exc is None:
                    store.conn.execute("COMMIT")
                elif store.conn.in_transaction:
                    store.conn.execute("ROLLBACK")
            except sqlite3.DatabaseError as failed:
                if store.conn.in_transaction:
                    store.conn.execute("ROLLBACK")
                store._raise_if_damage(failed)
                raise
            finally:
                store._depth = 0
            store._raise_if_damage(exc)
        finally:
            store._lock.__exit__()


class _Durable:
    """:meth:`Store.durable`: the outermost one switches the writer to ``synchronous=FULL``
    for its commit and back to ``NORMAL`` after it."""

    __slots__ = ("_outer", "_store", "_tx")

    def __init__(self, store: Store) -> None:
        self._store = store
        self._outer = False
        self._tx = _Transaction(store)

    def __enter__(self) -> sqlite3.Connection:
        store = self._store
        store._lock.__enter__()
        try:
            self._outer = store._depth == 0
            if self._outer:
                store.conn.execute("PRAGMA synchronous=FULL")
            return self._tx.__enter__()
        except BaseException:
            if self._outer:
                store.conn.execute("PRAGMA synchronous=NORMAL")
            store._lock.__exit__()
            raise

    def __exit__(self, _type: object, exc: BaseException | None, tb: object) -> None:
        store = self._store
        try:
            self._tx.__exit__(_type, exc, tb)
        finally:
            try:
                if self._outer:
                    store.conn.execute("PRAGMA synchronous=NORMAL")
            finally:
                store._lock.__exit__()


class _Reading:
    """:meth:`Store.reading`, a class for the same reason as :class:`_Transaction`."""

    __slots__ = ("_mode", "_reader", "_store")

    _IN_WRITER, _NESTED, _OUTER = 0, 1, 2

    def __init__(self, store: Store) -> None:
        self._store = store
        self._reader: _Reader | None = None
        self._mode = self._OUTER

    def __enter__(self) -> sqlite3.Connection:
        store = self._store
        if store._memory or store._lock.owned():
            store._lock.__enter__()
            self._mode = self._IN_WRITER
            return store.conn
        reader = self._reader = store._reader()
        if reader.depth:
            reader.depth += 1
            self._mode = self._NESTED
            return reader.conn
        try:
            reader.conn.execute("BEGIN")
        except BaseException as exc:
            store._raise_if_damage(exc)
            raise
        reader.depth = 1
        return reader.conn

    def __exit__(self, _type: object, exc: BaseException | None, _tb: object) -> None:
        store = self._store
        if self._mode == self._IN_WRITER:
            store._lock.__exit__()
            store._raise_if_damage(exc)
            return
        reader = self._reader
        assert reader is not None
        if self._mode == self._NESTED:
            reader.depth -= 1
            return
        reader.depth = 0
        try:
            reader.conn.execute("COMMIT")
        except sqlite3.DatabaseError as failed:
            store._raise_if_damage(failed)
            raise
        store._raise_if_damage(exc)
