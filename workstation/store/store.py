"""All state in one SQLite file: candles, instruments, signals, orders, fills, positions,
balances, the alerts outbox, watchlists, settings and the audit log.

WAL mode. Candle writes run with ``synchronous=NORMAL`` (a power cut may lose the last
batch, which the feed re-fetches); order state changes run inside :meth:`Store.durable`,
which switches to ``synchronous=FULL`` so an intent is on disk before a broker is called.
The schema is versioned with ``PRAGMA user_version`` and migrated forward on open.
Money in orders, fills, positions and balances is stored as decimal TEXT, never as REAL.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from engine.model import (
    Action,
    Alert,
    Cycle,
    Fill,
    Instrument,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
    Signal,
    TimeInForce,
)
from engine.timeframes import OHLCV_SCHEMA, empty_ohlcv

_V1 = """
CREATE TABLE instruments (
  venue TEXT NOT NULL, symbol TEXT NOT NULL, tick_size TEXT NOT NULL, lot_size TEXT NOT NULL,
  quote_ccy TEXT NOT NULL, base_ccy TEXT NOT NULL DEFAULT '', min_qty TEXT NOT NULL DEFAULT '0',
  min_notional TEXT NOT NULL DEFAULT '0', asset_class TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (venue, symbol)
);
CREATE TABLE candles (
  venue TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL, ts INTEGER NOT NULL,
  open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL,
  volume REAL NOT NULL,
  PRIMARY KEY (venue, symbol, timeframe, ts)
) WITHOUT ROWID;
CREATE TABLE signals (
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, venue TEXT NOT NULL, symbol TEXT NOT NULL,
  timeframe TEXT NOT NULL, action TEXT NOT NULL, confidence REAL NOT NULL, price REAL,
  reasons TEXT NOT NULL DEFAULT '[]', cycle TEXT, relayed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX signals_symbol_ts ON signals (symbol, ts);
CREATE TABLE orders (
  client_id TEXT PRIMARY KEY, venue TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
  type TEXT NOT NULL, qty TEXT NOT NULL, price TEXT, stop TEXT, tif TEXT NOT NULL,
  status TEXT NOT NULL, filled_qty TEXT NOT NULL DEFAULT '0', avg_price TEXT, sl TEXT, tp TEXT,
  broker_id TEXT, reason TEXT NOT NULL DEFAULT '', created_ns INTEGER NOT NULL,
  updated_ns INTEGER NOT NULL
);
CREATE INDEX orders_status ON orders (status);
CREATE TABLE fills (
  id INTEGER PRIMARY KEY, fill_id TEXT NOT NULL, client_id TEXT NOT NULL, venue TEXT NOT NULL,
  symbol TEXT NOT NULL, side TEXT NOT NULL, qty TEXT NOT NULL, price TEXT NOT NULL,
  fee TEXT NOT NULL, fee_ccy TEXT NOT NULL DEFAULT '', ts INTEGER NOT NULL,
  UNIQUE (venue, fill_id)
);
CREATE TABLE positions (
  venue TEXT NOT NULL, symbol TEXT NOT NULL, qty TEXT NOT NULL, avg_price TEXT NOT NULL,
  realized_pnl TEXT NOT NULL DEFAULT '0', fees TEXT NOT NULL DEFAULT '0',
  updated_ns INTEGER NOT NULL, PRIMARY KEY (venue, symbol)
);
CREATE TABLE alerts (
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL,
  symbol TEXT NOT NULL DEFAULT '', title TEXT NOT NULL, body TEXT NOT NULL,
  channel TEXT NOT NULL DEFAULT '', dedup_key TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
  message_id TEXT, next_attempt_ns INTEGER NOT NULL DEFAULT 0, sent_ns INTEGER
);
CREATE INDEX alerts_status ON alerts (status, id);
CREATE TABLE watchlists (
  name TEXT NOT NULL, symbol TEXT NOT NULL, position INTEGER NOT NULL,
  PRIMARY KEY (name, symbol)
);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  subject TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '{}'
);
"""

_V2 = """
CREATE TABLE balances (
  venue TEXT NOT NULL, asset TEXT NOT NULL, total TEXT NOT NULL, updated_ns INTEGER NOT NULL,
  PRIMARY KEY (venue, asset)
);
CREATE TABLE equity (
  venue TEXT NOT NULL, ts INTEGER NOT NULL, equity REAL NOT NULL, PRIMARY KEY (venue, ts)
);
CREATE INDEX fills_client ON fills (client_id);
"""

# The alerts outbox gains the 'unknown' status (a send that may or may not have reached the
# server: never resent automatically) and a JSON ``data`` column for the formatter. SQLite
# cannot alter a CHECK constraint, so the table is rebuilt.
_V3 = """
CREATE TABLE alerts_v3 (
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL,
  symbol TEXT NOT NULL DEFAULT '', title TEXT NOT NULL, body TEXT NOT NULL,
  channel TEXT NOT NULL DEFAULT '', dedup_key TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'unknown')),
  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
  message_id TEXT, next_attempt_ns INTEGER NOT NULL DEFAULT 0, sent_ns INTEGER,
  data TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO alerts_v3 (id, ts, kind, severity, symbol, title, body, channel, dedup_key, status,
  attempts, last_error, message_id, next_attempt_ns, sent_ns)
  SELECT id, ts, kind, severity, symbol, title, body, channel, dedup_key, status, attempts,
  last_error, message_id, next_attempt_ns, sent_ns FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_v3 RENAME TO alerts;
