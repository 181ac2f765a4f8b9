"""The signal pipeline's learnt confidence: a model fitted from the store's bars, stored,
versioned, reused after a restart, refitted as bars arrive; rule-made confidence, said so,
where the bars cannot make one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import polars as pl
import pytest

from engine.model import Signal
from engine.signals.ensemble import EnsembleSettings
from engine.signals.evidence import context_bars
from feeds.demo import DEMO_INSTRUMENTS, synthetic_bars
from tests.helpers import random_bars
from workstation.runtime.config import ConfigError
from workstation.store import Store
from workstation.trader.signal_pipeline import LearningSettings, SignalPipeline

VENUE, SYMBOL, TF = "demo", "EURUSD", "1h"
END = 1_767_225_600 * 10**9
LEARN = LearningSettings(learnt=True, history_bars=1500, refit_bars=50, min_train=300, block=150)
SETTINGS = {"horizon_bars": 4}


class Desk:
    def __init__(self, store: Store, learning: LearningSettings = LEARN) -> None:
        self.signals: list[Signal] = []
        self.fitted: list[Any] = []
        self.prepared: list[tuple[str, str, int]] = []

        async def prepare(symbol: str, timeframe: str, bars: int) -> None:
            self.prepared.append((symbol, timeframe, bars))

        self.pipeline = SignalPipeline(
            store,
            VENUE,
            SETTINGS,
            self.signals.append,
            prepare=prepare,
            learning=learning,
            on_model=lambda _s, _tf, m, new: self.fitted.append((m, new)),
        )

    async def scan(self) -> Signal:
        before = len(self.signals)
        self.pipeline.submit(SYMBOL, TF)
        await asyncio.sleep(0)
        await asyncio.wait_for(self.pipeline.drain(), 120)
        assert self.pipeline.failures == 0
        assert len(self.signals) == before + 1
        return self.signals[-1]


@pytest.fixture
async def desk(store: Store) -> AsyncIterator[Desk]:
    d = Desk(store)
    worker = asyncio.create_task(d.pipeline.run())
    yield d
    worker.cancel()


def demo_bars(n: int) -> pl.DataFrame:
    return synthetic_bars(DEMO_INSTRUMENTS[SYMBOL], TF, END, n, seed=7)


async def test_signals_carry_the_learnt_probability_and_its_evidence(
    store: Store, desk: Desk
) -> None:
    bars = demo_bars(3000)
    store.candles.upsert(bars.head(2000), SYMBOL, TF, VENUE)
    signal = await desk.scan()
    assert desk.pipeline.fits == 1 and len(desk.fitted) == 1
    # the runtime is asked for the window the 4h and 1d context needs (> history_bars here)
    assert desk.prepared == [(SYMBOL, TF, context_bars(TF, ("4h", "1d"), EnsembleSettings()))]
    stored = store.models.latest(VENUE, SYMBOL, TF, 4)
    assert stored is not None and stored.version == 1 and stored.bars == 1500
    assert stored.through_ts_ns == int(bars["ts"][1999])
    e = signal.evidence
    assert e is not None and e.version == 1 and e.horizon == 4 and e.cases > 0
    assert signal.confidence == e.probability
    assert not any(r.startswith("rule-made") for r in signal.reasons)

    # fewer than refit_bars new bars: the same model; then a refit as the next version
    store.candles.upsert(bars.slice(2000, 49), SYMBOL, TF, VENUE)
    assert (await desk.scan()).evidence.version == 1  # type: ignore[union-attr]
    store.candles.upsert(bars.slice(2049, 1), SYMBOL, TF, VENUE)
    after = await desk.scan()
    assert desk.pipeline.fits == 2 and after.evidence is not None and after.evidence.version == 2
    assert [m.version for m in store.models.versions(VENUE, SYMBOL, TF, 4)] == [2, 1]


async def test_a_restart_scores_with_the_stored_model_without_refitting(store: Store) -> None:
    store.candles.upsert(demo_bars(2000), SYMBOL, TF, VENUE)
    for expected_fits in (1, 0):
        d = Desk(store)
        worker = asyncio.create_task(d.pipeline.run())
        try:
            signal = await d.scan()
        finally:
            worker.cancel()
        assert d.pipeline.fits == expected_fits
        assert [(m.version, new) for m, new in d.fitted] == [(1, expected_fits == 1)]
        assert signal.evidence is not None and signal.evidence.version == 1


async def test_too_few_bars_keep_the_rule_confidence_and_say_why(store: Store, desk: Desk) -> None:
    store.candles.upsert(random_bars(400, seed=3), SYMBOL, TF, VENUE)
    signal = await desk.scan()
    assert signal.evidence is None and desk.pipeline.fits == 0
    assert signal.reasons[0].startswith("rule-made confidence: no learnt model: ")
    assert "at least" in signal.reasons[0]
    assert store.models.latest(VENUE, SYMBOL, TF, 4) is None
    assert "at least" in desk.pipeline.model_note(SYMBOL, TF)


async def test_learning_off_is_the_rule_confidence(store: Store) -> None:
    store.candles.upsert(demo_bars(2000), SYMBOL, TF, VENUE)
    d = Desk(store, LearningSettings(learnt=False))
    worker = asyncio.create_task(d.pipeline.run())
    try:
        signal = await d.scan()
    finally:
        worker.cancel()
    assert signal.evidence is None and d.pipeline.fits == 0
    assert not any(r.startswith("rule-made") for r in signal.reasons)
    assert "off" in d.pipeline.model_note(SYMBOL, TF)
    assert d.prepared == [(SYMBOL, TF, 256)]  # no learning: the scan's own bars


def test_bad_confidence_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"confidence\.history_bars must be at least 1, not 0"):
        LearningSettings.from_mapping({"history_bars": 0})
    assert LearningSettings.from_mapping({"refit_bars": "100"}).refit_bars == 100
