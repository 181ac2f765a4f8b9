"""Messages from the app's workers to its widgets. Small, typed, one module.

Frequent messages define ``can_replace`` so a newer value for the same key replaces a pending
one instead of queueing behind it (Textual drops the older message).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.message import Message

from engine.model import Bar, Cycle, CyclePhase, Order, OrderBook, Position, Signal, Tick


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


class CyclesComputed(Message):
    """A QPE run's result for one symbol/timeframe: the phase-register distribution
    (``spectrum``, index = phase bin k), the dominant cycles, the current phase, and how it ran."""

    def __init__(
        self,
        symbol: str,
        timeframe: str,
        spectrum: Any,
        cycles: Sequence[Cycle],
        phase: CyclePhase | None,
        elapsed_ms: float,
        backend: str,
    ) -> None:
        super().__init__()
        self.symbol = symbol
        self.timeframe = timeframe
        self.spectrum = spectrum
        self.cycles = tuple(cycles)
        self.phase = phase
        self.elapsed_ms = elapsed_ms
        self.backend = backend


class SignalRaised(Message):
    def __init__(self, signal: Signal) -> None:
        super().__init__()
        self.signal = signal


class OrderUpdated(Message):
    def __init__(self, order: Order) -> None:
        super().__init__()
        self.order = order


class PositionsUpdated(Message):
    def __init__(self, positions: Sequence[Position]) -> None:
        super().__init__()
        self.positions = tuple(positions)


class LogLine(Message):
    """A line for the log/alerts pane (severity: info, warning, error, success)."""

    def __init__(self, text: str, severity: str = "info") -> None:
        super().__init__()
        self.text = text
        self.severity = severity
