"""The same strategy object in the backtester and against the paper broker driven by the replay
feed: the same trades."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.backtest.backtester import BacktestConfig, BacktestResult, run_backtest
from engine.model import Fill, Instrument, Tick
from engine.strategy import Context, Params, Strategy
from feeds.replay import ReplayFeed
from plugins.brokers.paper import PaperBroker
from plugins.strategies.rsi_reversion import RsiReversion
from plugins.strategies.sma_cross import SmaCross
from tests.helpers import random_bars
from workstation.strategies.runner import StrategyRunner, fills_by_bar

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
async def test_backtest_and_paper_broker_make_the_same_trades(tmp_path: Path, make: Any) -> None:
    bars = random_bars(400, seed=3)
    now = [0]
    broker = PaperBroker(
        tmp_path / "paper.db",
        {"TEST": INSTRUMENT},
        fees={"default": {"maker": "0.001", "taker": "0.001"}},
        starting_balances={"USD": 10_000},
        clock=lambda: now[0],
    )
    strategy = Counting(make())
    runner = StrategyRunner(strategy, broker, INSTRUMENT, fee_rate=0.001)
    feed = ReplayFeed(frame=bars, symbol="TEST", timeframe="1h", speed=0, warmup=0)
    async for event in feed.stream(["TEST"], "1h"):
        now[0] = event.ts_ns
        if isinstance(event, Tick):
            broker.on_tick(event)
        else:
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
    broker.close()
