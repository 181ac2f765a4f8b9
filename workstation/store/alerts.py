"""The ``alerts`` table, an outbox: one row per (alert, channel).

A sender claims the oldest pending row of a channel (status 'sending', committed with FULL
sync *before* the network call), then marks it sent with the message id, back to pending with
a later ``next_attempt_ns``, failed, or unknown (the server may have it: never resent
automatically, see :mod:`workstation.alerts.relay`). Texts and errors are stored redacted
(an error may quote a token).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from engine.model import Alert
from workstation.runtime.secrets import redact
from workstation.store.errors import StoreError
from workstation.store.repository import Repository


class AlertRepository(Repository):
    def enqueue(
        self, alert: Alert, channel: str = "", dedup_key: str = "", dedup_window_ns: int = 0
    ) -> int | None:
        """Queue ``alert`` for ``channel``; returns the row id, or None when a row with the
        same non-empty ``dedup_key`` was queued for this channel within ``dedup_window_ns``."""
        with self._store.transaction() as conn:
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
                    redact(alert.title),
                    redact(alert.body),
                    channel,
                    dedup_key,
                    redact(json.dumps(alert.data, default=str)),
                ),
            )
            return int(cur.lastrowid or 0)

    def find(
        self,
        status: str | Sequence[str] | None = None,
        limit: int = 100,
        channel: str | None = None,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """Rows with one of the statuses (and of ``channel``), oldest first (or newest)."""
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
        with self._store.reading():
            return list(
                self._store.db.query(
                    f"SELECT * FROM alerts {where} ORDER BY id {'DESC' if newest_first else ''}"
                    " LIMIT ?",
                    [*args, limit],
                )
            )

    def get(self, alert_id: int) -> dict[str, Any] | None:
        with self._store.reading():
            rows = list(self._store.db.query("SELECT * FROM alerts WHERE id = ?", [alert_id]))
        return rows[0] if rows else None

    def counts(self) -> dict[str, int]:
        """How many rows are in each status."""
        with self._store.reading() as conn:
            rows = conn.execute("SELECT status, count(*) FROM alerts GROUP BY status")
            return {status: int(n) for status, n in rows.fetchall()}

    def pending_channels(self) -> list[str]:
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT DISTINCT channel FROM alerts WHERE status = 'pending' ORDER BY channel"
            ).fetchall()
        return [r[0] for r in rows]

    def head(self, channel: str) -> dict[str, Any] | None:
        """The oldest undelivered row of ``channel`` (pending or in flight), or None."""
        with self._store.reading():
            rows = list(
                self._store.db.query(
                    "SELECT * FROM alerts WHERE channel = ? AND status IN ('pending', 'sending')"
                    " ORDER BY id LIMIT 1",
                    [channel],
                )
            )
        return rows[0] if rows else None

    def claim(self, channel: str, now: int) -> dict[str, Any] | None:
        """Move the channel's oldest pending row to 'sending' (durably) if it is due.

        Delivery is ordered: a later row is never claimed while an earlier one waits for its
        retry time or is in flight."""
        with self._store.durable() as conn:
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
        return self.get(row[0])

    def mark_sent(self, alert_id: int, message_id: str, now: int) -> None:
        with self._store.durable() as conn:
            conn.execute(
                "UPDATE alerts SET status = 'sent', message_id = ?, sent_ns = ?, last_error = ''"
                " WHERE id = ?",
                (message_id, now, alert_id),
            )

    def mark_retry(self, alert_id: int, error: str, next_attempt_ns: int) -> None:
        with self._store.durable() as conn:
            conn.execute(
                "UPDATE alerts SET status = 'pending', last_error = ?, next_attempt_ns = ?"
                " WHERE id = ?",
                (redact(error), next_attempt_ns, alert_id),
            )

    def mark_failed(self, alert_id: int, error: str, status: str = "failed") -> None:
        """Final states: 'failed' (not delivered) or 'unknown' (may have been delivered)."""
        if status not in ("failed", "unknown"):
            raise StoreError(f"not a final alert status: {status!r}")
        with self._store.durable() as conn:
            conn.execute(
                "UPDATE alerts SET status = ?, last_error = ? WHERE id = ?",
                (status, redact(error), alert_id),
            )

    def reconcile_sending(self, reason: str) -> list[int]:
        """After a restart, rows left 'sending' are 'unknown': the process stopped between
        the request and the mark, so the server may or may not have the message."""
        with self._store.durable() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM alerts WHERE status = 'sending' ORDER BY id"
                ).fetchall()
            ]
            conn.execute(
                "UPDATE alerts SET status = 'unknown', last_error = ? WHERE status = 'sending'",
                (redact(reason),),
            )
        return ids

    def requeue(self, alert_id: int) -> bool:
        """Put a failed/unknown row back in the queue (a deliberate user decision)."""
        with self._store.durable() as conn:
            cur = conn.execute(
                "UPDATE alerts SET status = 'pending', next_attempt_ns = 0, attempts = 0"
                " WHERE id = ? AND status IN ('failed', 'unknown')",
                (alert_id,),
            )
            return cur.rowcount == 1

    def sent_times(self, channel: str, since_ns: int) -> list[int]:
        """When this channel's messages went out since ``since_ns`` (for the rate cap)."""
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT sent_ns FROM alerts WHERE channel = ? AND sent_ns >= ? ORDER BY sent_ns",
                (channel, since_ns),
            ).fetchall()
        return [int(r[0]) for r in rows]
