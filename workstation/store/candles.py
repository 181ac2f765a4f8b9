"""The ``candles`` table: OHLCV bars keyed by (venue, symbol, timeframe, ts), as polars frames.

Bars are written with ``synchronous=NORMAL``: a power cut may lose the last batch, which the
feed fetches again.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from engine.timeframes import OHLCV_SCHEMA, empty_ohlcv
from workstation.store.errors import AmbiguousVenueError
from workstation.store.repository import Repository

_UPSERT = (
    "INSERT INTO candles (venue, symbol, timeframe, ts, open, high, low, close, volume) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (venue, symbol, timeframe, ts) DO UPDATE SET "
    "open=excluded.open, high=excluded.high, low=excluded.low, close=excluded.close, "
    "volume=excluded.volume"
)


class CandleRepository(Repository):
    def upsert(
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
        with self._store.transaction() as conn:
            for offset in range(0, total, chunk):
                part = frame.slice(offset, chunk)
                conn.executemany(
                    _UPSERT, ((venue, symbol, timeframe, *row) for row in part.iter_rows())
                )
                if on_progress is not None:
                    on_progress(part.height)
        return total

    def _resolve_venue(self, symbol: str, timeframe: str, venue: str | None) -> str | None:
        if venue is not None:
            return venue
        venues = self.venues(symbol, timeframe)
        if len(venues) > 1:
            raise AmbiguousVenueError(
                f"{symbol} {timeframe} is stored for several venues ({', '.join(venues)});"
                " name one with --venue"
            )
        return venues[0] if venues else None

    def venues(self, symbol: str, timeframe: str) -> list[str]:
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT DISTINCT venue FROM candles WHERE symbol = ? AND timeframe = ?"
                " ORDER BY venue",
                (symbol, timeframe),
            ).fetchall()
        return [r[0] for r in rows]

    def last(
        self, symbol: str, timeframe: str, n: int = 1000, venue: str | None = None
    ) -> pl.DataFrame:
        """The latest ``n`` bars, oldest first, as an OHLCV frame."""
        resolved = self._resolve_venue(symbol, timeframe, venue)
        if resolved is None or n <= 0:
            return empty_ohlcv()
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT ts, open, high, low, close, volume FROM candles"
                " WHERE venue = ? AND symbol = ? AND timeframe = ? ORDER BY ts DESC LIMIT ?",
                (resolved, symbol, timeframe, n),
            ).fetchall()
        rows.reverse()
        return pl.DataFrame(rows, schema=OHLCV_SCHEMA, orient="row")

    def between(
        self,
        symbol: str,
        timeframe: str,
        start: int | None = None,
        end: int | None = None,
        venue: str | None = None,
    ) -> pl.DataFrame:
        """Bars with ``start <= ts < end`` (either bound optional), oldest first."""
        resolved = self._resolve_venue(symbol, timeframe, venue)
        if resolved is None:
            return empty_ohlcv()
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT ts, open, high, low, close, volume FROM candles"
                " WHERE venue = ? AND symbol = ? AND timeframe = ? AND ts >= ? AND ts < ?"
                " ORDER BY ts",
                (resolved, symbol, timeframe, start or -(2**63), end or 2**63 - 1),
            ).fetchall()
        return pl.DataFrame(rows, schema=OHLCV_SCHEMA, orient="row")

    def symbols(self, timeframe: str, venue: str | None = None) -> list[str]:
        """Symbols with bars of ``timeframe`` stored (for one venue, or any)."""
        sql = "SELECT DISTINCT symbol FROM candles WHERE timeframe = ?"
        params: tuple[str, ...] = (timeframe,)
        if venue is not None:
            sql += " AND venue = ?"
            params += (venue,)
        with self._store.reading() as conn:
            rows = conn.execute(sql + " ORDER BY symbol", params).fetchall()
        return [r[0] for r in rows]

    def count(self, symbol: str, timeframe: str, venue: str) -> int:
        with self._store.reading() as conn:
            return int(
                conn.execute(
                    "SELECT count(*) FROM candles WHERE venue=? AND symbol=? AND timeframe=?",
                    (venue, symbol, timeframe),
                ).fetchone()[0]
            )
