from __future__ import annotations

from decimal import Decimal

from engine.model import Fill, Order, OrderType, Side
from workstation.store import Store


def test_orders_keep_exact_decimals(store: Store) -> None:
    order = Order(
        "c1", "BTC/USDT", Side.BUY, OrderType.LIMIT, Decimal("0.00123"), Decimal("64000.01")
    )
    with store.durable():
        store.orders.save(order)
    got = store.orders.get("c1")
    assert got is not None and got.qty == Decimal("0.00123") and got.price == Decimal("64000.01")
    assert store.orders.find(open_only=True)[0].client_id == "c1"


def test_last_fill_time_is_per_venue(store: Store) -> None:
    assert store.fills.last_ts("paper") is None
    for venue, fill_id, ts in (("paper", "f1", 10), ("paper", "f2", 30), ("binance", "f3", 99)):
        fill = Fill("c1", "BTC/USDT", Side.BUY, Decimal(1), Decimal(100), Decimal(0), ts, fill_id)
        assert store.fills.add(fill, venue)
    assert store.fills.last_ts("paper") == 30


def test_the_order_paths_reads_use_their_indexes(store: Store) -> None:
    """Each submit asks for the venue's recent orders and its newest fill: by an index, so
    neither costs more as the tables grow (asserted on the plan, not a timing)."""
    queries = {
        "orders_venue_created": (
            "SELECT created_ns FROM orders WHERE venue = ? AND created_ns > ?"
            " ORDER BY created_ns DESC LIMIT ?",
            ("paper", 0, 500),
        ),
        "fills_venue_ts": ("SELECT max(ts) FROM fills WHERE venue = ?", ("paper",)),
    }
    for index, (sql, args) in queries.items():
        plan = " ".join(str(r[-1]) for r in store.conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))
        assert index in plan, plan
        assert "TEMP B-TREE" not in plan, plan


def test_known_fill_ids_are_those_recorded_for_the_venue(store: Store) -> None:
    for venue, fill_id in (("paper", "f1"), ("paper", "f2"), ("binance", "f3")):
        fill = Fill("c1", "BTC/USDT", Side.BUY, Decimal(1), Decimal(100), Decimal(0), 1, fill_id)
        store.fills.add(fill, venue)
    many = [f"x{i}" for i in range(1200)] + ["f1", "f3"]  # more than one IN (...) chunk
    assert store.fills.known_ids("paper", many) == {"f1"}
    assert store.fills.known_ids("paper", []) == set()


def test_open_brackets_are_read_by_their_own_index_not_the_venues_orders(store: Store) -> None:
    seen: list[str] = []
    store.conn.set_trace_callback(seen.append)
    with store.transaction():  # on the traced connection
        store.orders.open_brackets("paper")
    store.conn.set_trace_callback(None)
    [sql] = [s for s in seen if "bracket_done" in s]
    plan = " ".join(str(r[-1]) for r in store.conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
    assert "orders_open_brackets" in plan, plan