CREATE INDEX alerts_status ON alerts (status, id);
CREATE INDEX alerts_channel ON alerts (channel, status, id);
CREATE INDEX alerts_dedup ON alerts (channel, dedup_key, ts);
CREATE INDEX alerts_sent ON alerts (channel, sent_ns);
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)

_CANDLE_UPSERT = (
    "INSERT INTO candles (venue, symbol, timeframe, ts, open, high, low, close, volume) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (venue, symbol, timeframe, ts) DO UPDATE SET "
    "open=excluded.open, high=excluded.high, low=excluded.low, close=excluded.close, "
    "volume=excluded.volume"
)


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


class StoreError(RuntimeError):
    pass


class AmbiguousVenueError(StoreError):
    pass


def now_ns() -> int:
    return time.time_ns()


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _where(**equal: object) -> tuple[str, list[object]]:
    """``WHERE a = ? AND b = ?`` for the filters that are not None, and their values."""
    given = {k: v for k, v in equal.items() if v is not None}
    if not given:
        return "", []
    return "WHERE " + " AND ".join(f"{k} = ?" for k in given), list(given.values())


class Store:
    """The SQLite file. One connection, serialised by a lock so thread workers can share it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self.db = sqlite_utils.Database(conn)
        self.conn = conn
        self._lock = threading.RLock()
        self._depth = 0
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        self.migrate()

    # -- lifecycle ---------------------------------------------------------------------------
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

    # -- instruments -------------------------------------------------------------------------
    def upsert_instruments(self, instruments: Iterable[Instrument]) -> None:
        rows = [
            {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(i).items()}
            for i in instruments
        ]
        with self.transaction():
            self.db["instruments"].upsert_all(rows, pk=("venue", "symbol"))  # type: ignore[union-attr]

    def instrument(self, symbol: str, venue: str) -> Instrument | None:
        with self._lock:
            rows = list(
                self.db["instruments"].rows_where("venue = ? AND symbol = ?", [venue, symbol])  # type: ignore[union-attr]
            )
        return Instrument(**rows[0]) if rows else None

    # -- candles -----------------------------------------------------------------------------
    def upsert_candles(
        self,
        bars: pl.DataFrame,
        symbol: str,
        timeframe: str,
        venue: str,
        on_progress: Callable[[int], None] | None = None,
        chunk: int = 50_000,
    ) -> int:
        """Insert or replace bars (columns of OHLCV_SCHEMA) in one transaction; returns rows."""
        frame = bars.select(list(OHLCV_SCHEMA)).cast(OHLCV_SCHEMA)  # type: ignore[arg-type]
        total = frame.height
        with self.transaction() as conn:
            for offset in range(0, total, chunk):
                part = frame.slice(offset, chunk)
                conn.executemany(
                    _CANDLE_UPSERT,
                    ((venue, symbol, timeframe, *row) for row in part.iter_rows()),
                )
                if on_progress is not None:
                    on_progress(part.height)
        return total

    def _resolve_venue(self, symbol: str, timeframe: str, venue: str | None) -> str | None:
        if venue is not None:
            return venue
        venues = self.venues_for(symbol, timeframe)
        if len(venues) > 1:
            raise AmbiguousVenueError(
                f"{symbol} {timeframe} is stored for several venues ({', '.join(venues)});"
                " name one with --venue"
            )
        return venues[0] if venues else None

    def venues_for(self, symbol: str, timeframe: str) -> list[str]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT DISTINCT venue FROM candles WHERE symbol = ? AND timeframe = ?"
                " ORDER BY venue",
                (symbol, timeframe),
            ).fetchall()
        return [r[0] for r in rows]

    def last_bars(
        self, symbol: str, timeframe: str, n: int = 1000, venue: str | None = None
    ) -> pl.DataFrame:
        """The latest ``n`` bars, oldest first, as an OHLCV frame."""
        resolved = self._resolve_venue(symbol, timeframe, venue)
        if resolved is None or n <= 0:
            return empty_ohlcv()
        with self._lock:
            rows = self.conn.execute(
                "SELECT ts, open, high, low, close, volume FROM candles"
                " WHERE venue = ? AND symbol = ? AND timeframe = ? ORDER BY ts DESC LIMIT ?",
                (resolved, symbol, timeframe, n),
            ).fetchall()
        rows.reverse()
        return pl.DataFrame(rows, schema=OHLCV_SCHEMA, orient="row")

    def bars(
        self,
        symbol: str,
        timeframe: str,
        start: int | None = None,
        end: int | None = None,
        venue: str | None = None,
    ) -> pl.DataFrame:
        """Bars with ``start <= ts < end``, oldest first."""
        resolved = self._resolve_venue(symbol, timeframe, venue)
        if resolved is None:
            return empty_ohlcv()
        with self._lock:
            rows = self.conn.execute(
                "SELECT ts, open, high, low, close, volume FROM candles"
                " WHERE venue = ? AND symbol = ? AND timeframe = ? AND ts >= ? AND ts < ?"
                " ORDER BY ts",
                (resolved, symbol, timeframe, start or -(2**63), end or 2**63 - 1),
            ).fetchall()
        return pl.DataFrame(rows, schema=OHLCV_SCHEMA, orient="row")

    def candle_symbols(self, timeframe: str, venue: str | None = None) -> list[str]:
        """Symbols with bars of ``timeframe`` stored (for one venue, or any)."""
        sql = "SELECT DISTINCT symbol FROM candles WHERE timeframe = ?"
        params: tuple[str, ...] = (timeframe,)
        if venue is not None:
            sql += " AND venue = ?"
            params += (venue,)
        with self._lock:
            rows = self.conn.execute(sql + " ORDER BY symbol", params).fetchall()
        return [r[0] for r in rows]

    def candle_count(self, symbol: str, timeframe: str, venue: str) -> int:
        with self._lock:
            return int(
                self.conn.execute(
                    "SELECT count(*) FROM candles WHERE venue=? AND symbol=? AND timeframe=?",
                    (venue, symbol, timeframe),
                ).fetchone()[0]
            )

    # -- signals -----------------------------------------------------------------------------
    def add_signal(self, signal: Signal, venue: str, relayed: bool = False) -> int:
        cycle = json.dumps(asdict(signal.cycle)) if signal.cycle else None
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO signals (ts, venue, symbol, timeframe, action, confidence, price,"
                " reasons, cycle, relayed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    signal.ts_ns,
                    venue,
                    signal.symbol,
                    signal.timeframe,
                    str(signal.action),
                    signal.confidence,
                    signal.price,
                    json.dumps(list(signal.reasons)),
                    cycle,
                    int(relayed),
                ),
            )
            return int(cur.lastrowid or 0)

    def signals(self, limit: int = 50, symbol: str | None = None) -> list[Signal]:
        where, args = ("WHERE symbol = ?", [symbol]) if symbol else ("", [])
        with self._lock:
            rows = self.conn.execute(
                "SELECT ts, symbol, timeframe, action, confidence, price, reasons, cycle"
                f" FROM signals {where} ORDER BY ts DESC, id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [
            Signal(
                ts,
                sym,
                tf,
                Action(action),
                conf,
                price,
                tuple(json.loads(reasons)),
                Cycle(**json.loads(cycle)) if cycle else None,
            )
            for ts, sym, tf, action, conf, price, reasons, cycle in rows
        ]

    # -- orders, fills, positions, balances --------------------------------------------------
    def save_order(self, order: Order) -> None:
        """Insert or update an order row (call inside :meth:`durable` for state changes)."""
        now = now_ns()
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO orders (client_id, venue, symbol, side, type, qty, price, stop, tif,"
                " status, filled_qty, avg_price, sl, tp, broker_id, reason, created_ns, updated_ns)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (client_id) DO UPDATE SET status=excluded.status,"
                " filled_qty=excluded.filled_qty, avg_price=excluded.avg_price,"
                " broker_id=excluded.broker_id, reason=excluded.reason,"
                " updated_ns=excluded.updated_ns",
                (
                    order.client_id,
                    order.venue,
                    order.symbol,
                    str(order.side),
                    str(order.type),
                    str(order.qty),
                    _str(order.price),
                    _str(order.stop),
                    str(order.tif),
                    str(order.status),
                    str(order.filled_qty),
                    _str(order.avg_price),
                    _str(order.sl),
                    _str(order.tp),
                    order.broker_id,
                    order.reason,
                    order.ts_ns or now,
                    now,
                ),
            )

    def order(self, client_id: str) -> Order | None:
        found = self.orders(client_id=client_id)
        return found[0] if found else None

    def orders(
        self,
        open_only: bool = False,
        client_id: str | None = None,
        venue: str | None = None,
        limit: int = 1000,
    ) -> list[Order]:
        where, args = _where(client_id=client_id, venue=venue)
        if open_only:
            finals = [str(s) for s in OrderStatus if s.is_final]
            where += (
                f"{' AND' if where else 'WHERE'} status NOT IN ({', '.join('?' * len(finals))})"
            )
            args.extend(finals)
        with self._lock:
            rows = self.conn.execute(
                "SELECT client_id, symbol, side, type, qty, price, stop, tif, status, venue,"
                " filled_qty, avg_price, sl, tp, broker_id, reason, created_ns"
                f" FROM orders {where} ORDER BY created_ns DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [
            Order(
                r[0],
                r[1],
                Side(r[2]),
                OrderType(r[3]),
                Decimal(r[4]),
                _dec(r[5]),
                _dec(r[6]),
                TimeInForce(r[7]),
                OrderStatus(r[8]),
                r[9],
                Decimal(r[10]),
                _dec(r[11]),
                _dec(r[12]),
                _dec(r[13]),
                r[14],
                r[15],
                r[16],
            )
            for r in rows
        ]

    def add_fill(self, fill: Fill, venue: str) -> bool:
        """Record a fill once; returns False if this (venue, fill_id) was already recorded."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO fills (fill_id, client_id, venue, symbol, side, qty, price,"
                " fee, fee_ccy, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    fill.fill_id or f"{fill.client_id}:{fill.ts_ns}",
                    fill.client_id,
                    venue,
                    fill.symbol,
                    str(fill.side),
                    str(fill.qty),
                    str(fill.price),
                    str(fill.fee),
                    fill.fee_ccy,
                    fill.ts_ns,
                ),
            )
            return cur.rowcount == 1

    def fills(self, client_id: str | None = None, venue: str | None = None) -> list[Fill]:
        where, args = _where(client_id=client_id, venue=venue)
        with self._lock:
            rows = self.conn.execute(
                "SELECT client_id, symbol, side, qty, price, fee, ts, fill_id, fee_ccy"
                f" FROM fills {where} ORDER BY ts, id",
                args,
            ).fetchall()
        return [
            Fill(r[0], r[1], Side(r[2]), Decimal(r[3]), Decimal(r[4]), Decimal(r[5]), *r[6:])
            for r in rows
        ]

    def save_position(self, position: Position) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO positions (venue, symbol, qty, avg_price, realized_pnl, fees,"
                " updated_ns) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (venue, symbol) DO UPDATE"
                " SET qty=excluded.qty, avg_price=excluded.avg_price,"
                " realized_pnl=excluded.realized_pnl, fees=excluded.fees,"
                " updated_ns=excluded.updated_ns",
                (
                    position.venue,
                    position.symbol,
                    str(position.qty),
                    str(position.avg_price),
                    str(position.realized_pnl),
                    str(position.fees),
                    now_ns(),
                ),
            )

    def positions(self, venue: str | None = None) -> list[Position]:
        where, args = ("WHERE venue = ?", [venue]) if venue else ("", [])
        with self._lock:
            rows = self.conn.execute(
                "SELECT symbol, qty, avg_price, venue, realized_pnl, fees FROM positions"
                f" {where} ORDER BY venue, symbol",
                args,
            ).fetchall()
        return [
            Position(r[0], Decimal(r[1]), Decimal(r[2]), r[3], Decimal(r[4]), Decimal(r[5]))
            for r in rows
        ]

    def set_balance(self, venue: str, asset: str, total: Decimal) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO balances (venue, asset, total, updated_ns) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (venue, asset) DO UPDATE SET total=excluded.total,"
                " updated_ns=excluded.updated_ns",
                (venue, asset, str(total), now_ns()),
            )

    def balances(self, venue: str) -> dict[str, Decimal]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT asset, total FROM balances WHERE venue = ? ORDER BY asset", (venue,)
            ).fetchall()
        return {asset: Decimal(total) for asset, total in rows}

    def add_equity_point(self, venue: str, ts_ns: int, equity: float) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO equity (venue, ts, equity) VALUES (?, ?, ?)",
                (venue, ts_ns, equity),
            )

    def equity_points(self, venue: str, since_ns: int = 0) -> list[tuple[int, float]]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT ts, equity FROM equity WHERE venue = ? AND ts >= ? ORDER BY ts",
                (venue, since_ns),
            ).fetchall()
        return [(int(ts), float(eq)) for ts, eq in rows]

    def equity_before(self, venue: str, ts_ns: int) -> float | None:
        """The last equity point strictly before ``ts_ns`` (the opening value of a period)."""
        with self._lock:
            row = self.conn.execute(
                "SELECT equity FROM equity WHERE venue = ? AND ts < ? ORDER BY ts DESC LIMIT 1",
                (venue, ts_ns),
            ).fetchone()
        return None if row is None else float(row[0])

    def balance_venues(self) -> list[str]:
        with self._lock:
            rows = self.conn.execute("SELECT DISTINCT venue FROM balances ORDER BY venue")
            return [r[0] for r in rows.fetchall()]

    # -- alerts outbox -----------------------------------------------------------------------
    # One row per (alert, channel). A sender claims the oldest pending row of a channel
    # (status 'sending', committed with FULL sync *before* the network call), then marks it
    # sent with the message id, back to pending with a later next_attempt_ns, failed, or
    # unknown (the server may have it: never resent automatically, see workstation.alerts.relay).
    def enqueue_alert(
        self, alert: Alert, channel: str = "", dedup_key: str = "", dedup_window_ns: int = 0
    ) -> int | None:
        """Queue ``alert`` for ``channel``; returns the row id, or None when a row with the
        same non-empty ``dedup_key`` was queued for this channel within ``dedup_window_ns``."""
        with self.transaction() as conn:
            if dedup_key and dedup_window_ns > 0:
                dup = conn.execute(
                    "SELECT id FROM alerts WHERE channel = ? AND dedup_key = ? AND ts >= ? LIMIT 1",
                    (channel, dedup_key, alert.ts_ns - dedup_window_ns),
                ).fetchone()
                if dup is not None:
                    return None
            cur = conn.execute(
                "INSERT INTO alerts (ts, kind, severity, symbol, title, body, channel, dedup_key,"
                " data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    alert.ts_ns,
                    alert.kind,
                    str(alert.severity),
                    alert.symbol,
                    alert.title,
                    alert.body,
                    channel,
                    dedup_key,
                    json.dumps(alert.data, default=str),
                ),
            )
            return int(cur.lastrowid or 0)

    def alerts(
        self,
        status: str | Sequence[str] | None = None,
        limit: int = 100,
        channel: str | None = None,
    ) -> list[dict[str, Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if status:
            statuses = [status] if isinstance(status, str) else list(status)
            clauses.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        if channel is not None:
            clauses.append("channel = ?")
            args.append(channel)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            return list(
                self.db.query(f"SELECT * FROM alerts {where} ORDER BY id LIMIT ?", [*args, limit])
            )

    def alert(self, alert_id: int) -> dict[str, Any] | None:
        with self._lock:
            rows = list(self.db.query("SELECT * FROM alerts WHERE id = ?", [alert_id]))
        return rows[0] if rows else None

    def alert_counts(self) -> dict[str, int]:
        with self._lock:
            rows = self.conn.execute("SELECT status, count(*) FROM alerts GROUP BY status")
            return {status: int(n) for status, n in rows.fetchall()}

    def pending_alert_channels(self) -> list[str]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT DISTINCT channel FROM alerts WHERE status = 'pending' ORDER BY channel"
            ).fetchall()
        return [r[0] for r in rows]

    def head_alert(self, channel: str) -> dict[str, Any] | None:
        """The oldest undelivered row of ``channel`` (pending or in flight), or None."""
        with self._lock:
            rows = list(
                self.db.query(
                    "SELECT * FROM alerts WHERE channel = ? AND status IN ('pending', 'sending')"
                    " ORDER BY id LIMIT 1",
                    [channel],
                )
            )
        return rows[0] if rows else None

    def claim_alert(self, channel: str, now: int) -> dict[str, Any] | None:
        """Move the channel's oldest pending row to 'sending' (durably) if it is due.

        Delivery is ordered: a later row is never claimed while an earlier one waits for its
        retry time or is in flight."""
        with self.durable() as conn:
            row = conn.execute(
                "SELECT id, status, next_attempt_ns FROM alerts WHERE channel = ?"
                " AND status IN ('pending', 'sending') ORDER BY id LIMIT 1",
                (channel,),
            ).fetchone()
            if row is None or row[1] != "pending" or row[2] > now:
                return None
            conn.execute(
                "UPDATE alerts SET status = 'sending', attempts = attempts + 1 WHERE id = ?",
                (row[0],),
            )
        return self.alert(row[0])

    def mark_alert_sent(self, alert_id: int, message_id: str, now: int) -> None:
        with self.durable() as conn:
            conn.execute(
                "UPDATE alerts SET status = 'sent', message_id = ?, sent_ns = ?, last_error = ''"
                " WHERE id = ?",
                (message_id, now, alert_id),
            )

    def mark_alert_retry(self, alert_id: int, error: str, next_attempt_ns: int) -> None:
        with self.durable() as conn:
            conn.execute(
                "UPDATE alerts SET status = 'pending', last_error = ?, next_attempt_ns = ?"
                " WHERE id = ?",
                (error, next_attempt_ns, alert_id),
            )

    def mark_alert_failed(self, alert_id: int, error: str, status: str = "failed") -> None:
        """Final states: 'failed' (not delivered) or 'unknown' (may have been delivered)."""
        if status not in ("failed", "unknown"):
            raise StoreError(f"not a final alert status: {status!r}")
        with self.durable() as conn:
            conn.execute(
                "UPDATE alerts SET status = ?, last_error = ? WHERE id = ?",
                (status, error, alert_id),
            )

    def reconcile_sending_alerts(self, reason: str) -> list[int]:
        """After a restart, rows left 'sending' are 'unknown': the process stopped between
        the request and the mark, so the server may or may not have the message."""
        with self.durable() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM alerts WHERE status = 'sending' ORDER BY id"
                ).fetchall()
            ]
            conn.execute(
                "UPDATE alerts SET status = 'unknown', last_error = ? WHERE status = 'sending'",
                (reason,),
            )
        return ids

    def requeue_alert(self, alert_id: int) -> bool:
        """Put a failed/unknown row back in the queue (a deliberate user decision)."""
        with self.durable() as conn:
            cur = conn.execute(
                "UPDATE alerts SET status = 'pending', next_attempt_ns = 0, attempts = 0"
                " WHERE id = ? AND status IN ('failed', 'unknown')",
                (alert_id,),
            )
            return cur.rowcount == 1

    def sent_alert_times(self, channel: str, since_ns: int) -> list[int]:
        """When this channel's messages went out since ``since_ns`` (for the rate cap)."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT sent_ns FROM alerts WHERE channel = ? AND sent_ns >= ? ORDER BY sent_ns",
                (channel, since_ns),
            ).fetchall()
        return [int(r[0]) for r in rows]

    # -- watchlists and settings -------------------------------------------------------------
    def watchlist(self, name: str = "default") -> list[str] | None:
        """The saved symbols, or None if this watchlist was never saved."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT symbol FROM watchlists WHERE name = ? ORDER BY position", (name,)
            ).fetchall()
            saved = self.get_setting(f"watchlist.{name}.saved")
        if not rows and not saved:
            return None
        return [r[0] for r in rows]

    def set_watchlist(self, symbols: Sequence[str], name: str = "default") -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM watchlists WHERE name = ?", (name,))
            conn.executemany(
                "INSERT INTO watchlists (name, symbol, position) VALUES (?, ?, ?)",
                [(name, s, i) for i, s in enumerate(dict.fromkeys(symbols))],
            )
            self.set_setting(f"watchlist.{name}.saved", True)

    def get_setting(self, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_setting(self, key: str, value: Any, actor: str = "user") -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                (key, json.dumps(value)),
            )
            self.audit(actor, "setting", key, {"value": value})

    # -- audit -------------------------------------------------------------------------------
    def audit(
        self, actor: str, action: str, subject: str = "", detail: dict[str, Any] | None = None
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO audit_log (ts, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
                (now_ns(), actor, action, subject, json.dumps(detail or {}, default=str)),
            )

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.db.query("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", [limit]))
