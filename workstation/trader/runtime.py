"""The trading runtime: one per process, the single owner of the trading loop.

It subscribes to the feed and, in one ordered consumer of the hub, hands quotes and books to
the broker (the paper broker fills on them), keeps the marks, and on every closed bar: marks
equity (a daily loss beyond ``risk.daily_loss_limit`` trips the kill switch by itself), runs
the strategies of that symbol and timeframe (their orders go through the order manager), then
stores it and queues the signal scan of it from stored history. Quotes, orders and alerts reach
the store, the broker and the outbox from here only; the screen, ``qws trade`` and Telegram
are clients: they call the intents below (:meth:`Runtime.preview`, :meth:`Runtime.submit`,
:meth:`Runtime.cancel`, :meth:`Runtime.flatten`, :meth:`Runtime.set_kill`,
:meth:`Runtime.set_paused`, :meth:`Runtime.start_strategy`, :meth:`Runtime.stop_strategy`) and
listen to its events (:mod:`workstation.trader.events`).

A bar reaches its strategies before it is stored: the bars of one batch the hub hands over (a
step: every symbol's bar of one close) are written after their strategies ran, in one
transaction, in the order they came, then scanned. A crash before that write loses only bars
the feed serves again (the next start fetches history); an order is durable in the order
manager before it goes out, as before. Equity is marked at a bar only when it can differ from
the last point: the clock moved or a quote moved a mark (a fill marks it at once), so the bars
of one step write one point, the value a mark at each of them would leave (a point per
instant).

Time: a replay (a feed marked ``simulated``) drives the clock with its bars, so the order
manager, the paper broker, equity marks and the daily loss limit all live in the file's time,
as the backtester does; any other feed runs on the wall clock.
"""

from __future__ import annotations

import asyncio
import logging
import math
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.commands import Command
from engine.model import (
    Alert,
    Bar,
    Fill,
    Instrument,
    ModelError,
    Order,
    OrderBook,
    OrderStatus,
    OrderType,
    Side,
    Signal,
    Tick,
)
from engine.protocols import Broker, BrokerError, Feed
from engine.strategy import StrategyError
from engine.trading.portfolio import fx_rate
from engine.trading.risk import RiskDecision
from engine.trading.schedule import DAY_NS, Algo, AlgoOrder, AlgoParams, ScheduleError
from feeds.health import STREAM_ENDED
from workstation.alerts import answers
from workstation.alerts.announcer import Announcer
from workstation.runtime.config import ConfigError, Settings
from workstation.runtime.hub import Hub
from workstation.store import Store
from workstation.strategies.discovery import StrategyNotFound, create
from workstation.strategies.runner import StrategyRunner
from workstation.trader.events import (
    AlgoChanged,
    EquityMarked,
    Filled,
    KillChanged,
    Listener,
    Logged,
    ModelFitted,
    NewsArrived,
    OrderChanged,
    PauseChanged,
    RuntimeEvent,
    SignalEmitted,
    StrategyChanged,
)
from workstation.trader.signal_pipeline import LearningSettings, SignalPipeline
from workstation.trader.sizing import Sizing
from workstation.trader.specs import StrategySpec
from workstation.trading.algos import AlgoDesk, algo_params
from workstation.trading.audit_report import record_config
from workstation.trading.broker_factory import (
    instrument_resolver,
    open_broker,
    open_oms,
    risk_limits,
)
from workstation.trading.killswitch import KillSwitch, is_paused
from workstation.trading.killswitch import set_paused as store_paused
from workstation.trading.oms import OmsError, OrderManager, new_client_id

log = logging.getLogger(__name__)

ConfirmFn = Callable[[Order], Awaitable[bool]]
NOT_READY = "the broker is still starting"


class TradingUnavailable(Exception):
    """An intent the runtime cannot carry out (no broker, unknown strategy ...)."""


