from __future__ import annotations

from engine.model import Action, Cycle, Signal
from workstation.store import Store


def test_signals_round_trip(store: Store) -> None:
    sig = Signal(
        5, "X", "1h", Action.OPEN_LONG, 0.8, 101.5, ("rsi low", "cycle trough"), Cycle(16.0, 0.4, 4)
    )
    store.signals.add(sig, "demo")
    assert store.signals.recent(symbol="X") == [sig]
