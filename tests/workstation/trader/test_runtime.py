"""The trading runtime with its real parts: a store on a file, the paper broker it opens, the
replay feed (its clock follows the bars) and the order manager. Strategies are small ones
written here, handed to the runtime through its strategy factory."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from engine.model import (
    Action,
    Bar,
    BookLevel,
    Instrument,
    Order,
    OrderBook,
    OrderStatus,
    Side,
    Tick,
)
from engine.strategy import Context, Params, Strategy
from engine.timeframes import OHLCV_SCHEMA
from feeds.replay import ReplayFeed
from plugins.brokers.paper import PaperBroker
from tests.helpers import HOUR, T0
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.strategies import discovery
from workstation.trader import runtime as runtime_module
from workstation.trader.events import (
    EquityMarked,
    Filled,
    KillChanged,
    Logged,
    ModelFitted,
    OrderChanged,
    RuntimeEvent,
    SignalEmitted,
    StrategyChanged,
)
from workstation.trader.runtime import Runtime
from workstation.trader.specs import StrategySpec
from workstation.trading.killswitch import KillSwitch

SYMBOL = "TEST"
TF = "1h"
CHANNEL = "telegram:42"
WAIT_S = 60.0  # a deadline, not a duration: generous for a loaded machine


# -- strategies written for these tests --------------------------------------------------------
class HoldLong(Strategy):
    """Buys 90% of the margin on its first bar and never sells; from bar ``retry_from`` on it
    asks for one more unit on every bar (entries the kill switch must stop)."""

    name = "hold_long"
    params = Params(retry_from=1_000_000)
    warmup = 0

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        self.bars_seen = 0

    def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
        self.bars_seen += 1
        if self.bars_seen == 1:
            ctx.buy(size=0.9)
        elif self.bars_seen > int(self.params["retry_from"]):
            ctx.buy(qty=1)


class BuyEveryBar(Strategy):
    """One unit bought on every bar: every bar is an entry."""

    name = "buy_every_bar"
    params = Params()
    warmup = 0

    def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
        ctx.buy(qty=1)


class Counter(Strategy):
    """Counts the bars it is given; never trades."""

    name = "counter"
    params = Params()
    warmup = 0

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        self.bars_seen = 0

    def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
        self.bars_seen += 1


class Boom(Strategy):
    """Raises on its second bar."""

    name = "boom"
    params = Params()
    warmup = 0

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        self.bars_seen = 0

    def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
        self.bars_seen += 1
        if self.bars_seen == 2:
            raise RuntimeError("boom")


TEST_STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (HoldLong, BuyEveryBar, Counter, Boom)
}


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> dict[str, Strategy]:
    """The runtime finds this module's strategies by name (the plugins' as before); returns
    the instances it created, by name, so a test can look inside them."""
    made: dict[str, Strategy] = {}

    def create(name: str, params: dict[str, Any] | None = None) -> Strategy:
        cls = TEST_STRATEGIES.get(name)
        strategy = cls(**(params or {})) if cls is not None else discovery.create(name, params)
        made[name] = strategy
        return strategy

    monkeypatch.setattr(runtime_module, "create", create)
    return made


# -- helpers -----------------------------------------------------------------------------------
def settings(values: dict[str, Any] | None = None) -> Settings:
    base: dict[str, Any] = {
        "brokers.paper.balances": {"USD": 10_000, "USDT": 0, "JPY": 0},
        "brokers.paper.fees": {"default": {"maker": 0.001, "taker": 0.001}},
        "telegram.chat_ids": [42],
        "risk.daily_loss_limit": 0,
    }
    return Settings.load(environ={}).with_values({**base, **(values or {})})


def bars_from(closes: list[float] | np.ndarray, t0: int = T0) -> pl.DataFrame:
    """Hourly bars on a 0.01 grid with these closes (each opens at the previous close)."""
    close = np.round(np.asarray(closes, dtype=np.float64), 2)
    open_ = np.concatenate(([close[0]], close[:-1]))
    return pl.DataFrame(
        {
            "ts": t0 + HOUR * np.arange(len(close), dtype=np.int64),
            "open": open_,
            "high": np.maximum(open_, close),
            "low": np.minimum(open_, close),
            "close": close,
            "volume": np.full(len(close), 10.0),
        },
        schema=OHLCV_SCHEMA,
    )


def replay(frame: pl.DataFrame, warmup: int = 0) -> ReplayFeed:
    return ReplayFeed(
        frame=frame, symbol=SYMBOL, timeframe=TF, speed=0, warmup=warmup, tick_size="0.01"
    )


async def until(predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def alerts(store: Store, kind: str) -> list[dict[str, Any]]:
    return [a for a in store.alerts.find(limit=10_000) if a["kind"] == kind]


@dataclass
class Live:
    """A started runtime whose feed has nothing left to play: the test publishes market data
    on its hub itself."""

    runtime: Runtime
    events: list[RuntimeEvent]
    ts: int

    async def quote(self, bid: float, ask: float, last: float, volume: float) -> None:
        self.ts += HOUR
        await self.runtime.hub.publish(Tick(self.ts, SYMBOL, bid, ask, last, volume))

    async def bar(self, close: float) -> None:
        """A quote at ``close`` and the bar that closes on it (as the replay plays one)."""
        await self.play(close, close, close, close, 10.0)

    async def play(self, o: float, h: float, lo: float, c: float, v: float) -> None:
        await self.quote(c, c, c, v)
        await self.runtime.hub.publish(Bar(self.ts, SYMBOL, TF, o, h, lo, c, v))

    async def handled(self, bars: int) -> None:
        """Wait until the market loop has handled ``bars`` closed bars."""
        await until(lambda: self.runtime.bars_stored >= bars, f"{bars} bars handled")


async def start_live(
    store: Store,
    values: dict[str, Any] | None = None,
    strategies: tuple[StrategySpec, ...] = (),
    history: pl.DataFrame | None = None,
    signals: bool = False,
) -> Live:
    """``history`` (default: five bars at 100) is what the feed serves as history."""
    history = bars_from([100.0] * 5) if history is None else history
    rt = Runtime(
        replay(history, warmup=history.height),
        store,
        settings(values),
        [SYMBOL],
        TF,
        strategies=strategies,
        signals=signals,
        telegram=False,
    )
    events: list[RuntimeEvent] = []
    rt.listeners.append(events.append)
    await rt.start()
    assert rt.oms is not None and rt.ready.is_set(), rt.broker_error
    await until(rt.feed_ended.is_set, "the replay to end")
    return Live(rt, events, int(history["ts"][-1]))


@pytest.fixture
async def live(store: Store) -> AsyncIterator[Live]:
    started = await start_live(store)
    try:
        yield started
    finally:
        await started.runtime.shutdown()


async def run_to_end(rt: Runtime) -> None:
    """Run a runtime made with ``stop_at_end=True`` until its feed is played and handled."""
    await asyncio.wait_for(rt.run(), WAIT_S)


# -- the daily loss limit ----------------------------------------------------------------------
async def test_daily_loss_limit_trips_the_kill_switch_by_itself(
    store: Store, created: dict[str, Strategy]
) -> None:
    # 2% lower every hour, all within one UTC day; the strategy is long from the first bar and
    # asks for nothing more until bar 15, long after the limit is reached (bar 2 or 3)
    frame = bars_from(100.0 * 0.98 ** np.arange(20))
    spec = StrategySpec("hold_long", SYMBOL, TF, {"retry_from": "15"})
    rt = Runtime(
        replay(frame),
        store,
        settings({"risk.daily_loss_limit": 300}),
        [SYMBOL],
        TF,
        strategies=[spec],
        signals=False,
        telegram=False,
        stop_at_end=True,
    )
    events: list[RuntimeEvent] = []
    tripped_at: list[int] = []
    runners: list[Any] = []

    def listen(event: RuntimeEvent) -> None:
        events.append(event)
        if isinstance(event, KillChanged) and event.engaged:
            tripped_at.append(rt.clock())
        if isinstance(event, StrategyChanged) and event.running:
            runners.append(rt.runners[event.key])

    rt.listeners.append(listen)
    await run_to_end(rt)

    kills = [e for e in events if isinstance(e, KillChanged)]
    assert [(k.engaged, k.actor) for k in kills] == [(True, "risk")], kills
    assert "daily loss" in kills[0].reason
    # it tripped on a bar where no order was asked for: the runtime's own check, not a refusal
    [trip_ns] = tripped_at
    assert trip_ns < int(frame["ts"][15])
    assert KillSwitch(store).engaged()
    audit = [r for r in store.audit.recent(1000) if r["action"] == "kill_switch"]
    assert [(r["actor"], r["subject"]) for r in audit] == [("risk", "on")]
    assert "daily loss" in json.loads(audit[0]["detail"])["reason"]
    [alert] = [a for a in alerts(store, "risk") if a["title"] == "Kill switch engaged"]
    assert alert["severity"] == "critical" and alert["channel"] == CHANNEL
    assert "by risk" in alert["body"]

    # the first bar's entry went out; nothing after the trip, though the strategy asked
    orders = store.orders.find(venue="paper", limit=1000)
    assert len(orders) == 1 and orders[0].side is Side.BUY
    assert orders[0].status is OrderStatus.FILLED
    assert all(o.ts_ns < trip_ns for o in orders)
    after = events[events.index(kills[0]) + 1 :]
    assert [e for e in after if isinstance(e, OrderChanged | Filled)] == []
    [runner] = runners
    assert runner.skipped_entries == 5  # bars 16..20 asked; none was sent
    assert created["hold_long"].bars_seen == 20


# -- the paper broker fills a resting limit order on the market loop ---------------------------
async def test_resting_paper_limit_order_fills_on_a_later_quote_that_trades_through(
    live: Live, store: Store
) -> None:
    rt = live.runtime
    await rt.hub.publish(
        OrderBook(live.ts, SYMBOL, (BookLevel(99.0, 1.0),), (BookLevel(101.0, 1.0),))
    )
    await live.quote(99.0, 101.0, 100.0, 1.0)
    await until(lambda: rt.quotes == 1, "the first quote")
    order = await rt.submit(rt.build(SYMBOL, Side.BUY, "2", "98"))
    assert order.status is OrderStatus.OPEN, order.reason
    paper = rt.broker
    assert isinstance(paper, PaperBroker)

    await live.quote(97.5, 98.5, 98.0, 5.0)  # a trade *at* the limit: queue unknown, no fill
    await until(lambda: rt.quotes == 2, "the quote at the limit")
    at_venue = await paper.order(order.client_id)
    assert at_venue is not None and at_venue.status is OrderStatus.OPEN

    await live.quote(96.0, 97.0, 97.0, 5.0)  # trades through 98

    def filled() -> bool:
        stored = store.orders.get(order.client_id)
        return stored is not None and stored.status is OrderStatus.FILLED

    await until(filled, "the resting order to fill")
    [fill] = store.fills.find(client_id=order.client_id)
    assert fill.qty == Decimal(2) and fill.price == Decimal("98")  # at its limit, as a maker
    [position] = store.positions.find("paper")
    assert position.symbol == SYMBOL and position.qty == Decimal(2)
    await until(lambda: any(isinstance(e, Filled) for e in live.events), "the Filled event")
    [event] = [e for e in live.events if isinstance(e, Filled)]
    assert event.fill.client_id == order.client_id
    [alert] = alerts(store, "fill")
    assert alert["channel"] == CHANNEL and json.loads(alert["data"])["qty"] == "2"


# -- pause -------------------------------------------------------------------------------------
async def test_pause_skips_strategy_entries_until_resumed(
    store: Store, created: dict[str, Strategy]
) -> None:
    spec = StrategySpec("buy_every_bar", SYMBOL, TF)
    live = await start_live(store, strategies=(spec,))
    rt = live.runtime
    try:
        runner = rt.runners[spec.key]
        rt.set_paused(True, "test")
        assert runner.paused
        for close in (100.0, 101.0, 102.0):
            await live.bar(close)
        await live.handled(3)
        assert runner.skipped_entries == 3
        assert store.orders.find(venue="paper") == []
        assert runner.orders == []

        rt.set_paused(False, "test")
        assert not runner.paused
        await live.bar(103.0)
        await live.handled(4)
        assert runner.skipped_entries == 3
        [order] = store.orders.find(venue="paper")
        assert order.side is Side.BUY and order.qty == Decimal(1)
        assert order.status is OrderStatus.FILLED, order.reason
    finally:
        await rt.shutdown()
    titles = {a["title"]: a for a in alerts(store, "risk")}
    paused = titles["Trading paused"]
    assert paused["severity"] == "critical" and paused["channel"] == CHANNEL
    assert "by test" in paused["body"]
    assert titles["Trading resumed"]["severity"] == "critical"


# -- the kill switch engaged by another process ------------------------------------------------
async def test_kill_switch_engaged_by_another_process_cancels_working_orders(
    live: Live, store: Store, db_path: Path
) -> None:
    rt = live.runtime
    await live.quote(99.0, 101.0, 100.0, 1.0)
    await until(lambda: rt.quotes == 1, "the first quote")
    resting = await rt.submit(rt.build(SYMBOL, Side.BUY, "1", "90"))
    assert resting.status is OrderStatus.OPEN, resting.reason

    other = Store(db_path)  # `qws kill on` in another process: its own connection, no hooks
    try:
        await KillSwitch(other).engage("cli", "test")
    finally:
        other.close()

    def cancelled() -> bool:
        stored = store.orders.get(resting.client_id)
        return stored is not None and stored.status is OrderStatus.CANCELLED

    await until(cancelled, "the runtime to cancel its working order")
    assert rt.working_orders() == []
    await until(lambda: any(isinstance(e, KillChanged) for e in live.events), "KillChanged")
    kills = [e for e in live.events if isinstance(e, KillChanged)]
    assert kills == [KillChanged(True, "another process", "", 1)]
    assert any(isinstance(e, Logged) and "engaged elsewhere" in e.text for e in live.events)
    refused = await rt.submit(rt.build(SYMBOL, Side.BUY, "1", "90"))
    assert refused.status is OrderStatus.REJECTED and "kill switch is on" in refused.reason


# -- signals: stored first, relayed at or above the gate ---------------------------------------
def cycling_bars(n: int, period: int = 20, seed: int = 1) -> pl.DataFrame:
    """A clear cycle with a little noise: the ensemble votes OPEN_LONG/OPEN_SHORT with high
    confidence, weaker near the turns (and WAIT at them)."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    close = 100 * np.exp(0.03 * np.sin(2 * np.pi * i / period) + np.cumsum(rng.normal(0, 0.002, n)))
    close = np.round(close, 2)
    open_ = np.concatenate(([close[0]], close[:-1]))
    return pl.DataFrame(
        {
            "ts": T0 + HOUR * i.astype(np.int64),
            "open": open_,
            "high": np.round(np.maximum(open_, close) * 1.001, 2),
            "low": np.round(np.minimum(open_, close) * 0.999, 2),
            "close": close,
            "volume": np.full(n, 10.0),
        },
        schema=OHLCV_SCHEMA,
    )


