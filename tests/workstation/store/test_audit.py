from __future__ import annotations

import json
from decimal import Decimal

import pytest

from engine.model import Order, OrderType, Side
from workstation.store import Store

SECOND = 1_000_000_000


def test_exists_matches_action_and_subject(store: Store) -> None:
    store.audit.add("oms", "discrepancy.position_mismatch", "BTC/USDT", {"local": 1})
    assert store.audit.exists("discrepancy.position_mismatch", "BTC/USDT")
    assert not store.audit.exists("discrepancy.position_mismatch", "ETH/USDT")
    assert not store.audit.exists("discrepancy.missing_order", "BTC/USDT")
    assert store.audit.recent(1)[0]["actor"] == "oms"


class Clock:
    """The time the audit log stamps its rows with, set by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: int = 1_000 * SECOND) -> None:
        self.now = start
        monkeypatch.setattr("workstation.store.audit.now_ns", lambda: self.now)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def test_between_is_the_range_oldest_first_with_the_until_left_out(
    store: Store, clock: Clock
) -> None:
    for i in range(10):
        clock.now = (1_000 + i) * SECOND
        store.audit.add("user", f"a{i}", f"s{i}", {"i": i})
    rows = store.audit.between(1_003 * SECOND, 1_007 * SECOND)
    assert [r["action"] for r in rows] == ["a3", "a4", "a5", "a6"]
    assert [r["ts"] for r in rows] == sorted(r["ts"] for r in rows)
    assert json.loads(rows[0]["detail"]) == {"i": 3} and rows[0]["subject"] == "s3"
    assert [r["action"] for r in store.audit.between(1_008 * SECOND)] == ["a8", "a9"]
    assert store.audit.between(2_000 * SECOND) == []
    assert store.audit.between(0, 1_000 * SECOND) == []
    assert len(store.audit.between(0)) == 10


def test_between_filters_actions_and_names_the_symbol_of_the_subjects_order(
    store: Store, clock: Clock
) -> None:
    order = Order(
        client_id="c1", symbol="ETH/USDT", side=Side.BUY, type=OrderType.MARKET,
        qty=Decimal("0.5"),
    )  # fmt: skip
    store.orders.save(order)
    store.audit.add("user", "order.intent", "c1")
    store.audit.add("user", "order.status", "c1", {"from": "NEW", "to": "SUBMITTING"})
    store.audit.add("user", "kill_switch", "on")
    rows = store.audit.between(0, actions=["order.status", "kill_switch"])
    assert [(r["action"], r["symbol"]) for r in rows] == [
        ("order.status", "ETH/USDT"),
        ("kill_switch", None),
    ]
    assert store.audit.between(0, actions=[]) == []


def test_between_finds_rows_a_little_out_of_time_order(store: Store, clock: Clock) -> None:
    """A row stamped before one added ahead of it (a clock step back, a batch stamped before
    it waited for the lock) is still in its range."""
    for i, t in enumerate([100, 101, 103, 102, 104, 105]):
        clock.now = t * SECOND
        store.audit.add("user", f"a{i}", "")
    got = [r["action"] for r in store.audit.between(102 * SECOND, 104 * SECOND)]
    assert got == ["a2", "a3"]
    got = [r["action"] for r in store.audit.between(103 * SECOND, 105 * SECOND)]
    assert got == ["a2", "a4"]


def test_between_over_a_hundred_thousand_rows_returns_exactly_the_range(
    store: Store, clock: Clock
) -> None:
    for second in range(200):  # 500 rows a second, one statement each
        clock.now = (10_000 + second) * SECOND
        store.audit.add_all([("oms", "fill", f"c{second}-{j}", None) for j in range(500)])
    rows = store.audit.between(10_150 * SECOND, 10_152 * SECOND)
    assert len(rows) == 1_000
    assert rows[0]["subject"] == "c150-0" and rows[-1]["subject"] == "c151-499"
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert len(store.audit.between(10_199 * SECOND)) == 500


def test_latest_is_the_newest_row_of_the_actions(store: Store) -> None:
    assert store.audit.latest(["config.changed"]) is None
    store.audit.add("runtime", "config.snapshot", "", {"n": 1})
    store.audit.add("runtime", "setting", "app.theme")
    store.audit.add("runtime", "config.changed", "", {"n": 2})
    store.audit.add("runtime", "setting", "app.theme")
    row = store.audit.latest(["config.changed", "config.snapshot"])
    assert row is not None and json.loads(row["detail"]) == {"n": 2}
    row = store.audit.latest(["config.snapshot"])
    assert row is not None and json.loads(row["detail"]) == {"n": 1}
