"""The ``signals`` table: every signal the scanner or a strategy produced, the evidence its
learnt confidence stands on, and whether it was relayed."""

from __future__ import annotations

import json
from dataclasses import asdict

from engine.model import Action, Cycle, Evidence, Signal
from workstation.store.repository import Repository


class SignalRepository(Repository):
    def add(self, signal: Signal, venue: str, relayed: bool = False) -> int:
        cycle = json.dumps(asdict(signal.cycle)) if signal.cycle else None
        evidence = json.dumps(asdict(signal.evidence)) if signal.evidence is not None else None
        with self._store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO signals (ts, venue, symbol, timeframe, action, confidence, price,"
                " reasons, cycle, evidence, relayed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    signal.ts_ns,
                    venue,
                    signal.symbol,
                    signal.timeframe,
                    str(signal.action),
                    signal.confidence,
                    signal.price,
                    json.dumps(list(signal.reasons)),
                    cycle,
                    evidence,
                    int(relayed),
                ),
            )
            return int(cur.lastrowid or 0)

    def mark_relayed(self, signal_id: int) -> None:
        """The signal's alert is queued (stored first, relayed after: see the announcer)."""
        with self._store.transaction() as conn:
            conn.execute("UPDATE signals SET relayed = 1 WHERE id = ?", (signal_id,))

    def count(self, venue: str | None = None) -> int:
        where, args = ("WHERE venue = ?", [venue]) if venue else ("", [])
        with self._store.reading() as conn:
            return int(conn.execute(f"SELECT count(*) FROM signals {where}", args).fetchone()[0])

    def recent(self, limit: int = 50, symbol: str | None = None) -> list[Signal]:
        """The newest ``limit`` signals (of ``symbol``, or all), newest first."""
        where, args = ("WHERE symbol = ?", [symbol]) if symbol else ("", [])
        with self._store.reading() as conn:
            rows = conn.execute(
                "SELECT ts, symbol, timeframe, action, confidence, price, reasons, cycle, evidence"
                f" FROM signals {where} ORDER BY ts DESC, id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [
            Signal(
                ts,
                sym,
                tf,
                Action(action),
                conf,
                price,
                tuple(json.loads(reasons)),
                Cycle(**json.loads(cycle)) if cycle else None,
                Evidence(**json.loads(evidence)) if evidence else None,
            )
            for ts, sym, tf, action, conf, price, reasons, cycle, evidence in rows
        ]