async def test_signals_are_stored_then_relayed_at_or_above_the_quality_gate(
    store: Store,
) -> None:
    frame = cycling_bars(130)
    gate = 0.9
    warm = 118  # the ensemble needs regime_bars + atr_n = 114 bars before its first signal
    live = await start_live(
        store,
        {"signals.quality_gate": gate, "cycles.backend": "statevector"},
        history=frame.head(warm),
        signals=True,
    )
    rt = live.runtime
    pipeline = rt.pipeline
    assert pipeline is not None

    async def play_and_scan(o: float, h: float, lo: float, c: float, v: float) -> None:
        done = pipeline.scans + pipeline.failures
        await live.play(o, h, lo, c, v)
        await until(lambda: pipeline.scans + pipeline.failures > done, "the bar's scan")

    try:
        # one bar at a time, each scanned before the next (no conflation: one signal a bar)
        for _ts, o, h, lo, c, v in frame.slice(warm).iter_rows():
            await play_and_scan(o, h, lo, c, v)
    finally:
        await rt.shutdown()
    assert pipeline.failures == 0 and pipeline.scans == frame.height - warm

    emitted = [e for e in live.events if isinstance(e, SignalEmitted)]
    assert len(emitted) == frame.height - warm
    rows = {
        r[0]: r[1:]
        for r in store.conn.execute(
            "SELECT ts, action, confidence, relayed FROM signals WHERE venue = 'replay'"
        ).fetchall()
    }
    assert sorted(rows) == [e.signal.ts_ns for e in emitted]
    queued = {a["ts"]: a for a in alerts(store, "signal")}
    for e in emitted:
        s = e.signal
        assert rows[s.ts_ns][:2] == (str(s.action), pytest.approx(s.confidence))
        assert bool(rows[s.ts_ns][2]) is e.relayed
        assert e.relayed is (s.action is not Action.WAIT and s.confidence >= gate), s
        if e.relayed:
            alert = queued[s.ts_ns]
            assert alert["channel"] == CHANNEL and alert["symbol"] == SYMBOL
            assert json.loads(alert["data"])["action"] == str(s.action)
        else:
            assert s.ts_ns not in queued
    assert len(queued) == sum(e.relayed for e in emitted)
    # the data gives every case: relayed, actionable but under the gate, and WAIT
    assert any(e.relayed for e in emitted)
    assert any(not e.relayed and e.signal.action is not Action.WAIT for e in emitted)
    assert any(e.signal.action is Action.WAIT for e in emitted)


