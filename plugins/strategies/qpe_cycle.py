"""Trade the turning points of the dominant cycle found by quantum phase estimation.

At each bar the ``window`` log-returns ending there go through the cycle detector (QPE on Aer
by default). If the dominant cycle is significant (its share of spectral power beats white
noise at ``false_alarm``) and a trough is at most ``turn_bars`` away, go long; a peak that
close: go short (or flat). The position is held until the opposite turn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

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
from plugins.strategies.detectors import DETECTORS, cycle_source, log_returns


class QpeCycle(Strategy):
    name = "qpe_cycle"
    description = "long near detected cycle troughs, short near peaks (QPE cycle detector)"
    params = Params(
        window=Param(64, choices=(16, 32, 64, 128), doc="log-returns per cycle window"),
        turn_bars=Param(1.0, low=0.5, high=5.0, step=0.5, doc="act this close to a turn"),
        false_alarm=Param(0.01, low=0.001, high=0.2, doc="significance of the cycle"),
        short=Param(True, doc="go short at peaks (else just close)"),
        detector=Param("qpe", choices=DETECTORS, doc="qpe (Aer statevector) or periodogram"),
    )

    @property
    def warmup(self) -> int:  # type: ignore[override]
        return int(self.params["window"])  # the first bar with a full window

    def _desired(self, estimates: list[en.CycleEstimate]) -> np.ndarray:
        p = self.params
        threshold = en.null_strength_quantile(p["window"], p["false_alarm"])
        out = np.full(len(estimates), np.nan)
        for k, (cycle, phase) in enumerate(estimates):
            if cycle is None or phase is None or not cycle.strength > threshold:
                continue
            if phase.bars_to_trough <= p["turn_bars"]:
                out[k] = 1.0
            elif phase.bars_to_peak <= p["turn_bars"]:
                out[k] = -1.0
        return out

    def on_start(self, ctx: Context, **kwargs: Any) -> None:
        self._follow = StateFollower(self.params["short"])
        self._source = cycle_source(self.params["detector"])

    def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
        w = self.params["window"]
        r = log_returns(bars["close"].to_numpy()[-(w + 1) :])[1:]
        if len(r) < w:
            return
        desired = self._desired(self._source(r[None, :]))[0]
        self._follow.update(ctx, desired)

    def vectorized(self, bars: pl.DataFrame, indicators: Indicators) -> VectorOrders:
        w = self.params["window"]
        n = bars.height
        desired = np.full(n, np.nan)
        if n > w:
            r = log_returns(bars["close"].to_numpy())
            windows = np.lib.stride_tricks.sliding_window_view(r[1:], w)
            desired[w:] = self._desired(cycle_source(self.params["detector"])(windows))
        desired[: self.warmup] = np.nan  # the backtester acts from the warm-up on
        side, close = follow_state(desired, self.params["short"])
        direction = np.nan_to_num(desired).astype(np.int8)
        return VectorOrders(side=side, close=close, direction=direction)
