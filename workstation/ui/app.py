"""The Textual app: composes the screens and wires a feed through the hub to the store, the
screen and the desk.

Three workers run on the app's event loop: the feed pump (feed -> hub), the store writer
(closed bars -> SQLite, in a thread, lossless), and the screen pump (quotes conflated per
symbol, books, closed bars -> the dashboard as messages). The screens post the user's intents
up as messages (:mod:`workstation.ui.screens.messages`), handled here with ``@on``. Nothing slow
runs on the UI thread, and nothing here imports qiskit or numba: the engine is loaded lazily by
the panels that need it, inside workers.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import Provider

from engine.commands import Command
from engine.model import Bar, Fill, Instrument, Order, OrderBook, Signal, Tick
from engine.protocols import Feed
from workstation.runtime.config import Settings
from workstation.runtime.hub import Hub
from workstation.store import Store
from workstation.trading.desk import Desk
from workstation.trading.killswitch import KillSwitch
from workstation.ui.palette import WorkstationCommands
from workstation.ui.screens.dashboard import DashboardScreen
from workstation.ui.screens.messages import (
    BarClosed,
    BookUpdated,
    CancelRequested,
    HelpRequested,
    OrderUpdated,
    PositionsUpdated,
    QuoteUpdated,
    ReferencePrice,
    SignalFound,
    TicketRequested,
    TradeRequested,
    UnwatchRequested,
    WatchRequested,
)
from workstation.ui.screens.order_ticket import OrderTicket, TicketDraft
from workstation.ui.screens.services import Preferences, instrument_of, price_decimals, venue_of
from workstation.ui.status import broker_state, feed_health, status_line

if TYPE_CHECKING:
    from workstation.alerts.service import TelegramService


def choose_symbols(
    requested: Sequence[str] | None,
    saved: Sequence[str] | None,
    default: Sequence[str] | None,
    known: Sequence[str],
) -> list[str]:
    """The symbols to stream: those asked for (``--symbols``), else the saved watchlist, else the
    config's default; only those the feed has, and all of the feed's if none of them is left."""
    wanted = list(requested or saved or default or ())
    have = set(known)
    return [s for s in wanted if s in have] or list(known)


class QwsApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "Quantum Workstation"
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = {
        *App.COMMANDS,
        WorkstationCommands,
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("f1,question_mark", "help", "Help", id="app.help"),
    ]

    def __init__(
        self,
        feed: Feed,
        store: Store,
        settings: Settings,
        symbols: Sequence[str] | None = None,
        timeframe: str | None = None,
        clock: Callable[[], int] = time.time_ns,
        show_clock: bool = True,
    ) -> None:
        super().__init__()
        self.feed = feed
        self.store = store
        self.settings = settings
        self.preferences = Preferences(store, settings)
        self.clock = clock
        self.show_clock = show_clock
        self.timeframe = timeframe or self.preferences.get("app.timeframe", "1m")
        self.hub = Hub(settings.get("hub.queue_size", 10_000))
        self.symbols = choose_symbols(
            symbols, store.watchlists.get(), settings.get("watchlist.default"), feed.symbols()
        )
        self.quotes_seen = 0
        self.bars_stored = 0
        self.feed_error = ""
        self.marks: dict[str, float] = {}
        self.desk: Desk | None = None
        self.desk_error = ""
        self.telegram: TelegramService | None = None
        self.kill = KillSwitch(store)
        """The process's one kill switch: the OMS, Telegram and the screen all hang on it."""
        self.dashboard = DashboardScreen(
            feed,
            self.preferences,
            self.symbols,
            {symbol: price_decimals(feed, symbol) for symbol in self.symbols},
            self.timeframe,
            clock=clock,
            show_clock=show_clock,
        )
        keymap = settings.get("keymap", {})
        if isinstance(keymap, dict) and keymap:
            self.set_keymap({str(k): str(v) for k, v in keymap.items()})

    async def on_mount(self) -> None:
        self.theme = self.preferences.get("app.theme", "textual-dark")
        await self.push_screen(self.dashboard)
        self.screen_pump()
        self.store_writer()
        self.feed_pump()
        self.call_after_refresh(self._after_first_frame)
        self.set_interval(1.0, self.refresh_status)

    def _after_first_frame(self) -> None:
        """Work the first frame need not wait for: reference prices, the broker, Telegram."""
        self.load_references(self.symbols)
        self.load_instruments()
        self.open_desk()
        self.run_telegram()

    # -- workers ----------------------------------------------------------------------------
    @work(group="instruments")
    async def load_instruments(self) -> None:
        """A live venue's tick/lot/minimum sizes: stored (the paper broker and the order ticket
        read them from there) and used for the screen's price precision."""
        loader = getattr(self.feed, "load_instruments", None)
        if loader is None:
            return
        try:
            instruments = await loader(list(self.symbols))
        except Exception as exc:
            self.dashboard.log_line(f"{self.feed.name}: no instrument details ({exc})", "warning")
            return
        await asyncio.to_thread(self.store.instruments.upsert, instruments)
        self.dashboard.set_decimals({i.symbol: i.price_decimals for i in instruments})
        self.dashboard.log_line(
            f"{self.feed.name}: tick and lot sizes of {len(instruments)} symbols"
        )

    @work(exclusive=True, group="feed")
    async def feed_pump(self) -> None:
        self.feed_error = ""
        try:
            async for event in self.feed.stream(list(self.symbols), self.timeframe):
                await self.hub.publish(event)
            self.feed_error = "stream ended"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.feed_error = f"{type(exc).__name__}: {exc}"
            self.log.error(f"feed {self.feed.name} stopped: {self.feed_error}")
            self.dashboard.log_line(f"feed stopped: {self.feed_error}", "error")
            self.notify(f"feed stopped: {self.feed_error}", severity="error", timeout=10)

    @work(exclusive=True, group="screen")
    async def screen_pump(self) -> None:
        sub = self.hub.subscribe("screen", maxsize=1_000)
        dashboard = self.dashboard
        while True:
            try:
                await sub.wait()
            except StopAsyncIteration:  # the hub closed: the app is shutting down
                return
            for event in sub.get_nowait_all():
                if isinstance(event, Tick):
                    self.quotes_seen += 1
                    self.marks[event.symbol] = event.mid
                    dashboard.post_message(QuoteUpdated(event))
                elif isinstance(event, OrderBook):
                    dashboard.post_message(BookUpdated(event))
                elif isinstance(event, Bar) and event.closed:
                    dashboard.post_message(BarClosed(event))
            await asyncio.sleep(0)

    @work(exclusive=True, group="store")
    async def store_writer(self) -> None:
        sub = self.hub.subscribe("store", lossless=True)
        venue = venue_of(self.feed)
        while True:
            try:
                await sub.wait()
            except StopAsyncIteration:
                return
            bars = [e for e in sub.get_nowait_all() if isinstance(e, Bar) and e.closed]
            for bar in bars:
                await asyncio.to_thread(self._store_bar, bar, venue)

    def _store_bar(self, bar: Bar, venue: str) -> None:
        from engine.timeframes import bars_to_frame

        self.store.candles.upsert(bars_to_frame([bar]), bar.symbol, bar.timeframe, venue)
        self.bars_stored += 1

    @work(group="references")
    async def load_references(self, symbols: Sequence[str]) -> None:
        for symbol in symbols:
            try:
                daily = await self.feed.history(symbol, "1d", limit=1)
            except Exception as exc:
                self.log.warning(f"no daily history for {symbol}: {exc}")
                continue
            if daily.height and math.isfinite(daily["close"][-1]):
                self.dashboard.post_message(ReferencePrice(symbol, float(daily["close"][-1])))

    # -- the status line (once a second, and on kill switch changes) --------------------------
    def refresh_status(self) -> None:
        desk = self.desk
        broker = (
            broker_state(desk.venue, desk.live, desk.oms.kill_switch)
            if desk is not None
            else broker_state(None, False, False, self.desk_error)
        )
        health = feed_health(self.feed_error, getattr(self.feed, "health", None))
        drops = sum(s.dropped for s in self.hub.stats())
        line = status_line(
            self.feed.name, health, self.quotes_seen, self.bars_stored, drops, broker, self.clock()
        )
        self.dashboard.set_status(line)

    # -- the watchlist: the dashboard shows the rows, the app streams and saves them ---------
    def watch_symbol(self, symbol: str) -> None:
        if symbol in self.symbols:
            return
        if symbol not in self.feed.symbols():
            self.dashboard.log_line(f"{symbol}: not a symbol of the {self.feed.name} feed", "error")
            return
        self.symbols.append(symbol)
        self.store.watchlists.set(self.symbols)
        self.dashboard.log_line(f"watching {symbol}")
        self.load_references([symbol])
        self.feed_pump()

    def unwatch_symbol(self, symbol: str) -> None:
        if symbol not in self.symbols or len(self.symbols) == 1:
            return
        self.symbols.remove(symbol)
        self.store.watchlists.set(self.symbols)
        self.dashboard.log_line(f"removed {symbol} from the watchlist")
        self.feed_pump()

    # -- intents from the screens -------------------------------------------------------------
    @on(WatchRequested)
    def _watch_requested(self, message: WatchRequested) -> None:
        self.watch_symbol(message.symbol)

    @on(UnwatchRequested)
    def _unwatch_requested(self, message: UnwatchRequested) -> None:
        self.unwatch_symbol(message.symbol)

    @on(TicketRequested)
    def _ticket_requested(self, message: TicketRequested) -> None:
        self.open_ticket(message.draft)

    @on(CancelRequested)
    def _cancel_requested(self, message: CancelRequested) -> None:
        self.cancel_order(message.client_id)

    @on(TradeRequested)
    def _trade_requested(self, message: TradeRequested) -> None:
        self.trade_command(message.command)

    @on(SignalFound)
    def _signal_found(self, message: SignalFound) -> None:
        self.record_signal(message.signal, venue_of(self.feed))

    @on(HelpRequested)
    def _help_requested(self) -> None:
        self.action_help()

    # -- the desk: broker, orders, market data for the broker, signals -----------------------
    # (kept together: it moves to workstation/runtime/ with the trading loop)
    @work(thread=True, group="desk")
    def open_desk(self) -> None:
        try:
            desk = Desk(self.settings, self.store, self.marks, kill_switch=self.kill)
        except Exception as exc:  # a broken broker config must not take the screen down
            self.desk_error = f"{type(exc).__name__}: {exc}"
            self.call_from_thread(self.dashboard.log_line, f"broker: {self.desk_error}", "error")
            return
        self.call_from_thread(self._desk_ready, desk)

    def _desk_ready(self, desk: Desk) -> None:
        self.desk = desk
        desk.oms.listeners.append(self._order_event)
        self.kill.register(self._killed)  # after the OMS's own hook: orders are cancelled
        self.dashboard.log_line(f"broker {desk.venue} ready{' (LIVE)' if desk.live else ''}")
        self.publish_desk()
        self.reconcile_desk()
        self.market_pump()

    @work(group="orders")
    async def reconcile_desk(self) -> None:
        """Settle what happened at the venue while we were away; show every discrepancy."""
        desk = self.desk
        assert desk is not None
        try:
            found = await desk.oms.reconcile()
        except Exception as exc:
            self.dashboard.log_line(f"reconcile with {desk.venue} failed: {exc}", "error")
            return
        for d in found:
            self.dashboard.log_line(f"reconcile: {d.kind} {d.subject[:12]}: {d.detail}", "warning")
        if found:
            self.publish_desk()

    def _instrument(self, symbol: str) -> Instrument | None:
        """The feed's instrument, for alerts to format prices with (None if unknown)."""
        try:
            return instrument_of(self.feed, symbol)
        except (KeyError, ValueError):
            return None

    def _order_event(self, event: Fill | Order) -> None:
        """A new fill or a rejection (the order manager has stored it): log it and relay it."""
        from workstation.alerts.builders import fill_alert, rejection_alert

        instrument = self._instrument(event.symbol)
        if isinstance(event, Fill):
            self.dashboard.log_line(
                f"fill {event.side} {event.qty:f} {event.symbol} @ {event.price:f}"
                f" (fee {event.fee:f})"
            )
            alert = fill_alert(event, instrument)
        else:
            self.dashboard.log_line(f"rejected {event.symbol}: {event.reason}", "error")
            alert = rejection_alert(event, self.clock(), instrument)
        if self.telegram is not None:
            self.telegram.outbox.publish(alert)

    def _killed(self, actor: str, reason: str) -> None:
        """Whoever engaged the one kill switch (screen, Telegram), the OMS has cancelled."""
        self.dashboard.log_line(f"kill switch engaged by {actor}: {reason}", "warning")
        self.publish_desk()
        self.refresh_status()

    def record_signal(self, signal: Signal, venue: str) -> None:
        """Store a signal, relaying it first when it passes the quality gate."""
        relayed = False
        if self.telegram is not None:
            instrument = self._instrument(signal.symbol)
            relayed = bool(self.telegram.outbox.publish_signal(signal, instrument))
        self.store.signals.add(signal, venue, relayed=relayed)

    def publish_desk(self) -> None:
        if self.desk is None:
            return
        view = self.desk.view()
        self.dashboard.post_message(PositionsUpdated(view.positions))
        self.dashboard.orders_snapshot(view.open_orders)

    @work(exclusive=True, group="market")
    async def market_pump(self) -> None:
        """Quotes and books -> the (paper) broker; working orders synced a few times a second."""
        desk = self.desk
        assert desk is not None
        sub = self.hub.subscribe("broker", maxsize=1_000)
        last_sync = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                await sub.wait()
            except StopAsyncIteration:
                return
            for event in sub.get_nowait_all():
                if isinstance(event, (Tick, OrderBook)):
                    desk.on_market(event)
            if loop.time() - last_sync >= 0.25 and desk.has_working_orders():
                last_sync = loop.time()
                try:
                    await desk.oms.sync()
                except Exception as exc:
                    self.dashboard.log_line(f"order sync: {exc}", "error")
                self.publish_desk()

    def _require_desk(self, what: str) -> Desk | None:
        if self.desk is None:
            reason = self.desk_error or "the broker is still starting"
            self.dashboard.log_line(f"cannot {what}: {reason}", "warning")
        return self.desk

    def open_ticket(self, draft: TicketDraft) -> None:
        try:
            instrument = instrument_of(self.feed, draft.symbol)
        except KeyError as exc:
            self.dashboard.log_line(str(exc), "error")
            return
        desk = self.desk
        ticket = OrderTicket(
            instrument,
            draft,
            mark=self.marks.get(draft.symbol),
            risk_check=desk.risk_verdict if desk else None,
            live=desk.live if desk else bool(self.preferences.get("trading.live", False)),
            venue=desk.venue if desk else str(self.preferences.get("trading.broker", "paper")),
        )
        self.push_screen(ticket, self._ticket_closed)

    def _ticket_closed(self, order: Order | None) -> None:
        if order is None:
            self.dashboard.log_line("order ticket cancelled")
            return
        if self.desk is not None and self.desk.live:
            self.desk.confirmed.add(order.client_id)  # the ticket asked twice
        self.submit_order(order)

    @work(group="orders")
    async def submit_order(self, order: Order) -> Order | None:
        desk = self._require_desk(f"send {order.side} {order.qty:f} {order.symbol}")
        if desk is None:
            return None
        try:
            result = await desk.oms.submit(order)
        except Exception as exc:
            self.dashboard.log_line(f"order {order.client_id[:8]} failed: {exc}", "error")
            return None
        severity = "error" if result.status.value == "REJECTED" else "success"
        detail = f" — {result.reason}" if result.reason else ""
        self.dashboard.post_message(OrderUpdated(result))
        self.dashboard.log_line(
            f"{result.side} {result.qty:f} {result.symbol} {result.type}: {result.status}{detail}",
            severity,
        )
        self.publish_desk()
        return result

    @work(group="orders")
    async def cancel_order(self, client_id: str | None) -> None:
        desk = self._require_desk("cancel")
        if desk is None:
            return
        targets = [client_id] if client_id else [o.client_id for o in desk.view().open_orders]
        for cid in targets:
            try:
                order = await desk.oms.cancel(cid)
                self.dashboard.post_message(OrderUpdated(order))
            except Exception as exc:
                self.dashboard.log_line(f"cancel {cid[:8]}: {exc}", "error")
        self.publish_desk()

    @work(group="orders")
    async def flatten(self, symbol: str | None) -> None:
        desk = self._require_desk("close positions")
        if desk is None:
            return
        orders = await desk.oms.flatten(symbol)
        for order in orders:
            self.dashboard.post_message(OrderUpdated(order))
        self.dashboard.log_line(f"close {symbol or 'all'}: {len(orders)} order(s)")
        self.publish_desk()

    @work(group="orders")
    async def set_kill_switch(self, on: bool) -> None:
        desk = self._require_desk("switch the kill switch")
        if desk is None:
            return
        cancelled = await desk.oms.set_kill_switch(on, reason="from the workstation")
        self.dashboard.log_line(
            f"kill switch {'ON' if on else 'off'}"
            + (f"; cancelled {len(cancelled)} order(s)" if cancelled else ""),
            "warning" if on else "info",
        )
        self.publish_desk()
        self.refresh_status()

    def trade_command(self, command: Command) -> None:
        """A desk command from the command bar: close, flatten, cancel, kill."""
        e = command.entities
        if command.intent == "close":
            self.flatten(e.get("symbol"))
        elif command.intent == "flatten":
            self.flatten(None)
        elif command.intent == "cancel":
            self.cancel_order(e.get("client_id"))
        elif command.intent == "kill":
            self.set_kill_switch(bool(e["on"]))
        else:
            self.dashboard.log_line(f"'{command.intent}' is not handled here", "warning")

    # -- telegram ---------------------------------------------------------------------------
    @work(group="telegram")
    async def run_telegram(self) -> None:
        """The relay and command bot, when a token and chat ids are configured."""
        from workstation.runtime.secrets import get_secret

        chats = self.settings.get("telegram.chat_ids", [])
        token = get_secret("telegram", "token")
        if not chats or not token:
            missing = "chat ids" if token else "a bot token (qws keys set telegram)"
            self.dashboard.log_line(f"telegram off: no {missing}")
            return
        from workstation.alerts.service import TelegramService
        from workstation.alerts.telegram_control import ControlError

        service = TelegramService(self.store, self.settings, token, kill_switch=self.kill)
        service.outbox.listeners.append(self._delivery)
        self.telegram = service
        self.dashboard.log_line(f"telegram relay on for {len(chats)} chat(s)")
        try:
            await service.run()
        except ControlError as exc:
            self.dashboard.log_line(f"telegram: {exc}", "error")
        finally:
            self.telegram = None

    def _delivery(self, alert_id: int, status: str, detail: str) -> None:
        severity = {"sent": "info", "failed": "error", "unknown": "warning"}.get(status, "info")
        self.dashboard.log_line(f"alert #{alert_id} {status} {detail}".rstrip(), severity)

    # -- screens ----------------------------------------------------------------------------
    def action_help(self) -> None:
        from widgets.chart import Chart
        from widgets.command_bar import CommandBar
        from widgets.watchlist import Watchlist
        from workstation.ui.screens.backtest import BacktestScreen
        from workstation.ui.screens.help import HelpScreen
        from workstation.ui.screens.settings import SettingsScreen
        from workstation.ui.screens.symbol_search import SymbolSearch

        if isinstance(self.screen, HelpScreen):
            return
        owners = [
            ("app", QwsApp),
            ("dashboard", DashboardScreen),
            ("watchlist", Watchlist),
            ("chart", Chart),
            ("command bar", CommandBar),
            ("order ticket", OrderTicket),
            ("search", SymbolSearch),
            ("backtest", BacktestScreen),
            ("settings", SettingsScreen),
        ]
        self.push_screen(HelpScreen(owners))

    async def on_unmount(self) -> None:
        self.hub.close()
        await self.feed.close()
        if self.desk is not None:
            self.desk.close()
