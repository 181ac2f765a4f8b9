"""The paper account's own state file: a SQLite ledger of its orders, fills, positions and cash.

All SQL of the paper broker lives here (a plugin cannot use ``workstation.store``). The file is
opened in WAL mode with ``synchronous=FULL``, so a committed transaction survives a crash of the
process or the machine.

Several processes may use one account at once (the workstation and a ``qws order`` command):
the file is the only state. Writes happen only inside :meth:`PaperLedger.transaction`, a
``BEGIN IMMEDIATE`` transaction that holds the file's write lock from its first read to its
commit, so whatever a caller reads inside it (working orders, filled quantities, positions,
cash) is what it writes against; a process killed at any instruction leaves a transaction
either committed or not there at all. Reads outside a transaction see the latest commit of any
process. The working orders are kept decoded and indexed by trigger (``resting.py``) while
``PRAGMA data_version`` says no other connection has committed: this connection's own writes are
applied to them as they are made, and a rollback drops them, so a tick that moves none of them
reads one pragma and no order.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from engine.model import Fill, Order, Position
from engine.protocols import BrokerError, BrokerUnavailable
from plugins.brokers.paper.codec import (
    fill_from_json,
    fill_to_json,
    order_from_json,
    order_to_json,
    position_from_json,
    position_to_json,
)
from plugins.brokers.paper.resting import RestingOrders

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
CREATE INDEX IF NOT EXISTS fills_ts ON fills (ts);
CREATE TABLE IF NOT EXISTS balances (asset TEXT PRIMARY KEY, total TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (symbol TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS taken (
  event TEXT NOT NULL, level INTEGER NOT NULL, ts INTEGER NOT NULL, qty TEXT NOT NULL,
  PRIMARY KEY (event, level)
);
CREATE INDEX IF NOT EXISTS taken_ts ON taken (ts);
"""

# what a paper account file has; a file whose tables lack these columns is another file
_SHAPE = {
    "orders": "seq, client_id, symbol, working, body",
    "fills": "seq, fill_id, client_id, ts, body",
    "balances": "asset, total",
    "positions": "symbol, body",
    "meta": "key, value",
    "taken": "event, level, ts, qty",
}


class LedgerDamaged(BrokerError):
    """The state file cannot be read as a paper account (damaged, or another kind of file)."""


