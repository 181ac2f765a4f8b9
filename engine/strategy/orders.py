"""What a strategy asks for: one intent per bar (``OrderIntent``), or every bar at once
(``VectorOrders``, the backtester's fast path)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

FULL_EQUITY = 1.0 - sys.float_info.epsilon
"""Default order size: (almost) all available margin, as backtesting.py's default."""


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What a strategy asked for on one bar; the runner turns it into a broker order.

    ``kind`` is ``"entry"`` (``side`` +1 buy / -1 sell) or ``"close"`` (``portion`` of every
    open trade). ``size`` in (0, 1) is a fraction of the available margin, ``size >= 1`` a whole
    number of units (backtesting.py's convention); ``qty`` is an absolute quantity in units.
    ``sl``/``tp`` are absolute prices of the protective orders attached to the trade.
    ``risk`` is set when the quantity was sized from risk (``ctx.buy(risk=0.01, sl=...)``): the
    fraction of equity lost at ``sl``, kept for reporting; ``qty`` then holds the quantity it
    gave, not yet rounded (each runner rounds it down to its lot).
    """

    kind: str
    side: int = 0
    size: float | None = None
    qty: float | None = None
    sl: float | None = None
    tp: float | None = None
    limit: float | None = None
    stop: float | None = None
    portion: float = 1.0
    tag: str = ""
    risk: float | None = None


@dataclass(frozen=True, slots=True)
class VectorOrders:
    """A strategy's decisions for every bar at once (the fast path).

    At the close of bar ``t``: if ``close[t]`` the open trades are closed (like ``ctx.close()``),
    then if ``side[t]`` is +1/-1 an entry is placed (like ``ctx.buy``/``ctx.sell``) of ``size``
    (scalar or per-bar), with optional per-bar ``sl``/``tp`` prices (NaN = none).
    ``direction`` (+1/-1/0 per bar, default ``side``) and ``confidence`` (in [0, 1]) are the
    signal itself, for the signal accuracy report.
    """

    side: np.ndarray
    close: np.ndarray | None = None
    size: float | np.ndarray = FULL_EQUITY
    sl: np.ndarray | None = None
    tp: np.ndarray | None = None
    direction: np.ndarray | None = None
    confidence: np.ndarray | None = None
