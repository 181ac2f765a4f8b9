"""Trade the signal ensemble: enter on OPEN_LONG / OPEN_SHORT signals whose calibrated
confidence clears the quality gate, exit on CLOSE (or the opposite entry)."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from engine.model import Action, Signal
from engine.signals import ensemble as en
from engine.strategy import (
    Context,
    Indicators,
    Param,
    Params,
    StateFollower,
    Strategy,
    VectorOrders,
    follow_state,
)
from plugins.strategies.detectors import DETECTORS, cycle_source, timeframe_of


class Ensemble(Strategy):
    name = "ensemble"
    description = "trade ensemble signals above the quality gate (cycle + confirming votes)"
    params = Params(
        gate=Param(0.75, low=0.5, high=0.95, step=0.05, doc="minimum signal confidence"),
        short=Param(True, doc="take OPEN_SHORT signals (else only close longs)"),
        exit_on_close=Param(True, doc="flatten on CLOSE signals"),
        detector=Param("periodogram", choices=DETECTORS, doc="cycle detector"),
    )

    @property
    def warmup(self) -> int:  # type: ignore[override]
        return en.EnsembleSettings().min_bars - 1  # the first bar with a signal

    def _settings(self) -> en.EnsembleSettings:
        return en.EnsembleSettings(quality_gate=self.params["gate"])

    def _desired(self, sig: Signal) -> float:
        if sig.action in (Action.OPEN_LONG, Action.OPEN_SHORT):
            if sig.confidence >= self.params["gate"]:
                return 1.0 if sig.action is Action.OPEN_LONG else -1.0
        elif sig.action is Action.CLOSE and self.params["exit_on_close"]:
            return 0.0
        return float("nan")

    def on_start(self, ctx: Context, **kwargs: Any) -> None:
        self._follow = StateFollower(self.params["short"])
        self._source = cycle_source(self.params["detector"])

    def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
        tf = timeframe_of(bars["ts"].to_numpy())
        sigs = en.signals_over(bars, tf, self._settings(), start=bars.height - 1,
                               source=self._source)  # fmt: skip
        if sigs:
            self._follow.update(ctx, self._desired(sigs[-1]))

    def vectorized(self, bars: pl.DataFrame, indicators: Indicators) -> VectorOrders:
        n = bars.height
        desired = np.full(n, np.nan)
        direction = np.zeros(n, dtype=np.int8)
        confidence = np.zeros(n)
        tf = timeframe_of(bars["ts"].to_numpy())
        sigs = en.signals_over(bars, tf, self._settings(),
                               source=cycle_source(self.params["detector"]))  # fmt: skip
        first = n - len(sigs)
        for k, sig in enumerate(sigs):
            t = first + k
            desired[t] = self._desired(sig)
            if sig.action in (Action.OPEN_LONG, Action.OPEN_SHORT):
                direction[t] = 1 if sig.action is Action.OPEN_LONG else -1
                confidence[t] = sig.confidence
        desired[: self.warmup] = np.nan  # the backtester acts from the warm-up on
        side, close = follow_state(desired, self.params["short"])
        return VectorOrders(side=side, close=close, direction=direction, confidence=confidence)
