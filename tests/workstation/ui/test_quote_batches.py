"""Quotes reach the dashboard one batch at a time: the app's pump drains the hub whenever it
holds something and posts the next :class:`MarketBatch` only once the last is handled, so the
screen's queue never holds a backlog of quotes for keys to wait behind, and every quote reaches
the screen in order (the sparkline and the forming candle see every price)."""

from __future__ import annotations

import asyncio

from textual.message import Message

from engine.model import Bar, OrderBook, Tick
from feeds.synthetic import SyntheticFeed
from tests.workstation.ui.ui_helpers import wait_for
from widgets.watchlist import Watchlist
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.ui.app import QwsApp
from workstation.ui.batches import ScreenBatches
from workstation.ui.screens.messages import MarketBatch


def _tick(symbol: str, price: float) -> Tick:
    return Tick(1, symbol, price, price, price, 1.0)


def test_one_batch_in_flight_the_rest_waits_in_order() -> None:
    posted: list[MarketBatch] = []
    batches = ScreenBatches(posted.append)
    batches.add([_tick("A", 1.0)])
    batches.add([_tick("A", 2.0), _tick("B", 3.0)])
    batches.add([_tick("A", 4.0)])
    assert len(posted) == 1 and batches.in_flight
    posted[0].finish()
    assert len(posted) == 2
    assert [e.last for e in posted[1].events] == [2.0, 3.0, 4.0]  # every price, in order
    posted[1].finish()
    posted[1].finish()  # twice: no effect
    assert not batches.in_flight and batches.shown == 4 and len(posted) == 2


def test_past_the_cap_only_the_newest_quote_of_each_symbol_waits() -> None:
    posted: list[MarketBatch] = []
    batches = ScreenBatches(posted.append, cap=3)
    batches.add([_tick("A", 0.0)])
    book = OrderBook(1, "A", (), ())
    bar = Bar(1, "A", "1m", 1, 1, 1, 1, 1, closed=True)
    batches.add([_tick("A", 1.0), book, _tick("B", 2.0), _tick("A", 3.0), bar, _tick("A", 5.0)])
    assert batches.conflated == 2 and batches.shown == 2
    posted[0].finish()
    assert posted[1].events == [book, _tick("B", 2.0), bar, _tick("A", 5.0)]
    posted[1].finish()
    assert batches.shown == 5  # every quote made


async def test_one_batch_in_flight_and_every_quote_reaches_the_screen(store: Store) -> None:
    feed = SyntheticFeed(symbols=50, rate=2000, duration_s=2.0)
    app = QwsApp(feed, store, Settings.load(environ={}), show_clock=False)
    batches: dict[int, MarketBatch] = {}
    overlapping: list[int] = []

    post = app.dashboard.post_message

    def posted(message: Message) -> bool:
        if isinstance(message, MarketBatch):
            if any(not b.handled for b in batches.values()):
                overlapping.append(id(message))
            batches[id(message)] = message
        return post(message)

    app.dashboard.post_message = posted  # type: ignore[method-assign]
    async with app.run_test(size=(120, 36)):
        watchlist = app.dashboard.query_one(Watchlist)
        await wait_for(lambda: len(batches) > 3)
        for _ in range(3):  # the screen busy for a while: quotes wait in one batch
            app.dashboard.call_later(asyncio.sleep, 0.3)
            await asyncio.sleep(0.25)
        await wait_for(lambda: app.runtime.feed_error == "stream ended")
        await wait_for(lambda: all(s.pending == 0 for s in app.hub.stats()))
        await wait_for(lambda: all(b.handled for b in batches.values()))
        assert app.quotes_seen == feed.sent  # each shown, or superseded in the hub
        assert batches and not overlapping
        assert max(len(b.events) for b in batches.values()) > 50  # quotes waited, not dropped
        shown = watchlist.last
        assert all(abs(shown[s] - mid) <= 0.016 for s, mid in feed.mids.items())  # bid|ask
