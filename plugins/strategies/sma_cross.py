"""Moving-average crossover: long when the fast SMA crosses above the slow one, short when it
crosses below (each signal first closes the open position). backtesting.py's ``SmaCross``."""

from __future__ import annotations

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


class SmaCross(Strategy):
    name = "sma_cross"
    description = "SMA(fast) / SMA(slow) crossover, always in the market after the first cross"
    params = Params(
        fast=Param(10, low=2, high=100, step=2, doc="fast SMA length (bars)"),
        slow=Param(20, low=5, high=400, step=10, doc="slow SMA length (bars)"),
    )

    @classmethod
    def check_params(cls, values: dict[str, Any]) -> str | None:
        if values["fast"] >= values["slow"]:
            return f"fast ({values['fast']}) must be shorter than slow ({values['slow']})"
        return None

    @property
    def warmup(self) -> int:  # type: ignore[override]
        return int(self.params["slow"])

    def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> None:
        fast = ctx.indicators.sma(self.params["fast"])
        slow = ctx.indicators.sma(self.params["slow"])
        if crossed_above(fast, slow):
            ctx.close()
            ctx.buy()
        elif crossed_above(slow, fast):
            ctx.close()
            ctx.sell()

    def vectorized(self, bars: pl.DataFrame, indicators: Indicators) -> VectorOrders:
        fast = indicators.sma(self.params["fast"])
        slow = indicators.sma(self.params["slow"])
        up = crosses_above(fast, slow)
        down = crosses_above(slow, fast)
        side = up.astype(np.int8) - down.astype(np.int8)
        return VectorOrders(side=side, close=up | down)
