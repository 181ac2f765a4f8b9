"""RSI mean reversion: go long when RSI climbs back above the oversold line, short (or flat)
when it falls back below the overbought line; optional ATR stop-loss."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from engine.strategy import (
    Context,
    Indicators,
    Param,
    Params,
    Strategy,
    VectorOrders,
    crossed_above,
    crosses_above,
)


class RsiReversion(Strategy):
    name = "rsi_reversion"
    description = "buy RSI back above oversold, sell RSI back below overbought"
    params = Params(
        period=Param(14, low=2, high=50, step=2, doc="RSI length (bars)"),
        oversold=Param(30.0, low=5, high=50, step=5, doc="long when RSI crosses up through"),
        overbought=Param(70.0, low=50, high=95, step=5, doc="exit/short when RSI crosses down"),
        short=Param(True, doc="go short at the overbought cross (else just close)"),
        atr_stop=Param(0.0, low=0, high=5, step=0.5, doc="stop-loss in ATR(14) (0 = none)"),
    )

    @classmethod
    def check_params(cls, values: dict[str, Any]) -> str | None:
        if values["oversold"] >= values["overbought"]:
            return "oversold must be below overbought"
        return None

    @property
    def warmup(self) -> int:  # type: ignore[override]
        return max(int(self.params["period"]), 14 if self.params["atr_stop"] else 0) + 1

    def _stop(self, price: float, atr: float, side: int) -> float | None:
        k = self.params["atr_stop"]
        if not k or not math.isfinite(atr):
            return None
        return price - side * k * atr

    def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
        rsi = ctx.indicators.rsi(self.params["period"])
        atr = ctx.indicators.atr(14)[-1] if self.params["atr_stop"] else math.nan
        if crossed_above(rsi, self.params["oversold"]):
            ctx.close()
            ctx.buy(sl=self._stop(ctx.price, atr, +1))
        elif crossed_above(-rsi, -self.params["overbought"]):
            ctx.close()
            if self.params["short"]:
                ctx.sell(sl=self._stop(ctx.price, atr, -1))

    def vectorized(self, bars: pl.DataFrame, indicators: Indicators) -> VectorOrders:
        rsi = indicators.rsi(self.params["period"])
        up = crosses_above(rsi, self.params["oversold"])
        down = crosses_above(-rsi, -self.params["overbought"])
        side = up.astype(np.int8)
        if self.params["short"]:
            side = side - down.astype(np.int8)
        sl = None
        if self.params["atr_stop"]:
            close = bars["close"].to_numpy()
            atr = indicators.atr(14)
            k = self.params["atr_stop"]
            sl = np.where(up, close - k * atr, np.where(down, close + k * atr, np.nan))
        return VectorOrders(side=side, close=up | down, sl=sl)
