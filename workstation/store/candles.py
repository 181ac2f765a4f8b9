"""The ``candles`` table: OHLCV bars keyed by (venue, symbol, timeframe, ts), as polars frames.

Bars are written with ``synchronous=NORMAL``: a power cut may lose the last batch, which the
feed fetches again.

A bulk import (:meth:`CandleRepository.import_bars`) never holds the write lock for long and
is still all or nothing, even if its process is killed: its chunks are staged in
``import_rows``, which no reader looks at, each in a short transaction; one small transaction
then marks the import ``publishing`` (the commit point), and the staged rows are moved into
``candles`` in short transactions. A failure before the commit point discards the staged rows;
after it, whoever opens the store next completes the move (moving a row twice is harmless).
Between transactions the importer pauses briefly, so a writer in another process (an order)
finds the lock free within about one chunk.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from functools import cache
from typing import TYPE_CHECKING

from engine.timeframes import OHLCV_COLUMNS, empty_ohlcv, ohlcv_schema
from workstation.store.errors import AmbiguousVenueError, StoreError
from workstation.store.repository import Repository, now_ns

if TYPE_CHECKING:
    import polars as pl

    from engine.model import Bar

log = logging.getLogger(__name__)

PUBLISH_ROWS = 50_000
# SQLite's busy handler retries a waiting writer every <= 100 ms; a pause between chunks is
# the window in which it can take its turn.
IMPORT_PAUSE_S = 0.02
# A staging import that has not written for this long has lost its process: its rows go.
STALE_IMPORT_NS = 3_600 * 10**9

Progress = Callable[[str, int], None]

_SET = (
    " ON CONFLICT (venue, symbol, timeframe, ts) DO UPDATE SET open=excluded.open,"
    " high=excluded.high, low=excluded.low, close=excluded.close, volume=excluded.volume"
)
# Rows go in ROWS_PER_STATEMENT at a time, as one multi-row VALUES each: one statement step
# per row (executemany) costs as much as the B-tree insert itself. The parameters are laid out
# column by column (``?1 .. ?head`` shared by every row, then each column's slice), so they are
# built by slicing the columns, with no Python object made per row.
ROWS_PER_STATEMENT = 64
_FIELDS = len(OHLCV_COLUMNS)


def _values(rows: int, head: int) -> str:
    """``rows`` tuples ``(?1, .., ?head, <row r of each column>)`` where the parameters after
    the shared ``head`` hold the columns one after another, ``rows`` values each."""
    shared = "".join(f"?{i}, " for i in range(1, head + 1))
    return ", ".join(
        "(" + shared + ", ".join(f"?{head + 1 + j * rows + r}" for j in range(_FIELDS)) + ")"
        for r in range(rows)
    )


@cache
def _candle_sql(rows: int) -> str:
    return (
        "INSERT INTO candles (venue, symbol, timeframe, ts, open, high, low, close, volume)"
        f" VALUES {_values(rows, 3)}{_SET}"
    )


@cache
def _staged_sql(rows: int) -> str:
    return (
        "INSERT INTO import_rows (import_id, ts, open, high, low, close, volume)"
        f" VALUES {_values(rows, 1)}"
    )


def _params(head: list[object], columns: list[list[object]], start: int, stop: int) -> list[object]:
    out = head.copy()
    for column in columns:
        out += column[start:stop]
    return out


def _insert_many(
    conn: sqlite3.Connection,
    sql: Callable[[int], str],
    head: tuple[object, ...],
    frame: pl.DataFrame,
) -> None:
    """Write ``frame`` (columns of OHLCV_SCHEMA, in order) with the shared ``head`` parameters,
    :data:`ROWS_PER_STATEMENT` rows a statement."""
    columns = [frame[c].to_list() for c in OHLCV_COLUMNS]
    shared, n, k = list(head), frame.height, ROWS_PER_STATEMENT
    whole = n - n % k
    if whole:
        conn.executemany(sql(k), (_params(shared, columns, i, i + k) for i in range(0, whole, k)))
    if whole < n:
        conn.execute(sql(n - whole), _params(shared, columns, whole, n))


def _frame(rows: list[tuple[object, ...]]) -> pl.DataFrame:
    """Rows of (ts, open, high, low, close, volume) as an OHLCV frame; polars is imported here,
    on the first read of bars, so opening the store does not wait for it."""
    import polars as pl

    return pl.DataFrame(rows, schema=ohlcv_schema(), orient="row")


# The candles' key starts with the venue, so "which venues / symbols are stored" is answered by
# skipping along the key, one seek per distinct value (a loose index scan), instead of reading
# every bar: a few venues and a few thousand series, however many bars. No second index on
# the candles: it would add a second B-tree insert to every bar written.
_EACH_VENUE = (
    "v(venue) AS (SELECT min(venue) FROM candles UNION ALL"
    " SELECT (SELECT min(venue) FROM candles WHERE venue > v.venue) FROM v"
    " WHERE v.venue IS NOT NULL)"
)
_EACH_SYMBOL = (
    "s(venue, symbol) AS (SELECT venue, (SELECT min(symbol) FROM candles"
    " WHERE candles.venue = v.venue) FROM v WHERE v.venue IS NOT NULL UNION ALL"
    " SELECT venue, (SELECT min(symbol) FROM candles WHERE candles.venue = s.venue"
    " AND candles.symbol > s.symbol) FROM s WHERE s.symbol IS NOT NULL)"
)
VENUES_SQL = (
    f"WITH RECURSIVE {_EACH_VENUE} SELECT venue FROM v WHERE venue IS NOT NULL AND EXISTS"
    " (SELECT 1 FROM candles WHERE candles.venue = v.venue AND candles.symbol = ?1"
    " AND candles.timeframe = ?2) ORDER BY venue"
)
_SYMBOLS_WITH_BARS = (
    " SELECT DISTINCT symbol FROM s WHERE symbol IS NOT NULL AND EXISTS (SELECT 1 FROM candles"
    " WHERE candles.venue = s.venue AND candles.symbol = s.symbol AND candles.timeframe = ?1)"
    " ORDER BY symbol"
)
SYMBOLS_SQL = f"WITH RECURSIVE {_EACH_VENUE}, {_EACH_SYMBOL}{_SYMBOLS_WITH_BARS}"
SYMBOLS_OF_VENUE_SQL = f"WITH RECURSIVE v(venue) AS (SELECT ?2), {_EACH_SYMBOL}{_SYMBOLS_WITH_BARS}"


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
        frame = bars.select(list(OHLCV_COLUMNS)).cast(ohlcv_schema())  # type: ignore[arg-type]
        total = frame.height
        with self._store.transaction() as conn:
            for offset in range(0, total, chunk):
                part = frame.slice(offset, chunk)
                _insert_many(conn, _candle_sql, (venue, symbol, timeframe), part)
                if on_progress is not None:
                    on_progress(part.height)
        return total

    def upsert_bars(self, bars: Iterable[Bar], venue: str) -> int:
        """Insert or replace bars of any series, in their order, in one transaction: the few
        closed bars of one batch of the live loop, written with no frame built per series."""
        rows = [
            (
                venue,
                b.symbol,
                b.timeframe,
                int(b.ts_ns),
                *(float(v) for v in (b.open, b.high, b.low, b.close, b.volume)),
            )
            for b in bars
        ]
        with self._store.transaction() as conn:
            conn.executemany(_candle_sql(1), rows)
        return len(rows)

    def import_bars(
        self,
        chunks: Iterable[pl.DataFrame],
        symbol: str,
        timeframe: str,
        venue: str,
        source: str = "",
        on_progress: Progress | None = None,
        publish_rows: int = PUBLISH_ROWS,
    ) -> int:
        """Insert or replace the bars of every chunk (columns of OHLCV_SCHEMA), all or none:
        an exception from ``chunks`` (a bad line) or from the store leaves ``candles`` as it
        was. ``on_progress(phase, rows)`` follows each chunk ("staged", then "published").
        Returns the rows imported."""
        with self._store.transaction() as conn:
            now = now_ns()
            import_id = int(
                conn.execute(
                    "INSERT INTO imports (venue, symbol, timeframe, source, state, started_ns,"
                    " heartbeat_ns) VALUES (?, ?, ?, ?, 'staging', ?, ?)",
                    (venue, symbol, timeframe, source, now, now),
                ).lastrowid
                or 0
            )
        total = 0
        try:
            for chunk in chunks:
                total += self._stage(import_id, chunk)
                if on_progress is not None:
                    on_progress("staged", chunk.height)
                time.sleep(IMPORT_PAUSE_S)
            with self._store.transaction() as conn:
                marked = conn.execute(
                    "UPDATE imports SET state = 'publishing' WHERE id = ? AND state = 'staging'",
                    (import_id,),
                ).rowcount
            if marked != 1:
                raise StoreError(f"import #{import_id} was discarded while it ran (idle too long)")
        except BaseException:
            self._discard(import_id)
            raise
        self._publish(import_id, publish_rows, on_progress)
        return total

    def _stage(self, import_id: int, chunk: pl.DataFrame) -> int:
        frame = chunk.select(list(OHLCV_COLUMNS)).cast(ohlcv_schema())  # type: ignore[arg-type]
        with self._store.transaction() as conn:
            alive = conn.execute(
                "UPDATE imports SET rows = rows + ?, heartbeat_ns = ? WHERE id = ?"
                " AND state = 'staging'",
                (frame.height, now_ns(), import_id),
            ).rowcount
            if alive != 1:
                raise StoreError(f"import #{import_id} was discarded while it ran (idle too long)")
            _insert_many(conn, _staged_sql, (import_id,), frame)
        return frame.height

    def _publish(self, import_id: int, rows: int, on_progress: Progress | None = None) -> None:
        """Move the staged rows into ``candles``, ``rows`` per transaction, then forget the
        import. Safe to run again, or by two processes at once."""
        while True:
            with self._store.transaction() as conn:
                head = conn.execute(
                    "SELECT venue, symbol, timeframe FROM imports WHERE id = ?", (import_id,)
                ).fetchone()
                upto = conn.execute(
                    "SELECT max(ts), count(*) FROM (SELECT ts FROM import_rows"
                    " WHERE import_id = ? ORDER BY ts LIMIT ?)",
                    (import_id, rows),
                ).fetchone()
                if head is None or upto[1] == 0:
                    conn.execute("DELETE FROM imports WHERE id = ?", (import_id,))
                    return
                conn.execute(
                    "INSERT INTO candles (venue, symbol, timeframe, ts, open, high, low, close,"
                    " volume) SELECT ?, ?, ?, ts, open, high, low, close, volume FROM import_rows"
                    " WHERE import_id = ? AND ts <= ? ON CONFLICT (venue, symbol, timeframe, ts)"
                    " DO UPDATE SET open=excluded.open, high=excluded.high, low=excluded.low,"
                    " close=excluded.close, volume=excluded.volume",
                    (*head, import_id, upto[0]),
                )
                conn.execute(
                    "DELETE FROM import_rows WHERE import_id = ? AND ts <= ?", (import_id, upto[0])
                )
            if on_progress is not None:
                on_progress("published", int(upto[1]))
            time.sleep(IMPORT_PAUSE_S)

    def _discard(self, import_id: int, rows: int = PUBLISH_ROWS) -> None:
        """Drop a failed import's staged rows (never visible). Left to the next open if the
        store fails meanwhile."""
        try:
            with self._store.transaction() as conn:
                conn.execute("UPDATE imports SET state = 'failed' WHERE id = ?", (import_id,))
            while True:
                with self._store.transaction() as conn:
                    gone = conn.execute(
                        "DELETE FROM import_rows WHERE import_id = ? AND ts IN (SELECT ts FROM"
                        " import_rows WHERE import_id = ? ORDER BY ts LIMIT ?)",
                        (import_id, import_id, rows),
                    ).rowcount
                    if gone == 0:
                        conn.execute("DELETE FROM imports WHERE id = ?", (import_id,))
                        return
        except Exception:
            log.exception("import #%d: staged rows left for the next open", import_id)

    def recover_imports(self) -> None:
        """Finish what killed imports left: publish the committed ones, drop the rest (a
        staging import only once it has been idle for :data:`STALE_IMPORT_NS`)."""
        with self._store.reading() as conn:
            found = conn.execute("SELECT id, state, heartbeat_ns FROM imports").fetchall()
        for import_id, state, heartbeat_ns in found:
            if state == "publishing":
                log.warning("import #%d was interrupted after its commit: completing it", import_id)
                self._publish(import_id, PUBLISH_ROWS)
            elif state == "failed" or now_ns() - heartbeat_ns > STALE_IMPORT_NS:
                self._discard(import_id)

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
        """The venues with ``symbol`` ``timeframe`` bars stored, in order."""
        with self._store.reading() as conn:
            rows = conn.execute(VENUES_SQL, (symbol, timeframe)).fetchall()
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
        return _frame(rows)

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
        return _frame(rows)

    def timeframes(self, symbol: str) -> list[str]:
        """The timeframes ``symbol`` has bars stored at (any venue), shortest first."""
        from engine.timeframes import parse

        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT DISTINCT timeframe FROM candles WHERE symbol = ?", (symbol,)
            ).fetchall()
        return sorted((r[0] for r in rows), key=lambda tf: parse(tf).ns)

    def symbols(self, timeframe: str, venue: str | None = None) -> list[str]:
        """Symbols with bars of ``timeframe`` stored (for one venue, or any)."""
        sql = SYMBOLS_SQL if venue is None else SYMBOLS_OF_VENUE_SQL
        params = (timeframe,) if venue is None else (timeframe, venue)
        with self._store.reading() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [r[0] for r in rows]

    def count(self, symbol: str, timeframe: str, venue: str) -> int:
        with self._store.reading() as conn:
            return int(
                conn.execute(
                    "SELECT count(*) FROM candles WHERE venue=? AND symbol=? AND timeframe=?",
                    (venue, symbol, timeframe),
                ).fetchone()[0]
            )
