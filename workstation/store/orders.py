"""The ``orders`` and ``fills`` tables.

An order row is keyed by its client id and written (inside :meth:`Store.durable`) before the
broker is called, so a crash between the two leaves an intent to reconcile, never a lost
order. A fill is recorded once per (venue, fill_id). Money is stored as decimal TEXT. The
reason (often a venue's error text) is stored redacted: a venue may echo a key.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from engine.model import Fill, Order, OrderStatus, OrderType, Side, TimeInForce
from workstation.runtime.secrets import redact
from workstation.store.repository import Repository, now_ns


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


_COLUMNS = (
    "client_id, symbol, side, type, qty, price, stop, tif, status, venue, filled_qty, avg_price,"
    " sl, tp, broker_id, reason, created_ns, strategy, COALESCE(parent_id, '')"
)


def _order(r: tuple[Any, ...]) -> Order:
    return Order(
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
        r[17],
        r[18],
    )


class OrderRepository(Repository):
    def save(self, order: Order, owner: str | None = None, arrival: Decimal | None = None) -> None:
        """Insert or update an order row (call inside :meth:`Store.durable` for state
        changes). ``owner`` names the process submitting it (kept until another is named);
        ``arrival`` is the mark when its intent was recorded (kept once written)."""
        now = now_ns()
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO orders (client_id, venue, symbol, side, type, qty, price, stop, tif,"
                " status, filled_qty, avg_price, sl, tp, broker_id, reason, created_ns, updated_ns,"
                " owner, strategy, parent_id, arrival)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (client_id) DO UPDATE SET status=excluded.status,"
                " filled_qty=excluded.filled_qty, avg_price=excluded.avg_price,"
                " broker_id=excluded.broker_id, reason=excluded.reason,"
                " updated_ns=excluded.updated_ns, owner=COALESCE(excluded.owner, orders.owner),"
                " arrival=COALESCE(orders.arrival, excluded.arrival)",
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
                    redact(order.reason),
                    order.ts_ns or now,
                    now,
                    owner,
                    order.strategy,
                    order.parent or None,
                    _str(arrival),
                ),
            )

    def owner(self, client_id: str) -> tuple[str, int] | None:
        """The process that submitted ``client_id`` and when its row last changed (wall ns),
        or None for an unknown order or one written before owners were kept."""
        with self._store.reading() as conn:
            row = conn.execute(
                "SELECT owner, updated_ns FROM orders WHERE client_id = ?", (client_id,)
            ).fetchone()
        return None if row is None or row[0] is None else (str(row[0]), int(row[1]))

    def get(self, client_id: str) -> Order | None:
        with self._store.reading() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM orders WHERE client_id = ?", (client_id,)
            ).fetchone()
        return None if row is None else _order(row)

    def find(
        self,
        open_only: bool = False,
        client_id: str | None = None,
        venue: str | None = None,
        limit: int = 1000,
    ) -> list[Order]:
        """Orders matching the filters, newest first."""
        where, args = _where(client_id=client_id, venue=venue)
        if open_only:
            finals = [str(s) for s in OrderStatus if s.is_final]
            where += (
                f"{' AND' if where else 'WHERE'} status NOT IN ({', '.join('?' * len(finals))})"
            )
            args.extend(finals)
        with self._store.reading() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM orders {where} ORDER BY created_ns DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [_order(r) for r in rows]

    def created_after(self, venue: str, after_ns: int, limit: int = 500) -> list[int]:
        """When the orders of ``venue`` created after ``after_ns`` were created, newest first,
        at most ``limit`` of them (the pre-trade check's order rate): times only, by the
        ``(venue, created_ns)`` index, so older orders and the order bodies cost nothing."""
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT created_ns FROM orders WHERE venue = ? AND created_ns > ?"
                " ORDER BY created_ns DESC LIMIT ?",
                (venue, after_ns, limit),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def open_brackets(self, venue: str) -> list[Order]:
        """Orders of ``venue`` with a stop-loss or take-profit whose bracket is not settled
        yet (see :meth:`settle_bracket`), oldest first; found by an index, so how many other
        orders exist plays no part."""
        with self._store.reading() as conn:
            rows = conn.execute(
                # named: the planner would otherwise take (venue, created_ns) and read every
                # order of the venue
                f"SELECT {_COLUMNS} FROM orders INDEXED BY orders_open_brackets"
                " WHERE venue = ? AND bracket_done = 0"
                " AND (sl IS NOT NULL OR tp IS NOT NULL) ORDER BY created_ns, client_id",
                (venue,),
            ).fetchall()
        return [_order(r) for r in rows]

    def settle_bracket(self, client_id: str) -> None:
        """The parent ``client_id`` has nothing left to protect: its bracket is closed."""
        with self._store.transaction() as conn:
            conn.execute("UPDATE orders SET bracket_done = 1 WHERE client_id = ?", (client_id,))

    def set_levels(self, client_id: str, sl: Decimal | None, tp: Decimal | None) -> None:
        """The stop-loss and take-profit the parent ``client_id``'s legs keep (amended by the
        user); its bracket is open again."""
        with self._store.transaction() as conn:
            conn.execute(
                "UPDATE orders SET sl = ?, tp = ?, bracket_done = 0 WHERE client_id = ?",
                (_str(sl), _str(tp), client_id),
            )

    def arrivals(self, client_ids: Iterable[str]) -> dict[str, Decimal]:
        """The arrival price (the mark when the intent was recorded) of each of ``client_ids``
        that has one."""
        wanted = list(dict.fromkeys(client_ids))
        found: dict[str, Decimal] = {}
        with self._store.reading() as conn:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                rows = conn.execute(
                    "SELECT client_id, arrival FROM orders WHERE arrival IS NOT NULL AND"
                    f" client_id IN ({', '.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
                found.update((str(r[0]), Decimal(r[1])) for r in rows)
        return found

    def children(self, parent_id: str, since_ns: int | None = None) -> list[Order]:
        """The child orders of an execution-algorithm parent (created at or after
        ``since_ns``), oldest first, by an index: the ones before cost nothing."""
        with self._store.reading() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM orders WHERE parent_id = ? AND created_ns >= ?"
                " ORDER BY created_ns, client_id",
                (parent_id, -(2**62) if since_ns is None else since_ns),
            ).fetchall()
        return [_order(r) for r in rows]

    def with_prefix(self, prefix: str) -> list[Order]:
        """Orders whose client id starts with ``prefix`` (a parent's legs), oldest first; a
        range over the primary key."""
        with self._store.reading() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM orders WHERE client_id >= ? AND client_id < ?"
                " ORDER BY created_ns, client_id",
                (prefix, prefix + "\U0010ffff"),
            ).fetchall()
        return [_order(r) for r in rows]


class FillRepository(Repository):
    def add(self, fill: Fill, venue: str) -> bool:
        """Record a fill once; returns False if this (venue, fill_id) was already recorded."""
        with self._store.transaction() as conn:
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

    def find(self, client_id: str | None = None, venue: str | None = None) -> list[Fill]:
        """Fills matching the filters, oldest first."""
        where, args = _where(client_id=client_id, venue=venue)
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT client_id, symbol, side, qty, price, fee, ts, fill_id, fee_ccy"
                f" FROM fills {where} ORDER BY ts, id",
                args,
            ).fetchall()
        return [
            Fill(r[0], r[1], Side(r[2]), Decimal(r[3]), Decimal(r[4]), Decimal(r[5]), *r[6:])
            for r in rows
        ]

    def ids_since(self, venue: str, since_ns: int | None) -> set[str]:
        """The fill ids of ``venue`` recorded at or after ``since_ns`` (all with None)."""
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT fill_id FROM fills WHERE venue = ? AND ts >= ?",
                (venue, since_ns if since_ns is not None else -(2**62)),
            ).fetchall()
        return {str(r[0]) for r in rows}

    def known_ids(self, venue: str, fill_ids: Iterable[str]) -> set[str]:
        """Which of ``fill_ids`` are recorded for ``venue`` (by the (venue, fill_id) key)."""
        wanted = list(fill_ids)
        found: set[str] = set()
        with self._store.reading() as conn:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                rows = conn.execute(
                    f"SELECT fill_id FROM fills WHERE venue = ? AND fill_id IN"
                    f" ({', '.join('?' * len(chunk))})",
                    (venue, *chunk),
                ).fetchall()
                found.update(str(r[0]) for r in rows)
        return found

    def last_ts(self, venue: str) -> int | None:
        """When the newest recorded fill of ``venue`` happened (ns), or None without fills."""
        with self._store.reading() as conn:
            row = conn.execute("SELECT max(ts) FROM fills WHERE venue = ?", (venue,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])
