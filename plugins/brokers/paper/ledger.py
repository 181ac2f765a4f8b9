"""The paper account's own state file: a SQLite ledger of its orders, fills, positions and cash.

All SQL of the paper broker lives here (a plugin cannot use ``workstation.store``). The file is
opened in WAL mode with ``synchronous=FULL``, so a committed transaction survives a crash of the
process or the machine. One ``threading.RLock`` guards every use of the connection; the broker
shares it (``ledger.lock``) so that its matching state and the ledger move together.

Writes happen only inside :meth:`PaperLedger.transaction`. The ledger keeps the working orders
in memory, in arrival (time-priority) order; that cache follows a write only once its
transaction has committed, so a rolled-back fill never shows as working or done.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from engine.model import Fill, Order, Position
from plugins.brokers.paper.codec import (
    fill_from_json,
    fill_to_json,
    order_from_json,
    order_to_json,
    position_from_json,
    position_to_json,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
  seq INTEGER PRIMARY KEY, client_id TEXT NOT NULL UNIQUE, symbol TEXT NOT NULL,
  working INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_working ON orders (working, symbol);
CREATE TABLE IF NOT EXISTS fills (
  seq INTEGER PRIMARY KEY, fill_id TEXT NOT NULL UNIQUE, client_id TEXT NOT NULL,
  ts INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS balances (asset TEXT PRIMARY KEY, total TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (symbol TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class PaperLedger:
    """The state file at ``path``, created with its schema if new; positions read back carry
    ``venue``."""

    def __init__(self, path: str | Path, venue: str = "paper") -> None:
        self.path = Path(path)
        self.venue = venue
        self.lock = threading.RLock()
        self._conn = sqlite3.connect(
            str(self.path), check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        self._in_tx = False
        self._pending: list[Order] = []
        self._working: dict[str, Order] = {
            o.client_id: o
            for o in (
                order_from_json(r[0])
                for r in self._conn.execute(
                    "SELECT body FROM orders WHERE working = 1 ORDER BY seq"
                ).fetchall()
            )
        }

    # -- the file ----------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One FULL-synchronous write transaction; the working-order cache follows on commit."""
        with self.lock:
            self._pending = []
            self._conn.execute("BEGIN IMMEDIATE")
            self._in_tx = True
            try:
                yield
            except BaseException:
                self._in_tx = False
                self._conn.execute("ROLLBACK")
                raise
            self._in_tx = False
            self._conn.execute("COMMIT")
            for order in self._pending:
                if order.status.is_final:
                    self._working.pop(order.client_id, None)
                else:
                    self._working[order.client_id] = order

    def _writing(self) -> None:
        if not self._in_tx:
            raise RuntimeError("paper ledger: writes happen only inside transaction()")

    def seed_balances(self, starting: Mapping[str, Decimal]) -> None:
        """Credit the starting balances once in the file's life: never again on a reopen."""
        with self.transaction():
            seeded = self._conn.execute("SELECT value FROM meta WHERE key='seeded'").fetchone()
            if seeded is None:
                for asset, amount in starting.items():
                    self._conn.execute(
                        "INSERT INTO balances (asset, total) VALUES (?, ?)", (asset, str(amount))
                    )
                self._conn.execute("INSERT INTO meta (key, value) VALUES ('seeded', '1')")

    def integrity_check(self) -> str:
        with self.lock:
            return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    # -- orders ------------------------------------------------------------------------------
    def working_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders still working (of ``symbol``, or all), in arrival (time-priority) order."""
        with self.lock:
            return [o for o in self._working.values() if symbol is None or o.symbol == symbol]

    def order(self, client_id: str) -> Order | None:
        with self.lock:
            row = self._conn.execute(
                "SELECT body FROM orders WHERE client_id = ?", (client_id,)
            ).fetchone()
        return order_from_json(row[0]) if row else None

    def put_order(self, order: Order) -> None:
        """Insert ``order``, or replace the stored one with the same client id."""
        with self.lock:
            self._writing()
            self._conn.execute(
                "INSERT INTO orders (client_id, symbol, working, body) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (client_id) DO UPDATE SET working = excluded.working,"
                " body = excluded.body",
                (
                    order.client_id,
                    order.symbol,
                    int(not order.status.is_final),
                    order_to_json(order),
                ),
            )
            self._pending.append(order)

    def client_ids(self) -> set[str]:
        """Every client id the account has ever stored, final or working."""
        with self.lock:
            rows = self._conn.execute("SELECT client_id FROM orders").fetchall()
        return {r[0] for r in rows}

    # -- fills -------------------------------------------------------------------------------
    def fills_since(self, since_ns: int | None = None) -> list[Fill]:
        """Fills stamped at or after ``since_ns`` (all when None), in the order recorded."""
        with self.lock:
            rows = self._conn.execute(
                "SELECT body FROM fills WHERE ts >= ? ORDER BY seq", (since_ns or 0,)
            ).fetchall()
        return [fill_from_json(r[0]) for r in rows]

    def fill_count(self, client_id: str) -> int:
        with self.lock:
            row = self._conn.execute(
                "SELECT count(*) FROM fills WHERE client_id = ?", (client_id,)
            ).fetchone()
        return int(row[0])

    def add_fill(self, fill: Fill) -> None:
        """Record ``fill``; its fill id is unique, a second insert of it fails."""
        with self.lock:
            self._writing()
            self._conn.execute(
                "INSERT INTO fills (fill_id, client_id, ts, body) VALUES (?, ?, ?, ?)",
                (fill.fill_id, fill.client_id, fill.ts_ns, fill_to_json(fill)),
            )

    # -- positions ---------------------------------------------------------------------------
    def positions(self) -> list[Position]:
        """Every stored position, flat ones included, by symbol."""
        with self.lock:
            rows = self._conn.execute("SELECT body FROM positions ORDER BY symbol").fetchall()
        return [position_from_json(r[0], self.venue) for r in rows]

    def position(self, symbol: str) -> Position | None:
        with self.lock:
            row = self._conn.execute(
                "SELECT body FROM positions WHERE symbol = ?", (symbol,)
            ).fetchone()
        return position_from_json(row[0], self.venue) if row else None

    def put_position(self, position: Position) -> None:
        with self.lock:
            self._writing()
            self._conn.execute(
                "INSERT INTO positions (symbol, body) VALUES (?, ?) ON CONFLICT (symbol)"
                " DO UPDATE SET body = excluded.body",
                (position.symbol, position_to_json(position)),
            )

    # -- cash --------------------------------------------------------------------------------
    def balances(self) -> dict[str, Decimal]:
        """Cash per asset, by asset."""
        with self.lock:
            rows = self._conn.execute("SELECT asset, total FROM balances ORDER BY asset").fetchall()
        return {a: Decimal(t) for a, t in rows}

    def set_balance(self, asset: str, total: Decimal) -> None:
        with self.lock:
            self._writing()
            self._conn.execute(
                "INSERT INTO balances (asset, total) VALUES (?, ?) ON CONFLICT (asset)"
                " DO UPDATE SET total = excluded.total",
                (asset, str(total)),
            )
