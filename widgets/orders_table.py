"""Open orders (newest last); a final status removes the row."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from engine.model import Order


class OrdersTable(DataTable[Text | str]):
    DEFAULT_CSS = "OrdersTable { height: 1fr; }"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.orders: dict[str, Order] = {}

    def on_mount(self) -> None:
        for key, label, width in (("id", "Id", 10), ("symbol", "Symbol", 9), ("side", "Side", 4),
                                  ("type", "Type", 6), ("qty", "Qty", 10), ("price", "Price", 11),
                                  ("filled", "Filled", 10), ("status", "Status", 10)):  # fmt: skip
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
            key[:10], order.symbol,
            Text(order.side.value, style="green" if order.side.value == "buy" else "red"),
            order.type.value, Text(f"{order.qty:f}", justify="right"),
            Text("market" if order.price is None else f"{order.price:f}", justify="right"),
            Text(f"{order.filled_qty:f}", justify="right"), order.status.value,
        )  # fmt: skip
        if key in self.orders:
            for col, value in zip(
                ("id", "symbol", "side", "type", "qty", "price", "filled", "status"),
                cells,
                strict=True,
            ):
                self.update_cell(key, col, value)
        else:
            self.add_row(*cells, key=key)
        self.orders[key] = order

    def selected_client_id(self) -> str | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return str(row_key.value)
