"""The ``algo_parents`` table: TWAP/VWAP parent orders, their plan and their progress.

A parent is written durably when it is created and when it starts (its plan), so a restarted
process resumes exactly the plan it was working; its market counters move with each bar. Its
children are rows of ``orders`` (``parent_id``): what it has sent and filled is always read
from them, never kept twice.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

from engine.model import OrderType, Side
from engine.trading.schedule import Algo, AlgoOrder, AlgoParams, AlgoStatus, PlannedSlice
from workstation.runtime.secrets import redact
from workstation.store.repository import Repository, now_ns

_COLUMNS = (
    "id, venue, symbol, side, qty, params, status, start_ns, plan, arrival, last_bar_ns,"
    " market_volume, market_notional, strategy, reason, notes, created_ns"
)


def _params_json(p: AlgoParams) -> str:
    return json.dumps(
        {
            "algo": str(p.algo),
            "over_ns": p.over_ns,
            "slices": p.slices,
            "max_participation": None if p.max_participation is None else str(p.max_participation),
            "child_type": str(p.child_type),
            "limit_offset_ticks": p.limit_offset_ticks,
            "profile_days": p.profile_days,
        }
    )


def _params(text: str) -> AlgoParams:
    d = json.loads(text)
    cap = d.get("max_participation")
    return AlgoParams(
        Algo(d["algo"]),
        int(d["over_ns"]),
        int(d["slices"]),
        None if cap is None else Decimal(cap),
        OrderType(d.get("child_type", "market")),
        int(d.get("limit_offset_ticks", 0)),
        int(d.get("profile_days", 20)),
    )


def _row(r: tuple[Any, ...]) -> AlgoOrder:
    return AlgoOrder(
        id=r[0],
        venue=r[1],
        symbol=r[2],
        side=Side(r[3]),
        qty=Decimal(r[4]),
        params=_params(r[5]),
        status=AlgoStatus(r[6]),
        start_ns=int(r[7]),
        plan=tuple(PlannedSlice(int(t), Decimal(q)) for t, q in json.loads(r[8])),
        arrival=None if r[9] is None else Decimal(r[9]),
        last_bar_ns=int(r[10]),
        market_volume=Decimal(r[11]),
        market_notional=Decimal(r[12]),
        strategy=r[13],
        reason=r[14],
        notes=tuple(json.loads(r[15])),
        created_ns=int(r[16]),
    )


class AlgoRepository(Repository):
    def create(self, parent: AlgoOrder, owner: str | None = None) -> AlgoOrder:
        """Insert a new parent (call inside :meth:`Store.durable`); an id already stored is
        left as it is and the stored parent returned (a retried command creates nothing)."""
        now = now_ns()
        created = replace(parent, created_ns=parent.created_ns or now)
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO algo_parents (id, venue, symbol, side, qty, params, status,"
                " strategy, reason, owner, created_ns, updated_ns)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    created.id,
                    created.venue,
                    created.symbol,
                    str(created.side),
                    str(created.qty),
                    _params_json(created.params),
                    str(created.status),
                    created.strategy,
                    redact(created.reason),
                    owner,
                    created.created_ns,
                    now,
                ),
            )
        stored = self.get(created.id)
        assert stored is not None
        return stored

    def get(self, parent_id: str) -> AlgoOrder | None:
        with self._store.reading() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM algo_parents WHERE id = ?", (parent_id,)
            ).fetchone()
        return None if row is None else _row(row)

    def find(
        self,
        venue: str | None = None,
        working_only: bool = False,
        limit: int = 100,
        plan: bool = True,
    ) -> list[AlgoOrder]:
        """Parents, newest first (the working ones by an index); without their ``plan`` (an
        empty one: it never changes once made, a caller may keep it) when ``plan`` is False."""
        where, args = [], []
        if venue is not None:
            where.append("venue = ?")
            args.append(venue)
        if working_only:
            where.append("status = 'working'")
        columns = _COLUMNS if plan else _COLUMNS.replace(" plan,", " '[]',")
        sql = f"SELECT {columns} FROM algo_parents"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._store.reading() as conn:
            rows = conn.execute(
                sql + " ORDER BY created_ns DESC LIMIT ?", (*args, limit)
            ).fetchall()
        return [_row(r) for r in rows]

    def owner(self, parent_id: str) -> str | None:
        with self._store.reading() as conn:
            row = conn.execute(
                "SELECT owner FROM algo_parents WHERE id = ?", (parent_id,)
            ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def claim(self, parent_id: str, owner: str, expected: str | None) -> bool:
        """Make ``owner`` the process working the parent if it is still working and its owner
        is still ``expected`` (compare-and-set: two processes never both take it)."""
        with self._store.transaction() as conn:
            cur = conn.execute(
                "UPDATE algo_parents SET owner = ?, updated_ns = ? WHERE id = ?"
                " AND status = 'working' AND owner IS ?",
                (owner, now_ns(), parent_id, expected),
            )
            return cur.rowcount == 1

    def start(self, parent: AlgoOrder) -> None:
        """Write the plan, start time, arrival price and notes of a parent starting now."""
        with self._store.transaction() as conn:
            conn.execute(
                "UPDATE algo_parents SET start_ns = ?, plan = ?, arrival = ?, notes = ?,"
                " updated_ns = ? WHERE id = ? AND start_ns = 0",
                (
                    parent.start_ns,
                    json.dumps([[s.due_ns, str(s.cum_qty)] for s in parent.plan]),
                    None if parent.arrival is None else str(parent.arrival),
                    json.dumps(list(parent.notes)),
                    now_ns(),
                    parent.id,
                ),
            )

    def count_bar(self, parent_id: str, ts_ns: int, volume: Decimal, notional: Decimal) -> bool:
        """Add a closed bar's volume and notional, once per bar: a bar not newer than the
        newest counted one (a replay played again) changes nothing (and gives False)."""
        with self._store.transaction() as conn:
            row = conn.execute(
                "SELECT market_volume, market_notional FROM algo_parents"
                " WHERE id = ? AND last_bar_ns < ?",
                (parent_id, ts_ns),
            ).fetchone()
            if row is None:
                return False
            conn.execute(
                "UPDATE algo_parents SET last_bar_ns = ?, market_volume = ?, market_notional = ?,"
                " updated_ns = ? WHERE id = ?",
                (
                    ts_ns,
                    str(Decimal(row[0]) + volume),
                    str(Decimal(row[1]) + notional),
                    now_ns(),
                    parent_id,
                ),
            )
            return True

    def finish(self, parent_id: str, status: AlgoStatus, reason: str) -> bool:
        """End a working parent; False if it had already ended (another process ended it)."""
        with self._store.transaction() as conn:
            cur = conn.execute(
                "UPDATE algo_parents SET status = ?, reason = ?, updated_ns = ?"
                " WHERE id = ? AND status = 'working'",
                (str(status), redact(reason), now_ns(), parent_id),
            )
            return cur.rowcount == 1
