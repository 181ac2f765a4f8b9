"""Signal accuracy: does a signal source call the direction of the next move better than chance?

For each horizon ``h`` and confidence bucket: the signals (direction +1/-1 at bar ``t`` with a
confidence), the share whose ``close[t+h] - close[t]`` has the signal's sign (the hit rate),
and two one-sided binomial p-values for "the hit rate is higher than": 50 %, and the base rate,
i.e. the hit rate a source with the same long/short mix would get by always being right about
the market's drift (``P(up over h)`` for longs, ``P(down over h)`` for shorts, measured on every
bar of the same series). A flat move counts as a miss.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_HORIZONS = (1, 5, 20)
DEFAULT_BUCKETS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass(frozen=True, slots=True)
class AccuracyRow:
    horizon: int
    conf_low: float
    conf_high: float
    signals: int
    hits: int
    hit_rate: float
    base_rate: float
    p_vs_half: float
    p_vs_base: float


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exact (log-space sum; fine for n up to millions)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    j = np.arange(k, n + 1, dtype=np.float64)
    log_terms = (
        math.lgamma(n + 1)
        - np.array([math.lgamma(x + 1) for x in j])
        - np.array([math.lgamma(n - x + 1) for x in j])
        + j * math.log(p)
        + (n - j) * math.log1p(-p)
    )
    top = log_terms.max()
    return float(min(1.0, math.exp(top) * np.exp(log_terms - top).sum()))


def signal_accuracy(
    close: np.ndarray,
    direction: np.ndarray,
    confidence: np.ndarray | None = None,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    buckets: Sequence[float] = DEFAULT_BUCKETS,
) -> list[AccuracyRow]:
    close = np.asarray(close, dtype=np.float64)
    direction = np.sign(np.asarray(direction, dtype=np.float64))
    n = len(close)
    if direction.shape != (n,):
        raise ValueError(f"direction has shape {direction.shape}, expected ({n},)")
    conf = np.ones(n) if confidence is None else np.asarray(confidence, dtype=np.float64)
    if conf.shape != (n,):
        raise ValueError(f"confidence has shape {conf.shape}, expected ({n},)")
    edges = list(buckets)
    rows: list[AccuracyRow] = []
    for h in horizons:
        if h <= 0 or h >= n:
            continue
        move = np.sign(close[h:] - close[:-h])
        p_up, p_down = float(np.mean(move > 0)), float(np.mean(move < 0))
        d = direction[: n - h]
        c = conf[: n - h]
        for lo, hi in itertools.pairwise(edges):
            last = hi >= edges[-1]
            in_bucket = (c >= lo) & ((c <= hi) if last else (c < hi)) & (d != 0)
            signals = int(in_bucket.sum())
            if not signals:
                continue
            hits = int((move[in_bucket] == d[in_bucket]).sum())
            longs = int((d[in_bucket] > 0).sum())
            base = (longs * p_up + (signals - longs) * p_down) / signals
            rows.append(
                AccuracyRow(
                    horizon=h,
                    conf_low=lo,
                    conf_high=hi,
                    signals=signals,
                    hits=hits,
                    hit_rate=hits / signals,
                    base_rate=base,
                    p_vs_half=binomial_sf(hits, signals, 0.5),
                    p_vs_base=binomial_sf(hits, signals, base),
                )
            )
    return rows