class LedgerBusy(BrokerUnavailable):
    """Another process held the account file's write lock for longer than the lock timeout;
    nothing was written."""


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class PaperLedger:
    """The state file at ``path``, created with its schema if new; positions read back carry
    ``venue``. A write waits up to ``lock_timeout_s`` for another process's transaction."""

    def __init__(
        self, path: str | Path, venue: str = "paper", lock_timeout_s: float = 30.0
    ) -> None:
        self.path = Path(path)
        self.venue = venue
        self.lock_timeout_s = lock_timeout_s
        self.lock = threading.RLock()
        self._conn = sqlite3.connect(
            str(self.path), check_same_thread=False, isolation_level=None, timeout=lock_timeout_s
        )
        self._depth = 0
        # the working orders as of ``data_version`` (plus this connection's writes since)
        self._resting: tuple[int, RestingOrders] | None = None
        # committed fills decoded: (seq, ts, fill) in seq order; every fill with ts >=
        # ``_fills_from`` and seq <= the last one here is among them (rows are only added)
        self._fills: list[tuple[int, int, Fill]] = []
        self._fills_from: int | None = None
        # inside a transaction (which holds the write lock: no one else writes meanwhile), the
        # cash and the positions as read once and then written by it; dropped when it ends
        self._cash: dict[str, Decimal] | None = None
        self._held: dict[str, Position | None] = {}
        self._held_all = False
        try:
            self._open()
        except BaseException:
            self._conn.close()
            raise

    def _open(self) -> None:
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
            for table, columns in _SHAPE.items():
                self._conn.execute(f"SELECT {columns} FROM {table} LIMIT 0")
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise self._busy() from None
            raise self._damaged(exc) from None
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None

    def _damaged(self, exc: sqlite3.DatabaseError) -> LedgerDamaged:
        return LedgerDamaged(
            f"paper: {self.path} is not a paper account file or is damaged ({exc}); move it"
            " aside to start a fresh account, or set brokers.paper.state_file to another file"
        )

    def _busy(self) -> LedgerBusy:
        return LedgerBusy(
            f"paper: the account file {self.path} is busy: another process held its write lock"
            f" for more than {self.lock_timeout_s:g} s; nothing was written"
        )

    # -- the file ----------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One FULL-synchronous ``BEGIN IMMEDIATE`` transaction; a nested call joins the one
        already open. Raises :class:`LedgerBusy` when the write lock cannot be had in time."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if _is_busy(exc):
                    raise self._busy() from None
                raise
            self._depth = 1
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                self._resting = None
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0
                self._cash, self._held, self._held_all = None, {}, False

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def _writing(self) -> None:
        if not self._depth:
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
        """SQLite's verdict on the file: ``ok``, or what is wrong with it."""
        with self.lock:
            try:
                return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])
            except sqlite3.DatabaseError as exc:
                return f"damaged: {exc}"

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    # -- orders ------------------------------------------------------------------------------
    def _working(self) -> RestingOrders:
        version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        if self._resting is None or self._resting[0] != version:
            rows = self._conn.execute(
                "SELECT seq, body FROM orders WHERE working = 1 ORDER BY seq"
            ).fetchall()
            self._resting = (version, RestingOrders([(s, order_from_json(b)) for s, b in rows]))
        return self._resting[1]

    def working_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders still working (of ``symbol``, or all), in arrival (time-priority) order, as
        last committed by any process (inside a transaction: as this one has left them)."""
        with self.lock:
            return self._working().working(symbol)

    def any_moved(
        self,
        symbol: str,
        quote: tuple[Decimal, Decimal] | None,
        trade: tuple[Decimal, Decimal] | None,
    ) -> bool:
        """Whether :meth:`moved_orders` would find any, by the first trigger of each side."""
        with self.lock:
            return self._working().any_moved(symbol, quote, trade)

    def moved_orders(
        self,
        symbol: str,
        quote: tuple[Decimal, Decimal] | None,
        trade: tuple[Decimal, Decimal] | None,
    ) -> list[Order]:
        """The working orders of ``symbol`` that this quote and trade move (see
        :func:`~plugins.brokers.paper.resting.acts`), in arrival order, found by their
        triggers: the cost follows those orders, not every working one."""
        with self.lock:
            return self._working().moved(symbol, quote, trade)

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
            seq = self._conn.execute(
                "INSERT INTO orders (client_id, symbol, working, body) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (client_id) DO UPDATE SET working = excluded.working,"
                " body = excluded.body RETURNING seq",
                (
                    order.client_id,
                    order.symbol,
                    int(not order.status.is_final),
                    order_to_json(order),
                ),
            ).fetchone()[0]
            if self._resting is not None:
                self._resting[1].put(int(seq), order)

    def client_ids(self) -> set[str]:
        """Every client id the account has ever stored, final or working."""
        with self.lock:
            rows = self._conn.execute("SELECT client_id FROM orders").fetchall()
        return {r[0] for r in rows}

    # -- fills -------------------------------------------------------------------------------
    def fills_since(self, since_ns: int | None = None) -> list[Fill]:
        """Fills stamped at or after ``since_ns`` (all when None), in the order recorded.

        Each committed fill is decoded once: a caller that asks again (the order manager
        after every order, with a look-back) reads only the rows added since."""
        since = since_ns or 0
        with self.lock:
            if self._depth:  # this transaction's own rows may yet roll back: not kept
                rows = self._conn.execute(
                    "SELECT body FROM fills WHERE ts >= ? ORDER BY seq", (since,)
                ).fetchall()
                return [fill_from_json(r[0]) for r in rows]
            if self._fills_from is None or since < self._fills_from:
                rows = self._conn.execute(
                    "SELECT seq, ts, body FROM fills WHERE ts >= ? ORDER BY seq", (since,)
                ).fetchall()
                self._fills = [(q, t, fill_from_json(b)) for q, t, b in rows]
                self._fills_from = since
            else:
                last = self._fills[-1][0] if self._fills else 0
                rows = self._conn.execute(
                    "SELECT seq, ts, body FROM fills WHERE seq > ? ORDER BY seq", (last,)
                ).fetchall()
                self._fills += [(q, t, fill_from_json(b)) for q, t, b in rows]
                old = sum(1 for _, t, _ in self._fills if t < since)
                if old > 1024:  # the look-back moved on: forget what it no longer reaches
                    self._fills = [row for row in self._fills if row[1] >= since]
                    self._fills_from = since
            return [f for _, t, f in self._fills if t >= since]

    def fill_cursor(self) -> int:
        """Where the record of fills ends now (see :meth:`fills_after`)."""
        with self.lock:
            row = self._conn.execute("SELECT coalesce(max(seq), 0) FROM fills").fetchone()
        return int(row[0])

    def fills_after(self, cursor: int) -> tuple[list[Fill], int]:
        """The fills recorded after ``cursor`` (from :meth:`fill_cursor` or a previous call),
        in the order recorded, and the cursor after them. Exact across processes: fills are
        written only under the file's write lock and never deleted, so their seq follows
        the order their transactions committed in, whatever their time stamps say."""
        with self.lock:
            rows = self._conn.execute(
                "SELECT seq, body FROM fills WHERE seq > ? ORDER BY seq", (cursor,)
            ).fetchall()
        return [fill_from_json(b) for _, b in rows], (int(rows[-1][0]) if rows else cursor)

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
        """Every stored position, flat ones included, by symbol (inside a transaction, read
        once and then as it has written them)."""
        with self.lock:
            if self._depth and self._held_all:
                return [p for _, p in sorted(self._held.items()) if p is not None]
            rows = self._conn.execute("SELECT body FROM positions ORDER BY symbol").fetchall()
            found = [position_from_json(r[0], self.venue) for r in rows]
            if self._depth:
                self._held = {p.symbol: p for p in found}
                self._held_all = True
            return found

    def position(self, symbol: str) -> Position | None:
        with self.lock:
            if self._depth and (symbol in self._held or self._held_all):
                return self._held.get(symbol)
            row = self._conn.execute(
                "SELECT body FROM positions WHERE symbol = ?", (symbol,)
            ).fetchone()
            found = position_from_json(row[0], self.venue) if row else None
            if self._depth:
                self._held[symbol] = found
            return found

    def put_position(self, position: Position) -> None:
        with self.lock:
            self._writing()
            self._conn.execute(
                "INSERT INTO positions (symbol, body) VALUES (?, ?) ON CONFLICT (symbol)"
                " DO UPDATE SET body = excluded.body",
                (position.symbol, position_to_json(position)),
            )
            self._held[position.symbol] = (
                position if position.venue == self.venue else replace(position, venue=self.venue)
            )

    # -- cash --------------------------------------------------------------------------------
    def balances(self) -> dict[str, Decimal]:
        """Cash per asset, by asset (inside a transaction, read once and then as it has
        written it)."""
        with self.lock:
            if self._depth and self._cash is not None:
                return dict(self._cash)
            rows = self._conn.execute("SELECT asset, total FROM balances ORDER BY asset").fetchall()
            found = {a: Decimal(t) for a, t in rows}
            if self._depth:
                self._cash = dict(found)
            return found

    def set_balance(self, asset: str, total: Decimal) -> None:
        with self.lock:
            self._writing()
            self._conn.execute(
                "INSERT INTO balances (asset, total) VALUES (?, ?) ON CONFLICT (asset)"
                " DO UPDATE SET total = excluded.total",
                (asset, str(total)),
            )
            if self._cash is not None:
                self._cash = dict(sorted({**self._cash, asset: Decimal(str(total))}.items()))

    # -- liquidity taken from shared market events -------------------------------------------
    def taken(self, event: str) -> dict[int, Decimal]:
        """What the account has taken from each level of a market event (a book snapshot's
        side, a trade) that every process on the account may see from its own feed."""
        with self.lock:
            rows = self._conn.execute(
                "SELECT level, qty FROM taken WHERE event = ?", (event,)
            ).fetchall()
        return {int(level): Decimal(qty) for level, qty in rows}

    def set_taken(self, event: str, ts: int, level: int, qty: Decimal) -> None:
        with self.lock:
            self._writing()
            self._conn.execute(
                "INSERT INTO taken (event, level, ts, qty) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (event, level) DO UPDATE SET qty = excluded.qty",
                (event, level, ts, str(qty)),
            )

    def forget_taken(self, before_ts: int) -> None:
        """Drop the records of market events stamped before ``before_ts``."""
        with self.lock:
            self._writing()
            self._conn.execute("DELETE FROM taken WHERE ts < ?", (before_ts,))
