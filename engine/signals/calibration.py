"""Calibration of signal confidence: is a 0.7 right seven times in ten?

A signal's ``confidence`` claims to be the probability that it is right at its horizon. Given
past forecasts ``prob`` and what happened ``hit`` (1 = right), this module measures that claim:

- the *reliability table*: equal-width confidence buckets on [0, 1], each with its count, hit
  rate, Wilson 95 % interval and mean forecast. A calibrated model's hit rate lies near its
  mean forecast in every bucket;
- the *Brier score* ``mean((prob - hit)**2)`` of the model, and of the base-rate forecast (the
  same probability, the base rate, for every case);
- the *Brier skill score* ``1 - brier / brier_base``: > 0 beats the base rate, 0 matches it,
  < 0 is worse than forecasting the base rate;
- the *expected calibration error* ``sum_b n_b / N * |mean_prob_b - rate_b|``.

Buckets are half-open ``[lo, hi)`` except the last, which also holds 1.0. Edges are ``i / bins``
and a forecast is placed by comparing it with those very edges, so a forecast of exactly 0.7
lands in the bucket whose printed ``lo`` is 0.7.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "Bucket",
    "CalibrationReport",
    "brier",
    "calibration_report",
    "ece",
    "reliability",
    "wilson_interval",
]


def wilson_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval for a binomial rate ``hits / n`` (z = 1.96: 95 %).

    Unlike the normal interval it stays inside [0, 1] and is not empty at 0 or n hits, which
    matters for the small, nearly pure buckets at the ends of a reliability table. ``n == 0``
    gives ``(0.0, 1.0)``: nothing is known.
    """
    if n < 0 or not 0 <= hits <= n:
        raise ValueError(f"need 0 <= hits <= n, got hits={hits}, n={n}")
    if not z > 0:
        raise ValueError(f"z must be > 0, got {z}")
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    z2 = z * z
    denom = n + z2
    centre = (hits + z2 / 2) / denom
    half = z / denom * math.sqrt(p * (1 - p) * n + z2 / 4)
    lo = 0.0 if hits == 0 else max(0.0, centre - half)
    hi = 1.0 if hits == n else min(1.0, centre + half)
    return lo, hi


@dataclass(frozen=True, slots=True)
class Bucket:
    """One row of a reliability table: forecasts in ``[lo, hi)`` (``[lo, 1]`` for the last)."""

    lo: float
    hi: float
    n: int
    hits: int
    mean_prob: float  # mean forecast in the bucket; nan when empty

    def __post_init__(self) -> None:
        if not 0 <= self.hits <= self.n:
            raise ValueError(f"need 0 <= hits <= n, got hits={self.hits}, n={self.n}")

    @property
    def rate(self) -> float:
        """Observed hit rate; nan when the bucket is empty."""
        return self.hits / self.n if self.n else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        """Wilson 95 % interval of the hit rate."""
        return wilson_interval(self.hits, self.n)


