"""Open orders (newest last); a final status removes the row."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from engine.model import Order, OrderType

ID_WIDTH = 16
ID_TAIL = 7
"""An id longer than its column keeps its head and its last ``ID_TAIL`` characters, so a leg's
suffix (``-sl``, ``-tp.2``) always shows and a parent and its legs read apart."""
COLUMNS = (("id", "Id", ID_WIDTH), ("symbol", "Symbol", 9), ("side", "Side", 4),
           ("type", "Type", 6), ("qty", "Qty", 10), ("price", "Price", 15),
           ("filled", "Filled", 10), ("status", "Status", 10))  # fmt: skip


def short_id(client_id: str, width: int = ID_WIDTH) -> str:
    """``client_id`` within ``width`` characters: its middle elided, head and tail kept."""
    if len(client_id) <= width:
        return client_id
    head = width - 1 - ID_TAIL
    return f"{client_id[:head]}…{client_id[-ID_TAIL:]}"


def price_text(order: Order) -> str:
    """Where the order works: ``market``, its limit price, or ``stop`` and its trigger (and the
    limit price a triggered stop rests at, if it has one); exact, with thousands separators."""
    if order.type is OrderType.STOP and order.stop is not None:
        text = f"stop {order.stop:,f}"
        return text if order.price is None else f"{text} limit {order.price:,f}"
    if order.price is not None:
        return f"{order.price:,f}"
    return "market"


class OrdersTable(DataTable[Text | str]):
    DEFAULT_CSS = "OrdersTable { height: 1fr; }"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.orders: dict[str, Order] = {}

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    def set_orders(self, orders: Sequence[Order]) -> None:
        self.orders.clear()
        self.clear()
        for order in orders:
            self.update_order(order)

    def update_order(self, order: Order) -> None:
        key = order.client_id
        if order.status.is_final:
            if key in self.orders:
                del self.orders[key]
                self.remove_row(key)
            return
        cells: tuple[Text | str, ...] = (
            short_id(key), order.symbol,
            Text(order.side.value, style="green" if order.side.value == "buy" else "red"),
            order.type.value, Text(f"{order.qty:f}", justify="right"),
            Text(price_text(order), justify="right"),
            Text(f"{order.filled_qty:f}", justify="right"), order.status.value,
        )  # fmt: skip
        if key in self.orders:
            for (col, _, _), value in zip(COLUMNS, cells, strict=True):
                self.update_cell(key, col, value)
        else:
            self.add_row(*cells, key=key)
        self.orders[key] = order

    def selected_client_id(self) -> str | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return str(row_key.value)
