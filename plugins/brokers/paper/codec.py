"""The paper account's JSON bodies: how an order, a fill and a position are written into the
ledger's ``body`` columns and read back. Every decimal travels as its string, so nothing is
rounded through a float; the key order is part of the file format."""

from __future__ import annotations

import json
from decimal import Decimal

from engine.model import Fill, Order, OrderStatus, OrderType, Position, Side, TimeInForce

_DEC_FIELDS = ("qty", "price", "stop", "filled_qty", "avg_price", "sl", "tp")


def order_to_json(order: Order) -> str:
    body: dict[str, object] = {
        "client_id": order.client_id,
        "symbol": order.symbol,
        "side": str(order.side),
        "type": str(order.type),
        "tif": str(order.tif),
        "status": str(order.status),
        "venue": order.venue,
        "broker_id": order.broker_id,
        "reason": order.reason,
        "ts_ns": order.ts_ns,
    }
    for name in _DEC_FIELDS:
        value = getattr(order, name)
        body[name] = None if value is None else str(value)
    return json.dumps(body)


def order_from_json(text: str) -> Order:
    b = json.loads(text)
    decs = {n: (None if b[n] is None else Decimal(b[n])) for n in _DEC_FIELDS}
    return Order(
        b["client_id"],
        b["symbol"],
        Side(b["side"]),
        OrderType(b["type"]),
        Decimal(b["qty"]),
        decs["price"],
        decs["stop"],
        TimeInForce(b["tif"]),
        OrderStatus(b["status"]),
        b["venue"],
        Decimal(b["filled_qty"]),
        decs["avg_price"],
        decs["sl"],
        decs["tp"],
        b["broker_id"],
        b["reason"],
        b["ts_ns"],
    )


def fill_to_json(fill: Fill) -> str:
    return json.dumps(
        {
            "client_id": fill.client_id,
            "symbol": fill.symbol,
            "side": str(fill.side),
            "qty": str(fill.qty),
            "price": str(fill.price),
            "fee": str(fill.fee),
            "ts_ns": fill.ts_ns,
            "fill_id": fill.fill_id,
            "fee_ccy": fill.fee_ccy,
        }
    )


def fill_from_json(text: str) -> Fill:
    b = json.loads(text)
    return Fill(
        b["client_id"],
        b["symbol"],
        Side(b["side"]),
        Decimal(b["qty"]),
        Decimal(b["price"]),
        Decimal(b["fee"]),
        b["ts_ns"],
        b["fill_id"],
        b["fee_ccy"],
    )


def position_to_json(position: Position) -> str:
    """The venue is not stored: every position in the ledger is the paper account's."""
    return json.dumps(
        {
            "symbol": position.symbol,
            "qty": str(position.qty),
            "avg_price": str(position.avg_price),
            "realized_pnl": str(position.realized_pnl),
            "fees": str(position.fees),
        }
    )


def position_from_json(text: str, venue: str) -> Position:
    b = json.loads(text)
    return Position(
        b["symbol"],
        Decimal(b["qty"]),
        Decimal(b["avg_price"]),
        venue,
        Decimal(b["realized_pnl"]),
        Decimal(b["fees"]),
    )