class Runtime:
    def __init__(
        self,
        feed: Feed,
        store: Store,
        settings: Settings,
        symbols: Sequence[str],
        timeframe: str,
        *,
        db_path: Path | None = None,
        strategies: Sequence[StrategySpec] = (),
        kill_switch: KillSwitch | None = None,
        clock: Callable[[], int] | None = None,
        signals: bool | None = None,
        telegram: bool = True,
        stop_at_end: bool = False,
        news: bool | None = None,
    ) -> None:
        self.feed = feed
        self.store = store
        self.settings = settings
        self.symbols = list(symbols)
        self.timeframe = timeframe
        self.venue = str(getattr(feed, "venue", feed.name))
        self.simulated = bool(getattr(feed, "simulated", False))
        self._market_ns = 0
        self.clock: Callable[[], int] = clock or (
            self._market_clock if self.simulated else time.time_ns
        )
        self.db_path = db_path or _paper_path(store)
        self.hub = Hub(int(settings.get("hub.queue_size", 10_000)))
        self.marks: dict[str, float] = {}
        self.kill = kill_switch or KillSwitch(store)
        self._resolve = instrument_resolver(store)
        self.announcer = Announcer.from_settings(store, settings, self.instrument)
        self.announcer.outbox.listeners.append(self._delivery)
        self.listeners: list[Listener] = []
        self.broker: Broker | None = None
        self.oms: OrderManager | None = None
        self.algos: AlgoDesk | None = None
        """Works the TWAP/VWAP parents of the order manager's venue (once it is open)."""
        self.broker_error = ""
        self.feed_error = ""
        self.feed_ended = asyncio.Event()
        self.ready = asyncio.Event()
        self.runners: dict[str, StrategyRunner] = {}
        self.specs: dict[str, StrategySpec] = {}
        self.configured = list(strategies)
        self.before_feed: list[Callable[[], Awaitable[None]]] = []
        """Run once the broker is open, before the feed streams (a command's parent order
        planned at the start of a replay)."""
        """The strategies to run from the start (running or not: see :attr:`specs`)."""
        self._auto: set[str] = set()
        self.confirmed: set[str] = set()
        """Client ids a client confirmed (the ticket asked twice): live orders go out."""
        self.confirmer: ConfirmFn | None = None
        """Asks the user about a live strategy order (a screen dialog, a Telegram button)."""
        self.quotes = 0
        self.bars_stored = 0
        self.bad_events = 0
        self.telegram_enabled = telegram
        self.telegram: Any = None
        self.news_enabled = bool(settings.get("news.poll", True) if news is None else news)
        self.news: Any = None
        """The news poller (:mod:`workstation.news.poller`) while it runs."""
        self.stop_at_end = stop_at_end
        use_signals = signals if signals is not None else settings.get("scan.on_bar", True)
        self._problems: list[str] = []
        """Settings that could not be used, logged as errors once the runtime starts."""
        try:
            learning = LearningSettings.from_mapping(settings.section("confidence"))
        except ConfigError as exc:
            learning = LearningSettings(learnt=False)
            self._problems.append(f"{exc}: signals keep their rule-made confidence")
        self.pipeline: SignalPipeline | None = (
            SignalPipeline(
                store,
                self.venue,
                settings.section("signals"),
                self.record_signal,
                prepare=self.ensure_history,
                bars=int(settings.get("scan.bars", 256)),
                backend=str(settings.get("cycles.backend", "statevector")),
                learning=learning,
                on_model=self._model_fitted,
            )
            if use_signals
            else None
        )
        self.account_ccy = str(settings.get("trading.account_ccy", "USD"))
        self._pegs = dict(settings.get("trading.fx_pegs", {}) or {})
        self.limits = risk_limits(settings)
        self._kill_seen = self.kill.engaged()
        self._equity_warned = False
        # first of the switch's hooks (the order manager's cancel comes later): the watcher
        # must not take this process's own kill for another process's
        self.kill.register(self._kill_noted)
        self._paused_seen = is_paused(store)
        self._tasks: list[asyncio.Task[Any]] = []
        self._feed_task: asyncio.Task[Any] | None = None
        self._stopping = False
        self._history_done: dict[tuple[str, str], int] = {}
        """How many bars of each (symbol, timeframe) were asked of the feed and stored."""
        self._unstored: list[Bar] = []
        """Closed bars of the batch being handled, written at its end (:meth:`_flush_bars`)."""
        self._quotes_unsynced = False
        self._marks_moved = True
        self._equity_ns: int | None = None
        self._resolved: dict[str, tuple[float, Instrument | None]] = {}

    # -- time, marks, instruments ------------------------------------------------------------
    def _market_clock(self) -> int:
        return self._market_ns or time.time_ns()

    def mark(self, symbol: str) -> float | None:
        value = self.marks.get(symbol)
        return value if value is not None and math.isfinite(value) else None

    instrument_ttl_s = 1.0
    """How long an answer of the store (an instrument, or none) is kept: equity rates ask for
    a few candidate pairs of every asset held, most of them unknown, on every mark."""

    def instrument(self, symbol: str) -> Instrument:
        """The feed's instrument (tick/lot grid), else the store's, else the demo's."""
        resolver = getattr(self.feed, "instrument", None)
        if resolver is not None:
            try:
                found: Instrument = resolver(symbol)
                return found
            except (KeyError, ValueError):
                pass
        now = time.monotonic()
        cached = self._resolved.get(symbol)
        if cached is None or now - cached[0] > self.instrument_ttl_s:
            try:
                known: Instrument | None = self._resolve(symbol)
            except (KeyError, ValueError):
                known = None
            cached = self._resolved[symbol] = (now, known)
        if cached[1] is None:
            raise KeyError(f"unknown instrument {symbol!r}")
        return cached[1]

    # -- events ------------------------------------------------------------------------------
    def emit(self, event: RuntimeEvent) -> None:
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                log.exception("runtime listener %r failed", listener)

    def log(self, text: str, severity: str = "info") -> None:
        log.debug("%s: %s", severity, text)
        self.emit(Logged(text, severity))

    def _delivery(self, alert_id: int, status: str, detail: str) -> None:
        severity = {"sent": "info", "failed": "error", "unknown": "warning"}.get(status, "info")
        self.log(f"alert #{alert_id} {status} {detail}".rstrip(), severity)

    # -- start and stop ----------------------------------------------------------------------
    async def open(self) -> None:
        """Open the broker and the order manager, and settle with the venue."""
        await self._store_instruments()
        try:
            broker = await asyncio.to_thread(
                open_broker,
                self.settings,
                self.store,
                self.db_path,
                None,
                self.clock if self.simulated else None,
            )
        except Exception as exc:  # a broken broker config must not take the process down
            self.broker_error = f"{type(exc).__name__}: {exc}"
            self.log(f"broker: {self.broker_error}", "error")
            return
        self.broker = broker
        oms = open_oms(
            self.settings,
            self.store,
            broker,
            self.mark,
            confirm=self._confirm,
            kill_switch=self.kill,
            clock=self.clock if self.simulated else None,
        )
        oms.instruments = self.instrument
        oms.listeners.append(self._order_event)
        self.oms = oms
        self.algos = AlgoDesk(
            self.store, oms, self.timeframe, self.clock, self._algo_changed, self.venue
        )
        self.kill.register(self._killed)  # after the order manager's own hook: it cancels first
        live = bool(getattr(broker, "live", True))
        self.log(f"broker {oms.venue} ready{' (LIVE)' if live else ''}")
        try:
            for d in await oms.reconcile():
                self.log(f"reconcile: {d.kind} {d.subject[:12]}: {d.detail}", "warning")
        except (BrokerError, OSError) as exc:
            self.log(f"reconcile with {oms.venue} failed: {exc}", "error")
        self.ready.set()

    async def ensure_history(self, symbol: str, timeframe: str, bars: int = 0) -> None:
        """Store the feed's recent bars of ``symbol`` once, before anything reads them: a
        strategy warms up from the store and the signal scans read it (no refetch). Done on
        first need, not for every symbol at start (a burst the screen would feel). ``bars``:
        at least this many (the signal pipeline's learnt model asks for its history and the
        window its context timeframes need)."""
        key = (symbol, timeframe)
        limit = max(500, 2 * int(self.settings.get("scan.bars", 256)), bars)
        if self._history_done.get(key, 0) >= limit:
            return
        self._history_done[key] = limit
        try:
            frame = await self.feed.history(symbol, timeframe, limit=limit)
        except Exception as exc:
            self.log(f"{symbol}: no history from {self.feed.name} ({exc})", "warning")
            return
        if frame.height:
            await asyncio.to_thread(self.store.candles.upsert, frame, symbol, timeframe, self.venue)

    async def _store_instruments(self) -> None:
        loader = getattr(self.feed, "load_instruments", None)
        found: list[Instrument] = []
        if loader is not None:
            try:
                found = list(await loader(list(self.symbols)))
            except Exception as exc:
                self.log(f"{self.feed.name}: no instrument details ({exc})", "warning")
        elif getattr(self.feed, "instrument", None) is not None:
            for symbol in self.symbols:
                try:
                    found.append(self.instrument(symbol))
                except (KeyError, ValueError):
                    continue
        if found:
            await asyncio.to_thread(self.store.instruments.upsert, found)

    async def run(self, stop: asyncio.Event | None = None, require_broker: bool = False) -> None:
        """Run until ``stop`` is set (or cancelled; or the feed ends, with ``stop_at_end``),
        then shut down cleanly. With ``require_broker``, a broker that does not open ends the
        run at once (headless, there is nobody to fix it for)."""
        stop = stop or asyncio.Event()
        try:
            await self.start()
            if require_broker and self.oms is None:
                return
            waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
            if self.stop_at_end:
                waits.append(asyncio.ensure_future(self._finished()))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
        finally:
            await self.shutdown()

    async def start(self) -> None:
        for problem in self._problems:
            self.log(problem, "error")
        self._market_sub = self.hub.subscribe("runtime", ordered=True)
        await asyncio.to_thread(record_config, self.store, self.settings, "runtime")
        await self.open()
        if self.pipeline is not None:
            self._tasks.append(asyncio.create_task(self.pipeline.run(), name="signals"))
        for spec in self.configured:
            await self.start_strategy(spec)
        for hook in self.before_feed:
            await hook()
        self._tasks.append(asyncio.create_task(self._market(), name="market"))
        self._tasks.append(asyncio.create_task(self._watch(), name="watch"))
        if self.oms is not None and getattr(self.oms.broker, "on_tick", None) is None:
            self._tasks.append(asyncio.create_task(self._poll(), name="poll"))
        if self.telegram_enabled:
            self._tasks.append(asyncio.create_task(self._telegram(), name="telegram"))
        if self.news_enabled:
            self._tasks.append(asyncio.create_task(self._news(), name="news"))
        self.restart_feed()

    feed_restart_base_s = 1.0
    feed_restart_cap_s = 30.0
    feed_healthy_s = 60.0
    """A stream that ran this long and delivered starts its next restart back-off afresh."""
    feed_restarts = 0

    def restart_feed(self) -> None:
        """(Re)subscribe the feed to :attr:`symbols` (after the watchlist changed)."""
        if self._feed_task is not None:
            self._feed_task.cancel()
        self.feed_ended.clear()
        self._feed_task = asyncio.create_task(self._pump(), name="feed")

    def stop_feed(self) -> None:
        """Stop streaming (the runtime keeps running: orders, Telegram, the screen)."""
        if self._feed_task is not None:
            self._feed_task.cancel()

    def _feed_ends(self) -> bool:
        """Whether the feed's stream ends by design: a replay (``simulated``) plays its file
        once, a load generator (``finite``) runs for a set time. Any other stream that ends or
        raises is restarted."""
        return self.simulated or bool(getattr(self.feed, "finite", False))

    async def _pump(self) -> None:
        """Publish the feed's events; restart a stream that ends or fails unexpectedly, with
        exponential back-off (``feed_restart_base_s`` doubling to ``feed_restart_cap_s``),
        logged and shown in :attr:`feed_error` until the new stream delivers."""
        self.feed_error = ""
        tries = 0
        while True:
            started = time.monotonic()
            delivered = False
            try:
                async for event in self.feed.stream(list(self.symbols), self.timeframe):
                    if not delivered:
                        delivered = True
                        self.feed_error = ""
                    await self.hub.publish(event)
                why = STREAM_ENDED
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                why = f"{type(exc).__name__}: {exc}"
            if self._feed_ends():
                self.feed_error = why
                if why != STREAM_ENDED:
                    self.log(f"feed {self.feed.name} stopped: {why}", "error")
                await self.hub.publish(_END)
                return
            if delivered and time.monotonic() - started >= self.feed_healthy_s:
                tries = 0
            tries += 1
            self.feed_restarts += 1
            delay = min(self.feed_restart_cap_s, self.feed_restart_base_s * 2 ** (tries - 1))
            self.feed_error = f"feed restarting in {delay:g} s ({_ordinal(tries)} try): {why}"
            self.log(f"feed {self.feed.name} stopped ({why}); restarting in {delay:g} s", "error")
            await asyncio.sleep(delay)
            self.feed_error = f"feed restarted ({_ordinal(tries)} try) after: {why}"

    async def _finished(self) -> None:
        await self.feed_ended.wait()
        if self.pipeline is not None:
            await self.pipeline.drain()

    async def shutdown(self) -> None:
        """Stop the feed, let queued signal scans finish, stop the strategies, write the last
        equity mark, close the broker. Working orders stay at the venue (a restart reconciles
        them); nothing is left half-written."""
        if self._stopping:
            return
        self._stopping = True
        if self._feed_task is not None:
            self._feed_task.cancel()
        try:
            await self.feed.close()
        except Exception:
            log.exception("closing the feed failed")
        if self.pipeline is not None and any(t.get_name() == "signals" for t in self._tasks):
            try:
                await asyncio.wait_for(self.pipeline.drain(), 30.0)
            except TimeoutError:
                self.log("signal scans still queued at shutdown were dropped", "warning")
        for key in list(self.runners):
            await self.stop_strategy(key, "shutdown", announce=False)
        if self.telegram is not None:
            self.telegram.stop()
        for task in [*self._tasks, *([self._feed_task] if self._feed_task else [])]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.mark_equity()
        self.hub.close()
        if self.broker is not None:
            closer = getattr(self.broker, "close", None)
            if closer is not None:
                result = closer()
                if asyncio.iscoroutine(result):
                    await result

    # -- the market loop: one ordered consumer ----------------------------------------------
    async def _market(self) -> None:
        sub = self._market_sub
        try:
            while True:
                try:
                    await sub.wait()
                except StopAsyncIteration:
                    return
                batch = sub.get_nowait_all()
                self.quotes += sum(isinstance(e, Tick) for e in batch)
                if not self._has_working_orders():
                    batch = _latest_quotes(batch)
                for event in batch:
                    try:
                        await self._on_event(event)
                    except Exception:
                        self.bad_events += 1
                        log.exception("runtime: event %r failed", event)
                await self._flush_bars()
                await self._sync()
        finally:
            self._store_bars()  # cancelled mid-batch (shutdown): the bars handled are kept

    async def _on_event(self, event: Any) -> None:
        oms = self.oms
        if isinstance(event, Tick):
            if event.ts_ns > self._market_ns:
                self._market_ns = event.ts_ns
            mid = event.mid
            if math.isfinite(mid) and mid > 0:
                self.marks[event.symbol] = mid
                self._marks_moved = True
            handler = getattr(oms.broker, "on_tick", None) if oms else None
            if handler is not None:
                self._quotes_unsynced = True
                handler(event)
        elif isinstance(event, OrderBook):
            handler = getattr(oms.broker, "on_book", None) if oms else None
            if handler is not None:
                self._quotes_unsynced = True
                handler(event)
        elif isinstance(event, Bar) and event.closed:
            if event.ts_ns > self._market_ns:
                self._market_ns = event.ts_ns
            await self._on_bar(event)
        elif event is _END:
            await self._flush_bars()
            self.log(f"feed {self.feed.name}: {self.feed_error or STREAM_ENDED}", "warning")
            self.feed_ended.set()

    _last_sync = 0.0

    def _has_working_orders(self) -> bool:
        oms = self.oms
        return oms is not None and oms.has_working_orders()

    async def _sync(self) -> None:
        """Let the order manager pick up fills of working orders (simulated: after every
        batch, so a replay's fills do not depend on its speed; live: a few times a second)."""
        oms = self.oms
        if oms is None or getattr(oms.broker, "on_tick", None) is None:
            return
        now = time.monotonic()
        if not self.simulated and now - self._last_sync < 0.1:
            return
        self._quotes_unsynced = False
        if not oms.has_working_orders():
            return
        self._last_sync = now
        for d in await oms.sync():
            self.log(f"sync: {d.kind} {d.subject[:12]}: {d.detail}", "warning")

    async def _on_bar(self, bar: Bar) -> None:
        """Run the bar's strategies, on fills picked up and equity marked at its time; the bar
        is stored at the end of its batch (:meth:`_flush_bars`), or at shutdown if that
        interrupts it."""
        self._unstored.append(bar)
        if self._quotes_unsynced:  # the paper broker fills only on quotes and books
            await self._sync()
        if self._marks_moved or self._equity_ns != self.clock():
            self.mark_equity()
        await self._check_daily_loss()
        paused = is_paused(self.store)
        for key, runner in list(self.runners.items()):
            spec = self.specs[key]
            if spec.symbol != bar.symbol or spec.timeframe != bar.timeframe:
                continue
            runner.paused = paused or self.kill.engaged()
            try:
                await runner.on_bar(bar)
            except Exception as exc:
                await self.stop_strategy(key, f"error: {type(exc).__name__}: {exc}")
                log.exception("strategy %s failed", key)
        if self.algos is not None and bar.timeframe == self.timeframe:
            try:
                await self.algos.on_bar(bar)
            except Exception:
                log.exception("working the algorithm orders on %s failed", bar.symbol)

    async def _flush_bars(self) -> None:
        """Store the bars handled since the last flush, off the loop (a write may wait on the
        file's lock while another process imports), then queue their signal scans (which read
        them from the store)."""
        series = await asyncio.to_thread(self._store_bars)
        if self.pipeline is not None:
            for symbol, timeframe in series:
                if timeframe == self.timeframe:
                    self.pipeline.submit(symbol, timeframe)

    def _store_bars(self) -> list[tuple[str, str]]:
        """Write the bars handled since the last flush in one transaction, in the order they
        came, and say which series they were. A failed write loses them from the store only
        (the feed serves them again) and is counted."""
        bars, self._unstored = self._unstored, []
        if not bars:
            return []
        series = dict.fromkeys((bar.symbol, bar.timeframe) for bar in bars)
        try:
            self.store.candles.upsert_bars(bars, self.venue)
        except Exception:
            self.bad_events += len(bars)
            log.exception("runtime: storing %d bar(s) failed", len(bars))
            return []
        self.bars_stored += len(bars)
        return list(series)

    # -- equity and the daily loss limit -----------------------------------------------------
    def equity(self) -> float | None:
        oms = self.oms
        if oms is None:
            return None
        with self.store.reading():  # the rates and the holdings they value: one snapshot
            return oms.equity(self.account_ccy, oms.rates(self._pegs))

    def quote_to_account(self, symbol: str) -> float | None:
        """The rate from ``symbol``'s quote currency to the account's (for sizing); None if no
        mark or peg gives it."""
        from engine.trading.portfolio import fx_rate

        oms = self.oms
        if oms is None:
            return None
        try:
            quote = self.instrument(symbol).quote_ccy
            return float(fx_rate(quote, self.account_ccy, oms.rates(self._pegs)))
        except (KeyError, LookupError, ValueError):
            return None

    def mark_equity(self) -> float | None:
        value = self.equity()
        if value is None or self.oms is None:
            if self.oms is not None and not self._equity_warned:
                self._equity_warned = True
                held = ", ".join(sorted(self.store.balances.get(self.oms.venue))) or "nothing"
                self.log(
                    f"equity cannot be valued in {self.account_ccy} (balances: {held}; a mark"
                    " or an fx rate is missing, see trading.fx_pegs): no equity marks, and the"
                    " daily loss limit cannot trip",
                    "warning",
                )
            return None
        self.oms.record_equity(value)
        self._equity_ns = self.clock()
        self._marks_moved = False
        self.emit(EquityMarked(self._equity_ns, value))
        return value

    async def _check_daily_loss(self) -> None:
        oms = self.oms
        if oms is None or self.kill.engaged():
            return
        loss = -oms.daily_pnl()
        if loss >= self.limits.daily_loss_limit:
            reason = f"daily loss {loss:,.2f} reached the limit {self.limits.daily_loss_limit:,.2f}"
            await self.kill.engage("risk", reason)

    # -- signals -----------------------------------------------------------------------------
    def record_signal(self, signal: Signal) -> None:
        """Store a signal, then relay it if it passes the quality gate; tell the clients."""
        relayed = self.announcer.signal(signal, self.venue)
        self.emit(SignalEmitted(signal, relayed))

    def _model_fitted(self, symbol: str, timeframe: str, model: Any, fitted: bool) -> None:
        report = model.report
        gate = report.get("gate") or {}
        how = "fitted" if fitted else "read from the store, fitted"
        self.log(
            f"{symbol} {timeframe}: confidence model v{model.version} {how} on "
            f"{model.bars:,} bars, {report.get('n', 0):,} cases out of sample, skill "
            f"{(report.get('skill') or 0.0):+.3f}, ECE {report.get('ece', 0.0):.3f}, "
            f"{gate.get('n', 0):,} at or above the gate"
        )
        self.emit(ModelFitted(symbol, timeframe, model, fitted))

    async def scan(self, symbols: Sequence[str], timeframe: str | None = None) -> None:
        """Queue a scan of ``symbols`` now (the screen's and Telegram's ``scan``)."""
        if self.pipeline is None:
            raise TradingUnavailable("signals are off (scan.on_bar = false)")
        for symbol in symbols:
            self.pipeline.submit(symbol, timeframe or self.timeframe)

    # -- orders ------------------------------------------------------------------------------
    def _order_event(self, event: Fill | Order | Alert) -> None:
        """From the order manager, after it stored the fill or the rejection; or what it did
        to keep a position protected (an alert for the user)."""
        if isinstance(event, Alert):
            self.announcer.publish(event)
            self.log(f"{event.title}: {event.body}", "error")
            return
        self.announcer.order_event(event, self.clock())
        if isinstance(event, Fill):
            self.emit(Filled(event))
            self.mark_equity()
            for runner in self.runners.values():
                runner.on_fill(event)
        else:
            self.emit(OrderChanged(event))

    def _placed(self, order: Order) -> None:
        """An order a client or a strategy placed (a rejection was already told)."""
        if order.status is not OrderStatus.REJECTED:
            self.emit(OrderChanged(order))

    async def _confirm(self, order: Order) -> bool:
        if order.client_id in self.confirmed or order.client_id in self._auto:
            return True
        if self.confirmer is None:
            return False
        return bool(await self.confirmer(order))

    def _require(self) -> OrderManager:
        if self.oms is None:
            raise TradingUnavailable(self.broker_error or NOT_READY)
        return self.oms

    def build(
        self,
        symbol: str,
        side: Side,
        qty: Decimal | str | float,
        price: Decimal | str | float | None = None,
        sl: Decimal | str | float | None = None,
        tp: Decimal | str | float | None = None,
    ) -> Order:
        kind = OrderType.LIMIT if price is not None else OrderType.MARKET
        return self._require().build(symbol, side, qty, kind, price=price, sl=sl, tp=tp)

    def preview(self, order: Order, reduce_only: bool = False) -> RiskDecision:
        """The one pre-trade check (see :meth:`OrderManager.preview`)."""
        if self.oms is None:
            return RiskDecision(False, f"cannot send orders: {self.broker_error or NOT_READY}")
        return self.oms.preview(order, reduce_only)

    async def submit(self, order: Order, confirmed: bool = False) -> Order:
        oms = self._require()
        if confirmed:
            self.confirmed.add(order.client_id)
        result = await oms.submit(order)
        self._placed(result)
        return result

    async def cancel(self, client_id: str) -> Order:
        result = await self._require().cancel(client_id)
        self.emit(OrderChanged(result))
        return result

    async def flatten(self, symbol: str | None = None) -> list[Order]:
        orders = await self._require().flatten(symbol)
        for order in orders:
            self.emit(OrderChanged(order))
        return orders

    # -- execution algorithms ----------------------------------------------------------------
    async def start_algo(
        self,
        symbol: str,
        side: Side,
        qty: Decimal,
        params: AlgoParams,
        actor: str = "user",
        parent_id: str | None = None,
    ) -> AlgoOrder:
        """Queue a TWAP/VWAP parent: checked (the pre-trade check of one child: the kill
        switch, live trading, the per-order limits; each child is checked again when it is
        sent) and planned now (a :class:`ScheduleError` says why not, nothing stored), worked
        from the next step on. Its symbol is streamed if it was not, and a VWAP's volume
        profile reads the stored bars of earlier days (the feed's history is stored first)."""
        oms = self._require()
        desk = self.algos
        assert desk is not None  # opened with the order manager
        try:
            inst = self.instrument(symbol)
        except KeyError as exc:
            raise ScheduleError(str(exc).strip("'\"")) from exc
        try:
            inst.check_qty(qty)
        except ModelError as exc:
            raise ScheduleError(str(exc)) from exc
        if symbol not in self.symbols:
            self.symbols.append(symbol)
            self.restart_feed()
        days = DAY_NS // desk.bar_ns * params.profile_days if params.algo is Algo.VWAP else 0
        await self.ensure_history(symbol, self.timeframe, min(10_000, days))
        await self._flush_bars()
        least = max(inst.round_qty(qty / params.slices), inst.lot_size, inst.min_qty)
        child = oms.build(symbol, side, min(qty, least))
        if self.mark(symbol) is None:  # no quote yet (a feed just started): the last close
            last = self.store.candles.last(symbol, self.timeframe, 1, self.venue)
            if last.height:
                price = inst.round_price(float(last["close"][0]))
                child = replace(child, type=OrderType.LIMIT, price=price)
        verdict = self.preview(child)
        # with no price at all the children are checked as they go; anything else refuses now
        priced = self.mark(symbol) is not None or child.type is OrderType.LIMIT
        if not verdict.ok and (priced or oms.kill_switch):
            raise ScheduleError(f"refused (the pre-trade check of a child): {verdict.reason}")
        now = self._market_ns or self._replay_now() or self.clock()
        parent = await asyncio.to_thread(desk.new, symbol, side, qty, params, "", parent_id, now)
        self.log(f"{parent.id}: {params.algo.upper()} {side} {qty:f} {symbol} queued by {actor}")
        if not self.simulated:  # a replay's time moves bar by bar: it starts at the next one
            await desk.step()
        return parent

    def _replay_now(self) -> int:
        """A replay's time before it streams: the end of its warm-up (0 if it has none)."""
        progress = getattr(self.feed, "progress", None)
        ts = progress().ts_ns if callable(progress) else None
        return int(ts) if ts else 0

    async def cancel_algo(self, parent_id: str) -> AlgoOrder:
        self._require()
        assert self.algos is not None
        return await self.algos.cancel(parent_id)

    def algo_orders(self, working_only: bool = False) -> list[AlgoOrder]:
        return self.store.algos.find(self.oms.venue if self.oms else None, working_only)

    def _algo_changed(self, parent: AlgoOrder, what: str) -> None:
        self.log(f"{parent.id} {parent.params.algo.upper()} {parent.side} {parent.symbol}: {what}")
        self.emit(AlgoChanged(parent, what))

    def working_orders(self) -> list[Order]:
        oms = self.oms
        return [] if oms is None else self.store.orders.find(open_only=True, venue=oms.venue)

    # -- kill switch and pause ---------------------------------------------------------------
    async def set_kill(self, on: bool, actor: str, reason: str = "") -> list[Order]:
        """Engage (cancel working orders, block new ones) or release the kill switch."""
        if on:
            await self.kill.engage(actor, reason)
            return self.oms.last_cancelled if self.oms else []
        self.kill.release(actor, reason)
        self._kill_seen = False
        self.announcer.kill_released(actor, self.clock())
        self.emit(KillChanged(False, actor, reason))
        return []

    def kill_outcome(self) -> str:
        """What the last engagement of the kill switch did, for its confirmation."""
        return "" if self.oms is None else kill_outcome(self.oms)

    def _kill_noted(self, actor: str, reason: str) -> None:
        self._kill_seen = True

    async def _killed(self, actor: str, reason: str) -> None:
        """Whoever engaged the switch in this process: the order manager has cancelled."""
        self._kill_seen = True
        cancelled = self.oms.last_cancelled if self.oms else []
        self.announcer.kill(actor, reason, self.clock(), len(cancelled))
        self.log(f"kill switch engaged by {actor}: {self.kill_outcome()}", "warning")
        self.emit(KillChanged(True, actor, reason, len(cancelled)))

    def set_paused(self, paused: bool, actor: str) -> None:
        store_paused(self.store, paused, actor)
        self._on_paused(paused, actor)

    def _on_paused(self, paused: bool, actor: str) -> None:
        self._paused_seen = paused
        for runner in self.runners.values():
            runner.paused = paused
        self.announcer.paused(paused, actor, self.clock())
        self.emit(PauseChanged(paused, actor))

    async def _watch(self) -> None:
        """Flags changed by another process (``qws kill on``, a Telegram bot elsewhere)."""
        while True:
            await asyncio.sleep(1.0)
            if self.algos is not None and not self.simulated:  # a slice ends between bars
                try:
                    await self.algos.step()
                except Exception:
                    log.exception("working the algorithm orders failed")
            engaged = self.kill.engaged()
            if engaged and not self._kill_seen and self.oms is not None:
                self._kill_seen = True
                cancelled = await self.oms.cancel_working()
                self.log(f"kill switch engaged elsewhere: {kill_outcome(self.oms)}", "warning")
                self.emit(KillChanged(True, "another process", "", len(cancelled)))
            elif not engaged and self._kill_seen:
                self._kill_seen = False
                self.emit(KillChanged(False, "another process", ""))
            paused = is_paused(self.store)
            if paused != self._paused_seen:
                self._paused_seen = paused
                for runner in self.runners.values():
                    runner.paused = paused
                self.emit(PauseChanged(paused, "another process"))

    async def _poll(self) -> None:
        """A remote venue fills on its own: sync on a timer, reconcile after an outage."""
        from workstation.trading.execution import poll_venue

        assert self.oms is not None
        await poll_venue(
            self.oms,
            float(self.settings.get("trading.poll_s", 2.0)),
            lambda d: self.log(f"sync: {d.kind} {d.subject[:12]}: {d.detail}", "warning"),
        )

    async def _news(self) -> None:
        """Poll the news sources in the background: new items are told (``NewsArrived``) and
        a sentiment swing is announced like every other alert. The demo source only with the
        demo feed (:func:`workstation.news.sources.build_sources`)."""
        from workstation.news.poller import NewsPoller
        from workstation.news.sources import build_sources

        demo = self.feed.name == "demo"
        sources, problems = build_sources(
            self.settings,
            demo_feed=demo,
            clock=self.clock,
            demo_symbols=self.feed.symbols() if demo else None,
        )
        for problem in problems:
            self.log(problem, "warning")
        if not sources:
            return
        try:
            poller = NewsPoller(
                self.store,
                self.settings,
                sources,
                clock=self.clock,
                on_items=lambda items: self.emit(NewsArrived(items)),
                on_alert=self._news_alert,
                on_log=self.log,
                symbols=self.symbols,
            )
        except ValueError as exc:
            self.log(f"news off: {exc}", "error")
            for source in sources:
                await source.close()
            return
        self.news = poller
        try:
            await poller.run()
        finally:
            self.news = None

    def _news_alert(self, alert: Alert) -> None:
        self.log(f"{alert.title} ({alert.body})", "warning")
        self.announcer.publish(alert)

    # -- strategies --------------------------------------------------------------------------
    async def start_strategy(self, spec: StrategySpec) -> StrategyRunner | None:
        """Start ``spec``, warmed up from the stored bars of its symbol and timeframe."""
        if spec.key in self.runners:
            self.log(f"strategy {spec.key} is already running", "warning")
            return self.runners[spec.key]
        oms = self.oms
        if oms is None:
            self.log(f"cannot start {spec.key}: {self.broker_error or NOT_READY}", "error")
            return None
        live = bool(getattr(oms.broker, "live", True))
        if live and not oms.live_enabled:
            self.log(
                f"cannot start {spec.key} on {oms.venue}: live trading is off"
                " (set trading.live = true)",
                "error",
            )
            return None
        try:
            strategy = create(spec.name, dict(spec.params))
            instrument = self.instrument(spec.symbol)
        except (StrategyNotFound, StrategyError, KeyError, ValueError, TypeError) as exc:
            self.log(f"cannot start {spec.key}: {exc}", "error")
            return None
        if spec.timeframe:
            strategy.timeframe = spec.timeframe
        await self.ensure_history(spec.symbol, spec.timeframe)
        await self._flush_bars()  # its history includes every bar handled so far
        history = await asyncio.to_thread(
            self.store.candles.last, spec.symbol, spec.timeframe, 10_000, self.venue
        )
        auto = spec.auto or not live

        def client_id() -> str:
            cid = new_client_id()
            if auto:
                self._auto.add(cid)
            return cid

        runner = StrategyRunner(
            strategy,
            oms,
            instrument,
            fee_rate=_taker_fee(self.settings, oms.venue),
            history=history if history.height else None,
            risk_per_trade=float(self.settings.get("risk.risk_per_trade", 0.01)),
            client_id=client_id,
            on_order=self._placed,
            tag=spec.key,
        )
        self.specs[spec.key] = spec
        runner.paused = is_paused(self.store)
        self.runners[spec.key] = runner
        self.announcer.strategy(spec.key, True, "", self.clock())
        self.emit(StrategyChanged(spec.key, True))
        self.log(f"strategy {spec.key} started ({history.height} bars of history)")
        return runner

    async def stop_strategy(self, key: str, reason: str = "", announce: bool = True) -> bool:
        """Stop one strategy; its position and working orders stay (close them if you mean
        to)."""
        runner = self.runners.pop(key, None)
        self.specs.pop(key, None)
        if runner is None:
            return False
        try:
            runner.stop()
        except Exception:
            log.exception("strategy %s on_stop failed", key)
        if announce:
            self.announcer.strategy(key, False, reason, self.clock())
        self.emit(StrategyChanged(key, False, reason))
        self.log(f"strategy {key} stopped{': ' + reason if reason else ''}")
        return True

    def strategy_rows(self) -> list[dict[str, Any]]:
        """What the screen shows per running strategy: position and P&L at the mark."""
        rows = []
        positions = {}
        if self.oms is not None:
            positions = {p.symbol: p for p in self.store.positions.find(self.oms.venue)}
        for key, runner in self.runners.items():
            spec = self.specs[key]
            p = positions.get(spec.symbol)
            mark = self.mark(spec.symbol)
            qty = float(p.qty) if p else 0.0
            upl = qty * (mark - float(p.avg_price)) if p and qty and mark is not None else 0.0
            realized = float(p.realized_pnl) if p else 0.0
            rows.append(
                {
                    "key": key,
                    "running": True,
                    "position": qty,
                    "pnl": realized + upl,
                    "orders": len(runner.orders),
                    "paused": runner.paused,
                }
            )
        for spec in self.configured:
            if spec.key not in self.runners:
                rows.append({"key": spec.key, "running": False})
        return rows

    def spec(self, key: str) -> StrategySpec | None:
        """A running or configured strategy by its key (``NAME SYMBOL TF``)."""
        return self.specs.get(key) or next((s for s in self.configured if s.key == key), None)

    # -- telegram ----------------------------------------------------------------------------
    async def _telegram(self) -> None:
        from workstation.runtime.secrets import get_secret

        chats = self.settings.get("telegram.chat_ids", [])
        token = get_secret("telegram", "token")
        if not chats or not token:
            missing = [
                *([] if token else ["no bot token (qws keys set telegram)"]),
                *([] if chats else ["no chat ids (telegram.chat_ids)"]),
            ]
            self.log(f"telegram off: {' and '.join(missing)}")
            return
        from workstation.alerts.service import TelegramService
        from workstation.alerts.telegram_control import ControlError

        service = TelegramService(
            self.store,
            self.settings,
            token,
            kill_switch=self.kill,
            outbox=self.announcer.outbox,
            order_handler=self.telegram_order,
            order_preview=self.telegram_preview,
            on_pause=self._on_paused,
            desk=self,
        )
        self.telegram = service
        self.log(f"telegram relay on for {len(chats)} chat(s)")
        try:
            await service.run()
        except ControlError as exc:
            self.log(f"telegram: {exc}", "error")
        finally:
            self.telegram = None

    def telegram_preview(
        self, action: str, symbol: str, qty: Decimal | None, price: Decimal | None
    ) -> str:
        if qty is None:
            return "no quantity"
        try:
            order = self.build(symbol, Side.BUY if action == "buy" else Side.SELL, qty, price)
        except TradingUnavailable as exc:
            return str(exc)
        verdict = self.preview(order)
        return "" if verdict.ok else verdict.reason

    async def telegram_order(
        self, action: str, symbol: str, qty: Decimal | None, price: Decimal | None, actor: str
    ) -> str:
        """A confirmed Telegram trading command: the same check and path as every order."""
        if action == "close":
            orders = await self.flatten(symbol)
            return f"Close {symbol}: {len(orders)} order(s) sent."
        if qty is None:
            return "Refused: no quantity."
        try:
            order = self.build(symbol, Side.BUY if action == "buy" else Side.SELL, qty, price)
        except TradingUnavailable as exc:
            return f"Refused: {exc}"
        verdict = self.preview(order)
        if not verdict.ok:
            return f"Refused: {verdict.reason}"
        result = await self.submit(order, confirmed=True)  # the Telegram button confirmed it
        detail = f" ({result.reason})" if result.reason else ""
        return f"{result.side} {result.qty:f} {result.symbol}: {result.status}{detail}"

    # -- the command language: questions, sizes, amendments ---------------------------------
    def answer(self, command: Command) -> str:
        """The text answering a ``query`` (pnl, positions, orders, balance, risk, price): the
        screen's log and Telegram say the same."""
        what = command.entities.get("what")
        if what == "pnl":
            return answers.pnl_text(self.store, "day", self.clock())
        if what == "positions":
            return answers.positions_text(self.store)
        if what == "orders":
            return answers.orders_text(self.store)
        if what == "balance":
            return answers.balance_text(self.store)
        if what == "risk":
            return self._risk_text()
        if what == "price":
            symbol = command.entities.get("symbol")
            if not symbol:
                raise TradingUnavailable("the price of what? name a symbol")
            return self._price_text(str(symbol))
        raise TradingUnavailable(f"no answer for {what!r}")

    def _price_text(self, symbol: str) -> str:
        mark = self.mark(symbol)
        if mark is None:
            return f"{symbol}: no quote yet"
        try:
            shown = self.instrument(symbol).format_price(mark)
        except KeyError:
            shown = f"{mark:,}"
        return f"{symbol}: {shown} (mid)"

    def _risk_text(self) -> str:
        limits = self.limits
        ccy = self.account_ccy

        def limit(value: float) -> str:
            return "no limit" if not math.isfinite(value) else f"limit {value:,.2f} {ccy}"

        lines = [
            "Risk",
            f"kill switch: {'ENGAGED' if self.kill.engaged() else 'off'}"
            f" · paused: {'yes' if is_paused(self.store) else 'no'}",
        ]
        oms = self.oms
        if oms is None:
            lines.append(f"broker: {self.broker_error or NOT_READY}")
            return "\n".join(lines)
        lines.append(f"daily P&L: {oms.daily_pnl():+,.2f} {ccy} ({limit(limits.daily_loss_limit)})")
        rates = oms.rates(self._pegs)
        exposure = 0.0
        unvalued: list[str] = []
        for p in self.store.positions.find(oms.venue):
            if p.qty == 0:
                continue
            mark = self.mark(p.symbol)
            try:
                quote = self.instrument(p.symbol).quote_ccy
                if mark is None:
                    raise KeyError(p.symbol)
                notional = abs(float(p.qty)) * mark * fx_rate(quote, ccy, rates)
            except (KeyError, LookupError, ValueError):
                unvalued.append(p.symbol)
                continue
            exposure += notional
            lines.append(
                f"{p.symbol}: {p.qty} = {notional:,.2f} {ccy}"
                f" ({limit(limits.max_position_notional)})"
            )
        lines.append(f"exposure: {exposure:,.2f} {ccy} ({limit(limits.max_total_exposure)})")
        if unvalued:
            lines.append(f"not valued (no mark or fx rate): {', '.join(unvalued)}")
        lines.append(f"working orders: {len(self.working_orders())}")
        return "\n".join(lines)

    def order_qty(self, command: Command) -> Decimal:
        """The quantity of an ``order`` whose amount is a quantity, a notional or a fraction of
        the position (see :meth:`size_order`, which says how it was found)."""
        return self.size_order(command).qty

    def size_order(self, command: Command) -> Sizing:
        """An ``order``'s amount as a quantity rounded down to the lot, with the sum that
        gave it (``500 USD at 64,000.50 = 0.00781 BTC (lot 0.00001)``). A notional in another
        currency than the instrument's quote is converted only at a known rate; a fraction
        is of the open position, and only on the side that reduces it."""
        e = command.entities
        symbol = str(e["symbol"])
        try:
            inst = self.instrument(symbol)
        except KeyError as exc:
            raise TradingUnavailable(f"unknown instrument {symbol}") from exc
        if e.get("qty") is not None:
            return Sizing(Decimal(e["qty"]), "")
        unit = inst.base_ccy or symbol
        if e.get("notional") is not None:
            return self._size_notional(inst, Decimal(e["notional"]), e, unit)
        if e.get("fraction") is not None:
            return self._size_fraction(inst, Decimal(e["fraction"]), str(e["side"]), unit)
        raise TradingUnavailable("how much? a quantity, a notional or a part of the position")

    def _size_notional(
        self, inst: Instrument, notional: Decimal, e: dict[str, Any], unit: str
    ) -> Sizing:
        symbol = inst.symbol
        ccy = str(e.get("notional_ccy") or inst.quote_ccy).upper()
        in_quote = notional
        via = ""
        if ccy != inst.quote_ccy:
            oms = self.oms
            try:
                if oms is None:
                    raise KeyError(f"{ccy}/{inst.quote_ccy}")
                rate = Decimal(repr(fx_rate(ccy, inst.quote_ccy, oms.rates(self._pegs))))
            except (KeyError, LookupError, ValueError):
                raise TradingUnavailable(
                    f"{notional:,f} {ccy} of {symbol}: no {ccy}/{inst.quote_ccy} rate to convert"
                    f" it (a mark, or trading.fx_pegs); say it in {inst.quote_ccy}"
                ) from None
            in_quote = notional * rate
            via = f" = {in_quote:,f} {inst.quote_ccy} at {rate:f}"
        price = e.get("price")
        if price is None:
            mark = self.mark(symbol)
            if mark is None:
                raise TradingUnavailable(f"no quote for {symbol} yet: cannot size {notional:,f}")
            price = Decimal(repr(mark))
        price = Decimal(price)
        qty = inst.round_qty(in_quote / price)
        said = f"{notional:,f} {ccy}{via} at {inst.format_price(float(price))}"
        if qty <= 0:
            raise TradingUnavailable(f"{said} is less than one lot ({inst.lot_size:f} {unit})")
        return Sizing(qty, f"{said} = {_shown(qty)} {unit} (lot {inst.lot_size:f})")

    def _size_fraction(self, inst: Instrument, fraction: Decimal, side: str, unit: str) -> Sizing:
        symbol = inst.symbol
        if not 0 < fraction <= 1:
            raise TradingUnavailable(
                f"a part of the position is above 0 and at most 1, not {fraction}"
            )
        position = self._position(symbol)
        if position == 0:
            raise TradingUnavailable(f"no open position in {symbol}")
        reduces = (side == "sell") == (position > 0)
        if not reduces:
            held = "long" if position > 0 else "short"
            raise TradingUnavailable(
                f"a {side} would not reduce the {held} {position:f} {symbol}: a part of a position"
                " is sold out of a long, bought back into a short"
            )
        qty = inst.round_qty(abs(position) * fraction)
        part = "all" if fraction == 1 else f"{fraction:%}"
        said = f"{part} of {_shown(abs(position))} {unit}"
        if qty <= 0:
            raise TradingUnavailable(f"{said} is less than one lot ({inst.lot_size:f} {unit})")
        return Sizing(qty, f"{said} = {_shown(qty)} {unit} (lot {inst.lot_size:f})")

    def _position(self, symbol: str) -> Decimal:
        venue = self._require().venue
        return next(
            (p.qty for p in self.store.positions.find(venue) if p.symbol == symbol), Decimal(0)
        )

    async def close(self, symbol: str | None, fraction: Decimal | None = None) -> list[Order]:
        """Close the position in ``symbol`` (None: every position), or ``fraction`` of it (a
        reduce-only market order of that part, rounded down to the lot; its bracket legs are
        resized by the order manager)."""
        if fraction is None or fraction == 1:
            return await self.flatten(symbol)
        oms = self._require()
        positions = [
            p
            for p in self.store.positions.find(oms.venue)
            if p.qty != 0 and (symbol is None or p.symbol == symbol)
        ]
        if not positions:
            raise TradingUnavailable(f"no open position{f' in {symbol}' if symbol else 's'}")
        out = []
        for p in positions:
            side = "sell" if p.qty > 0 else "buy"
            sizing = self._size_fraction(self.instrument(p.symbol), fraction, side, p.symbol)
            order = self.build(p.symbol, Side(side), sizing.qty)
            result = await oms.submit(order, reduce_only=True)
            self._placed(result)
            self.log(f"close {sizing.text}: {result.status}")
            out.append(result)
        return out

    async def amend_protection(self, symbol: str, sl: Decimal | None, tp: Decimal | None) -> str:
        """Move the stop-loss and/or take-profit of the open position in ``symbol`` (see
        :meth:`OrderManager.amend_protection`: the new leg is placed before the old one is
        cancelled, a level on the wrong side of the market is refused)."""
        try:
            legs = await self._require().amend_protection(symbol, sl, tp)
        except OmsError as exc:
            raise TradingUnavailable(str(exc)) from None
        for leg in legs:
            self.emit(OrderChanged(leg))
        moved = " and ".join(
            f"{name} {level:f}" for name, level in (("stop-loss", sl), ("take-profit", tp)) if level
        )
        shown = ", ".join(f"{leg.client_id} {leg.status}" for leg in legs) or "no leg placed yet"
        text = f"{symbol}: {moved} ({shown})"
        self.log(text)
        return text

    # -- the command language from Telegram: a proposal to confirm, then carried out ----------
    def proposal(self, command: Command) -> tuple[str, Command]:
        """What a trading command (``order``, ``close``, ``flatten``, ``amend``) would do, to
        be confirmed, and the command to carry out once it is: an order's size is fixed here
        (what is confirmed is what is sent). Refused (TradingUnavailable) when the pre-trade
        check or the position says no."""
        e = command.entities
        if command.intent == "order":
            sizing = self.size_order(command)
            fixed = Command("order", {**e, "qty": sizing.qty, "notional": None, "fraction": None})
            order = self._order_of(fixed)
            verdict = self.preview(order)
            if not verdict.ok:
                raise TradingUnavailable(verdict.reason)
            text = describe_order(order)
            return (f"{text}\n{sizing.text}" if sizing.text else text), fixed
        if command.intent in ("close", "flatten"):
            symbol = None if command.intent == "flatten" or e.get("all") else e.get("symbol")
            fraction = e.get("fraction")
            part = "" if fraction is None or fraction == 1 else f"{Decimal(fraction):%} of "
            if symbol is not None and self._position(str(symbol)) == 0:
                raise TradingUnavailable(f"no open position in {symbol}")
            where = f"the {symbol} position" if symbol else "every position"
            cancels = "" if part else " (its working orders cancelled)"
            return f"close {part}{where}{cancels}", command
        if command.intent == "amend":
            symbol = str(e["symbol"])
            if self._position(symbol) == 0:
                raise TradingUnavailable(f"no open position in {symbol}: nothing to protect")
            levels = (("stop-loss", e.get("sl")), ("take-profit", e.get("tp")))
            moves = " and the ".join(f"{n} to {v:f}" for n, v in levels if v is not None)
            return f"move the {moves} of the {symbol} position", command
        raise TradingUnavailable(f"{command.intent!r} is not a trading command")

    async def carry_out(self, command: Command, actor: str) -> str:
        """A confirmed :meth:`proposal`: the same check and path as every order."""
        e = command.entities
        if command.intent == "order" and e.get("algo"):
            params = algo_params(self.settings, e["algo"], e["over"], None,
                                 e.get("max_participation"), timeframe=self.timeframe)  # fmt: skip
            order = self._order_of(command)
            try:
                parent = await self.start_algo(order.symbol, order.side, order.qty, params, actor)
            except ScheduleError as exc:
                return f"Refused: {exc}"
            return (f"{params.algo.upper()} {order.side} {_shown(order.qty)} {order.symbol} over"
                    f" {e['over']}: {parent.id} working, {params.slices} slices")  # fmt: skip
        if command.intent == "order":
            order = self._order_of(command)
            verdict = self.preview(order)
            if not verdict.ok:
                return f"Refused: {verdict.reason}"
            result = await self.submit(order, confirmed=True)
            detail = f" ({result.reason})" if result.reason else ""
            shown = _shown(result.qty)
            return f"{result.side} {shown} {result.symbol}: {result.status}{detail}"
        if command.intent in ("close", "flatten"):
            symbol = None if command.intent == "flatten" or e.get("all") else e.get("symbol")
            fraction = e.get("fraction")
            orders = await self.close(symbol, None if fraction is None else Decimal(fraction))
            return f"Close {symbol or 'all'}: {len(orders)} order(s) sent."
        if command.intent == "amend":
            return await self.amend_protection(str(e["symbol"]), e.get("sl"), e.get("tp"))
        raise TradingUnavailable(f"{command.intent!r} is not a trading command")

    def _order_of(self, command: Command) -> Order:
        e = command.entities
        kind = OrderType(e.get("type") or "market")
        price = e.get("price")
        return self._require().build(
            str(e["symbol"]),
            Side(e["side"]),
            Decimal(e["qty"]),
            kind,
            price=price if kind is OrderType.LIMIT else None,
            stop=price if kind is OrderType.STOP else None,
            sl=e.get("sl"),
            tp=e.get("tp"),
        )


