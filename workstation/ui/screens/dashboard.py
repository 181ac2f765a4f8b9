"""The dashboard: watchlist, chart, panels (book, cycles, signals, positions, orders, log),
the command bar and the status line. The default screen of ``qws``.

The screen routes the app's messages to its widgets and posts the user's intents (keys,
commands) up to the app as messages (:mod:`workstation.ui.screens.messages`). What it reads, it
is given: the feed's symbols and history, the settings, the clock. Loading history and computing
overlays/cycles run in workers, so nothing here blocks the UI thread; heavy engine modules are
imported inside those workers.

What runs in the background and touches this screen's widgets belongs to the screen: its
workers, its timers (the status line's too), so Textual stops them when the screen closes.
A worker's result comes back on the screen's own loop (``call_later`` or a message), never
applied from the worker: Textual drops it once the screen is closing.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import MountError, Widget
from textual.widgets import Header, Input, Static, TabbedContent, TabPane

from engine.commands import Command, CommandError, parse
from engine.model import Bar, NewsItem, Order, OrderBook, OrderType, Side, Tick
from widgets.chart import Chart, Line, Overlay
from widgets.command_bar import CommandBar
from widgets.cycle_panel import CyclePanel, CycleResult
from widgets.footer import QuietFooter
from widgets.news_table import NewsDetail, NewsTable
from widgets.order_book import OrderBookLadder
from widgets.orders_table import OrdersTable, short_id
from widgets.positions_table import PositionsTable
from widgets.reliability import ReliabilityDiagram
from widgets.signals_feed import BestSetups, SignalsFeed
from widgets.strategies_table import StrategiesTable
from widgets.watchlist import Watchlist
from workstation.ui.screens import engine_calls, heap
from workstation.ui.screens.messages import (
    BarClosed,
    BookUpdated,
    CancelRequested,
    CyclesComputed,
    HelpRequested,
    MarketBatch,
    ModelReady,
    NewsReceived,
    OrderUpdated,
    PositionsUpdated,
    PrecisionLearned,
    QuoteUpdated,
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
from workstation.ui.screens.services import MarketData, Preferences, price_decimals

if TYPE_CHECKING:
    from widgets.log_pane import LogPane

W = TypeVar("W", bound=Widget)
TIMEFRAME_KEYS = {"1": "1m", "2": "5m", "3": "15m", "4": "1h", "5": "4h", "6": "1d"}
HISTORY_BARS = 600
PANELS = ("cycles", "signals", "positions", "orders", "strategies", "log", "calibration", "news")
"""The bottom tabs (their panes are ``tab-NAME``), in order: alt+1 ... alt+8."""
NEWS_ROWS = 200
"""The News tab's rows: the newest stored items at start, then those arriving."""
NEWS_MARKS = 500
"""The selected symbol's newest items drawn as markers on the chart."""
NewsReader = Callable[[str | None, int], Sequence[NewsItem]]
"""The stored news, newest first: (symbol or None for all, limit) -> items (a blocking read,
run in a thread)."""


def understood_line(command: Command) -> str:
    """``understood: buy 0.1 BTC/USDT market (by -> buy)``: what the parser read, with the
    typos it corrected ("" when it says nothing more than the text did)."""
    understood = command.entities.get("understood")
    corrections = list(command.entities.get("corrections") or [])
    if not understood and not corrections:
        return ""
    fixed = f" ({', '.join(corrections)})" if corrections else ""
    return f"understood: {understood or command.intent}{fixed}"


class DashboardScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: handled as the key arrives, so the keys typed right after it reach the bar
        Binding("colon", "command", "Command", id="dashboard.command", priority=True),
        Binding("b", "ticket('buy')", "Buy", id="dashboard.buy"),
        Binding("n", "ticket('sell')", "Sell", id="dashboard.sell"),
        Binding("slash", "search", "Search", id="dashboard.search"),
        Binding("a", "add_symbol", "Add", show=False, id="dashboard.add_symbol"),
        Binding("delete", "remove_symbol", "Remove", show=False, id="dashboard.remove_symbol"),
        Binding("c", "cancel_order", "Cancel order", show=False, id="dashboard.cancel_order"),
        *[
            Binding(k, f"timeframe('{tf}')", tf, show=False, id=f"dashboard.tf_{tf}")
            for k, tf in TIMEFRAME_KEYS.items()
        ],
        Binding("f3", "backtest", "Backtest", id="dashboard.backtest"),
        Binding("f2", "settings", "Settings", id="dashboard.settings"),
        Binding("f4,R", "risk", "Risk", show=False, id="dashboard.risk"),
        Binding("ctrl+t", "next_theme", "Theme", show=False, id="dashboard.theme"),
        Binding(
            "right_square_bracket", "next_panel(1)", "Next tab", show=False, id="dashboard.next_tab"
        ),
        Binding(
            "left_square_bracket",
            "next_panel(-1)",
            "Previous tab",
            show=False,
            id="dashboard.previous_tab",
        ),
        *[
            Binding(
                f"alt+{i}", f"panel('{pane}')", pane.title(), show=False, id=f"dashboard.tab_{pane}"
            )
            for i, pane in enumerate(PANELS, start=1)
        ],
    ]

    def __init__(
        self,
        market: MarketData,
        preferences: Preferences,
        symbols: Sequence[str],
        decimals: dict[str, int],
        timeframe: str = "1m",
        clock: Callable[[], int] = time.time_ns,
        show_clock: bool = True,
        known_symbols: Callable[[], Sequence[str]] = tuple,
        news: NewsReader | None = None,
    ) -> None:
        """``timeframe`` is the one the feed streams (closed bars are scanned on it) and the
        chart's first; ``decimals`` the price precision of each symbol; ``known_symbols`` the
        others its venue lists (the store's instruments), offered by search and add too;
        ``news`` reads the stored news (the News tab and the chart's markers)."""
        super().__init__(id="dashboard")
        self.market = market
        self.preferences = preferences
        self.clock = clock
        self._symbols = list(symbols)
        self._decimals = decimals
        self.stream_timeframe = timeframe
        self.timeframe = timeframe
        self.symbol = self._symbols[0] if self._symbols else ""
        self.show_clock = show_clock
        self.known_symbols = known_symbols
        self.news = news
        self._marks: dict[tuple[str, str], tuple[int, float | None]] = {}
        """The chart's news markers, of ``_marks_symbol``, by item (key, id)."""
        self._marks_symbol: str | None = None
        self.history_loads = 0
        self.cycle_runs = 0
        self.overlay_runs = 0
        self.engine_ready = False
        self._early_log: list[tuple[str, str]] = []
        self._busy: set[str] = set()
        self._watchlist: Watchlist | None = None
        self._chart: Chart | None = None
        self._positions_table: PositionsTable | None = None
        self._again: set[str] = set()
        self._loading_bars: deque[Bar] = deque(maxlen=HISTORY_BARS)
        self._reports: dict[str, tuple[str, dict[str, Any]]] = {}
        """The newest calibration report per symbol: (timeframe, report)."""
        """Closed bars of the chart's series that came while its history was loading."""

    def compose(self) -> ComposeResult:
        yield Header(show_clock=self.show_clock)
        with Horizontal(id="top"):
            yield Watchlist(self._symbols, self._decimals, id="watchlist")
            yield Chart(id="chart")
        with Horizontal(id="bottom"):
            with TabbedContent(id="panels", initial="tab-cycles"):
                with TabPane("Cycles", id="tab-cycles"):
                    yield CyclePanel(id="cycles")
                # the hidden panes' contents mount after the first frame: _mount_later
                yield TabPane("Signals", id="tab-signals")
                yield TabPane("Positions", id="tab-positions")
                yield TabPane("Orders", id="tab-orders")
                yield TabPane("Strategies", id="tab-strategies")
                yield TabPane("Log", id="tab-log")
                yield TabPane("Calibration", id="tab-calibration")
                yield TabPane("News", id="tab-news")
            with Vertical(id="book-box"):
                yield OrderBookLadder(id="book")
        yield CommandBar(id="command")
        yield Static("starting…", id="status")

    def on_mount(self) -> None:
        self.query_one("#book-box").border_title = "Order book"
        if getattr(self.market, "depth", True) is False:
            self.query_one(OrderBookLadder).no_depth(f"no depth in a {self.market.name}")
        self.query_one(Chart).border_title = "Chart"
        self.query_one(Watchlist).focus()
        self.log_line(f"{len(self._symbols)} symbols · press f1 for help, : for commands")
        self.call_after_refresh(self._after_first_frame)

    def _after_first_frame(self) -> None:
        """The chart's history loads once the screen is up (making it holds the loop). The
        engine starts now when it runs in its worker process; on the thread (its imports hold
        the GIL) after a delay that counts from the first frame, not from mount: on a busy
        machine the first frame can take longer than the delay."""
        from workstation.runtime.engine_thread import in_process

        self.call_later(self._mount_later)
        self.load_news()
        if self.symbol and not self.history_loads and self.chart.symbol != self.symbol:
            self.select(self.symbol, self.timeframe)
        if in_process():
            self.start_engine()
        else:
            delay = float(self.preferences.get("app.engine_delay_s", 1.0))
            self.set_timer(delay, self.start_engine)

    def start_engine(self) -> None:
        """Let the engine (numba, qiskit) load now that the screen is up: its warm-up goes
        first (what the first cycle scan needs, each stage shown in the cycle panel), then the
        cycles and overlays of the chart's bars, if they are in."""
        self.engine_ready = True
        self.query_one(CyclePanel).set_progress("engine starting")
        self._warm_up_worker(*self._cycle_settings(), (engine_calls.__name__,))
        if self.chart.bar_count:
            self.detect_cycles()
            self.compute_overlays()

    async def _mount_later(self) -> None:
        """What the first frame does not show, mounted together once it is up: the hidden
        tabs' contents and the footer (~0.25 s of styling). One mount of them all costs one
        layout; Textual's ``Lazy`` would mount each after its own refresh, a layout and a paint
        apiece. The log pane's module (rich's pretty-printer and attrs) is imported only here.
        Lines logged before the log pane exists are kept (:meth:`log_line`) and written here."""
        from widgets.log_pane import LogPane

        log = LogPane(clock=self.clock, id="log")
        try:
            mounts = [
                self.query_one(tab, TabPane).mount(widget)
                for tab, widget in (
                    ("#tab-signals", BestSetups(self._gate(), id="best-setups")),
                    ("#tab-signals", SignalsFeed(self._decimals, id="signals")),
                    ("#tab-positions", PositionsTable(self._decimals, id="positions")),
                    ("#tab-orders", OrdersTable(id="orders")),
                    ("#tab-strategies", StrategiesTable(id="strategies")),
                    ("#tab-log", log),
                    ("#tab-calibration", ReliabilityDiagram(id="reliability")),
                    ("#tab-news", NewsTable(NEWS_ROWS, clock=self.clock, id="news")),
                    ("#tab-news", NewsDetail(id="news-detail")),
                )
            ]
            mounts.append(self.mount(QuietFooter()))
            for mounted in mounts:
                await mounted
        except MountError:
            if not self.is_attached:  # the app quit right after its first frame
                return
            raise
        self.refresh_bindings()  # the footer shows the keys once it is there
        self._show_calibration()
        for early in self._early_log:
            log.add(*early)
        self._early_log.clear()

    def on_resize(self) -> None:
        self.set_class(self.size.width >= 140, "-wide")
        self.set_class(self.size.height >= 40, "-tall")

    # -- widgets ----------------------------------------------------------------------------
    @property
    def watchlist(self) -> Watchlist:
        if self._watchlist is None:
            self._watchlist = self.query_one(Watchlist)
        return self._watchlist

    @property
    def chart(self) -> Chart:
        if self._chart is None:
            self._chart = self.query_one(Chart)
        return self._chart

    def _with(self, cls: type[W], use: Callable[[W], object]) -> None:
        """Apply ``use`` to the widget of type ``cls`` now, or once its lazy pane has mounted."""
        found = self.query(cls)
        if found:
            use(found.first())
        else:
            self.set_timer(0.05, lambda: self._with(cls, use))

    @on(StatusChanged)
    def _on_status(self, message: StatusChanged) -> None:
        # one fixed-height line (app.tcss): no layout pass, which would repaint the screen
        self.query_one("#status", Static).update(message.text, layout=False)

    @on(PrecisionLearned)
    def _on_precision(self, message: PrecisionLearned) -> None:
        """Price precision learned after start (a live venue's instruments)."""
        decimals = message.decimals
        self._decimals.update(decimals)
        self.watchlist.decimals.update(decimals)
        self.watchlist.refresh()

    def log_line(self, text: str, severity: str = "info") -> None:
        """A line in the log pane (kept until the pane exists, if the screen is still starting)."""
        panes = self.query("#log")
        if not panes:
            self._early_log.append((text, severity))
            return
        pane = cast("LogPane", panes.first())
        for early in self._early_log:
            pane.add(*early)
        self._early_log.clear()
        pane.add(text, severity)

    # -- data from the app ------------------------------------------------------------------
    def show_quote(self, tick: Tick) -> None:
        self.watchlist.update_quote(tick)
        if tick.symbol == self.symbol:
            self.chart.add_tick(tick)
        if self._positions_table is None:
            found = self.query(PositionsTable)
            if not found:
                return  # still mounting (lazy pane); it gets marks with its first positions
            self._positions_table = found.first()
        if self._positions_table.positions:
            self._positions_table.update_mark(tick.symbol, tick.mid)

    @on(QuoteUpdated)
    def _on_quote(self, message: QuoteUpdated) -> None:
        self.show_quote(message.tick)

    @on(MarketBatch)
    def _on_market(self, message: MarketBatch) -> None:
        """One batch: every quote applied to its row (O(1) each, repainted with the next
        frame), only the last book of each symbol shown, closed bars in order."""
        try:
            events = message.events
            last_book = {e.symbol: i for i, e in enumerate(events) if isinstance(e, OrderBook)}
            for i, event in enumerate(events):
                if isinstance(event, Tick):
                    self.show_quote(event)
                elif isinstance(event, OrderBook):
                    if last_book[event.symbol] == i:
                        self.query_one(OrderBookLadder).set_book(event)
                elif isinstance(event, Bar) and event.closed:
                    self._bar_closed(event)
        finally:
            message.finish()

    @on(ReferencePrice)
    def _on_reference(self, message: ReferencePrice) -> None:
        self.watchlist.set_reference(message.symbol, message.price)

    @on(BookUpdated)
    def _on_book(self, message: BookUpdated) -> None:
        self.query_one(OrderBookLadder).set_book(message.book)

    @on(BarClosed)
    def _on_bar(self, message: BarClosed) -> None:
        self._bar_closed(message.bar)

    def _bar_closed(self, bar: Bar) -> None:
        if bar.symbol == self.symbol and bar.timeframe == self.timeframe:
            if not self.chart.add_bar(bar):
                self._loading_bars.append(bar)
            self.compute_overlays()
            self.detect_cycles()

    def set_strategies(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """The runtime's strategies, running or configured (see ``Runtime.strategy_rows``)."""
        self._with(StrategiesTable, lambda table: table.set_rows(rows))

    @on(SignalRaised)
    def _on_signal(self, message: SignalRaised) -> None:
        self._with(SignalsFeed, lambda feed: feed.add_signal(message.signal))
        self._with(BestSetups, lambda best: best.add_signal(message.signal))
        self.watchlist.set_signal(message.signal)

    @on(OrderUpdated)
    def _on_order(self, message: OrderUpdated) -> None:
        self._with(OrdersTable, lambda table: table.update_order(message.order))
        o = message.order
        self.log_line(f"order {short_id(o.client_id)} {o.side} {o.qty:f} {o.symbol}: {o.status}")

    def orders_snapshot(self, orders: Sequence[Order]) -> None:
        self._with(OrdersTable, lambda table: table.set_orders(orders))

    @on(PositionsUpdated)
    def _on_positions(self, message: PositionsUpdated) -> None:
        self._with(
            PositionsTable,
            lambda table: table.set_positions(message.positions, message.protective),
        )

    @on(CyclesComputed)
    def _on_cycles(self, message: CyclesComputed) -> None:
        result = message.result
        self.cycle_runs += 1
        if self.cycle_runs == 1:
            heap.settle("engine warm")  # its first run has loaded numba and qiskit
        if result.symbol != self.symbol:
            return
        self.query_one(CyclePanel).set_result(result)
        if result.phase is not None:
            p = result.phase
            self.chart.set_turns([(p.bars_to_trough, "trough"), (p.bars_to_peak, "peak")])

    # -- selection and chart ----------------------------------------------------------------
    @on(Watchlist.Highlighted)
    def _on_row(self, event: Watchlist.Highlighted) -> None:
        if event.symbol != self.symbol:
            self.select(event.symbol, self.timeframe)

    @on(ModelReady)
    def _on_model(self, message: ModelReady) -> None:
        self._reports[message.symbol] = (message.timeframe, message.report)
        if message.symbol == self.symbol:
            self._show_calibration()

    # -- news --------------------------------------------------------------------------------
    @work(group="news", description="stored news")
    async def load_news(self) -> None:
        """The News tab's first rows: the newest stored items, read in a thread."""
        if self.news is None:
            return
        try:
            items = await asyncio.to_thread(self.news, None, NEWS_ROWS)
        except Exception as exc:  # the tab stays empty until items arrive; the log says why
            self.call_later(self.log_line, f"stored news: {exc}", "warning")
            return
        self.call_later(self._show_news, list(items))

    def _show_news(self, items: Sequence[NewsItem]) -> None:
        self._with(NewsTable, lambda table: table.add_items(items))

    @work(exclusive=True, group="news-marks", description="the symbol's news")
    async def _load_marks(self, symbol: str) -> None:
        if self.news is None:
            return
        try:
            items = await asyncio.to_thread(self.news, symbol, NEWS_MARKS)
        except Exception as exc:
            self.call_later(self.log_line, f"stored news of {symbol}: {exc}", "warning")
            return
        self.call_later(self._add_marks, symbol, list(items))

    def _add_marks(self, symbol: str, items: Sequence[NewsItem]) -> None:
        if symbol != self.symbol or symbol != self._marks_symbol:
            return  # another symbol was selected meanwhile
        for item in items:
            self._marks[(item.key, item.id)] = (item.ts_ns, item.score)
        self.chart.set_news(list(self._marks.values()))

    @on(NewsReceived)
    def _on_news(self, message: NewsReceived) -> None:
        items = message.items
        self._with(NewsTable, lambda table: table.add_items(items))
        mine = [item for item in items if self.symbol in item.symbols]
        if mine and self._marks_symbol == self.symbol:
            self._add_marks(self.symbol, mine)

    @on(NewsTable.Chosen)
    def _on_news_chosen(self, message: NewsTable.Chosen) -> None:
        for detail in self.query(NewsDetail):
            detail.show(message.item)

    def _gate(self) -> float:
        return float(self.preferences.get("signals.quality_gate", 0.75))

    def _show_calibration(self) -> None:
        """The reliability diagram of the selected symbol's learnt model, or why there is none
        (models are fitted on the timeframe the feed streams, at its first scans)."""
        found = self.query(ReliabilityDiagram)
        if not found:
            return
        diagram = found.first()
        held = self._reports.get(self.symbol)
        if held is not None:
            timeframe, report = held
            diagram.show(report, f"{self.symbol} {timeframe}: P(up) walk-forward, out of sample")
            return
        diagram.show_missing(
            f"{self.symbol} {self.stream_timeframe}",
            "no learnt confidence model yet: one is fitted from the stored bars at the"
            " symbol's first scan ([confidence] in the config); until then signals show"
            " their rule-made confidence",
        )

    def select(self, symbol: str, timeframe: str) -> None:
        changed = symbol != self.symbol
        self.symbol, self.timeframe = symbol, timeframe
        if changed:
            self._show_calibration()
        self.chart.border_title = f"{symbol} · {timeframe}"
        self.chart.switch_to(symbol, timeframe, self._decimals.get(symbol, 2))
        if symbol != self._marks_symbol:
            self._marks_symbol, self._marks = symbol, {}
            self._load_marks(symbol)
        elif self._marks:
            self.chart.set_news(list(self._marks.values()))  # another timeframe: the same news
        self._with(NewsTable, lambda table: table.set_symbol(self.symbol))
        self._loading_bars.clear()
        self.query_one(OrderBookLadder).show_symbol(symbol, self._decimals.get(symbol, 2))
        self.load_history(symbol, timeframe)

    @work(exclusive=True, group="history")
    async def load_history(self, symbol: str, timeframe: str) -> None:
        if "polars" not in sys.modules:
            # history comes as polars frames: its first import (~0.3 s) runs in a thread, so
            # the screen answers keys meanwhile
            await asyncio.to_thread(importlib.import_module, "polars")
        try:
            frame = await self.market.history(symbol, timeframe, limit=HISTORY_BARS)
        except Exception as exc:
            self.call_later(self._history_failed, symbol, timeframe, exc)
            return
        self.call_later(self._show_history, symbol, timeframe, frame)

    def _history_failed(self, symbol: str, timeframe: str, exc: Exception) -> None:
        self.chart.set_message(f"no history for {symbol} {timeframe}: {exc}")
        self.log_line(f"history {symbol} {timeframe}: {exc}", "error")

    def _show_history(self, symbol: str, timeframe: str, frame: Any) -> None:
        if (symbol, timeframe) != (self.symbol, self.timeframe):
            return
        self.chart.set_history(symbol, timeframe, frame, self._decimals.get(symbol, 2))
        for bar in self._loading_bars:
            self.chart.add_bar(bar)
        self._loading_bars.clear()
        self.history_loads += 1
        self.query_one(CyclePanel).result = None
        self.detect_cycles()
        self.compute_overlays()

    # -- engine work: one run at a time per kind; requests while one runs coalesce into one rerun
    # A worker reads no widget: its inputs are taken on the screen's loop when it starts, and
    # its result comes back through ``call_later`` (or a message), which Textual drops once the
    # screen closes. The screen's widgets go before Textual cancels its workers, so a result
    # that arrives then is dropped, not applied to a widget that is gone, and asks no rerun.
    def compute_overlays(self) -> None:
        if self.engine_ready:
            self._request("overlays", self._start_overlays)

    def detect_cycles(self) -> None:
        if self.engine_ready:
            self._request("cycles", self._start_cycles)

    def _request(self, kind: str, start: Callable[[], object]) -> None:
        if kind in self._busy:
            self._again.add(kind)
            return
        self._busy.add(kind)
        start()

    def _finished(self, kind: str) -> None:
        self._busy.discard(kind)
        if kind in self._again:
            self._again.discard(kind)
            {"overlays": self.compute_overlays, "cycles": self.detect_cycles}[kind]()

    def _start_overlays(self) -> None:
        self._overlays_worker(self.symbol, self.timeframe, self.chart.bars())

    def _cycle_settings(self) -> tuple[int, str, int]:
        """The cycle scan's window, backend and shots."""
        return (
            int(self.preferences.get("cycles.window", 64)),
            str(self.preferences.get("cycles.backend", "statevector")),
            int(self.preferences.get("cycles.shots", 4096)),
        )

    def _start_cycles(self) -> None:
        close = self.chart.bars()["close"].to_numpy()
        self._cycles_worker(self.symbol, self.timeframe, close, *self._cycle_settings())

    @work(group="engine", description="engine warm-up")
    async def _warm_up_worker(
        self, window: int, backend: str, shots: int, modules: tuple[str, ...]
    ) -> None:
        from workstation.runtime.engine_thread import run_engine
        from workstation.runtime.engine_warmup import warm_up

        def stage(text: str) -> None:
            self.call_later(self._engine_stage, text)

        try:
            timings = await run_engine(warm_up, window, backend, shots, modules, on_stage=stage)
        except Exception as exc:  # best effort: the scans that follow report their own errors
            self.call_later(self.log_line, f"engine warm-up: {exc}", "warning")
        else:
            spent = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings)
            self.call_later(self.log_line, f"engine ready ({spent})")
        finally:
            self.call_later(self._engine_warm)

    def _engine_stage(self, text: str) -> None:
        panel = self.query_one(CyclePanel)
        if panel.result is None and panel.stage:
            panel.set_progress(f"engine starting: {text}")

    def _engine_warm(self) -> None:
        panel = self.query_one(CyclePanel)
        if panel.result is None and panel.stage:
            if "cycles" in self._busy:
                panel.set_progress(f"QPE cycle detector: scanning {self.symbol} {self.timeframe}")
            else:
                panel.set_status("QPE cycle detector: waiting for bars")

    @work(group="overlays", description="overlays")
    async def _overlays_worker(self, symbol: str, timeframe: str, bars: Any) -> None:
        from workstation.runtime.engine_thread import EngineError, run_engine

        try:
            series, levels = await run_engine(engine_calls.chart_overlays, bars)
            overlays = [Overlay(*s) for s in series]
            lines = [Line(*level) for level in levels]
            self.call_later(self._show_overlays, symbol, timeframe, overlays, lines)
        except EngineError as exc:
            self.call_later(self.log_line, f"overlays {symbol} {timeframe}: {exc}", "error")
        finally:
            self.call_later(self._finished, "overlays")

    def _show_overlays(
        self, symbol: str, timeframe: str, overlays: list[Overlay], levels: list[Line]
    ) -> None:
        if (symbol, timeframe) == (self.symbol, self.timeframe):
            self.chart.set_overlays(overlays)
            self.chart.set_levels(levels)
            self.overlay_runs += 1

    @work(group="cycles", description="cycles")
    async def _cycles_worker(
        self, symbol: str, timeframe: str, close: Any, window: int, backend: str, shots: int
    ) -> None:
        from engine.signals.cycles import CycleInputError
        from workstation.runtime.engine_thread import EngineError, run_engine

        try:
            report, folded = await run_engine(
                engine_calls.cycle_scan, close, window, backend, shots
            )
        except CycleInputError as exc:
            self.call_later(self._cycles_refused, f"{symbol} {timeframe}: {exc}")
        except EngineError as exc:
            self.call_later(self._cycles_refused, f"{symbol} {timeframe}: {exc}")
            self.call_later(self.log_line, f"cycles {symbol} {timeframe}: {exc}", "error")
        else:
            result = CycleResult(
                symbol, timeframe, folded, tuple(report.cycles), report.phase,
                report.elapsed_ms, report.backend,
            )  # fmt: skip
            self.post_message(CyclesComputed(result))
        finally:
            self.call_later(self._finished, "cycles")

    def _cycles_refused(self, why: str) -> None:
        self.query_one(CyclePanel).set_status(why)

    # -- actions ----------------------------------------------------------------------------
    def action_timeframe(self, timeframe: str) -> None:
        if timeframe != self.timeframe:
            self.select(self.symbol, timeframe)

    def action_command(self) -> None:
        if isinstance(self.focused, Input):
            raise SkipAction()  # a colon typed into the bar (or any box)
        self.open_command_bar()

    def action_panel(self, pane: str) -> None:
        self.query_one("#panels", TabbedContent).active = f"tab-{pane}"

    def action_next_panel(self, step: int) -> None:
        panels = self.query_one("#panels", TabbedContent)
        active = panels.active.removeprefix("tab-")
        at = PANELS.index(active) if active in PANELS else 0
        panels.active = f"tab-{PANELS[(at + step) % len(PANELS)]}"

    def open_command_bar(self) -> None:
        self.query_one(CommandBar).open()

    def action_search(self) -> None:
        self._open_search("", add=False)

    def action_add_symbol(self) -> None:
        self._open_search("", add=True)

    def _open_search(self, text: str, add: bool) -> None:
        from workstation.ui.screens.symbol_search import SymbolSearch

        def chosen(symbol: str | None) -> None:
            if symbol:
                self.show_symbol(symbol, add=add)

        title = "Add to watchlist" if add else "Go to symbol"
        search = SymbolSearch(self.market.symbols(), text, title, known=self.known_symbols())
        self.app.push_screen(search, chosen)

    def show_symbol(self, symbol: str, add: bool = True, timeframe: str | None = None) -> None:
        if symbol not in self.watchlist.symbols:
            if not add:
                self.log_line(f"{symbol} is not on the watchlist; adding it")
            self.add_to_watchlist(symbol)
        self.watchlist.select_symbol(symbol)
        self.select(symbol, timeframe or self.timeframe)

    def add_to_watchlist(self, symbol: str) -> None:
        """A row for ``symbol`` now (the chart and the book need its precision at once); the
        app then streams it and saves the list (:class:`WatchRequested`)."""
        if symbol in self.watchlist.symbols:
            return
        if symbol not in self.market.symbols() and symbol not in self.known_symbols():
            self.log_line(f"{symbol}: not a symbol of the {self.market.name} feed", "error")
            return
        decimals = price_decimals(self.market, symbol)
        self._decimals[symbol] = decimals
        self.watchlist.add_symbol(symbol, decimals)
        self.post_message(WatchRequested(symbol))

    def action_remove_symbol(self) -> None:
        symbol = self.watchlist.selected_symbol()
        if symbol:
            self.remove_from_watchlist(symbol)

    def remove_from_watchlist(self, symbol: str) -> None:
        """Drop the row (never the last one); the app stops streaming it and saves the list."""
        if symbol not in self.watchlist.symbols or len(self.watchlist.symbols) == 1:
            return
        self.watchlist.remove_symbol(symbol)
        if symbol == self.symbol and self.watchlist.symbols:
            self.watchlist.select_symbol(self.watchlist.symbols[0])
            self.select(self.watchlist.symbols[0], self.timeframe)
        self.post_message(UnwatchRequested(symbol))

    def action_ticket(self, side: str, draft: TicketDraft | None = None) -> None:
        self.post_message(TicketRequested(draft or TicketDraft(self.symbol, Side(side))))

    def action_cancel_order(self) -> None:
        found = self.query(OrdersTable)
        client_id = found.first().selected_client_id() if found else None
        if client_id is None:
            self.log_line("no open order selected (Orders tab)", "warning")
            return
        self.post_message(CancelRequested(client_id))

    def action_backtest(self, command: Command | None = None) -> None:
        from workstation.ui.screens.backtest import BacktestScreen

        e = command.entities if command else {}
        self.app.push_screen(
            BacktestScreen(
                self.market,
                e.get("symbol") or self.symbol,
                e.get("timeframe") or self.timeframe,
                e.get("strategy", "sma_cross"),
                e.get("params", {}),
                settings=self.preferences.settings,
                run_now="strategy" in e,
            )
        )

    def action_risk(self, command: Command | None = None) -> None:
        """The risk screen (the app builds it: it needs the runtime's positions and marks)."""
        e = command.entities if command else {}
        self.post_message(RiskRequested(str(e.get("shocks", "")), bool(e.get("propagate"))))

    def action_settings(self) -> None:
        from workstation.ui.screens.settings import SettingsScreen

        self.app.push_screen(SettingsScreen(self.preferences))

    def action_next_theme(self) -> None:
        themes = sorted(self.app.available_themes)
        i = themes.index(self.app.theme) if self.app.theme in themes else -1
        self.app.theme = themes[(i + 1) % len(themes)]
        self.notify(f"theme: {self.app.theme}", timeout=2)

    # -- the command bar --------------------------------------------------------------------
    @on(CommandBar.Entered)
    def _entered(self, message: CommandBar.Entered) -> None:
        self.run_command(message.text)

    def command_symbols(self) -> list[str]:
        """The symbols a typed command may name (the feed's)."""
        return self.market.symbols()

    def command_aliases(self) -> dict[str, str]:
        """The user's names for instruments (``commands.aliases``)."""
        return dict(self.preferences.get("commands.aliases", {}) or {})

    def run_command(self, text: str) -> Command | None:
        try:
            command = parse(text, self.command_symbols(), aliases=self.command_aliases())
        except CommandError as exc:
            self.log_line(f"{text}: {exc}", "warning")
            self.notify(str(exc), title="Command", severity="warning", timeout=6)
            return None
        self.log_line(f"> {text}")
        understood = understood_line(command)
        if understood:
            self.log_line(understood)
        self.dispatch(command)
        return command

    def dispatch(self, command: Command) -> None:
        e: dict[str, Any] = command.entities
        intent = command.intent
        if intent == "order" and e.get("qty") is None:
            if e["symbol"] not in self.watchlist.symbols:
                self.show_symbol(e["symbol"])
            self.post_message(TradeRequested(command))  # the runtime sizes it, then the ticket
        elif intent == "order":
            draft = TicketDraft(
                e["symbol"], Side(e["side"]), OrderType(e["type"]),
                e.get("qty"), e.get("price"), e.get("sl"), e.get("tp"),
                e.get("algo", ""), e.get("over", ""), e.get("max_participation"),
            )  # fmt: skip
            if e["symbol"] not in self.watchlist.symbols:
                self.show_symbol(e["symbol"])
            self.post_message(TicketRequested(draft))
        elif intent == "chart":
            self.show_symbol(e.get("symbol") or self.symbol, timeframe=e.get("timeframe"))
        elif intent == "timeframe":
            self.action_timeframe(e["timeframe"])
        elif intent == "watch_add":
            self.show_symbol(e["symbol"])
        elif intent == "watch_remove":
            self.remove_from_watchlist(e["symbol"])
        elif intent == "search":
            self._open_search(e["text"], add=False)
        elif intent == "backtest":
            self.action_backtest(command)
        elif intent == "settings":
            self.action_settings()
        elif intent == "stress":
            self.action_risk(command)
        elif intent == "help":
            self.post_message(HelpRequested())
        elif intent == "theme":
            if e["theme"] in self.app.available_themes:
                self.app.theme = e["theme"]
            else:
                self.log_line(f"no theme {e['theme']!r}; ctrl+t cycles themes", "warning")
        elif intent == "quit":
            self.app.exit()
        elif intent == "scan":
            symbols = e.get("symbols") or self.watchlist.symbols
            self.post_message(TradeRequested(Command("scan", {**e, "symbols": symbols})))
        else:
            self.post_message(TradeRequested(command))