async def test_signals_carry_the_learnt_confidence_model_fitted_and_stored(store: Store) -> None:
    """The runtime fits the symbol's model from its stored history at the first scan, says so
    (log and ModelFitted), and its signals carry the learnt probability into the store."""
    frame = cycling_bars(1400)
    warm = frame.height - 2
    live = await start_live(
        store,
        {
            "cycles.backend": "statevector",
            "confidence.history_bars": 1400,
            "confidence.min_train": 300,
            "confidence.block": 150,
        },
        history=frame.head(warm),
        signals=True,
    )
    rt = live.runtime
    pipeline = rt.pipeline
    assert pipeline is not None and pipeline.learning.learnt
    try:
        for i, (_ts, o, h, lo, c, v) in enumerate(frame.slice(warm).iter_rows(), start=1):
            await live.play(o, h, lo, c, v)
            await until(lambda n=i: pipeline.scans + pipeline.failures >= n, "the bar's scan")
    finally:
        await rt.shutdown()
    assert pipeline.failures == 0 and pipeline.fits == 1
    [fitted] = [e for e in live.events if isinstance(e, ModelFitted)]
    assert fitted.symbol == SYMBOL and fitted.fitted and fitted.model.version == 1
    logged = [e.text for e in live.events if isinstance(e, Logged)]
    assert any("confidence model v1 fitted on" in t for t in logged)
    emitted = [e.signal for e in live.events if isinstance(e, SignalEmitted)]
    assert len(emitted) == 2 and all(s.evidence is not None for s in emitted)
    stored = store.signals.recent(symbol=SYMBOL)
    assert {s.evidence for s in stored} == {s.evidence for s in emitted}
    assert store.models.latest("replay", SYMBOL, TF, 4) is not None


