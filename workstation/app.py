"""The Textual app: wires a feed through the hub to the store and the screen.

Three workers run on the app's event loop: the feed pump (feed -> hub), the store writer
(closed bars -> SQLite, in a thread, lossless), and the screen pump (quotes, conflated per
symbol, -> widgets as messages). Nothing slow runs on the UI thread, and nothing here imports
qiskit or numba: the engine is loaded lazily by the panels that need it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType

from engine.model import Bar, Tick
from engine.protocols import Feed
from widgets.watchlist import Watchlist
from workstation.config import Settings
from workstation.hub import Hub
from workstation.messages import QuoteUpdated, ReferencePrice
from workstation.screens.dashboard import DashboardScreen
from workstation.store import Store


class QwsApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "Quantum Workstation"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit", id="quit")]

    def __init__(
        self,
        feed: Feed,
        store: Store,
        settings: Settings,
        symbols: Sequence[str] | None = None,
        timeframe: str | None = None,
    ) -> None:
        super().__init__()
        self.feed = feed
        self.store = store
        self.settings = settings
        self.timeframe = timeframe or settings.get("app.timeframe", "1m")
        self.hub = Hub(settings.get("hub.queue_size", 10_000))
        self.symbols = self._choose_symbols(symbols)
        self.quotes_seen = 0
        self.bars_stored = 0
        self.feed_error = ""

    def _choose_symbols(self, requested: Sequence[str] | None) -> list[str]:
        known = set(self.feed.symbols())
        wanted = list(requested or self.store.watchlist() or self.settings.get("watchlist.default"))
        chosen = [s for s in wanted if s in known]
        return chosen or list(self.feed.symbols())

    def _decimals(self) -> dict[str, int]:
        instrument = getattr(self.feed, "instrument", None)
        out: dict[str, int] = {}
        for symbol in self.symbols:
            try:
                out[symbol] = instrument(symbol).price_decimals if instrument else 4
            except (KeyError, ValueError):
                out[symbol] = 4
        return out

    async def on_mount(self) -> None:
        self.theme = self.settings.get("app.theme", "textual-dark")
        dashboard = DashboardScreen(self.symbols, self._decimals())
        await self.push_screen(dashboard)
        self.watchlist = dashboard.query_one(Watchlist)
        self.screen_pump()
        self.store_writer()
        self.feed_pump()
        self.load_references()
        self.set_interval(1.0, self._refresh_status)

    @work(exclusive=True, group="feed")
    async def feed_pump(self) -> None:
        try:
            async for event in self.feed.stream(self.symbols, self.timeframe):
                await self.hub.publish(event)
            self.feed_error = "stream ended"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.feed_error = f"{type(exc).__name__}: {exc}"
            self.log.error(f"feed {self.feed.name} stopped: {self.feed_error}")
            self.notify(f"feed stopped: {self.feed_error}", severity="error", timeout=10)

    @work(exclusive=True, group="screen")
    async def screen_pump(self) -> None:
        sub = self.hub.subscribe("screen", maxsize=1_000)
        while True:
            await sub.wait()
            watchlist = self.watchlist
            for event in sub.get_nowait_all():
                if isinstance(event, Tick):
                    self.quotes_seen += 1
                    watchlist.post_message(QuoteUpdated(event))
            await asyncio.sleep(0)

    @work(exclusive=True, group="store")
    async def store_writer(self) -> None:
        sub = self.hub.subscribe("store", lossless=True)
        venue = getattr(self.feed, "venue", self.feed.name)
        while True:
            await sub.wait()
            bars = [e for e in sub.get_nowait_all() if isinstance(e, Bar) and e.closed]
            for bar in bars:
                await asyncio.to_thread(self._store_bar, bar, venue)

    def _store_bar(self, bar: Bar, venue: str) -> None:
        from engine.timeframes import bars_to_frame

        self.store.upsert_candles(bars_to_frame([bar]), bar.symbol, bar.timeframe, venue)
        self.bars_stored += 1

    @work(exclusive=True, group="references")
    async def load_references(self) -> None:
        for symbol in self.symbols:
            try:
                daily = await self.feed.history(symbol, "1d", limit=1)
            except Exception as exc:
                self.log.warning(f"no daily history for {symbol}: {exc}")
                continue
            if daily.height and math.isfinite(daily["close"][-1]):
                self.watchlist.post_message(ReferencePrice(symbol, float(daily["close"][-1])))

    def _refresh_status(self) -> None:
        screen = self.screen
        if not isinstance(screen, DashboardScreen):
            return
        drops = sum(s.dropped for s in self.hub.stats())
        state = f"[red]{self.feed_error}[/red]" if self.feed_error else "live"
        screen.set_status(
            f"feed {self.feed.name}: {state} · quotes {self.quotes_seen:,}"
            f" · bars stored {self.bars_stored:,} · drops {drops}"
            f" · {time.strftime('%H:%M:%S', time.gmtime())} UTC"
        )

    async def on_unmount(self) -> None:
        self.hub.close()
        await self.feed.close()
