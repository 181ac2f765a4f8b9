"""Cycle sources for the cycle strategies: the QPE detector on Aer or its classical limit.

Both return, per window of log-returns, the dominant cycle and its phase
(:data:`engine.signals.ensemble.CycleSource`). The statevector QPE distribution equals the
periodogram
of the same encoded window (to 1e-9; tested in ``tests/engine/signals/test_qpe.py``), so
``"periodogram"`` is the fast exact stand-in for optimisation and ``"qpe"`` the real thing.
"""

from __future__ import annotations

import numpy as np

from engine.signals import ensemble as en

DETECTORS = ("qpe", "periodogram")


def cycle_source(name: str) -> en.CycleSource:
    if name == "periodogram":
        return en.classical_cycles
    if name != "qpe":
        raise ValueError(f"unknown cycle detector {name!r}; use one of {', '.join(DETECTORS)}")
    from engine.signals.scanner import qpe_detector

    return qpe_detector("statevector").estimate


def log_returns(close: np.ndarray) -> np.ndarray:
    """``r[i] = log(close[i] / close[i-1])``, ``r[0] = NaN`` (the ensemble's layout)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.concatenate(([np.nan], np.diff(np.log(close))))


def timeframe_of(ts: np.ndarray) -> str:
    """The bar size of ``ts`` (ns) as a timeframe string, from the median spacing."""
    if len(ts) < 2:
        return "1m"
    seconds = max(1, round(float(np.median(np.diff(ts))) / 1e9))
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