async def test_a_bad_confidence_setting_is_logged_and_signals_stay_rule_made(
    store: Store,
) -> None:
    live = await start_live(store, {"confidence.refit_bars": 0}, signals=True)
    try:
        pipeline = live.runtime.pipeline
        assert pipeline is not None and not pipeline.learning.learnt
        errors = [e.text for e in live.events if isinstance(e, Logged) and e.severity == "error"]
        assert errors == [
            "confidence.refit_bars must be at least 1, not 0: signals keep their rule-made"
            " confidence"
        ]
    finally:
        await live.runtime.shutdown()


# -- a strategy that raises --------------------------------------------------------------------
async def test_a_strategy_that_raises_is_stopped_and_the_runtime_carries_on(
    store: Store, created: dict[str, Strategy]
) -> None:
    boom = StrategySpec("boom", SYMBOL, TF)
    counter = StrategySpec("counter", SYMBOL, TF)
    rt = Runtime(
        replay(bars_from([100.0, 101.0, 102.0, 103.0, 104.0, 105.0])),
        store,
        settings(),
        [SYMBOL],
        TF,
        strategies=[boom, counter],
        signals=False,
        telegram=False,
        stop_at_end=True,
    )
    events: list[RuntimeEvent] = []
    rt.listeners.append(events.append)
    await run_to_end(rt)

    stopped = [e for e in events if isinstance(e, StrategyChanged) and e.key == boom.key]
    assert [e.running for e in stopped] == [True, False]
    assert stopped[1].reason.startswith("error: RuntimeError: boom"), stopped[1].reason
    assert boom.key not in rt.runners
    assert created["boom"].bars_seen == 2  # never called again
    # the rest went on: every bar stored and given to the other strategy
    assert rt.bars_stored == 6 and rt.quotes == 6 and rt.bad_events == 0
    assert created["counter"].bars_seen == 6
    after = events[events.index(stopped[1]) + 1 :]
    assert any(isinstance(e, Logged) and "stream ended" in e.text for e in after)
    [alert] = [a for a in alerts(store, "strategy") if a["title"].endswith(f"stopped: {boom.key}")]
    assert alert["severity"] == "warning" and "boom" in alert["body"]
    assert alert["channel"] == CHANNEL


