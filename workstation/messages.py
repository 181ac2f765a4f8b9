"""Messages from the app's workers to its widgets. Small, typed, one module.

Frequent messages define ``can_replace`` so a newer value for the same key replaces a pending
one instead of queueing behind it (Textual drops the older message).
"""

from __future__ import annotations

from textual.message import Message

from engine.model import Bar, OrderBook, Tick


class QuoteUpdated(Message):
    def __init__(self, tick: Tick) -> None:
        super().__init__()
        self.tick = tick

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, QuoteUpdated) and message.tick.symbol == self.tick.symbol


class BarClosed(Message):
    def __init__(self, bar: Bar) -> None:
        super().__init__()
        self.bar = bar


class BookUpdated(Message):
    def __init__(self, book: OrderBook) -> None:
        super().__init__()
        self.book = book

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, BookUpdated) and message.book.symbol == self.book.symbol


class ReferencePrice(Message):
    """The price that change % is measured against (the previous daily close)."""

    def __init__(self, symbol: str, price: float) -> None:
        super().__init__()
        self.symbol = symbol
        self.price = price


class FeedStatus(Message):
    def __init__(self, feed: str, state: str, detail: str = "") -> None:
        super().__init__()
        self.feed = feed
        self.state = state
        self.detail = detail
