"""The messages between the app and its screens. Small, typed, one module.

Data goes down: the app's workers post market data and desk updates to the dashboard, which
hands them to its widgets. Intents go up: a screen posts what the user asked for, and the app,
the screen's parent, handles it (Textual messages bubble from a screen to its app, never down).

Frequent messages define ``can_replace`` so a newer value for the same key replaces a pending
one instead of queueing behind it (Textual drops the older message).

The module sits beside the screens, not in ``workstation/ui/``: the app imports the screens, so
what the screens import must not import the app's folder back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from textual.message import Message

from engine.commands import Command
from engine.model import (
    Bar,
    NewsItem,
    Order,
    OrderBook,
    OrderType,
    Position,
    Side,
    Signal,
    Tick,
)
from widgets.cycle_panel import CycleResult

# -- data: the app -> the dashboard ---------------------------------------------------------


class QuoteUpdated(Message):
    def __init__(self, tick: Tick) -> None:
        super().__init__()
        self.tick = tick

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, QuoteUpdated) and message.tick.symbol == self.tick.symbol


class MarketBatch(Message):
    """Every quote, book and closed bar that reached the screen since the last batch, in
    delivery order (see :mod:`workstation.ui.batches`: one batch is in flight at a time).

    The handler calls :meth:`finish` when done (``handled`` turns true), which lets the next
    batch be posted."""

    def __init__(self, events: Sequence[Any], done: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.events = events
        self.handled = False
        self._done = done

    def finish(self) -> None:
        if self.handled:
            return
        self.handled = True
        if self._done is not None:
            self._done()


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


class StatusChanged(Message):
    """The status line's new text (feed health, counts, broker); the newest one wins."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StatusChanged)


class PrecisionLearned(Message):
    """Price decimals per symbol, learned once the runtime has opened the venue."""

    def __init__(self, decimals: dict[str, int]) -> None:
        super().__init__()
        self.decimals = dict(decimals)


class OrderUpdated(Message):
    def __init__(self, order: Order) -> None:
        super().__init__()
        self.order = order


class PositionsUpdated(Message):
    """The open positions, and the working stop-loss and take-profit legs that protect them."""

    def __init__(self, positions: Sequence[Position], protective: Sequence[Order] = ()) -> None:
        super().__init__()
        self.positions = tuple(positions)
        self.protective = tuple(protective)


# -- results of the dashboard's own engine workers ------------------------------------------


class CyclesComputed(Message):
    """A QPE run's result for one symbol/timeframe (see :class:`CycleResult`)."""

    def __init__(self, result: CycleResult) -> None:
        super().__init__()
        self.result = result


class SignalRaised(Message):
    def __init__(self, signal: Signal) -> None:
        super().__init__()
        self.signal = signal


class ModelReady(Message):
    """A symbol's learnt confidence model is in (fitted, or read from the store): ``report``
    is its walk-forward calibration, the ``qws calibrate --json`` shape."""

    def __init__(self, symbol: str, timeframe: str, report: dict[str, Any]) -> None:
        super().__init__()
        self.symbol = symbol
        self.timeframe = timeframe
        self.report = report


class NewsReceived(Message):
    """News items stored for the first time by the runtime's poll (scored, with their
    symbols)."""

    def __init__(self, items: Sequence[NewsItem]) -> None:
        super().__init__()
        self.items = tuple(items)


# -- intents: a screen -> the app -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TicketDraft:
    """What the order ticket opens with (from a key press or a parsed command)."""

    symbol: str
    side: Side = Side.BUY
    type: OrderType = OrderType.MARKET
    qty: Decimal | None = None
    price: Decimal | None = None
    sl: Decimal | None = None
    tp: Decimal | None = None
    algo: str = ""
    """``twap`` or ``vwap``: the order is worked over ``over`` (``30m``), or '' for one order."""
    over: str = ""
    max_participation: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AlgoChoice:
    """What the ticket returns for an order worked over time: the whole order as the ticket
    built it (symbol, side, quantity on the lot grid) and how to work it."""

    order: Order
    algo: str
    over: str
    max_participation: Decimal | None = None


class TicketRequested(Message):
    """Open the order ticket with ``draft`` (a key press or a parsed command); the app knows
    the instrument, the mark and the desk's risk check the ticket needs."""

    def __init__(self, draft: TicketDraft) -> None:
        super().__init__()
        self.draft = draft


class WatchRequested(Message):
    """The dashboard put ``symbol`` on its watchlist: stream it, save the list, fetch its
    reference price."""

    def __init__(self, symbol: str) -> None:
        super().__init__()
        self.symbol = symbol


class UnwatchRequested(Message):
    """The dashboard took ``symbol`` off its watchlist: stop streaming it and save the list."""

    def __init__(self, symbol: str) -> None:
        super().__init__()
        self.symbol = symbol


class CancelRequested(Message):
    """Cancel one working order (``client_id``), or every one (None)."""

    def __init__(self, client_id: str | None) -> None:
        super().__init__()
        self.client_id = client_id


class TradeRequested(Message):
    """A parsed command for the desk: ``close``, ``flatten``, ``cancel`` or ``kill``."""

    def __init__(self, command: Command) -> None:
        super().__init__()
        self.command = command


class HelpRequested(Message):
    """Show the help screen (the ``help`` command; f1 is the app's own binding)."""


class RiskRequested(Message):
    """Open the risk screen (f4, or the ``stress`` command with its shocks, as typed)."""

    def __init__(self, shocks: str = "", propagate: bool = False) -> None:
        super().__init__()
        self.shocks = shocks
        self.propagate = propagate