def _shown(value: Decimal) -> str:
    """A quantity as a trader writes it: no exponent, no trailing zeros."""
    return f"{value.normalize():f}"


def describe_order(order: Order) -> str:
    """``buy 0.1 BTC/USDT limit @ 60000 SL 58000 TP 65000``."""
    level = order.price if order.price is not None else order.stop
    price = f" @ {level:f}" if level is not None else ""
    brackets = "".join(
        f" {name} {value:f}" for name, value in (("SL", order.sl), ("TP", order.tp)) if value
    )
    return f"{order.side} {_shown(order.qty)} {order.symbol} {order.type}{price}{brackets}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def kill_outcome(oms: OrderManager) -> str:
    """``cancelled N order(s); kept M protective order(s) ...`` or, with ``kill_flattens``,
    the positions it closed."""
    cancelled = len(oms.last_cancelled)
    if oms.kill_flattens:
        return f"cancelled {cancelled} order(s), closed {len(oms.last_closed)} position(s)"
    return (
        f"cancelled {cancelled} order(s); kept {len(oms.last_kept)} protective order(s) of"
        " open positions working"
    )


def _latest_quotes(batch: list[Any]) -> list[Any]:
    """Within each run of quotes between other events, only the newest quote per symbol:
    with no order working, the broker needs only the quote an order would fill at, and a
    burst of quotes must not make the loop (and the screen on its event loop) fall behind.
    Bars, books and the end marker keep their place."""
    out: list[Any] = []
    run: dict[str, Tick] = {}
    for event in batch:
        if isinstance(event, Tick):
            run.pop(event.symbol, None)
            run[event.symbol] = event
        else:
            out.extend(run.values())
            run = {}
            out.append(event)
    out.extend(run.values())
    return out


_END = object()
"""Published after the feed's last event: everything before it has been handled."""


def _paper_path(store: Store) -> Path:
    if str(store.path) == ":memory:":
        return Path(tempfile.mkdtemp(prefix="qws-paper-")) / "memory.db"
    return Path(store.path)


def _taker_fee(settings: Settings, venue: str) -> float:
    """The paper broker's taker rate (what a market order pays), for sizing like the
    backtester; 0 for a real venue (its fees are its own)."""
    if venue != "paper":
        return 0.0
    fees = settings.get("brokers.paper.fees", {}) or {}
    default = fees.get("default", {}) if isinstance(fees, dict) else {}
    try:
        return float(default.get("taker", 0.0))
    except (TypeError, ValueError):
        return 0.0
