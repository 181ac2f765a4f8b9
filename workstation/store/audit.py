"""The ``audit_log`` table: every order intent, decision and configuration change, with who
made it. Rows are only ever added. Subject and detail are stored redacted (a detail often
quotes a venue's or Telegram's error text)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from workstation.runtime.secrets import redact
from workstation.store.repository import Repository, now_ns


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
