"""The ``audit_log`` table: every order intent, decision and configuration change, with who
made it. Rows are only ever added. Subject and detail are stored redacted (a detail often
quotes a venue's or Telegram's error text)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from workstation.runtime.secrets import redact
from workstation.store.repository import Repository, now_ns

CLOCK_SLACK_NS = 300 * 1_000_000_000
"""How far a row's ``ts`` may run behind a row added before it (a wall-clock step, or
:meth:`AuditRepository.add_all` stamping its rows before it waits for the write lock):
:meth:`AuditRepository.between` looks this much beyond its range for rows out of order."""


class AuditRepository(Repository):
    def add(
        self, actor: str, action: str, subject: str = "", detail: dict[str, Any] | None = None
    ) -> None:
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO audit_log (ts, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
                (
                    now_ns(),
                    actor,
                    action,
                    redact(subject),
                    redact(json.dumps(detail or {}, default=str)),
                ),
            )

    def add_all(self, rows: Sequence[tuple[str, str, str, dict[str, Any] | None]]) -> None:
        """``(actor, action, subject, detail)`` rows, added in this order by one statement
        (the lines of one step: an order's intent and its first transition)."""
        if not rows:
            return
        now = now_ns()
        values = [
            (now, actor, action, redact(subject), redact(json.dumps(detail or {}, default=str)))
            for actor, action, subject, detail in rows
        ]
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO audit_log (ts, actor, action, subject, detail) VALUES "
                + ", ".join(["(?, ?, ?, ?, ?)"] * len(values)),
                [v for row in values for v in row],
            )

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` rows, newest first."""
        with self._store.reading():
            return list(
                self._store.db.query("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", [limit])
            )

    def exists(self, action: str, subject: str) -> bool:
        """Whether any row records ``action`` on ``subject``."""
        with self._store.reading() as conn:
            row = conn.execute(
                "SELECT 1 FROM audit_log WHERE action = ? AND subject = ? LIMIT 1",
                (action, subject),
            ).fetchone()
        return row is not None

    def between(
        self, since_ns: int, until_ns: int | None = None, actions: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        """The rows with ``since_ns <= ts < until_ns`` (no upper end without ``until_ns``),
        of ``actions`` only when given, oldest first (in id order, which is the order they
        were added), each with ``symbol``: that of the order its subject names, else None.

        The table has no index on ``ts``; ids are handed out in time order, so the range is
        found as an id range by binary search (about 20 lookups by id), widened by
        :data:`CLOCK_SLACK_NS` and then filtered on ``ts``: a read of the range only, however
        long the log."""
        names = None if actions is None else list(dict.fromkeys(actions))
        if names is not None and not names:
            return []
        with self._store.reading() as conn:
            first = self._first_id_at(conn, since_ns - CLOCK_SLACK_NS)
            sql = (
                "SELECT a.*, o.symbol AS symbol FROM audit_log a"
                " LEFT JOIN orders o ON o.client_id = a.subject"
                " WHERE a.id >= ? AND a.ts >= ?"
            )
            params: list[Any] = [first, since_ns]
            if until_ns is not None:
                sql += " AND a.id < ? AND a.ts < ?"
                params += [self._first_id_at(conn, until_ns + CLOCK_SLACK_NS), until_ns]
            if names is not None:
                # unary +: read the id range, not every row of these actions by their index
                sql += f" AND +a.action IN ({', '.join('?' * len(names))})"
                params += names
            return list(self._store.db.query(sql + " ORDER BY a.id", params))

    @staticmethod
    def _first_id_at(conn: sqlite3.Connection, ts: int) -> int:
        """The smallest id from which on every row has ``ts`` at or after ``ts``, were the
        rows in time order (one past the last id when none has)."""
        low, high = conn.execute("SELECT MIN(id), MAX(id) FROM audit_log").fetchone()
        if low is None:
            return 0
        high += 1
        while low < high:
            mid = (low + high) // 2
            row = conn.execute(
                "SELECT ts FROM audit_log WHERE id >= ? ORDER BY id LIMIT 1", (mid,)
            ).fetchone()
            if row[0] >= ts:
                high = mid
            else:
                low = mid + 1
        return int(low)

    def latest(self, actions: Sequence[str]) -> dict[str, Any] | None:
        """The newest row of one of ``actions``, or None."""
        if not actions:
            return None
        with self._store.reading():
            rows = self._store.db.query(
                "SELECT * FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log"
                f" WHERE action IN ({', '.join('?' * len(actions))}))",
                list(actions),
            )
            return next(iter(rows), None)
