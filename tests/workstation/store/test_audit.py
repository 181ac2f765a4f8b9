from __future__ import annotations

from workstation.store import Store


def test_exists_matches_action_and_subject(store: Store) -> None:
    store.audit.add("oms", "discrepancy.position_mismatch", "BTC/USDT", {"local": 1})
    assert store.audit.exists("discrepancy.position_mismatch", "BTC/USDT")
    assert not store.audit.exists("discrepancy.position_mismatch", "ETH/USDT")
    assert not store.audit.exists("discrepancy.missing_order", "BTC/USDT")
    assert store.audit.recent(1)[0]["actor"] == "oms"
