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
