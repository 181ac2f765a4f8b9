"""2,000 quotes/s over 50 symbols for 10 s while a user presses keys: the app answers every
key, and when the stream stops every symbol shows its latest quote (conflation drops only stale
ones). How fast it answers is a benchmark's business, not a test's (a busy machine would make
any threshold flaky); the reactions are printed for a human to read."""

from __future__ import annotations

import asyncio
import time

from textual import events

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


def send_key(app: QwsApp, key: str, char: str | None = None) -> float:
    """Deliver a key the way the pilot does, without its wait-for-idle (never idle here)."""
    event = events.Key(key, char)
    event.set_sender(app)
    assert app._driver is not None
    app._driver.send_message(event)
    return time.perf_counter()


async def reaction(app: QwsApp, key: str, effect, char: str | None = None) -> float:  # type: ignore[no-untyped-def]
    sent = send_key(app, key, char)
    await wait_for(effect, timeout=30)  # a deadline for "answered at all", not a speed
    return time.perf_counter() - sent


async def test_the_app_answers_keys_under_2000_quotes_per_second(store: Store) -> None:
    feed = SyntheticFeed(symbols=50, rate=2000, duration_s=SECONDS)
    app = QwsApp(feed, store, Settings.load(environ={}), show_clock=False)
    async with app.run_test(size=(120, 36)):
        dashboard = app.dashboard
        watchlist = dashboard.query_one(Watchlist)
        chart = dashboard.query_one(Chart)
        bar = dashboard.query_one(CommandBar)
        await wait_for(lambda: chart.bar_count > 0)
        start = time.perf_counter()
        reactions: list[float] = []
        while len(reactions) < 20 or time.perf_counter() - start < SECONDS - 1.0:
            watchlist.focus()
            before = chart.symbol
            reactions.append(await reaction(app, "down", lambda b=before: chart.symbol != b))
            reactions.append(await reaction(app, "f1", lambda: isinstance(app.screen, HelpScreen)))
            reactions.append(
                await reaction(app, "escape", lambda: not isinstance(app.screen, HelpScreen))
            )
            reactions.append(await reaction(app, "colon", lambda: bar.has_focus, ":"))
            reactions.append(await reaction(app, "escape", lambda: not bar.has_focus))
            await asyncio.sleep(0.2)
        assert len(reactions) >= 5 * 4  # every key of at least four rounds was answered
        print(f"key reactions (ms): {sorted(round(r * 1e3) for r in reactions)}")
        # the runtime takes every quote (lossless): a loaded machine slows the feed, it does
        # not lose quotes; wait for the stream to end, whatever it managed to send
        await wait_for(lambda: app.runtime.feed_error == "stream ended", timeout=60)
        assert feed.sent > 5_000
        await wait_for(lambda: all(s.pending == 0 for s in app.hub.stats()), timeout=60)

        def stale() -> list[str]:
            shown = watchlist.last
            return [
                s for s, mid in feed.mids.items() if not abs(shown[s] - mid) <= 0.016
            ]  # last = bid|ask

        await wait_for(lambda: not stale(), timeout=60)
        assert app.quotes_seen > 1_000
