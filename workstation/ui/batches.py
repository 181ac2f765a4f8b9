"""The screen's market data, one batch in flight at a time.

The app's pump drains the hub's screen mailbox whenever it has something (so the hub conflates
no more than it did when every quote was posted on its own) and hands it here; a batch is
posted to the dashboard only once the last one is handled, so the screen's queue never holds a
backlog of market messages for keys to wait behind, and every quote still reaches the screen in
order: the sparkline and the forming candle see every price.

While the dashboard is stalled the pending batch grows; past ``cap`` quotes it keeps only the
newest quote of each symbol (books and closed bars are kept), so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from engine.model import Tick
from workstation.ui.screens.messages import MarketBatch


class ScreenBatches:
    def __init__(self, post: Callable[[MarketBatch], Any], cap: int = 20_000) -> None:
        self._post = post
        self.cap = cap
        self._pending: list[Any] = []
        self._quotes = 0
        self._in_flight = False
        self.shown = 0
        """Quotes in handled batches, plus those conflated here (superseded by a newer one)."""
        self.conflated = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def in_flight(self) -> bool:
        return self._in_flight

    def add(self, events: Iterable[Any]) -> None:
        for event in events:
            self._pending.append(event)
            if isinstance(event, Tick):
                self._quotes += 1
        if self._quotes > self.cap:
            self._conflate()
        self._flush()

    def _conflate(self) -> None:
        newest = {e.symbol: i for i, e in enumerate(self._pending) if isinstance(e, Tick)}
        kept = [
            e
            for i, e in enumerate(self._pending)
            if not isinstance(e, Tick) or newest[e.symbol] == i
        ]
        self.conflated += self._quotes - len(newest)
        self.shown += self._quotes - len(newest)
        self._pending, self._quotes = kept, len(newest)

    def _flush(self) -> None:
        if self._in_flight or not self._pending:
            return
        batch, quotes = self._pending, self._quotes
        self._pending, self._quotes = [], 0
        self._in_flight = True

        def done() -> None:
            self.shown += quotes
            self._in_flight = False
            self._flush()

        self._post(MarketBatch(batch, done))
