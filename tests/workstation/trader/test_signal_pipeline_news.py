"""The signal pipeline reads the symbol's news from the store: the sentiment vote shows in a
signal's reasons, the fit and the scan read the same column, no news changes nothing, and a
model of the recipe before news is never served."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import polars as pl
import pytest

from engine.model import NewsItem, Signal
from engine.signals.evidence import RECIPE
from engine.signals.outcomes import feature_names, higher_chain
from engine.timeframes import parse
from feeds.demo import DEMO_INSTRUMENTS, synthetic_bars
from tests.helpers import random_bars
from workstation.store import Store
from workstation.trader.signal_pipeline import LearningSettings, SignalPipeline, fit_model

VENUE, SYMBOL, OTHER, TF = "demo", "EURUSD", "GBPUSD", "1h"
END = 1_767_225_600 * 10**9
SETTINGS = {"horizon_bars": 4}
LEARN = LearningSettings(learnt=True, history_bars=1500, refit_bars=50, min_train=300, block=150)
RULES = LearningSettings(learnt=False)
H = parse(TF).ns


class Desk:
    def __init__(self, store: Store, learning: LearningSettings) -> None:
        self.signals: list[Signal] = []
        self.pipeline = SignalPipeline(
            store, VENUE, SETTINGS, self.signals.append, learning=learning
        )

    async def scan(self, symbol: str = SYMBOL) -> Signal:
        before = len(self.signals)
        self.pipeline.submit(symbol, TF)
        await asyncio.sleep(0)
        await asyncio.wait_for(self.pipeline.drain(), 120)
        assert self.pipeline.failures == 0
        assert len(self.signals) == before + 1
        return self.signals[-1]


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()


def _desk(store: Store, tasks: list[asyncio.Task[None]], learning: LearningSettings) -> Desk:
    d = Desk(store, learning)
    tasks.append(asyncio.create_task(d.pipeline.run()))
    return d


def _news(bars: pl.DataFrame, scores: list[float], symbol: str = SYMBOL) -> list[NewsItem]:
    """One item per score, published during the last bars (the last one inside the last bar)."""
    last_close = int(bars["ts"][-1]) + H
    return [
        NewsItem(
            "https://example.test/feed",
            f"{symbol}-{i}",
            last_close - (len(scores) - i) * H // 2,
            f"headline {i}",
            symbols=(symbol,),
            score=score,
        )
        for i, score in enumerate(scores)
    ]


async def test_the_sentiment_vote_shows_in_the_reasons(
    store: Store, running: list[asyncio.Task[None]]
) -> None:
    bars = random_bars(400, seed=3)
    store.candles.upsert(bars, SYMBOL, TF, VENUE)
    store.candles.upsert(bars, OTHER, TF, VENUE)
    desk = _desk(store, running, RULES)
    before = await desk.scan()
    other_before = await desk.scan(OTHER)
    assert not any("news" in r for r in before.reasons)

    stored = store.news.add(_news(bars, [0.6, 0.6, 0.6]), fetched_ns=END)
    assert len(stored) == 3
    after = await desk.scan()
    assert "news sentiment +0.60 (~2.7 fresh items)" in after.reasons
    assert len(after.reasons) == len(before.reasons) + 1
    # news about one symbol leaves the other's signal as it was
    assert await desk.scan(OTHER) == other_before


async def test_an_item_after_the_bar_close_is_not_read(
    store: Store, running: list[asyncio.Task[None]]
) -> None:
    bars = random_bars(400, seed=4)
    store.candles.upsert(bars, SYMBOL, TF, VENUE)
    desk = _desk(store, running, RULES)
    before = await desk.scan()
    late = NewsItem("k", "late", int(bars["ts"][-1]) + H + 1, "late", symbols=(SYMBOL,), score=0.9)
    unscored = NewsItem("k", "unscored", int(bars["ts"][-1]), "unscored", symbols=(SYMBOL,))
    store.news.add([late, unscored], fetched_ns=END)
    assert await desk.scan() == before


async def test_fit_and_scan_read_the_same_column(store: Store) -> None:
    bars = random_bars(1500, seed=5)
    store.candles.upsert(bars, SYMBOL, TF, VENUE)
    store.news.add(_news(bars, [0.5, -0.2, 0.8, -0.9]), fetched_ns=END)
    pipeline = SignalPipeline(store, VENUE, SETTINGS, lambda _s: None, learning=LEARN)
    history = pipeline.with_news(SYMBOL, TF, store.candles.last(SYMBOL, TF, 1500, VENUE))
    live = pipeline.with_news(SYMBOL, TF, store.candles.last(SYMBOL, TF, 300, VENUE))
    assert history["sentiment"].tail(300).to_list() == live["sentiment"].to_list()
    weights = live["sentiment_weight"].to_numpy()
    assert weights[-1] > 0 and (weights[:-3] == 0).all()
    # no news: the frame as stored, no column
    plain = pipeline.with_news(OTHER, TF, store.candles.last(SYMBOL, TF, 300, VENUE))
    assert "sentiment" not in plain.columns


async def test_a_model_of_the_recipe_before_news_is_refitted(
    store: Store, running: list[asyncio.Task[None]]
) -> None:
    bars = synthetic_bars(DEMO_INSTRUMENTS[SYMBOL], TF, END, 2000, seed=7)
    store.candles.upsert(bars, SYMBOL, TF, VENUE)
    store.news.add(_news(bars, [0.7, 0.7]), fetched_ns=END)
    old = fit_model(bars.tail(1500), TF, SETTINGS, LEARN.min_train, LEARN.block)
    assert "error" not in old
    # the recipe-1 model had no news column: served, it could not score a row of this recipe
    news = feature_names(higher_chain(TF)).index("news_sentiment")
    logistic = old["model"]["model"]["logistic"]
    for key in ("coef", "mean", "scale"):
        del logistic[key][news]
    old_spec = f"r{RECIPE - 1}-{old['spec'].split('-', 1)[1]}"
    store.models.save(
        VENUE,
        SYMBOL,
        TF,
        4,
        spec=old_spec,
        through_ts_ns=old["through_ts_ns"],
        bars=old["bars"],
        model=old["model"],
        report=old["report"],
    )
    desk = _desk(store, running, LEARN)
    signal = await desk.scan()
    assert desk.pipeline.fits == 1
    latest = store.models.latest(VENUE, SYMBOL, TF, 4)
    assert latest is not None and latest.spec.startswith(f"r{RECIPE}-")
    assert signal.evidence is not None and signal.evidence.version == latest.version
    assert any(r.startswith("news sentiment +0.70") for r in signal.reasons)
