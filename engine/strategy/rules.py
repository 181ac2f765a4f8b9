"""Building blocks for strategy rules: crossings, and following a desired position state."""

from __future__ import annotations

import numpy as np

from engine.strategy.context import Context


def crossed_above(a: np.ndarray, b: np.ndarray | float) -> bool:
    """True if ``a`` crossed above ``b`` on the last bar: ``a[-2] < b[-2]`` and ``a[-1] > b[-1]``
    (backtesting.py's ``crossover``; NaN never crosses)."""
    if len(a) < 2:
        return False
    if isinstance(b, np.ndarray):
        return bool(a[-2] < b[-2] and a[-1] > b[-1])
    return bool(a[-2] < b and a[-1] > b)


def crosses_above(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """Per bar ``t``: did ``a`` cross above ``b`` at ``t`` (the vector form of
    :func:`crossed_above`; False at bar 0)."""
    bb = np.broadcast_to(np.asarray(b, dtype=np.float64), np.shape(a))
    out = np.zeros(len(a), dtype=np.bool_)
    with np.errstate(invalid="ignore"):
        out[1:] = (a[:-1] < bb[:-1]) & (a[1:] > bb[1:])
    return out


def follow_state(desired: np.ndarray, short: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Orders that hold the position ``desired`` asks for: ``desired[t]`` is +1 (long), -1
    (short), 0 (flat) or NaN (no opinion: keep the last state). Returns ``(side, close)`` for
    :class:`VectorOrders`: on each change of state, close and enter the new side (a short
    state is flat when ``short`` is False). The per-bar form is :class:`StateFollower`."""
    state = np.zeros(len(desired))
    current = 0.0
    for t, d in enumerate(desired):
        if d == d:  # not NaN
            current = d if (d >= 0 or short) else 0.0
        state[t] = current
    prev = np.r_[0.0, state[:-1]]
    change = state != prev
    side = np.where(change, state, 0).astype(np.int8)
    return side, change


class StateFollower:
    """The per-bar twin of :func:`follow_state`: ``update(ctx, desired)`` acts on a change."""

    def __init__(self, short: bool = True) -> None:
        self.short = short
        self.state = 0.0

    def update(self, ctx: Context, desired: float) -> None:
        if desired != desired:
            return
        new = desired if (desired >= 0 or self.short) else 0.0
        if new == self.state:
            return
        self.state = new
        ctx.close()
        if new > 0:
            ctx.buy()
        elif new < 0:
            ctx.sell()
