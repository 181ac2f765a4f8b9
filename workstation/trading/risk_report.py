"""Portfolio VaR/CVaR of the open positions from stored bars (historical simulation).

Exposures are signed notionals at the current marks, in each instrument's quote currency
(summed as-is: convert first when positions span currencies). The loss figures are for one bar
of ``timeframe`` ahead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from engine.model import Position
from engine.trading.risk import portfolio_var
from workstation.store import Store


@dataclass(frozen=True, slots=True)
class VarReport:
    timeframe: str
    bars: int
    exposures: dict[str, float]
    levels: dict[float, tuple[float, float]]  # level -> (VaR, CVaR)
    missing: tuple[str, ...] = ()


def closes_from_store(store: Store, symbol: str, timeframe: str, n: int) -> np.ndarray:
    venues = store.candles.venues(symbol, timeframe)
    if not venues:
        return np.zeros(0)
    return store.candles.last(symbol, timeframe, n, venue=venues[0])["close"].to_numpy()


def var_report(
    store: Store,
    positions: Sequence[Position],
    marks: Callable[[str], float | None],
    timeframe: str = "1h",
    n: int = 500,
    levels: Sequence[float] = (0.95, 0.99),
    history: Callable[[str, str, int], pl.DataFrame | None] | None = None,
) -> VarReport:
    """``history(symbol, timeframe, n)`` supplies bars the store lacks (e.g. the demo feed)."""
    exposures: dict[str, float] = {}
    closes: dict[str, np.ndarray] = {}
    missing = []
    for p in positions:
        mark = marks(p.symbol)
        if p.qty == 0 or mark is None:
            if p.qty != 0:
                missing.append(p.symbol)
            continue
        c = closes_from_store(store, p.symbol, timeframe, n)
        if len(c) < 30 and history is not None:
            frame = history(p.symbol, timeframe, n)
            c = frame["close"].to_numpy() if frame is not None and frame.height else c
        if len(c) < 30:
            missing.append(p.symbol)
            continue
        exposures[p.symbol] = exposures.get(p.symbol, 0.0) + float(p.qty) * mark
        closes[p.symbol] = c
    used = min((len(c) for c in closes.values()), default=0)
    return VarReport(
        timeframe,
        used,
        exposures,
        portfolio_var(closes, exposures, levels),
        tuple(missing),
    )
