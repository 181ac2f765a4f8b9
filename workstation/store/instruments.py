"""The ``instruments`` table: tick and lot sizes, currencies and minimums per (venue, symbol)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from decimal import Decimal

from engine.model import Instrument
from workstation.store.repository import Repository


class InstrumentRepository(Repository):
    def upsert(self, instruments: Iterable[Instrument]) -> None:
        rows = [
            {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(i).items()}
            for i in instruments
        ]
        with self._store.transaction():
            self._store.db["instruments"].upsert_all(rows, pk=("venue", "symbol"))

    def get(self, symbol: str, venue: str) -> Instrument | None:
        with self._store.reading():
            table = self._store.db["instruments"]
            rows = list(table.rows_where("venue = ? AND symbol = ?", [venue, symbol]))
        return Instrument(**rows[0]) if rows else None

    def venue_of(self, symbol: str) -> str | None:
        """The first venue (alphabetically) that lists ``symbol``, or None."""
        with self._store.reading() as conn:
            row = conn.execute(
                "SELECT venue FROM instruments WHERE symbol = ? ORDER BY venue LIMIT 1", (symbol,)
            ).fetchone()
        return None if row is None else str(row[0])
