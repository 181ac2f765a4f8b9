"""A snapshot of the bottom tabs' tables and the order book with a bracketed position: stop and
limit prices, leg ids with their suffixes, SL/TP levels, plain book sizes, signal prices at
their tick. Update after an intended change with ``pytest --snapshot-update`` on this file."""

from __future__ import annotations

from decimal import Decimal

from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical

from engine.model import (
    Action,
    BookLevel,
    Order,
    OrderBook,
    OrderStatus,
    OrderType,
    Position,
    Side,
    Signal,
)
from tests.workstation.ui.ui_helpers import still
from widgets.order_book import OrderBookLadder
from widgets.orders_table import OrdersTable
from widgets.positions_table import PositionsTable
from widgets.signals_feed import SignalsFeed

PARENT = "qws-16179a2b3c4d5e6f7a8b"
LEGS = [
    Order(f"{PARENT}-sl", "BTC/USDT", Side.SELL, OrderType.STOP, Decimal("0.5"),
          stop=Decimal("63500.0"), status=OrderStatus.OPEN),
    Order(f"{PARENT}-tp", "BTC/USDT", Side.SELL, OrderType.LIMIT, Decimal("0.5"),
          price=Decimal("66000.0"), status=OrderStatus.OPEN),
]  # fmt: skip
BOOK = OrderBook(
    1,
    "BTC/USDT",
    bids=(BookLevel(64000.0, 67000.0), BookLevel(63999.9, 0.0153)),
    asks=(BookLevel(64000.1, 1.5), BookLevel(64000.2, 120000.25)),
)


class Desk(App[None]):
    CSS = """
    Vertical { width: 1fr; }
    OrdersTable, PositionsTable, SignalsFeed { height: 5; }
    OrderBookLadder { width: 36; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical():
                yield OrdersTable()
                yield PositionsTable()
                yield SignalsFeed({"BTC/USDT": 2, "EURUSD": 5})
            yield OrderBookLadder()

    def on_mount(self) -> None:
        self.query_one(OrdersTable).set_orders(
            [Order(PARENT, "BTC/USDT", Side.BUY, OrderType.MARKET, Decimal("0.5"),
                   status=OrderStatus.SUBMITTING), *LEGS]
        )  # fmt: skip
        self.query_one(PositionsTable).set_positions(
            [Position("BTC/USDT", Decimal("0.5"), Decimal("64000.1"))], LEGS
        )
        feed = self.query_one(SignalsFeed)
        for symbol, price in (("BTC/USDT", 64000.0), ("EURUSD", 1.085)):
            feed.add_signal(Signal(0, symbol, "1h", Action.OPEN_LONG, 0.8, price, ("ema up",)))
        book = self.query_one(OrderBookLadder)
        book.show_symbol("BTC/USDT", 1)
        book.set_book(BOOK)


def test_desk_tables(snap_compare) -> None:
    assert snap_compare(Desk(), terminal_size=(140, 16), run_before=still)