def _validate(prob: npt.ArrayLike, hit: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both as 1-D float arrays, or a ValueError saying what is wrong and how often."""
    p = np.asarray(prob, dtype=float)
    h_raw = np.asarray(hit)
    if p.ndim != 1 or h_raw.ndim != 1:
        raise ValueError(f"prob and hit must be 1-D, got shapes {p.shape} and {h_raw.shape}")
    if p.shape != h_raw.shape:
        raise ValueError(f"prob and hit differ in length: {p.size} vs {h_raw.size}")
    bad_p = int(np.count_nonzero(~((p >= 0.0) & (p <= 1.0))))  # NaN fails both comparisons
    if bad_p:
        raise ValueError(f"{bad_p} of {p.size} probabilities are NaN or outside [0, 1]")
    if h_raw.dtype != np.bool_ and not np.issubdtype(h_raw.dtype, np.number):
        raise ValueError(f"hit must be bool or 0/1 numbers, got dtype {h_raw.dtype}")
    h = h_raw.astype(float)
    bad_h = int(np.count_nonzero((h != 0.0) & (h != 1.0)))
    if bad_h:
        raise ValueError(f"{bad_h} of {h.size} hit values are not 0 or 1")
    return p, h


def _check_bins(bins: int) -> None:
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"bins must be an integer >= 1, got {bins!r}")


def _buckets(p: np.ndarray, h: np.ndarray, bins: int) -> list[Bucket]:
    edges = np.arange(bins + 1) / bins
    idx = np.minimum(np.searchsorted(edges, p, side="right") - 1, bins - 1)
    counts = np.bincount(idx, minlength=bins)
    hits = np.bincount(idx, weights=h, minlength=bins)
    sums = np.bincount(idx, weights=p, minlength=bins)
    return [
        Bucket(
            lo=float(edges[i]),
            hi=float(edges[i + 1]),
            n=int(counts[i]),
            hits=round(float(hits[i])),
            mean_prob=float(sums[i] / counts[i]) if counts[i] else math.nan,
        )
        for i in range(bins)
    ]


def _ece(buckets: list[Bucket], total: int) -> float:
    return float(sum(b.n / total * abs(b.mean_prob - b.rate) for b in buckets if b.n))


def reliability(prob: npt.ArrayLike, hit: npt.ArrayLike, bins: int = 10) -> list[Bucket]:
    """The reliability table: ``bins`` equal-width buckets on [0, 1], empty ones included.

    ``prob`` must lie in [0, 1] (no NaN); ``hit`` must be bool or 0/1 numbers, of the same
    length. Raises ValueError otherwise.
    """
    _check_bins(bins)
    p, h = _validate(prob, hit)
    return _buckets(p, h, bins)


def brier(prob: npt.ArrayLike, hit: npt.ArrayLike) -> float:
    """Mean squared error of the forecasts: 0 is perfect, 0.25 is a constant 0.5."""
    p, h = _validate(prob, hit)
    if p.size == 0:
        raise ValueError("no cases to calibrate")
    return float(np.mean((p - h) ** 2))


def ece(prob: npt.ArrayLike, hit: npt.ArrayLike, bins: int = 10) -> float:
    """Expected calibration error: the count-weighted mean |mean forecast - hit rate|."""
    _check_bins(bins)
    p, h = _validate(prob, hit)
    if p.size == 0:
        raise ValueError("no cases to calibrate")
    return _ece(_buckets(p, h, bins), p.size)


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _fmt(x: float, width: int = 6) -> str:
    return f"{x:{width}.3f}" if math.isfinite(x) else f"{'-':>{width}}"


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    """How well confidence matched outcomes over ``n`` cases at ``horizon`` bars.

    ``skill`` is nan when it is undefined: the base-rate forecast made no error at all
    (``brier_base == 0``: every case had the same outcome and the base rate was exactly that)
    while the model did. It is 0.0 when both are perfect.
    """

    n: int
    horizon: int
    ece: float
    brier: float
    brier_base: float
    skill: float
    base_rate: float
    buckets: tuple[Bucket, ...]

    def as_dict(self) -> dict[str, Any]:
        """The ``qws calibrate --json`` object. Non-finite numbers (an undefined ``skill``)
        become None, so the result is strict JSON."""
        return {
            "n": self.n,
            "horizon": self.horizon,
            "ece": self.ece,
            "brier": self.brier,
            "brier_base": self.brier_base,
            "skill": _finite_or_none(self.skill),
            "base_rate": self.base_rate,
            "buckets": [{"lo": b.lo, "hi": b.hi, "n": b.n, "hits": b.hits} for b in self.buckets],
        }

    def table(self) -> list[str]:
        """The reliability table as aligned plain-text lines: a header, then one per bucket.

        Empty buckets show ``-`` for the rate, interval and mean forecast.
        """
        last = len(self.buckets) - 1
        width_n = max(5, *(len(str(b.n)) for b in self.buckets)) if self.buckets else 5
        lines = [
            f"{'bucket':<13}  {'count':>{width_n}}  {'hit rate':>8}  {'95% interval':>15}  "
            f"{'mean p':>6}"
        ]
        for i, b in enumerate(self.buckets):
            label = f"[{b.lo:.2f}, {b.hi:.2f}{']' if i == last else ')'}"
            if b.n:
                lo, hi = b.interval
                interval = f"[{lo:.3f}, {hi:.3f}]"
            else:
                interval = "-"
            lines.append(
                f"{label:<13}  {b.n:>{width_n}}  {_fmt(b.rate, 8)}  {interval:>15}  "
                f"{_fmt(b.mean_prob)}"
            )
        return lines


def _skill(score: float, score_base: float) -> float:
    if score_base > 0:
        return 1.0 - score / score_base
    return 0.0 if score == 0 else math.nan


def calibration_report(
    prob: npt.ArrayLike,
    hit: npt.ArrayLike,
    horizon: int,
    bins: int = 10,
    base_rate: float | npt.ArrayLike | None = None,
) -> CalibrationReport:
    """Everything about calibration in one value.

    ``brier_base`` scores forecasting ``base_rate`` for every case: one rate, or one per case
    (a walk-forward's training base rate at each bar; the report's ``base_rate`` is then their
    mean). Pass the rate known from the training past for an honest out-of-sample comparison;
    by default it is the mean of ``hit``, which flatters the reference (it has seen the
    outcomes), so a positive skill against it is conservative.
    """
    _check_bins(bins)
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1 bar, got {horizon}")
    p, h = _validate(prob, hit)
    n = int(p.size)
    if n == 0:
        raise ValueError("no cases to calibrate")
    given = np.asarray(np.mean(h) if base_rate is None else base_rate, np.float64)
    rates = np.full(n, float(given)) if given.ndim == 0 else given
    if rates.shape != (n,):
        raise ValueError(f"base_rate has {rates.size} rates for {n} cases")
    outside = ~((rates >= 0.0) & (rates <= 1.0))
    if outside.any():
        raise ValueError(f"base_rate must be in [0, 1], got {rates[outside][0]}")
    base = float(given) if given.ndim == 0 else float(np.mean(rates))
    score = float(np.mean((p - h) ** 2))
    score_base = float(np.mean((rates - h) ** 2))
    buckets = _buckets(p, h, bins)
    return CalibrationReport(
        n=n,
        horizon=int(horizon),
        ece=_ece(buckets, n),
        brier=score,
        brier_base=score_base,
        skill=_skill(score, score_base),
        base_rate=base,
        buckets=tuple(buckets),
    )