# -- preview is the order manager's check ------------------------------------------------------
async def test_preview_is_the_order_managers_check_and_submit_refuses_alike(
    store: Store,
) -> None:
    live = await start_live(store, {"risk.max_order_notional": 1000})
    rt = live.runtime
    try:
        assert rt.oms is not None
        await live.quote(99.0, 101.0, 100.0, 1.0)
        await until(lambda: rt.quotes == 1, "the first quote")
        small = rt.build(SYMBOL, Side.BUY, "1", "95")
        large = rt.build(SYMBOL, Side.BUY, "20", "95")  # 1,900 > 1,000
        market = rt.build(SYMBOL, Side.BUY, "20")  # valued at the mark
        off_grid = rt.build(SYMBOL, Side.BUY, "1", "95.001")
        for order in (small, large, market, off_grid):
            for reduce_only in (False, True):
                assert rt.preview(order, reduce_only) == rt.oms.preview(order, reduce_only)

        assert rt.preview(small).ok
        placed = await rt.submit(small)
        assert placed.status is OrderStatus.OPEN, placed.reason
        for refused in (large, market, off_grid):
            verdict = rt.preview(refused)
            assert not verdict.ok and verdict.reason
            result = await rt.submit(refused)
            assert result.status is OrderStatus.REJECTED
            assert result.reason == verdict.reason
        assert "exceeds the limit" in rt.preview(large).reason
        # the refusals were told as order changes and queued as rejection alerts
        rejected = {
            e.order.client_id
            for e in live.events
            if isinstance(e, OrderChanged) and e.order.status is OrderStatus.REJECTED
        }
        assert rejected == {large.client_id, market.client_id, off_grid.client_id}
        assert len(alerts(store, "rejection")) == 3
    finally:
        await rt.shutdown()


