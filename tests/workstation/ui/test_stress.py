"""2,000 quotes/s over 50 symbols for 10 s while a user presses keys: the app answers every
key, in the order pressed, and when the stream stops every symbol shows its latest quote
(conflation drops only stale ones). How fast it answers is measured, not asserted:
``benchmarks/ui_keys_under_load.py`` prints the figures."""

from __future__ import annotations

from textual import events
from textual.message import Message

from feeds.synthetic import SyntheticFeed
from tests.workstation.ui.ui_helpers import wait_for
from widgets.chart import Chart
from widgets.command_bar import CommandBar
from widgets.watchlist import Watchlist
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.ui.app import QwsApp
from workstation.ui.screens.help import HelpScreen

SECONDS = 10.0
MOVES = 3
"""Cursor moves per round, sent back to back without waiting for the screen."""


def send_key(app: QwsApp, key: str, char: str | None = None) -> None:
    """Deliver a key the way the pilot does, without its wait-for-idle (never idle here)."""
    event = events.Key(key, char)
    event.set_sender(app)
    assert app._driver is not None
    app._driver.send_message(event)


async def test_the_app_answers_keys_under_2000_quotes_per_second(store: Store) -> None:
    feed = SyntheticFeed(symbols=50, rate=2000, duration_s=SECONDS)
    app = QwsApp(feed, store, Settings.load(environ={}), show_clock=False)
    highlighted: dict[int, str] = {}  # by message: a message is seen once per node it reaches

    def hook(message: Message) -> None:
        if isinstance(message, Watchlist.Highlighted):
            highlighted.setdefault(id(message), message.symbol)

    async with app.run_test(size=(120, 36), message_hook=hook):
        dashboard = app.dashboard
        watchlist = dashboard.query_one(Watchlist)
        chart = dashboard.query_one(Chart)
        bar = dashboard.query_one(CommandBar)
        await wait_for(lambda: chart.bar_count > 0)
        rounds = 0
        while rounds < 4 or app.runtime.feed_error != "stream ended":
            watchlist.focus()
            order, at = list(watchlist.order), watchlist.cursor
            highlighted.clear()
            for key in ["down"] * MOVES + ["up"] * MOVES:
                send_key(app, key)
            path = order[at + 1 : at + MOVES + 1] + order[at : at + MOVES][::-1]
            await wait_for(lambda p=path: list(highlighted.values()) == p)
            await wait_for(lambda s=order[at]: chart.symbol == s and chart.bar_count > 0)
            send_key(app, "f1")
            await wait_for(lambda: isinstance(app.screen, HelpScreen))
            send_key(app, "escape")
            await wait_for(lambda: not isinstance(app.screen, HelpScreen))
            send_key(app, "colon", ":")
            await wait_for(lambda: bar.has_focus)
            send_key(app, "escape")
            await wait_for(lambda: not bar.has_focus)
            assert list(highlighted.values()) == path  # each move answered once, in order
            rounds += 1
        # the runtime takes every quote (lossless): a loaded machine slows the feed, it does
        # not lose quotes
        assert feed.sent > 5_000
        await wait_for(lambda: all(s.pending == 0 for s in app.hub.stats()))

        def stale() -> list[str]:
            shown = watchlist.last
            return [
                s for s, mid in feed.mids.items() if not abs(shown[s] - mid) <= 0.016
            ]  # last = bid|ask

        await wait_for(lambda: not stale())
        assert app.quotes_seen > 1_000
