"""The account of each venue as last seen: ``positions``, ``balances`` and the ``equity``
curve. Money in positions and balances is stored as decimal TEXT; equity is a REAL series for
charts and P&L."""

from __future__ import annotations

from decimal import Decimal

from engine.model import Position
from workstation.store.repository import Repository, now_ns


class PositionRepository(Repository):
    def save(self, position: Position) -> None:
        with self._store.transaction() as conn:
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

    def find(self, venue: str | None = None) -> list[Position]:
        """The positions of ``venue`` (or of every venue), by venue and symbol."""
        where, args = ("WHERE venue = ?", [venue]) if venue else ("", [])
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT symbol, qty, avg_price, venue, realized_pnl, fees FROM positions"
                f" {where} ORDER BY venue, symbol",
                args,
            ).fetchall()
        return [
            Position(r[0], Decimal(r[1]), Decimal(r[2]), r[3], Decimal(r[4]), Decimal(r[5]))
            for r in rows
        ]


class BalanceRepository(Repository):
    def set(self, venue: str, asset: str, total: Decimal) -> None:
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO balances (venue, asset, total, updated_ns) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (venue, asset) DO UPDATE SET total=excluded.total,"
                " updated_ns=excluded.updated_ns",
                (venue, asset, str(total), now_ns()),
            )

    def get(self, venue: str) -> dict[str, Decimal]:
        """Every asset's total at ``venue``."""
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT asset, total FROM balances WHERE venue = ? ORDER BY asset", (venue,)
            ).fetchall()
        return {asset: Decimal(total) for asset, total in rows}

    def venues(self) -> list[str]:
        with self._store.reading() as conn:
            rows = conn.execute("SELECT DISTINCT venue FROM balances ORDER BY venue")
            return [r[0] for r in rows.fetchall()]


class EquityRepository(Repository):
    def add(self, venue: str, ts_ns: int, equity: float) -> None:
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO equity (venue, ts, equity) VALUES (?, ?, ?)",
                (venue, ts_ns, equity),
            )

    def points(self, venue: str, since_ns: int = 0) -> list[tuple[int, float]]:
        """``(ts, equity)`` with ``ts >= since_ns``, oldest first."""
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT ts, equity FROM equity WHERE venue = ? AND ts >= ? ORDER BY ts",
                (venue, since_ns),
            ).fetchall()
        return [(int(ts), float(eq)) for ts, eq in rows]

    def first_last(self, venue: str, since_ns: int) -> tuple[float, float] | None:
        """The first and the last equity point from ``since_ns`` (the day's change), without
        reading the points between; None with fewer than two."""
        with self._store.reading() as conn:
            first = conn.execute(
                "SELECT ts, equity FROM equity WHERE venue = ? AND ts >= ? ORDER BY ts LIMIT 1",
                (venue, since_ns),
            ).fetchone()
            last = conn.execute(
                "SELECT ts, equity FROM equity WHERE venue = ? AND ts >= ?"
                " ORDER BY ts DESC LIMIT 1",
                (venue, since_ns),
            ).fetchone()
        if first is None or last is None or first[0] == last[0]:
            return None
        return float(first[1]), float(last[1])

    def before(self, venue: str, ts_ns: int) -> float | None:
        """The last equity point strictly before ``ts_ns`` (the opening value of a period)."""
        with self._store.reading() as conn:
            row = conn.execute(
                "SELECT equity FROM equity WHERE venue = ? AND ts < ? ORDER BY ts DESC LIMIT 1",
                (venue, ts_ns),
            ).fetchone()
        return None if row is None else float(row[0])