# -- the daily loss limit reached between bars: the order manager trips the switch -------------
async def test_kill_switch_tripped_by_an_order_reports_the_orders_it_cancelled(
    store: Store,
) -> None:
    live = await start_live(store, {"risk.daily_loss_limit": 1000})
    rt = live.runtime
    try:
        await live.bar(100.0)  # the day's first equity mark: 10,000
        await live.handled(1)
        resting = await rt.submit(rt.build(SYMBOL, Side.BUY, "1", "10"))
        assert resting.status is OrderStatus.OPEN, resting.reason
        # a wide market: 50 bought at 150, marked at 100: a loss of about 2,500 at once
        await live.quote(50.0, 150.0, 100.0, 1.0)
        await until(lambda: rt.mark(SYMBOL) == 100.0 and rt.quotes == 2, "the wide quote")
        bought = await rt.submit(rt.build(SYMBOL, Side.BUY, "50"))
        assert bought.status is OrderStatus.FILLED, bought.reason
        assert not rt.kill.engaged()  # no bar closed since: the runtime has not looked yet

        refused = await rt.submit(rt.build(SYMBOL, Side.BUY, "1", "10"))
        assert refused.status is OrderStatus.REJECTED and "daily loss" in refused.reason
        assert rt.kill.engaged()
        cancelled = store.orders.get(resting.client_id)
        assert cancelled is not None and cancelled.status is OrderStatus.CANCELLED
        kills = [e for e in live.events if isinstance(e, KillChanged)]
        assert [(k.engaged, k.actor, k.cancelled) for k in kills] == [(True, "risk", 1)]
        [alert] = [a for a in alerts(store, "risk") if a["title"] == "Kill switch engaged"]
        assert "1 working order(s) cancelled" in alert["body"], alert["body"]
    finally:
        await rt.shutdown()


# -- a strategy on a live broker ---------------------------------------------------------------
class _LivePaper(PaperBroker):
    """The paper broker dressed as a live venue (the live checks are what is tested)."""

    live = True


