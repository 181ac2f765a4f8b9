"""The same strategy object in the backtester and against the paper broker driven by the replay
feed, its orders going through a real order manager (store on a file, the paper broker): the
same trades."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from engine.backtest.backtester import BacktestConfig, BacktestResult, run_backtest
from engine.model import Bar, Fill, Instrument, Order, OrderStatus, Tick
from engine.strategy import Context, Params, Strategy
from engine.trading.risk import RiskLimits
from feeds.replay import ReplayFeed
from plugins.brokers.paper import PaperBroker
from plugins.strategies.rsi_reversion import RsiReversion
from plugins.strategies.sma_cross import SmaCross
from tests.helpers import random_bars
from workstation.store import Store
from workstation.strategies.runner import RECHUNK_AFTER, StrategyRunner, fills_by_bar
from workstation.trading.oms import OrderManager

INSTRUMENT = Instrument("TEST", "paper", Decimal("0.0001"), Decimal("1"), "USD")


def _expected_fills(result: BacktestResult) -> list[tuple[int, float, float]]:
    rows = []
    for t in result.trades.iter_rows(named=True):
        rows.append((t["entry_bar"], 1, t["size"], t["entry_price"]))
        rows.append((t["exit_bar"], 0, -t["size"], t["exit_price"]))
    for t in result.open_trades.iter_rows(named=True):
        rows.append((t["entry_bar"], 1, t["size"], t["entry_price"]))
    return [(bar, qty, price) for bar, _, qty, price in sorted(rows)]


class Counting(Strategy):
    """Wraps a strategy to count the fills the runner reports back through on_fill."""

    name = "counting"
    params = Params()

    def __init__(self, inner: Strategy) -> None:
        super().__init__()
        self.inner = inner
        self.fills: list[Fill] = []
        self.warmup = inner.warmup

    def on_start(self, ctx: Context, **kwargs: Any) -> None:
        self.inner.on_start(ctx)

    def on_bar(self, ctx: Context, bars: Any, **kwargs: Any) -> Any:
        return self.inner.on_bar(ctx, bars)

    def on_fill(self, ctx: Context, fill: Any, **kwargs: Any) -> None:
        self.fills.append(fill)


@pytest.mark.parametrize(
    "make",
    [lambda: SmaCross(fast=5, slow=20), lambda: RsiReversion(period=7)],
    ids=["sma_cross", "rsi_reversion"],
)
async def test_backtest_and_paper_broker_make_the_same_trades(
    tmp_path: Path, store: Store, make: Any
) -> None:
    bars = random_bars(400, seed=3)
    now = [0]
    marks: dict[str, float] = {}
    broker = PaperBroker(
        tmp_path / "paper.db",
        {"TEST": INSTRUMENT},
        fees={"default": {"maker": "0.001", "taker": "0.001"}},
        starting_balances={"USD": 10_000},
        clock=lambda: now[0],
    )
    oms = OrderManager(
        store,
        broker,
        {"TEST": INSTRUMENT}.__getitem__,
        marks=marks.get,
        limits=RiskLimits(),  # no limit: nothing the backtest does may be refused
        live_enabled=False,  # the paper broker is not live: nothing to enable
        clock=lambda: now[0],
    )
    strategy = Counting(make())
    runner = StrategyRunner(strategy, oms, INSTRUMENT, fee_rate=0.001)

    def on_event(event: Fill | Order) -> None:  # as the runtime wires it
        if isinstance(event, Fill):
            runner.on_fill(event)

    oms.listeners.append(on_event)
    feed = ReplayFeed(frame=bars, symbol="TEST", timeframe="1h", speed=0, warmup=0)
    async for event in feed.stream(["TEST"], "1h"):
        now[0] = event.ts_ns
        if isinstance(event, Tick):
            marks[event.symbol] = event.mid
            broker.on_tick(event)
        elif isinstance(event, Bar):
            await runner.on_bar(event)

    paper = fills_by_bar(await broker.fills(), bars["ts"].to_numpy())
    backtest = run_backtest(
        make(), bars, BacktestConfig(cash=10_000, commission=0.001, trade_on_close=True)
    )
    expected = _expected_fills(backtest)
    assert len(paper) == len(expected) > 6
    for (bar, qty, price), (ebar, eqty, eprice) in zip(paper, expected, strict=True):
        assert bar == ebar and price == pytest.approx(eprice, rel=1e-12)
        assert abs(qty - eqty) <= 1
    cash = float((await broker.balance())["USD"])
    position = sum(float(p.qty) for p in await broker.positions())
    equity = cash + position * bars["close"][-1]
    assert equity == pytest.approx(backtest.equity[-1], rel=1e-3)
    assert len(strategy.fills) == len(paper)
    # every order went through the order manager: stored, filled, none refused
    orders = store.orders.find(venue="paper", limit=10_000)
    assert len(orders) == len(runner.orders) == len(paper)
    assert {o.status for o in orders} == {OrderStatus.FILLED}
    assert fills_by_bar(store.fills.find(venue="paper"), bars["ts"].to_numpy()) == paper
    broker.close()


def test_appended_bars_stay_in_few_chunks_and_keep_their_values() -> None:
    runner = StrategyRunner(SmaCross(), cast(OrderManager, None), INSTRUMENT, max_bars=150)
    for i in range(200):
        runner.append(Bar(i, "TEST", "1m", i + 0.1, i + 0.5, float(i), i + 0.25, 1.0))
        assert max(runner.bars.n_chunks("all")) <= RECHUNK_AFTER + 1
    assert runner.bars["ts"].to_list() == list(range(50, 200))
    assert runner.bars["close"].to_list() == [i + 0.25 for i in range(50, 200)]
