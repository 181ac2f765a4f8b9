"""The event hub: asyncio fan-out from feeds to subscribers (store, engine worker, screen).

Each subscriber has its own mailbox, so one slow reader never delays another:
- quotes (:class:`~engine.model.Tick`) are conflated per symbol: under back-pressure the
  newest quote replaces the pending one (``replaced`` counts how often);
- every other event (closed bars, books, signals...) queues in order, bounded by ``maxsize``.
  A *lossless* subscriber (the store) makes the publisher wait for room; a lossy one (the
  screen) drops its oldest pending event and counts it in ``dropped``;
- an *ordered* subscriber (the trading runtime) gets every quote too, in order with the other
  events, lossless: the paper broker must see the quote a bar closed on before that bar's
  orders, and every trade that could fill a resting order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from engine.model import Tick


@dataclass(slots=True)
class SubscriberStats:
    name: str
    delivered: int
    replaced: int
    dropped: int
    pending: int


class Subscription:
    def __init__(self, name: str, maxsize: int, lossless: bool, ordered: bool = False) -> None:
        self.name = name
        self.ordered = ordered
        self.maxsize = maxsize
        self.lossless = lossless
        self._quotes: dict[str, Tick] = {}
        self._events: deque[Any] = deque()
        self._wakeup = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self.delivered = 0
        self.replaced = 0
        self.dropped = 0
        self.closed = False

    @property
    def pending(self) -> int:
        return len(self._quotes) + len(self._events)

    def _put_quote(self, tick: Tick) -> None:
        if tick.symbol in self._quotes:
            self.replaced += 1
            del self._quotes[tick.symbol]  # re-insert so the freshest symbol is served last
        self._quotes[tick.symbol] = tick
        self._wakeup.set()

    async def _put_event(self, event: Any) -> None:
        while len(self._events) >= self.maxsize:
            if not self.lossless:
                self._events.popleft()
                self.dropped += 1
                break
            self._room.clear()
            await self._room.wait()
            if self.closed:
                return
        self._events.append(event)
        self._wakeup.set()

    async def get(self) -> Any:
        """Next event: queued events first (they carry order), then the freshest quotes."""
        while True:
            if self._events:
                event = self._events.popleft()
                self._room.set()
                self.delivered += 1
                return event
            if self._quotes:
                symbol = next(iter(self._quotes))
                self.delivered += 1
                return self._quotes.pop(symbol)
            if self.closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()

    def get_nowait_all(self) -> list[Any]:
        """Everything pending, in delivery order (for batched consumers such as the screen)."""
        out = list(self._events)
        out.extend(self._quotes.values())
        self.delivered += len(out)
        self._events.clear()
        self._quotes.clear()
        self._room.set()
        return out

    async def wait(self) -> None:
        while not self._events and not self._quotes:
            if self.closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        return await self.get()

    def close(self) -> None:
        self.closed = True
        self._wakeup.set()
        self._room.set()

    def stats(self) -> SubscriberStats:
        return SubscriberStats(self.name, self.delivered, self.replaced, self.dropped, self.pending)


class Hub:
    def __init__(self, maxsize: int = 10_000) -> None:
        self.maxsize = maxsize
        self._subs: list[Subscription] = []
        self.published = 0

    def subscribe(
        self, name: str, maxsize: int | None = None, lossless: bool = False, ordered: bool = False
    ) -> Subscription:
        sub = Subscription(name, maxsize or self.maxsize, lossless or ordered, ordered)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.close()
        if sub in self._subs:
            self._subs.remove(sub)

    async def publish(self, event: Any) -> None:
        self.published += 1
        if isinstance(event, Tick):
            for sub in list(self._subs):
                if sub.ordered:
                    await sub._put_event(event)
                else:
                    sub._put_quote(event)
            return
        for sub in list(self._subs):
            await sub._put_event(event)

    def stats(self) -> list[SubscriberStats]:
        return [s.stats() for s in self._subs]

    def close(self) -> None:
        for sub in self._subs:
            sub.close()
        self._subs.clear()
