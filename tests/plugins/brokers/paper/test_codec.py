from __future__ import annotations

from decimal import Decimal as D

from engine.model import Fill, Order, OrderStatus, OrderType, Position, Side, TimeInForce
from plugins.brokers.paper.codec import (
    fill_from_json,
    fill_to_json,
    order_from_json,
    order_to_json,
    position_from_json,
    position_to_json,
)


def test_an_order_with_every_decimal_field_round_trips_exactly() -> None:
    o = Order(
        "c1",
        "BTC/USDT",
        Side.SELL,
        OrderType.STOP,
        D("1.2300"),
        D("99.10"),
        D("98.005"),
        TimeInForce.IOC,
        OrderStatus.PARTIALLY_FILLED,
        "paper",
        D("0.100"),
        D("98.0049999999999999999"),
        D("120.5"),
        D("80.25"),
        "P1001",
        "why not",
        1_700_000_000_000_000_001,
    )
    back = order_from_json(order_to_json(o))
    assert back == o
    # the exponent survives too: nothing went through a float
    assert [str(getattr(back, n)) for n in ("qty", "filled_qty", "avg_price")] == [
        "1.2300",
        "0.100",
        "98.0049999999999999999",
    ]


def test_an_order_without_its_optional_fields_round_trips() -> None:
    o = Order("c2", "BTC/USDT", Side.BUY, OrderType.MARKET, D("2"))
    assert order_from_json(order_to_json(o)) == o


def test_a_body_in_the_file_format_decodes_and_encodes_the_same() -> None:
    stored = (
        '{"client_id": "p2", "symbol": "BTC/USDT", "side": "buy", "type": "limit",'
        ' "tif": "GTC", "status": "OPEN", "venue": "paper", "broker_id": "P1003",'
        ' "reason": "", "ts_ns": 1003, "qty": "1", "price": "90", "stop": null,'
        ' "filled_qty": "0", "avg_price": null, "sl": null, "tp": null}'
    )
    o = order_from_json(stored)
    assert o == Order(
        "p2",
        "BTC/USDT",
        Side.BUY,
        OrderType.LIMIT,
        D(1),
        D(90),
        tif=TimeInForce.GTC,
        status=OrderStatus.OPEN,
        broker_id="P1003",
        ts_ns=1003,
    )
    assert order_to_json(o) == stored  # byte for byte: the key order is the file format


def test_a_fill_and_a_position_round_trip() -> None:
    f = Fill("c1", "BTC/USDT", Side.BUY, D("0.5"), D("101.25"), D("0.050625"), 7, "c1-1", "USDT")
    assert fill_from_json(fill_to_json(f)) == f
    p = Position("BTC/USDT", D("-1.5"), D("100.10"), "paper", D("-3.20"), D("0.15"))
    assert position_from_json(position_to_json(p), "paper") == p
    assert position_from_json(position_to_json(p), "elsewhere").venue == "elsewhere"
