"""The Textual app: wires a feed through the hub to the store and the screen.

Three workers run on the app's event loop: the feed pump (feed -> hub), the store writer
(closed bars -> SQLite, in a thread, lossless), and the screen pump (quotes conflated per
symbol, books, closed bars -> the dashboard as messages). Nothing slow runs on the UI thread,
and nothing here imports qiskit or numba: the engine is loaded lazily by the panels that need
it, inside workers.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import Provider

from engine.commands import Command
from engine.model import Bar, Fill, Instrument, Order, OrderBook, Signal, Tick
from engine.protocols import Feed
from widgets.watchlist import Watchlist
from workstation.runtime.config import Settings
from workstation.runtime.hub import Hub
from workstation.store.store import Store
from workstation.trading.desk import Desk
from workstation.trading.killswitch import KillSwitch
from workstation.ui.messages import (
    BarClosed,
    BookUpdated,
    OrderUpdated,
    PositionsUpdated,
    QuoteUpdated,
    ReferencePrice,
)
from workstation.ui.palette import WorkstationCommands
from workstation.ui.screens.dashboard import DashboardScreen
from workstation.ui.screens.order_ticket import OrderTicket, TicketDraft

if TYPE_CHECKING:
    from workstation.alerts.service import TelegramService


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
        self.clock = clock
        self.show_clock = show_clock
        self.timeframe = timeframe or self.setting("app.timeframe", "1m")
        self.hub = Hub(settings.get("hub.queue_size", 10_000))
        self.symbols = self._choose_symbols(symbols)
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
            self.symbols, self._decimals(), self.timeframe, show_clock=show_clock
        )
        keymap = settings.get("keymap", {})
        if isinstance(keymap, dict) and keymap:
            self.set_keymap({str(k): str(v) for k, v in keymap.items()})

    def setting(self, key: str, default: Any = None) -> Any:
        """A setting saved from the settings screen (store) wins over the config file."""
        saved = self.store.get_setting(key, None)
        return saved if saved is not None else self.settings.get(key, default)

    def _choose_symbols(self, requested: Sequence[str] | None) -> list[str]:
        known = set(self.feed.symbols())
        wanted = list(requested or self.store.watchlist() or self.settings.get("watchlist.default"))
        chosen = [s for s in wanted if s in known]
        return chosen or list(self.feed.symbols())

    def decimals_for(self, symbol: str) -> int:
        try:
            return self.instrument(symbol).price_decimals
        except (KeyError, ValueError, AttributeError):
            return 4

    def _decimals(self) -> dict[str, int]:
        return {symbol: self.decimals_for(symbol) for symbol in self.symbols}

    def instrument(self, symbol: str) -> Instrument:
        """The feed's instrument (tick/lot grid); KeyError if the feed does not know it."""
        resolver = getattr(self.feed, "instrument", None)
        if resolver is None:
            raise KeyError(f"the {self.feed.name} feed does not describe its instruments")
        instrument: Instrument = resolver(symbol)
        return instrument

    async def on_mount(self) -> None:
        self.theme = self.setting("app.theme", "textual-dark")
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
        await asyncio.to_thread(self.store.upsert_instruments, instruments)
        self.dashboard.set_decimals({i.symbol: i.price_decimals for i in instruments})
        self.dashboard.log_line(
            f"{self.feed.name}: tick and lot sizes of {len(instruments)} symbols"
        )

    @property
    def watchlist(self) -> Watchlist:
        return self.dashboard.query_one(Watchlist)

    # -- workers ----------------------------------------------------------------------------
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
        venue = getattr(self.feed, "venue", self.feed.name)
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

        self.store.upsert_candles(bars_to_frame([bar]), bar.symbol, bar.timeframe, venue)
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

    def feed_state(self) -> str:
        """The feed's own health (live feeds: connection state, reconnects, dropped inputs)."""
        if self.feed_error:
            return f"[red]{self.feed_error}[/red]"
        health = getattr(self.feed, "health", None)
        if health is None:
            return "live"
        state = str(health.state)
        colour = "" if state in ("live", "connected", "streaming") else "yellow"
        text = f"[{colour}]{state}[/{colour}]" if colour else state
        if health.reconnects:
            text += f" · reconnects {health.reconnects}"
        drops = health.drops()
        dropped = sum(drops.values())
        if dropped:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(drops.items()))
            text += f" · [yellow]bad input dropped {dropped} ({reasons})[/yellow]"
        return text

    def refresh_status(self) -> None:
        drops = sum(s.dropped for s in self.hub.stats())
        state = self.feed_state()
        stamp = time.strftime("%H:%M:%S", time.gmtime(self.clock() / 1e9))
        if self.desk is not None:
            kill = " [red b]KILL SWITCH[/]" if self.desk.oms.kill_switch else ""
            mode = ("[red b]LIVE[/] " if self.desk.live else "") + self.desk.venue + kill
        else:
            mode = f"[red]no broker: {self.desk_error}[/]" if self.desk_error else "broker…"
        self.dashboard.set_status(
            f"feed {self.feed.name}: {state} · quotes {self.quotes_seen:,}"
            f" · bars stored {self.bars_stored:,} · drops {drops} · {mode} · {stamp} UTC"
        )

    # -- watchlist --------------------------------------------------------------------------
    def watch(self, symbol: str) -> None:
        if symbol in self.symbols:
            return
        if symbol not in self.feed.symbols():
            self.dashboard.log_line(f"{symbol}: not a symbol of the {self.feed.name} feed", "error")
            return
        self.symbols.append(symbol)
        self.store.set_watchlist(self.symbols)
        self.dashboard.add_to_watchlist(symbol)
        self.dashboard.log_line(f"watching {symbol}")
        self.load_references([symbol])
        self.feed_pump()

    def unwatch(self, symbol: str) -> None:
        if symbol not in self.symbols or len(self.symbols) == 1:
            return
        self.symbols.remove(symbol)
        self.store.set_watchlist(self.symbols)
        self.dashboard.remove_from_watchlist(symbol)
        self.dashboard.log_line(f"removed {symbol} from the watchlist")
        self.feed_pump()

    # -- trading ----------------------------------------------------------------------------
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

    def _order_event(self, event: Fill | Order) -> None:
        """A new fill or a rejection (the order manager has stored it): log it and relay it."""
        from workstation.alerts.relay import fill_alert, rejection_alert

        try:
            instrument: Instrument | None = self.instrument(event.symbol)
        except (KeyError, ValueError):
            instrument = None
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
            try:
                instrument: Instrument | None = self.instrument(signal.symbol)
            except (KeyError, ValueError):
                instrument = None
            relayed = bool(self.telegram.outbox.publish_signal(signal, instrument))
        self.store.add_signal(signal, venue, relayed=relayed)

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
            instrument = self.instrument(draft.symbol)
        except KeyError as exc:
            self.dashboard.log_line(str(exc), "error")
            return
        desk = self.desk
        ticket = OrderTicket(
            instrument,
            draft,
            mark=self.marks.get(draft.symbol),
            risk_check=desk.risk_verdict if desk else None,
            live=desk.live if desk else bool(self.setting("trading.live", False)),
            venue=desk.venue if desk else str(self.setting("trading.broker", "paper")),
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
        e = command.entities
        if command.intent == "close":
            self.flatten(e.get("symbol"))
        elif command.intent == "flatten":
            self.flatten(None)
        elif command.intent == "cancel":
            self.cancel_order(e.get("client_id"))
        elif command.intent == "kill":
            self.set_kill_switch(bool(e["on"]))
        elif command.intent == "scan":
            self.dashboard.scan(e.get("symbols") or list(self.symbols), e.get("timeframe"))
        else:
            self.dashboard.log_line(f"'{command.intent}' is not handled here", "warning")

    # -- screens ----------------------------------------------------------------------------
    def action_help(self) -> None:
        from widgets.chart import Chart
        from widgets.command_bar import CommandBar
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