async def test_a_strategy_on_a_live_broker_needs_live_trading_and_a_confirmation(
    store: Store, created: dict[str, Strategy], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("workstation.trading.broker_factory.broker_class", lambda _name: _LivePaper)
    spec = StrategySpec("buy_every_bar", SYMBOL, TF)
    off = await start_live(store, strategies=(spec,))
    try:
        assert spec.key not in off.runtime.runners  # trading.live is off: it does not start
        assert any(isinstance(e, Logged) and "live trading is off" in e.text for e in off.events)
    finally:
        await off.runtime.shutdown()

    live = await start_live(store, {"trading.live": True}, strategies=(spec,))
    rt = live.runtime
    asked: list[str] = []

    async def refuse(order: Order) -> bool:
        asked.append(order.client_id)
        return False

    rt.confirmer = refuse
    try:
        await live.bar(100.0)
        await live.handled(1)
        [order] = rt.runners[spec.key].orders
        assert asked == [order.client_id]  # confirm_live: the strategy's order asked first
        assert order.status is OrderStatus.REJECTED and order.reason == "live order not confirmed"
    finally:
        await rt.shutdown()

    auto = StrategySpec("buy_every_bar", SYMBOL, TF, auto=True)
    marked = await start_live(store, {"trading.live": True}, strategies=(auto,))
    marked.runtime.confirmer = refuse
    try:
        await marked.bar(100.0)
        await marked.handled(1)
        [order] = marked.runtime.runners[auto.key].orders
        assert order.status is OrderStatus.FILLED  # marked auto: no question asked
        assert len(asked) == 1
    finally:
        await marked.runtime.shutdown()


# -- the kill switch never leaves a position unprotected ----------------------------------------
async def test_the_kill_switch_keeps_the_protective_orders_of_open_positions(
    live: Live, store: Store, db_path: Path
) -> None:
    rt = live.runtime
    await live.quote(99.0, 101.0, 100.0, 1.0)
    await until(lambda: rt.quotes == 1, "the first quote")
    parent = await rt.submit(rt.build(SYMBOL, Side.BUY, "1", sl="90", tp="110"))
    assert parent.status is OrderStatus.FILLED, parent.reason
    entry = await rt.submit(rt.build(SYMBOL, Side.BUY, "1", "80"))
    legs = {f"{parent.client_id}-sl", f"{parent.client_id}-tp"}
    assert {o.client_id for o in rt.working_orders()} == legs | {entry.client_id}

    cancelled = await rt.set_kill(True, "user", "test")
    assert [o.client_id for o in cancelled] == [entry.client_id]
    assert {o.client_id for o in rt.working_orders()} == legs
    assert any(
        isinstance(e, Logged) and "kept 2 protective order(s)" in e.text for e in live.events
    )
    await rt.set_kill(False, "user")

    other = Store(db_path)  # `qws kill on` in another process: this runtime's watcher acts
    try:
        await KillSwitch(other).engage("cli", "test")
    finally:
        other.close()
    await until(
        lambda: any(isinstance(e, Logged) and "engaged elsewhere" in e.text for e in live.events),
        "the runtime to see the kill switch",
    )
    assert {o.client_id for o in rt.working_orders()} == legs
    await live.quote(85.0, 86.0, 85.5, 5.0)  # the stop still protects the position
    await until(lambda: rt.working_orders() == [], "the stop to fire and the take-profit to go")
    assert [p.qty for p in store.positions.find("paper") if p.symbol == SYMBOL] == [0]


async def test_a_protection_event_is_queued_as_a_critical_alert(store: Store) -> None:
    live = await start_live(store, {"telegram.chat_ids": [42]})
    rt = live.runtime
    try:
        await live.quote(99.0, 101.0, 100.0, 1.0)
        await until(lambda: rt.quotes == 1, "the first quote")
        parent = await rt.submit(rt.build(SYMBOL, Side.BUY, "1", sl="90"))
        assert rt.oms is not None
        # the stop-loss vanishes at the venue (cancelled there by hand): the next sync re-places it
        await rt.oms.broker.cancel(f"{parent.client_id}-sl")
        await rt.oms.reconcile()
        again = store.orders.get(f"{parent.client_id}-sl.2")
        assert again is not None and again.status is OrderStatus.OPEN
        [alert] = [a for a in alerts(store, "risk") if a["title"] == "Protection restored"]
        assert alert["severity"] == "critical" and again.client_id in alert["body"]
        assert any(isinstance(e, Logged) and "Protection restored" in e.text for e in live.events)
    finally:
        await rt.shutdown()


# -- the bar path: strategies first, the batch's bars stored after in one transaction ---------
async def publish_together(rt: Runtime, events: list[Any]) -> None:
    """Publish ``events`` with no suspension between them: the market loop takes them as one
    batch (the hub's ``publish`` only waits when a lossless mailbox is full)."""
    for event in events:
        await rt.hub.publish(event)


def candle_closes(store: Store, rt: Runtime, symbol: str, timeframe: str = TF) -> list[float]:
    return store.candles.last(symbol, timeframe, 100, rt.venue)["close"].to_list()


async def test_the_bars_of_one_batch_are_stored_after_their_strategies_in_one_transaction(
    store: Store, created: dict[str, Strategy]
) -> None:
    spec = StrategySpec("buy_every_bar", SYMBOL, TF)
    live = await start_live(store, strategies=(spec,))
    rt = live.runtime
    statements: list[str] = []
    stored_at_order: list[int] = []

    def on_order(event: RuntimeEvent) -> None:
        if isinstance(event, OrderChanged) and event.order.symbol == SYMBOL:
            stored_at_order.append(len(candle_closes(store, rt, SYMBOL)))

    try:
        before = len(candle_closes(store, rt, SYMBOL))
        rt.listeners.append(on_order)
        store.conn.set_trace_callback(statements.append)
        ts = live.ts + HOUR
        await publish_together(
            rt,
            [
                Tick(ts, SYMBOL, 100.0, 100.0, 100.0, 1.0),
                Bar(ts, SYMBOL, TF, 100.0, 101.0, 99.0, 100.5, 10.0),
                Bar(ts, "OTHER", TF, 50.0, 51.0, 49.0, 50.5, 10.0),
                Bar(ts, "THIRD", TF, 20.0, 21.0, 19.0, 20.5, 10.0),
                Bar(ts, SYMBOL, TF, 100.0, 102.0, 99.0, 101.5, 12.0),  # the bar corrected
            ],
        )
        await live.handled(4)
        store.conn.set_trace_callback(None)
    finally:
        await rt.shutdown()

    # both SYMBOL bars ran the strategy (an order each) before any bar of the batch was stored
    assert stored_at_order == [before, before]
    assert rt.bars_stored == 4 and rt.bad_events == 0
    # stored in the order they came: the corrected bar, sent last, is the one kept
    assert candle_closes(store, rt, SYMBOL)[-1] == 101.5
    assert candle_closes(store, rt, "OTHER") == [50.5]
    assert candle_closes(store, rt, "THIRD") == [20.5]
    # ... in one transaction: every candle insert between one BEGIN and its COMMIT
    inserts = [i for i, s in enumerate(statements) if s.startswith("INSERT INTO candles")]
    assert inserts
    begin = max(i for i, s in enumerate(statements[: inserts[0]]) if s.startswith("BEGIN"))
    commit = next(i for i, s in enumerate(statements) if i > begin and s == "COMMIT")
    assert all(begin < i < commit for i in inserts), statements[begin : inserts[-1] + 2]


async def test_a_shutdown_in_the_middle_of_a_batch_keeps_the_bars_already_handled(
    store: Store, created: dict[str, Strategy], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = StrategySpec("counter", SYMBOL, TF)
    live = await start_live(store, strategies=(spec,))
    rt = live.runtime
    calls: list[int] = []
    reached = asyncio.Event()
    check = rt._check_daily_loss

    async def stuck_on_the_second_bar() -> None:
        calls.append(1)
        if len(calls) == 2:
            reached.set()
            await asyncio.Event().wait()  # until the shutdown cancels the market loop
        await check()

    monkeypatch.setattr(rt, "_check_daily_loss", stuck_on_the_second_bar)
    before = len(candle_closes(store, rt, SYMBOL))
    ts = live.ts
    events: list[Any] = []
    for i, close in enumerate((101.0, 102.0, 103.0), start=1):
        events += [
            Tick(ts + i * HOUR, SYMBOL, close, close, close, 1.0),
            Bar(ts + i * HOUR, SYMBOL, TF, close, close, close, close, 10.0),
        ]
    try:
        await publish_together(rt, events)
        await asyncio.wait_for(reached.wait(), WAIT_S)
        assert rt.bars_stored == 0  # the first bar's strategy ran; its batch is not done
    finally:
        await rt.shutdown()
    assert created["counter"].bars_seen == 1  # type: ignore[attr-defined]
    # the bar handled and the one the shutdown interrupted are stored; the third never came
    assert candle_closes(store, rt, SYMBOL)[before:] == [101.0, 102.0]
    assert rt.bars_stored == 2


async def test_the_bars_of_one_instant_mark_equity_once_unless_a_quote_moves_a_mark(
    store: Store, created: dict[str, Strategy]
) -> None:
    specs = (StrategySpec("buy_every_bar", SYMBOL, TF), StrategySpec("counter", SYMBOL, "4h"))
    live = await start_live(store, strategies=specs)
    rt = live.runtime
    marked: list[tuple[int, float]] = []

    def listen(event: RuntimeEvent) -> None:
        if isinstance(event, EquityMarked):
            marked.append((event.ts_ns, event.equity))

    rt.listeners.append(listen)
    ts = live.ts + HOUR
    try:
        await publish_together(
            rt,
            [
                Tick(ts, SYMBOL, 100.0, 100.0, 100.0, 1.0),
                Bar(ts, SYMBOL, TF, 100.0, 100.0, 100.0, 100.0, 10.0),  # marks, buys: marks
                Bar(ts, SYMBOL, "4h", 100.0, 100.0, 100.0, 100.0, 10.0),  # no new mark
            ],
        )
        await live.handled(2)
        assert len(marked) == 2, marked  # the bar's mark, then the fill's
        assert store.equity.points("paper", ts) == [marked[-1]]
        assert marked[-1][1] == rt.equity()

        await publish_together(
            rt,
            [
                Tick(ts, SYMBOL, 110.0, 110.0, 110.0, 1.0),  # same instant, the mark moves
                Bar(ts, SYMBOL, "4h", 100.0, 110.0, 100.0, 110.0, 10.0),
            ],
        )
        await live.handled(3)
        assert len(marked) == 3, marked
        assert marked[-1][1] == rt.equity() > marked[-2][1]  # long 1 unit: 10 higher
        assert store.equity.points("paper", ts) == [marked[-1]]
    finally:
        await rt.shutdown()


async def test_an_instrument_the_store_does_not_know_is_asked_again_after_its_ttl(
    live: Live, store: Store
) -> None:
    rt = live.runtime
    with pytest.raises(KeyError):
        rt.instrument("NEW/USD")
    store.instruments.upsert([Instrument("NEW/USD", "paper", Decimal("0.01"), Decimal("1"), "USD")])
    with pytest.raises(KeyError):  # the answer is kept for instrument_ttl_s
        rt.instrument("NEW/USD")
    rt.instrument_ttl_s = 0.0
    assert rt.instrument("NEW/USD").tick_size == Decimal("0.01")
