"""Plugin contracts. They sit at the bottom layer so feeds and plugins never import workstation.

Third-party plugins register under the entry-point groups ``qws.feeds``, ``qws.brokers``,
``qws.strategies``, ``qws.notifiers`` and ``qws.sources``; the first-party ones register the
same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from engine.model import (
    Alert,
    Bar,
    DeliveryResult,
    Fill,
    NewsItem,
    Order,
    OrderBook,
    Position,
    Signal,
    Tick,
)

if TYPE_CHECKING:
    import polars as pl  # annotations only: importing protocols must not load polars

FeedEvent = Tick | Bar | OrderBook


@runtime_checkable
class Feed(Protocol):
    """A market-data source.

    ``history`` returns a polars frame with columns ``ts`` (Int64, UTC ns), ``open``, ``high``,
    ``low``, ``close``, ``volume`` (Float64), oldest first, at most ``limit`` rows ending at the
    latest bar. ``stream`` yields ticks, closed bars (``Bar.closed``) and optionally book
    snapshots until cancelled.
    """

    name: str

    async def history(
        self, symbol: str, timeframe: str, start: int | None = None, limit: int | None = None
    ) -> pl.DataFrame: ...

    def stream(self, symbols: Sequence[str], timeframe: str) -> AsyncIterator[FeedEvent]: ...

    def symbols(self) -> list[str]: ...

    async def close(self) -> None: ...


@runtime_checkable
class Broker(Protocol):
    """Order execution. Every call is idempotent on ``Order.client_id``."""

    name: str

    async def submit(self, order: Order) -> Order: ...

    async def cancel(self, client_id: str) -> Order: ...

    async def open_orders(self) -> list[Order]: ...

    async def positions(self) -> list[Position]: ...

    async def balance(self) -> dict[str, float]: ...


@runtime_checkable
class Strategy(Protocol):
    """What a runner reads of a strategy (:class:`engine.strategy.Strategy` is the base class
    plugins derive from). Read-only: a strategy may declare these as class attributes or
    properties."""

    @property
    def name(self) -> str: ...

    @property
    def params(self) -> dict[str, Any]: ...

    @property
    def timeframe(self) -> str: ...

    @property
    def warmup(self) -> int: ...

    def on_bar(self, ctx: Any, bars: pl.DataFrame) -> Signal | None: ...


@runtime_checkable
class Notifier(Protocol):
    name: str

    async def send(self, alert: Alert) -> DeliveryResult: ...


@runtime_checkable
class Source(Protocol):
    """A source of timestamped items (news): entry point group ``qws.sources``.

    ``fetch`` polls once and returns the items the source has now, newest or oldest first
    (an item seen before may come again: the store keeps each ``(key, id)`` once). A source
    that has nothing new returns ``[]`` (an HTTP 304). A failed poll raises
    :class:`SourceError` with a message safe to show; the poller counts it and tries again
    at its next turn, nothing already stored is touched."""

    name: str

    async def fetch(self) -> list[NewsItem]: ...

    async def close(self) -> None: ...


class SourceError(Exception):
    """A poll of a source failed (timeout, HTTP error, a document that is not a feed)."""


class BrokerError(Exception):
    """A broker call failed; the message is the venue's, safe to show (no secrets)."""


class OrderRejected(BrokerError):
    """The venue refused the order for good (insufficient funds, invalid order, ...)."""


class BrokerUnavailable(BrokerError):
    """A transient failure (timeout, 5xx, rate limit) after the broker's own retries: the order's
    fate is unknown until the next reconciliation looks it up by client id."""


class OrderNotFound(BrokerError):
    """The venue has no order with this client id."""


@runtime_checkable
class ReconcilingBroker(Broker, Protocol):
    """What reconciliation needs beyond :class:`Broker`: one order by client id (open or not;
    ``symbol`` is a hint for venues that key orders by symbol) and the fills since a time,
    including trades made outside qws."""

    async def order(self, client_id: str, symbol: str | None = None) -> Order | None: ...

    async def fills(self, since_ns: int | None = None) -> list[Fill]: ...
