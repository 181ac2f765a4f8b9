"""The ``instruments`` table: tick and lot sizes, currencies and minimums per (venue, symbol)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple, fields
from decimal import Decimal

from engine.model import Instrument
from workstation.store.repository import Repository

_COLUMNS = tuple(f.name for f in fields(Instrument))
_UPSERT = (
    f"INSERT INTO instruments ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
    " ON CONFLICT (venue, symbol) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c not in ("venue", "symbol"))
)
_GET = f"SELECT {', '.join(_COLUMNS)} FROM instruments WHERE venue = ? AND symbol = ?"


class InstrumentRepository(Repository):
    def upsert(self, instruments: Iterable[Instrument]) -> None:
        rows = [
            tuple(str(v) if isinstance(v, Decimal) else v for v in astuple(i)) for i in instruments
        ]
        with self._store.transaction() as conn:
            conn.executemany(_UPSERT, rows)

    def get(self, symbol: str, venue: str) -> Instrument | None:
        with self._store.reading() as conn:
            row = conn.execute(_GET, (venue, symbol)).fetchone()
        return None if row is None else Instrument(**dict(zip(_COLUMNS, row, strict=True)))

    def listed_by(self, venue: str) -> list[str]:
        """The symbols ``venue`` lists here, in order."""
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT symbol FROM instruments WHERE venue = ? ORDER BY symbol", (venue,)
            ).fetchall()
        return [str(r[0]) for r in rows]

    def venue_of(self, symbol: str) -> str | None:
        """The first venue (alphabetically) that lists ``symbol``, or None."""
        with self._store.reading() as conn:
            row = conn.execute(
                "SELECT venue FROM instruments WHERE symbol = ? ORDER BY venue LIMIT 1", (symbol,)
            ).fetchone()
        return None if row is None else str(row[0])

    def symbols(self) -> list[str]:
        """Every symbol listed for any venue, once, in order."""
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT DISTINCT symbol FROM instruments ORDER BY symbol"
            ).fetchall()
        return [str(r[0]) for r in rows]
