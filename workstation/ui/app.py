"""The Textual app: composes the screens and is a client of the trading runtime.

The runtime (:mod:`workstation.trader.runtime`) owns the feed, the store of bars, the signals,
the strategies, the broker and the order manager, equity and alerts; the app starts it, shows
its events, and hands it the user's intents. One worker here, the screen pump, takes the
runtime hub's quotes (conflated per symbol), books and closed bars to the dashboard as
messages. The screens post the user's intents up as messages
(:mod:`workstation.ui.screens.messages`), handled here with ``@on``, and nothing trading-related
is decided here. Nothing here imports qiskit or numba: the engine is loaded lazily by the
panels that need it, inside workers. The runtime itself (its strategies and signal pipeline
bring polars and numpy) is imported and built right after the first frame, the import in a
thread: the first frame waits only for the screen's own modules.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import math
import os
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import Provider

from engine.commands import Command
from engine.model import Bar, NewsItem, Order, OrderBook, OrderType, Side, Tick
from engine.protocols import Feed
from widgets.strategies_table import StrategiesTable
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.trading.killswitch import KillSwitch
from workstation.ui.batches import ScreenBatches
from workstation.ui.palette import WorkstationCommands
from workstation.ui.screens import heap
from workstation.ui.screens.dashboard import DashboardScreen
from workstation.ui.screens.messages import (
    AlgoChoice,
    CancelRequested,
    HelpRequested,
    MarketBatch,
    ModelReady,
    NewsReceived,
    OrderUpdated,
    PositionsUpdated,
    PrecisionLearned,
    ReferencePrice,
    RiskRequested,
    SignalRaised,
    StatusChanged,
    TicketDraft,
    TicketRequested,
    TradeRequested,
    UnwatchRequested,
    WatchRequested,
)
from workstation.ui.screens.services import (
    Preferences,
    instrument_of,
    price_decimals,
    venue_of,
)
from workstation.ui.status import broker_state, feed_health, feed_progress, status_line

if TYPE_CHECKING:
    from workstation.runtime.hub import Hub, Subscription
    from workstation.trader import events as ev
    from workstation.trader.runtime import Runtime
    from workstation.trader.specs import StrategySpec
    from workstation.trading.oms import OrderManager
    from workstation.trading.stress_report import RiskView

RUNTIME_MODULE = "workstation.trader.runtime"


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
        db_path: Path | None = None,
    ) -> None:
        super().__init__()
        self.feed = feed
        self.store = store
        self.settings = settings
        self.preferences = Preferences(store, settings)
        self.clock = clock
        self.show_clock = show_clock
        self.timeframe = timeframe or self.preferences.get("app.timeframe", "1m")
        self.symbols = choose_symbols(
            symbols, store.watchlists.get(), settings.get("watchlist.default"), feed.symbols()
        )
        self.screen_batches: ScreenBatches | None = None
        self.kill = KillSwitch(store)
        """The process's one kill switch: the OMS, Telegram and the screen all hang on it."""
        self._db_path = db_path
        self._runtime: Runtime | None = None
        self._mounted = False
        self.dashboard = DashboardScreen(
            feed,
            self.preferences,
            self.symbols,
            {symbol: price_decimals(feed, symbol) for symbol in self.symbols},
            self.timeframe,
            clock=clock,
            show_clock=show_clock,
            known_symbols=self.known_symbols,
            news=self.stored_news,
        )
        keymap = settings.get("keymap", {})
        if isinstance(keymap, dict) and keymap:
            self.set_keymap({str(k): str(v) for k, v in keymap.items()})

    @property
    def runtime(self) -> Runtime:
        """The trading runtime: built after the first frame (:meth:`start_runtime`), or here
        on first use if something needs it sooner."""
        if self._runtime is None:
            from workstation.trader.specs import SpecError, from_config

            runtime_class: type[Runtime] = importlib.import_module(RUNTIME_MODULE).Runtime
            try:
                specs = from_config(self.settings.get("strategies.run", []) or [], self.timeframe)
            except SpecError as exc:
                specs = []
                self.dashboard.log_line(f"strategies.run: {exc}", "error")
            runtime = runtime_class(
                self.feed,
                self.store,
                self.settings,
                self.symbols,
                self.timeframe,
                db_path=self._db_path,
                strategies=specs,
                kill_switch=self.kill,
            )
            runtime.listeners.append(self._runtime_event)
            runtime.confirmer = self._confirm_strategy_order
            self._runtime = runtime
        return self._runtime

    def stored_news(self, symbol: str | None, limit: int) -> list[NewsItem]:
        """The stored news, newest first (all, or ``symbol``'s): what the News tab and the
        chart's markers start from (a blocking read: the dashboard runs it in a thread)."""
        return self.store.news.recent(symbol, limit)

    @property
    def hub(self) -> Hub:
        return self.runtime.hub

    @property
    def marks(self) -> dict[str, float]:
        return self.runtime.marks

    @property
    def bars_stored(self) -> int:
        return 0 if self._runtime is None else self._runtime.bars_stored

    @property
    def feed_error(self) -> str:
        return "" if self._runtime is None else self._runtime.feed_error

    @property
    def oms(self) -> OrderManager | None:
        """The runtime's order manager, once the broker is open."""
        return None if self._runtime is None else self._runtime.oms

    async def on_mount(self) -> None:
        # Textual calls the handler of every class in the MRO: a subclass's ``on_mount`` that
        # also calls ``super().on_mount()`` must not push the dashboard (and start it all) twice
        if self._mounted:
            return
        self._mounted = True
        self._use_engine_process()
        self.theme = self.preferences.get("app.theme", "textual-dark")
        await self.push_screen(self.dashboard)
        summary = getattr(self.feed, "summary", None)
        if callable(summary):
            self.dashboard.log_line(summary())
        self.call_after_refresh(self._after_first_frame)
        # the dashboard's timer, not the app's: Textual stops it when the dashboard closes,
        # before the dashboard's widgets go
        self.dashboard.set_interval(1.0, self.refresh_status, name="status line")

    def _after_first_frame(self) -> None:
        """The runtime is built and starts once the screen is up: its modules (polars, numpy)
        and its scans (numba, qiskit) would hold up the first frame."""
        heap.settle("first frame")
        self.start_runtime()
        self.load_references(self.symbols)

    # -- workers ----------------------------------------------------------------------------
    @work(exclusive=True, group="runtime")
    async def start_runtime(self) -> None:
        """The trading runtime on this loop: the feed, the broker, signals and strategies. Its
        modules are imported in a thread, so the screen answers keys meanwhile."""
        if self._runtime is None:
            await asyncio.to_thread(importlib.import_module, RUNTIME_MODULE)
        runtime = self.runtime
        # subscribed here, before the feed starts: the screen misses no quote
        self.screen_pump(runtime.hub.subscribe("screen", maxsize=1_000))
        await runtime.start()
        self.dashboard.post_message(
            PrecisionLearned({s: price_decimals(self.feed, s) for s in self.symbols})
        )
        self.publish_desk()

    @work(exclusive=True, group="screen")
    async def screen_pump(self, sub: Subscription) -> None:
        """The hub's screen mailbox -> the dashboard: drained whenever it holds something, posted
        as one :class:`MarketBatch` at a time (:class:`ScreenBatches`), so a burst costs the
        screen one message per turn of its queue, keys are never queued behind quotes, and
        every quote still reaches the screen in order."""
        replaced = 0

        def post(batch: MarketBatch) -> None:
            self.dashboard.post_message(batch)

        batches = self.screen_batches = ScreenBatches(post)
        while True:
            try:
                await sub.wait()
            except StopAsyncIteration:  # the hub closed: the app is shutting down
                return
            batches.add(
                e
                for e in sub.get_nowait_all()
                if isinstance(e, Tick | OrderBook) or (isinstance(e, Bar) and e.closed)
            )
            # quotes superseded in the hub (only while this loop was busy) count as shown
            batches.shown += sub.replaced - replaced
            replaced = sub.replaced
            await asyncio.sleep(0)

    @property
    def quotes_seen(self) -> int:
        """Every quote that reached the screen: shown, or superseded by a newer one shown."""
        batches = self.screen_batches
        return 0 if batches is None else batches.shown

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

    # -- the runtime's events -> the screen --------------------------------------------------
    def _runtime_event(self, event: ev.RuntimeEvent) -> None:
        from workstation.trader import events as ev  # loaded with the runtime

        d = self.dashboard
        if isinstance(event, ev.Logged):
            d.log_line(event.text, event.severity)
        elif isinstance(event, ev.SignalEmitted):
            d.post_message(SignalRaised(event.signal))
        elif isinstance(event, ev.NewsArrived):
            d.post_message(NewsReceived(event.items))
        elif isinstance(event, ev.ModelFitted):
            m = event.model
            fitted = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(m.fitted_ns / 1e9))
            report = {**m.report, "version": m.version, "fitted": fitted}
            d.post_message(ModelReady(event.symbol, event.timeframe, report))
        elif isinstance(event, ev.OrderChanged):
            o = event.order
            d.post_message(OrderUpdated(o))
            if o.status.value == "REJECTED":
                d.log_line(f"rejected {o.symbol}: {o.reason}", "error")
            else:
                detail = f" — {o.reason}" if o.reason else ""
                d.log_line(f"{o.side} {o.qty:f} {o.symbol} {o.type}: {o.status}{detail}", "success")
            self.publish_desk()
        elif isinstance(event, ev.Filled):
            f = event.fill
            d.log_line(f"fill {f.side} {f.qty:f} {f.symbol} @ {f.price:f} (fee {f.fee_text})")
            self.publish_desk()
        elif isinstance(event, ev.KillChanged):
            if event.engaged:
                d.log_line(
                    f"kill switch engaged by {event.actor}: {event.reason}"
                    f"; cancelled {event.cancelled} order(s)",
                    "warning",
                )
            else:
                d.log_line(f"kill switch released by {event.actor}")
            self.publish_desk()
            self.refresh_status()
        elif isinstance(event, ev.PauseChanged):
            d.log_line(f"{'paused' if event.paused else 'resumed'} by {event.actor}", "warning")
            self.publish_strategies()
        elif isinstance(event, ev.StrategyChanged):
            self.publish_strategies()

    async def _confirm_strategy_order(self, order: Order) -> bool:
        """A live order of a strategy not marked ``auto``: ask on the screen; no answer within
        ``trading.confirm_timeout_s`` is a refusal."""
        from workstation.ui.screens.confirm_order import ConfirmOrder

        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def done(ok: bool | None) -> None:
            if not answer.done():
                answer.set_result(bool(ok))

        screen = ConfirmOrder(order, "a strategy")
        self.push_screen(screen, done)
        try:
            return await asyncio.wait_for(
                answer, float(self.settings.get("trading.confirm_timeout_s", 30.0))
            )
        except TimeoutError:
            if self.screen is screen:
                screen.dismiss(False)
            self.dashboard.log_line(f"live order not confirmed in time: {order.symbol}", "warning")
            return False

    # -- the status line (once a second, and on kill switch changes) --------------------------
    def refresh_status(self) -> None:
        rt = self._runtime  # None until it is built, just after the first frame
        oms = None if rt is None else rt.oms
        broker = (
            broker_state(oms.venue, bool(getattr(oms.broker, "live", True)), oms.kill_switch)
            if oms is not None
            else broker_state(None, False, False, "" if rt is None else rt.broker_error)
        )
        health = feed_health(self.feed_error, getattr(self.feed, "health", None))
        health += feed_progress(self.feed)
        drops = 0 if rt is None else sum(s.dropped for s in rt.hub.stats())
        line = status_line(
            self.feed.name, health, self.quotes_seen, self.bars_stored, drops, broker, self.clock()
        )
        self.dashboard.post_message(StatusChanged(line))
        if rt is not None and rt.runners:
            self.publish_strategies()

    # -- the watchlist: the dashboard shows the rows, the app streams and saves them ---------
    def known_symbols(self) -> list[str]:
        """The symbols the feed's venue lists in the store (instruments seen, fetched or
        imported before) that the feed itself does not offer."""
        offered = set(self.feed.symbols())
        listed = self.store.instruments.listed_by(venue_of(self.feed))
        return [s for s in listed if s not in offered]

    def watch_symbol(self, symbol: str) -> None:
        if symbol in self.symbols:
            return
        if symbol not in self.feed.symbols() and symbol not in self.known_symbols():
            self.dashboard.log_line(f"{symbol}: not a symbol of the {self.feed.name} feed", "error")
            return
        self.symbols.append(symbol)
        self.store.watchlists.set(self.symbols)
        self.dashboard.log_line(f"watching {symbol}")
        self.load_references([symbol])
        self._resubscribe()

    def unwatch_symbol(self, symbol: str) -> None:
        if symbol not in self.symbols or len(self.symbols) == 1:
            return
        self.symbols.remove(symbol)
        self.store.watchlists.set(self.symbols)
        self.dashboard.log_line(f"removed {symbol} from the watchlist")
        self._resubscribe()

    def _resubscribe(self) -> None:
        self.runtime.symbols = list(self.symbols)
        self.runtime.restart_feed()

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

    @on(StrategiesTable.Toggle)
    def _strategy_toggled(self, message: StrategiesTable.Toggle) -> None:
        spec = self.runtime.spec(message.key)
        if spec is not None:
            self.strategy_intent("stop" if message.running else "start", spec)

    @on(HelpRequested)
    def _help_requested(self) -> None:
        self.action_help()

    @on(RiskRequested)
    def _risk_requested(self, message: RiskRequested) -> None:
        from workstation.ui.screens.risk import RiskScreen

        if not isinstance(self.screen, RiskScreen):
            self.push_screen(RiskScreen(self.risk_view, message.shocks, message.propagate))

    async def risk_view(self, shocks: str, propagate: bool) -> RiskView:
        """What the risk screen shows: VaR/CVaR and the stress tables of the runtime's
        positions at its marks in the account currency, the bars the store lacks from the feed."""
        from workstation.trader.runtime import TradingUnavailable  # loaded with the runtime
        from workstation.trading.stress_report import risk_view

        runtime = self.runtime
        oms = runtime.oms
        if oms is None:
            raise TradingUnavailable(runtime.broker_error or "the broker is not open yet")
        positions = await asyncio.to_thread(self.store.positions.find, oms.venue)

        def mark(symbol: str) -> float | None:
            price, rate = runtime.mark(symbol), runtime.quote_to_account(symbol)
            return None if price is None or rate is None else price * rate

        async def fetch(symbol: str, timeframe: str, n: int) -> Any:
            return await self.feed.history(symbol, timeframe, limit=n)

        return await risk_view(
            self.store, positions, mark, runtime.instrument, fetch, runtime.account_ccy,
            shocks, propagate,
        )  # fmt: skip

    # -- orders: intents to the runtime ---------------------------------------------------
    def publish_desk(self) -> None:
        oms = self.runtime.oms
        if oms is None:
            return
        from workstation.trading.oms import LEG  # loaded with the runtime

        positions = [p for p in self.store.positions.find(oms.venue) if p.qty]
        working = self.runtime.working_orders()
        parents = {o.client_id for o in self.store.orders.open_brackets(oms.venue)}
        legs = [
            o
            for o in working
            if (cut := o.client_id.rpartition("-"))[0] in parents and LEG.fullmatch(cut[2])
        ]
        self.dashboard.post_message(PositionsUpdated(positions, legs))
        self.dashboard.orders_snapshot(working)

    def publish_strategies(self) -> None:
        self.dashboard.set_strategies(self.runtime.strategy_rows())

    def _risk_check(self, order: Order) -> tuple[bool, str]:
        verdict = self.runtime.preview(order)
        return verdict.ok, verdict.reason

    def open_ticket(self, draft: TicketDraft) -> None:
        from workstation.ui.screens.order_ticket import OrderTicket  # the OMS's module with it

        try:
            instrument = instrument_of(self.feed, draft.symbol)
        except KeyError as exc:
            self.dashboard.log_line(str(exc), "error")
            return
        oms = self.runtime.oms
        fx = self.runtime.quote_to_account(draft.symbol)
        ticket = OrderTicket(
            instrument,
            draft,
            mark=self.marks.get(draft.symbol),
            risk_check=self._risk_check,
            equity=self.runtime.equity() if fx is not None else None,
            quote_to_account=fx or 1.0,
            live=bool(getattr(oms.broker, "live", True))
            if oms
            else bool(self.preferences.get("trading.live", False)),
            venue=oms.venue if oms else str(self.preferences.get("trading.broker", "paper")),
        )
        self.push_screen(ticket, self._ticket_closed)

    def _ticket_closed(self, order: Order | AlgoChoice | None) -> None:
        if order is None:
            self.dashboard.log_line("order ticket cancelled")
        elif isinstance(order, AlgoChoice):
            self.start_algo(order)
        else:
            self.submit_order(order)

    @work(group="orders")
    async def start_algo(self, choice: AlgoChoice) -> None:
        """The ticket's TWAP/VWAP: the runtime plans and works it; a refusal is one line."""
        from engine.trading.schedule import ScheduleError  # loaded with the runtime
        from workstation.trading.algos import algo_params

        o = choice.order
        try:
            params = algo_params(self.settings, choice.algo, choice.over, None,
                                 choice.max_participation, timeframe=self.timeframe)  # fmt: skip
            parent = await self._intent(
                f"work {choice.algo.upper()} {o.side} {o.qty:f} {o.symbol}",
                lambda: self.runtime.start_algo(o.symbol, o.side, o.qty, params, "screen"),
            )
        except ScheduleError as exc:
            self.dashboard.log_line(f"{choice.algo.upper()} refused: {exc}", "warning")
            self.notify(str(exc), title=choice.algo.upper(), severity="warning", timeout=8)
            return
        if parent is not None:
            self.notify(f"{parent.id}: {params.slices} slices over {choice.over}",
                        title=choice.algo.upper(), timeout=6)  # fmt: skip

    async def _intent(self, what: str, call: Callable[[], Any]) -> Any:
        """Run an intent on the runtime; a refusal is one log line, never a crash."""
        from workstation.trader.runtime import TradingUnavailable  # loaded with the runtime

        try:
            return await call()
        except TradingUnavailable as exc:
            self.dashboard.log_line(f"cannot {what}: {exc}", "warning")
        except Exception as exc:
            self.dashboard.log_line(f"{what} failed: {exc}", "error")
        return None

    @work(group="orders")
    async def submit_order(self, order: Order) -> Order | None:
        """The ticket asked twice for a live order: it goes out confirmed."""
        result: Order | None = await self._intent(
            f"send {order.side} {order.qty:f} {order.symbol}",
            lambda: self.runtime.submit(order, confirmed=True),
        )
        return result

    @work(group="orders")
    async def cancel_order(self, client_id: str | None) -> None:
        """One order, or a TWAP/VWAP parent by its id (its working children with it); with
        no id, every working parent first (none sends again), then every working order."""
        parents = (
            [p.id for p in self.runtime.algo_orders(working_only=True)]
            if client_id is None
            else [client_id]
            if self.store.algos.get(client_id) is not None
            else []
        )
        for pid in parents:
            ended = await self._intent(
                f"cancel {pid}", functools.partial(self.runtime.cancel_algo, pid)
            )
            if ended is not None:
                self.dashboard.log_line(f"{pid}: {ended.status}")
        if client_id is not None and parents:
            self.publish_desk()
            return
        targets = [client_id] if client_id else [o.client_id for o in self.runtime.working_orders()]
        for cid in targets:
            await self._intent(f"cancel {cid[:8]}", functools.partial(self.runtime.cancel, cid))
        self.publish_desk()

    @work(group="orders")
    async def flatten(self, symbol: str | None) -> None:
        orders = await self._intent("close positions", lambda: self.runtime.flatten(symbol))
        if orders is not None:
            self.dashboard.log_line(f"close {symbol or 'all'}: {len(orders)} order(s)")
        self.publish_desk()

    @work(group="orders")
    async def set_kill_switch(self, on: bool) -> None:
        await self._intent(
            "switch the kill switch",
            lambda: self.runtime.set_kill(on, "user", "from the workstation"),
        )
        self.publish_desk()
        self.refresh_status()

    @work(group="strategies")
    async def strategy_intent(self, action: str, spec: StrategySpec) -> None:
        if action == "start":
            await self.runtime.start_strategy(spec)
        else:
            await self.runtime.stop_strategy(spec.key, "stopped from the workstation")
        self.publish_strategies()

    def trade_command(self, command: Command) -> None:
        """A runtime command from the command bar: an order the runtime sizes, a question,
        moving protection, close, flatten, cancel, kill, scan, strategy start|stop."""
        from workstation.trader.specs import SpecError, StrategySpec, parse_strategy

        e = command.entities
        if command.intent == "order":
            self.sized_ticket(command)
        elif command.intent == "query":
            self.answer(command)
        elif command.intent == "amend":
            self.confirm_amend(command)
        elif command.intent == "close" and e.get("fraction") is not None:
            self.close_part(e.get("symbol"), e["fraction"])
        elif command.intent == "close":
            self.flatten(e.get("symbol"))
        elif command.intent == "flatten":
            self.flatten(None)
        elif command.intent == "cancel":
            self.cancel_order(e.get("client_id"))
        elif command.intent == "kill":
            self.set_kill_switch(bool(e["on"]))
        elif command.intent == "scan":
            self.scan(list(e.get("symbols") or self.symbols), e.get("timeframe"))
        elif command.intent == "strategy":
            try:
                name, params = parse_strategy(str(e["strategy"]))
            except SpecError as exc:
                self.dashboard.log_line(str(exc), "error")
                return
            tf = str(e.get("timeframe") or self.timeframe)
            spec = self.runtime.spec(f"{name} {e['symbol']} {tf}")
            self.strategy_intent(
                str(e["action"]), spec or StrategySpec(name, str(e["symbol"]), tf, params)
            )
        else:
            self.dashboard.log_line(f"'{command.intent}' is not handled here", "warning")

    def sized_ticket(self, command: Command) -> None:
        """An order said as a notional or a part of the position: the runtime sizes it (down
        to the lot, and says how), then the ticket opens with that quantity to confirm."""
        from workstation.trader.runtime import TradingUnavailable  # loaded with the runtime

        e = command.entities
        try:
            sizing = self.runtime.size_order(command)
        except TradingUnavailable as exc:
            self.dashboard.log_line(f"cannot size the order: {exc}", "warning")
            self.notify(str(exc), title="Order", severity="warning", timeout=6)
            return
        if sizing.text:
            self.dashboard.log_line(f"size: {sizing.text}")
            self.notify(sizing.text, title="Order size", timeout=6)
        draft = TicketDraft(
            e["symbol"], Side(e["side"]), OrderType(e.get("type", "market")),
            sizing.qty, e.get("price"), e.get("sl"), e.get("tp"),
            e.get("algo", ""), e.get("over", ""), e.get("max_participation"),
        )  # fmt: skip
        self.open_ticket(draft)

    def answer(self, command: Command) -> None:
        """A question: the runtime's answer in the log, and in one line as a toast."""
        from workstation.trader.runtime import TradingUnavailable  # loaded with the runtime

        try:
            text = self.runtime.answer(command)
        except TradingUnavailable as exc:
            self.dashboard.log_line(str(exc), "warning")
            self.notify(str(exc), title="Question", severity="warning", timeout=6)
            return
        for line in text.splitlines():
            self.dashboard.log_line(line)
        lines = text.splitlines()
        one = lines[0] if len(lines) == 1 else f"{lines[0]}: " + " · ".join(lines[1:])
        self.notify(one if len(one) <= 160 else f"{one[:157]}...", title="qws", timeout=8)

    def confirm_amend(self, command: Command) -> None:
        """Moving the protection of a position is asked first, then done by the runtime."""
        from workstation.ui.screens.confirm_action import ConfirmAction

        e = command.entities
        sl, tp = e.get("sl"), e.get("tp")
        levels = (("stop-loss", sl), ("take-profit", tp))
        moves = [f"{name} to {level:f}" for name, level in levels if level is not None]
        detail = (
            f"{e['symbol']}: move the {' and the '.join(moves)}."
            "\nThe new order is placed before the old one is cancelled."
        )

        def done(ok: bool | None) -> None:
            if ok:
                self.amend(str(e["symbol"]), sl, tp)
            else:
                self.dashboard.log_line(f"{e['symbol']}: protection kept as it was")

        self.push_screen(ConfirmAction("Move the protection?", detail), done)

    @work(group="orders")
    async def amend(self, symbol: str, sl: Decimal | None, tp: Decimal | None) -> None:
        text = await self._intent(
            f"move the protection of {symbol}",
            lambda: self.runtime.amend_protection(symbol, sl, tp),
        )
        if text is not None:
            self.dashboard.log_line(text)
            self.notify(text, title="Protection", timeout=6)
        self.publish_desk()

    @work(group="orders")
    async def close_part(self, symbol: str | None, fraction: Decimal) -> None:
        orders = await self._intent(
            f"close {fraction:%} of {symbol or 'every position'}",
            lambda: self.runtime.close(symbol, fraction),
        )
        if orders is not None:
            self.dashboard.log_line(
                f"close {fraction:%} of {symbol or 'all'}: {len(orders)} order(s)"
            )
        self.publish_desk()

    @work(group="scan")
    async def scan(self, symbols: Sequence[str], timeframe: str | None) -> None:
        self.dashboard.log_line(f"scanning {len(symbols)} symbol(s)…")
        await self._intent("scan", lambda: self.runtime.scan(symbols, timeframe))

    # -- screens ----------------------------------------------------------------------------
    @staticmethod
    def help_owners() -> list[tuple[str, type]]:
        """Whose keys the help screen lists, in its order (imported here: after first frame)."""
        from widgets.chart import Chart
        from widgets.command_bar import CommandBar
        from widgets.news_table import NewsTable
        from widgets.watchlist import Watchlist
        from workstation.ui.screens.backtest import BacktestScreen
        from workstation.ui.screens.order_ticket import OrderTicket
        from workstation.ui.screens.risk import RiskScreen
        from workstation.ui.screens.settings import SettingsScreen
        from workstation.ui.screens.symbol_search import SymbolSearch

        return [
            ("app", QwsApp),
            ("dashboard", DashboardScreen),
            ("watchlist", Watchlist),
            ("chart", Chart),
            ("news", NewsTable),
            ("command bar", CommandBar),
            ("order ticket", OrderTicket),
            ("search", SymbolSearch),
            ("backtest", BacktestScreen),
            ("risk", RiskScreen),
            ("settings", SettingsScreen),
        ]

    def action_help(self) -> None:
        from workstation.ui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        if self.is_screen_installed("help"):
            self.push_screen("help")  # kept: composing its tables again would hold the keys
            return
        owners = self.help_owners()
        self.install_screen(HelpScreen(owners), "help")
        self.push_screen("help")

    def _use_engine_process(self) -> None:
        """Engine calls (QPE, indicators, backtests) run in a worker process, so their native
        imports and numba compiles never hold this process's GIL while quotes stream. Its
        output (a crash's traceback) goes to ``engine.log`` beside the store, never onto the
        screen."""
        from workstation.runtime.engine_thread import use_process

        memory = str(self.store.path) == ":memory:"
        use_process(output=os.devnull if memory else str(self.store.path.parent / "engine.log"))

    async def on_unmount(self) -> None:
        """The screens are going: stop showing the runtime's events, then shut it down (if it
        was built: an app closed before its first frame never had one), then the engine's
        worker (the runtime's last scans still use it)."""
        from workstation.runtime.engine_thread import shutdown_engine

        runtime = self._runtime
        if runtime is not None:
            if self._runtime_event in runtime.listeners:
                runtime.listeners.remove(self._runtime_event)
            runtime.confirmer = None
            await runtime.shutdown()
        await asyncio.to_thread(shutdown_engine)
