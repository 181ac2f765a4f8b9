"""Each position shows the stop-loss and take-profit its working protective orders hold."""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text
from textual.app import App, ComposeResult

from engine.model import Order, OrderStatus, OrderType, Position, Side
from widgets.positions_table import PositionsTable, levels_text


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield PositionsTable()


def _leg(cid: str, symbol: str, side: Side, type_: OrderType, level: str) -> Order:
    stop = type_ is OrderType.STOP
    return Order(
        cid, symbol, side, type_, Decimal("0.5"),
        price=None if stop else Decimal(level), stop=Decimal(level) if stop else None,
        status=OrderStatus.OPEN,
    )  # fmt: skip


def cell(table: PositionsTable, row: str, column: str) -> str:
    value = table.get_cell(row, column)
    return value.plain if isinstance(value, Text) else value


LONG = Position("BTC/USDT", Decimal("0.5"), Decimal("64000.0"))
SHORT = Position("EURUSD", Decimal("-1000"), Decimal("1.08500"))


async def test_sl_and_tp_come_from_the_orders_that_close_each_position() -> None:
    app = _Host()
    async with app.run_test(size=(120, 10)):
        table = app.query_one(PositionsTable)
        table.set_positions(
            [LONG, SHORT],
            [
                _leg("a-sl", "BTC/USDT", Side.SELL, OrderType.STOP, "63500.0"),
                _leg("a-tp", "BTC/USDT", Side.SELL, OrderType.LIMIT, "66000.0"),
                _leg("b-sl", "EURUSD", Side.BUY, OrderType.STOP, "1.09000"),
                # the wrong side of EURUSD's short: it opens more, it protects nothing
                _leg("c-tp", "EURUSD", Side.SELL, OrderType.LIMIT, "1.07000"),
            ],
        )
        assert cell(table, "BTC/USDT", "sl") == "63,500.0"
        assert cell(table, "BTC/USDT", "tp") == "66,000.0"
        assert cell(table, "EURUSD", "sl") == "1.09000"
        assert cell(table, "EURUSD", "tp") == "—"


async def test_a_position_without_protection_shows_dashes_and_new_levels_replace_old() -> None:
    app = _Host()
    async with app.run_test(size=(120, 10)):
        table = app.query_one(PositionsTable)
        table.set_positions([LONG])
        assert (cell(table, "BTC/USDT", "sl"), cell(table, "BTC/USDT", "tp")) == (
            "—",
            "—",
        )
        table.set_positions([LONG], [_leg("a-sl", "BTC/USDT", Side.SELL, OrderType.STOP, "63000")])
        assert cell(table, "BTC/USDT", "sl") == "63,000"


async def test_several_levels_show_the_first_and_how_many_more() -> None:
    app = _Host()
    async with app.run_test(size=(120, 10)):
        table = app.query_one(PositionsTable)
        table.set_positions(
            [LONG],
            [
                _leg("a-sl", "BTC/USDT", Side.SELL, OrderType.STOP, "63500.0"),
                _leg("b-sl", "BTC/USDT", Side.SELL, OrderType.STOP, "63000.0"),
                _leg("c-sl", "BTC/USDT", Side.SELL, OrderType.STOP, "63500.0"),
            ],
        )
        assert cell(table, "BTC/USDT", "sl") == "63,500.0 +1"


def test_levels_are_shown_exactly() -> None:
    assert levels_text([Decimal("0.000012345")]) == "0.000012345"
    assert levels_text([]) == "—"


class _Priced(App[None]):
    def compose(self) -> ComposeResult:
        yield PositionsTable({"EURUSD": 5})


async def test_the_mark_shows_at_the_symbol_s_precision_or_every_digit() -> None:
    app = _Priced()
    async with app.run_test(size=(120, 10)):
        table = app.query_one(PositionsTable)
        table.set_positions([LONG, SHORT])
        table.update_mark("EURUSD", 1.0849)
        table.update_mark("BTC/USDT", 64_001.625)
        assert cell(table, "EURUSD", "mark") == "1.08490"
        assert cell(table, "BTC/USDT", "mark") == "64,001.625"  # no precision known: all of it
        table.update_mark("BTC/USDT", float("nan"))
        assert cell(table, "BTC/USDT", "mark") == "—"
