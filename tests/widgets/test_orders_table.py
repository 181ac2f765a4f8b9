"""The orders table says where each order works (stop trigger, limit price or market) and shows
ids so a parent and its protective legs read apart."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from rich.text import Text
from textual.app import App, ComposeResult

from engine.model import Order, OrderStatus, OrderType, Side
from widgets.orders_table import ID_WIDTH, OrdersTable, short_id

PARENT = "qws-16179a2b3c4d5e6f7a8b"


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield OrdersTable()


def _order(
    client_id: str, type_: OrderType, price: Decimal | None = None, stop: Decimal | None = None
) -> Order:
    return Order(
        client_id, "BTC/USDT", Side.SELL, type_, Decimal("0.5"), price, stop,
        status=OrderStatus.OPEN,
    )  # fmt: skip


def cell(table: OrdersTable, row: str, column: str) -> str:
    value = table.get_cell(row, column)
    return value.plain if isinstance(value, Text) else value


def bracket() -> list[Order]:
    return [
        _order(f"{PARENT}-sl", OrderType.STOP, stop=Decimal("63500.0")),
        _order(f"{PARENT}-tp", OrderType.LIMIT, price=Decimal("66000.50")),
        _order(f"{PARENT}-sl.2", OrderType.STOP, stop=Decimal("63400.0")),
        _order("qws-99aa", OrderType.MARKET),
    ]


async def test_the_price_column_says_stop_limit_or_market() -> None:
    app = _Host()
    async with app.run_test(size=(120, 10)):
        table = app.query_one(OrdersTable)
        table.set_orders(bracket())
        price = {cid: cell(table, cid, "price") for cid in table.orders}
        assert price == {
            f"{PARENT}-sl": "stop 63,500.0",
            f"{PARENT}-tp": "66,000.50",
            f"{PARENT}-sl.2": "stop 63,400.0",
            "qws-99aa": "market",
        }


async def test_a_stop_with_a_limit_price_shows_both() -> None:
    app = _Host()
    async with app.run_test(size=(120, 10)):
        table = app.query_one(OrdersTable)
        order = _order("a", OrderType.STOP, stop=Decimal("1.08"), price=Decimal("1.0795"))
        table.update_order(order)
        assert cell(table, "a", "price") == "stop 1.08 limit 1.0795"


async def test_leg_ids_keep_their_suffix_and_differ_from_the_parent() -> None:
    app = _Host()
    async with app.run_test(size=(120, 10)):
        table = app.query_one(OrdersTable)
        parent = _order(PARENT, OrderType.LIMIT, price=Decimal("64000"))
        table.set_orders([parent, *bracket()])
        ids = [cell(table, cid, "id") for cid in table.orders]
        assert ids[:4] == [
            "qws-1617…e6f7a8b",
            "qws-1617…7a8b-sl",
            "qws-1617…7a8b-tp",
            "qws-1617…8b-sl.2",
        ]
        assert len(set(ids)) == len(ids)
        assert all(len(i) <= ID_WIDTH for i in ids)
        assert cell(table, "qws-99aa", "id") == "qws-99aa"  # short ids stay whole


async def test_an_update_repaints_the_row_and_a_final_status_removes_it() -> None:
    app = _Host()
    async with app.run_test(size=(120, 10)):
        table = app.query_one(OrdersTable)
        leg = _order(f"{PARENT}-sl", OrderType.STOP, stop=Decimal("63500.0"))
        table.update_order(leg)
        table.update_order(replace(leg, stop=Decimal("63750.5")))
        assert cell(table, leg.client_id, "price") == "stop 63,750.5"
        table.update_order(replace(leg, status=OrderStatus.CANCELLED))
        assert not table.orders and table.row_count == 0


def test_short_id_elides_the_middle_only_when_it_must() -> None:
    assert short_id("abc", 16) == "abc"
    assert short_id("x" * 16, 16) == "x" * 16
    cut = short_id("0123456789abcdefghij-tp.12", 16)
    assert cut == "01234567…j-tp.12" and len(cut) == 16
