from __future__ import annotations

from engine.model import Action, Cycle, Evidence, Signal
from workstation.store import Store


def test_signals_round_trip(store: Store) -> None:
    sig = Signal(
        5, "X", "1h", Action.OPEN_LONG, 0.8, 101.5, ("rsi low", "cycle trough"), Cycle(16.0, 0.4, 4)
    )
    store.signals.add(sig, "demo")
    assert store.signals.recent(symbol="X") == [sig]


def test_a_signal_keeps_its_evidence(store: Store) -> None:
    evidence = Evidence(
        probability=0.58,
        direction=1,
        cases=412,
        hits=235,
        low=0.53,
        high=0.62,
        horizon=4,
        version=3,
    )
    learnt = Signal(7, "X", "1h", Action.OPEN_LONG, 0.58, 101.5, ("learnt",), evidence=evidence)
    rule = Signal(6, "X", "1h", Action.OPEN_SHORT, 0.7, 100.0, ("rsi high",))
    store.signals.add(rule, "demo")
    store.signals.add(learnt, "demo")
    assert store.signals.recent(symbol="X") == [learnt, rule]
    assert store.signals.recent(symbol="X")[1].evidence is None
    stored = store.conn.execute("SELECT evidence FROM signals ORDER BY ts").fetchall()
    assert stored[0][0] is None and stored[1][0] is not None
