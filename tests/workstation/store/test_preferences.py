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


def test_a_cached_setting_follows_every_commit_and_never_a_rolled_back_write(
    db_path: Path,
) -> None:
    """The settings are cached between commits: another process's change, this process's
    own, and one made in another thread are seen at the next read; a write that rolled back
    is never served, from the cache or otherwise."""
    import threading

    import pytest

    with Store(db_path) as ours, Store(db_path) as theirs:
        assert ours.settings.get("trading.kill_switch", False) is False
        assert ours.settings.get("trading.kill_switch", False) is False  # served cached
        theirs.settings.set("trading.kill_switch", True, actor="other process")
        assert ours.settings.get("trading.kill_switch", False) is True
        ours.settings.set("trading.kill_switch", False)
        assert ours.settings.get("trading.kill_switch") is False

        with pytest.raises(RuntimeError), ours.transaction():
            ours.settings.set("trading.kill_switch", True)
            assert ours.settings.get("trading.kill_switch") is True  # its own write, inside
            raise RuntimeError("rolled back")
        assert ours.settings.get("trading.kill_switch") is False
        assert theirs.settings.get("trading.kill_switch") is False

        worker = threading.Thread(target=ours.settings.set, args=("relay.paused", True))
        worker.start()
        worker.join()
        assert ours.settings.get("relay.paused") is True


def test_a_stamp_is_given_only_where_a_read_may_be_cached(db_path: Path) -> None:
    with Store(db_path) as store, Store(db_path) as other:
        first = store.stamp()
        assert first is not None and store.stamp() == first
        other.settings.set("x", 1)
        moved = store.stamp()
        assert moved is not None and moved != first
        with store.transaction():
            assert store.stamp() is None
        with store.reading():
            assert store.stamp() is None
    with Store(":memory:") as memory:
        assert memory.stamp() is None
