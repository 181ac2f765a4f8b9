"""The ``news`` tables: every item of a news source once, the symbols each concerns, and each
source endpoint's state (its HTTP validators, counters and last outcome).

An item is identified by ``(key, id)``: its source endpoint and its own id. Storing it again
(a poll that sees it again, two processes polling the same feed) changes nothing: what is
stored is never overwritten. A score that is not a finite number is stored as NULL
(unscored).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.model import NewsItem
from workstation.store.repository import Repository, now_ns

_COLUMNS = "key, id, ts, headline, summary, link, source, symbols, score"
_INSERT = (
    "INSERT OR IGNORE INTO news (key, id, ts, fetched_ns, headline, summary, link, source,"
    " symbols, score) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True, slots=True)
class SourceState:
    """One source endpoint as the store knows it: the validators of its last full answer
    (``etag``, ``last_modified``: the next poll asks for changes only), how many polls, new
    items and failures it has had, its last error ('' after a poll that went well) and when it
    last answered well and was last polled (UTC ns)."""

    key: str
    etag: str | None = None
    last_modified: str | None = None
    polls: int = 0
    items: int = 0
    failures: int = 0
    last_error: str = ""
    last_ok_ns: int | None = None
    last_poll_ns: int | None = None

    @property
    def ok(self) -> bool | None:
        """Whether the last poll went well (None: never polled)."""
        return None if self.last_poll_ns is None else not self.last_error


def _score(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _item(row: Sequence[Any]) -> NewsItem:
    key, id_, ts, headline, summary, link, source, symbols, score = row
    return NewsItem(
        key,
        id_,
        int(ts),
        headline,
        summary,
        link,
        source,
        tuple(json.loads(symbols)),
        None if score is None else float(score),
    )


class NewsRepository(Repository):
    def add(self, items: Sequence[NewsItem], fetched_ns: int | None = None) -> list[NewsItem]:
        """Store the items not stored yet, in one transaction; returns those, in the order
        given (an item twice in ``items`` counts once)."""
        fetched = now_ns() if fetched_ns is None else fetched_ns
        added: list[NewsItem] = []
        with self._store.transaction() as conn:
            for item in items:
                cur = conn.execute(
                    _INSERT,
                    (
                        item.key,
                        item.id,
                        item.ts_ns,
                        fetched,
                        item.headline,
                        item.summary,
                        item.link,
                        item.source,
                        json.dumps(list(item.symbols)),
                        _score(item.score),
                    ),
                )
                if cur.rowcount != 1:
                    continue
                conn.executemany(
                    "INSERT OR IGNORE INTO news_symbols (symbol, ts, key, id) VALUES (?, ?, ?, ?)",
                    [(s, item.ts_ns, item.key, item.id) for s in dict.fromkeys(item.symbols)],
                )
                added.append(item)
        return added

    def recent(self, symbol: str | None = None, limit: int = 200) -> list[NewsItem]:
        """The newest ``limit`` items (concerning ``symbol``, or all), newest first."""
        with self._store.reading() as conn:
            if symbol is None:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM news ORDER BY ts DESC, key, id LIMIT ?", (limit,)
                ).fetchall()
            else:
                rows = conn.execute(
                    f"SELECT {', '.join('n.' + c.strip() for c in _COLUMNS.split(','))}"
                    " FROM news_symbols s JOIN news n ON n.key = s.key AND n.id = s.id"
                    " WHERE s.symbol = ? ORDER BY s.ts DESC, s.key, s.id LIMIT ?",
                    (symbol, limit),
                ).fetchall()
        return [_item(r) for r in rows]

    def scores(
        self, symbol: str, start_ns: int | None = None, end_ns: int | None = None
    ) -> tuple[list[int], list[float]]:
        """The publication times and scores of the scored items concerning ``symbol``
        published in ``[start_ns, end_ns]`` (either end open when None), oldest first."""
        lo = -(2**63) if start_ns is None else start_ns
        hi = 2**63 - 1 if end_ns is None else end_ns
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT s.ts, n.score FROM news_symbols s"
                " JOIN news n ON n.key = s.key AND n.id = s.id"
                " WHERE s.symbol = ? AND s.ts BETWEEN ? AND ? AND n.score IS NOT NULL"
                " ORDER BY s.ts, s.key, s.id",
                (symbol, lo, hi),
            ).fetchall()
        return [int(r[0]) for r in rows], [float(r[1]) for r in rows]

    def count(self, key: str | None = None) -> int:
        where, args = ("WHERE key = ?", [key]) if key is not None else ("", [])
        with self._store.reading() as conn:
            return int(conn.execute(f"SELECT count(*) FROM news {where}", args).fetchone()[0])

    # -- source endpoints ---------------------------------------------------------------
    def source(self, key: str) -> SourceState | None:
        with self._store.reading() as conn:
            row = conn.execute(
                "SELECT key, etag, last_modified, polls, items, failures, last_error, last_ok_ns,"
                " last_poll_ns FROM news_sources WHERE key = ?",
                (key,),
            ).fetchone()
        return None if row is None else SourceState(*row)

    def sources(self) -> list[SourceState]:
        """Every source endpoint polled so far, by key."""
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT key, etag, last_modified, polls, items, failures, last_error, last_ok_ns,"
                " last_poll_ns FROM news_sources ORDER BY key"
            ).fetchall()
        return [SourceState(*r) for r in rows]

    def record_poll(
        self,
        key: str,
        polled_ns: int,
        *,
        items: int = 0,
        error: str = "",
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> SourceState:
        """Count one poll of ``key``: ``items`` new ones, or a failure with ``error`` (the
        validators are kept as they were). After a poll that went well, ``etag`` and
        ``last_modified`` are the validators to send next time (None: none)."""
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO news_sources (key) VALUES (?) ON CONFLICT (key) DO NOTHING", (key,)
            )
            if error:
                conn.execute(
                    "UPDATE news_sources SET polls = polls + 1, failures = failures + 1,"
                    " last_error = ?, last_poll_ns = ? WHERE key = ?",
                    (error, polled_ns, key),
                )
            else:
                conn.execute(
                    "UPDATE news_sources SET polls = polls + 1, items = items + ?,"
                    " last_error = '', last_ok_ns = ?, last_poll_ns = ?, etag = ?,"
                    " last_modified = ? WHERE key = ?",
                    (items, polled_ns, polled_ns, etag, last_modified, key),
                )
            row = conn.execute(
                "SELECT key, etag, last_modified, polls, items, failures, last_error, last_ok_ns,"
                " last_poll_ns FROM news_sources WHERE key = ?",
                (key,),
            ).fetchone()
        return SourceState(*row)
