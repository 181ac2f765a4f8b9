"""The order book prints sizes as plain numbers with thousands separators, every digit a venue
sent and none of a float's noise."""

from __future__ import annotations

from textual.app import App, ComposeResult

from engine.model import BookLevel, OrderBook
from widgets.order_book import OrderBookLadder, size_text


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield OrderBookLadder()


BOOK = OrderBook(
    1,
    "BTC/USDT",
    bids=(BookLevel(64000.0, 67000.0), BookLevel(63999.5, 0.0153)),
    asks=(BookLevel(64000.5, 1234567.891), BookLevel(64001.0, 0.015330000000000001)),
)


async def test_sizes_are_plain_numbers_in_the_ladder() -> None:
    app = _Host()
    async with app.run_test(size=(60, 12)) as pilot:
        ladder = app.query_one(OrderBookLadder)
        ladder.show_symbol("BTC/USDT", 1)
        ladder.set_book(BOOK)
        await pilot.pause()
        lines = ladder.render().plain.splitlines()
        assert "e+" not in ladder.render().plain
        width = len("1,234,567.891")  # the widest size sets the column
        assert lines[1].startswith(f"64,001.0 {'0.01533':>{width}} ")
        assert lines[2].startswith("64,000.5 1,234,567.891 ")
        assert lines[4].startswith(f"64,000.0 {'67,000':>{width}} ")
        assert lines[5].startswith(f"63,999.5 {'0.0153':>{width}} ")


def test_size_text_keeps_what_matters() -> None:
    assert size_text(67000.0) == "67,000"
    assert size_text(0.0153) == "0.0153"
    assert size_text(1e-8) == "0.00000001"
    assert size_text(123456789012.5) == "123,456,789,012.5"
    assert size_text(0.1 + 0.2) == "0.3"
