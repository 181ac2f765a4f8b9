from __future__ import annotations

from pathlib import Path

from workstation.store import Store


def test_watchlist_and_settings_persist(db_path: Path) -> None:
    with Store(db_path) as s:
        assert s.watchlists.get() is None
        s.watchlists.set(["EURUSD", "BTC/USDT", "EURUSD"])
        s.settings.set("signals.quality_gate", 0.8)
    with Store(db_path) as s:
        assert s.watchlists.get() == ["EURUSD", "BTC/USDT"]
        assert s.settings.get("signals.quality_gate") == 0.8
        assert s.audit.recent()[0]["action"] == "setting"
