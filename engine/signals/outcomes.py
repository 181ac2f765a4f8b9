"""What happened next, and what the instrument's own past says about it (issue 17).

A signal's confidence is to become P(up at the horizon), learnt walk-forward from the
instrument's own history by :func:`engine.signals.probability.walk_forward`. This module
builds its inputs from bars: one row of causal features per bar (:func:`feature_matrix`), the
outcome per bar (:func:`outcomes`), and runs the walk (:func:`learnt_probabilities`).

**Causal features.** Row ``i`` uses bars ``<= i`` only: the indicator arrays of
:func:`engine.signals.ensemble.compute_features` are causal, pivots count from the bar that
confirms them, and the higher timeframe is read only through buckets that have closed by the
close of bar ``i`` (a bucket ``[b, b + H)`` has closed by bar ``i`` if
``ts[i] + spacing >= b + H``, ``spacing`` being the series' bar spacing, the median gap: a
property of the feed, not of prices). The bucket still forming at bar ``i`` is never read:
its high, low and close would carry bars after ``i``.

**Features** (:data:`FEATURE_NAMES`, then ``htf_trend`` when ``higher`` is given): the
direction of the trend, momentum, volatility and levels analysers at each bar (their own vote
functions, called per bar; NaN while a vote has no weight, i.e. is warming up or, for levels,
has no confirmed swing yet), and scale-free numbers: the EMA slope over ``slope_bars`` in
ATRs, ADX / 50, (RSI - 50) / 50, the MACD histogram in ATRs, ATR over its average, Bollinger
width over its average, the last 1- and 5-bar log-returns in units of ATR / close, and the
distance from the close to the nearest Fibonacci level (retracements and extensions) of the
last confirmed swing, in ATRs, capped at :data:`FIB_CAP_ATR`. ``htf_trend`` is the trend
analyser's direction on the higher timeframe at its last closed bar.

The cycle (QPE) analyser is not a feature yet: its estimate needs a spectral fit of the
``cycle_window`` returns ending at every bar, too costly per bar here. It will plug in as one
more column, the cycle vote's direction per bar from
:func:`engine.signals.cycle_model.classical_cycles` over the stacked windows (as
:func:`engine.signals.ensemble.signals_over` computes them), appended in :func:`feature_matrix`.

**Rows that are not valid.** A row is valid when all its features are finite. The walk uses
valid rows only: the leading warm-up rows and any invalid row later are dropped, never filled
(a row is either what was known at its bar or absent). Dropping a row only delays when labels
count as known (walk-forward's label-known rule is applied to the kept rows, whose bars are at
least as far apart as their rows), so it never lets a fit see an outcome it could not have known.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from engine.signals import ensemble as en
from engine.signals import levels as lv
from engine.signals.probability import walk_forward
from engine.timeframes import bar_spacing, parse, resample

FEATURE_NAMES: tuple[str, ...] = (
    "vote_trend",
    "vote_momentum",
    "vote_volatility",
    "vote_levels",
    "ema_slope_atr",
    "adx",
    "rsi",
    "macd_hist_atr",
    "atr_ratio",
    "bb_width_ratio",
    "ret_1_atr",
    "ret_5_atr",
    "fib_distance_atr",
)
HIGHER_FEATURE = "htf_trend"
FIB_CAP_ATR = 5.0

_VOTES = (en.trend_vote, en.momentum_vote, en.volatility_vote, en.levels_vote)


@dataclass(frozen=True, slots=True)
class FeatureMatrix:
    """One row of features per bar (``X``, shape (bars, len(names))); ``valid[i]`` = row ``i``
    is all finite. Non-finite values are stored as NaN."""

    X: np.ndarray
    names: tuple[str, ...]
    valid: np.ndarray

    def __len__(self) -> int:
        return int(self.X.shape[0])


def _checked(bars: pl.DataFrame) -> None:
    missing = [c for c in ("ts", "high", "low", "close") if c not in bars.columns]
    if missing:
        raise ValueError(f"bars lack the columns {', '.join(missing)}")
    for col in ("high", "low", "close"):
        v = bars[col].to_numpy().astype(np.float64)
        bad = np.flatnonzero(~(np.isfinite(v) & (v > 0)))
        if bad.size:
            raise ValueError(
                f"{col} must be finite and > 0: {col}[{bad[0]}] is {v[bad[0]]} "
                f"({bad.size} such bars)"
            )
    ts = bars["ts"].to_numpy()
    if ts.size > 1 and not (np.diff(ts) > 0).all():
        raise ValueError("bars must be sorted by ts with no duplicates")


def _known_pivots(f: en.Features) -> np.ndarray:
    """Per bar, how many pivots are confirmed by then (pivots are listed in that order)."""
    confirmed = np.array([p.confirmed_at for p in f.pivots], dtype=np.int64)
    return np.searchsorted(confirmed, np.arange(len(f)), side="right")


def _vote_columns(f: en.Features, s: en.EnsembleSettings, known: np.ndarray) -> np.ndarray:
    """The analysers' directions per bar, from their own vote functions. The levels vote
    reads pivots only as their last swing known at its bar (:func:`engine.signals.levels.
    last_swing`, the last two confirmed); it is handed those two alone, the same vote without
    a rescan of the whole pivot list at every bar (quadratic in the series' length)."""
    out = np.full((len(f), len(_VOTES)), np.nan)
    views = {int(k): replace(f, pivots=f.pivots[max(k - 2, 0) : k]) for k in np.unique(known)}
    for t in range(len(f)):
        ft = views[int(known[t])]
        for k, vote in enumerate(_VOTES):
            v = vote(ft if vote is en.levels_vote else f, t, s)
            if v.weight > 0:
                out[t, k] = v.direction
    return out


def _fib_distance(f: en.Features, known: np.ndarray) -> np.ndarray:
    """Per bar: |close - nearest Fibonacci level of the last swing confirmed by then| / ATR,
    capped; NaN before the second confirmed pivot."""
    out = np.full(len(f), np.nan)
    for k in np.unique(known[known >= 2]):
        start, end = f.pivots[k - 2], f.pivots[k - 1]
        prices = np.array([lvl.price for lvl in lv.fibonacci_levels(start.price, end.price)])
        rows = np.flatnonzero(known == k)
        gap = np.abs(f.close[rows, None] - prices[None, :]).min(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[rows] = np.minimum(gap / f.atr[rows], FIB_CAP_ATR)
    return out


def _base_columns(f: en.Features, s: en.EnsembleSettings) -> np.ndarray:
    c, a = f.close, f.atr
    n = len(f)
    log_c = np.log(c)
    known = _known_pivots(f)

    def lag(x: np.ndarray, k: int) -> np.ndarray:
        out = np.full(n, np.nan)
        if k < n:
            out[k:] = x[: n - k]
        return out

    with np.errstate(divide="ignore", invalid="ignore"):
        rel_atr = a / c
        cols = [
            (f.ema - lag(f.ema, s.slope_bars)) / a,
            f.adx / 50.0,
            (f.rsi - 50.0) / 50.0,
            f.macd_hist / a,
            a / f.atr_avg,
            f.bb_width / f.bb_width_avg,
            (log_c - lag(log_c, 1)) / rel_atr,
            (log_c - lag(log_c, 5)) / rel_atr,
            _fib_distance(f, known),
        ]
    return np.column_stack([_vote_columns(f, s, known), *cols])


def _higher_trend(
    bars: pl.DataFrame, f: en.Features, higher: str, s: en.EnsembleSettings
) -> np.ndarray:
    spacing = bar_spacing(f.ts)
    h_ns = parse(higher).ns
    if spacing is None:
        return np.full(len(f), np.nan)
    if h_ns <= spacing:
        raise ValueError(f"higher timeframe {higher} is not above the bars' spacing")
    hbars = resample(bars, higher)
    hf = en.compute_features(hbars, s)
    closed = np.searchsorted(hf.ts + h_ns, f.ts + spacing, side="right") - 1
    out = np.full(len(f), np.nan)
    for j in np.unique(closed[closed >= 0]):
        v = en.trend_vote(hf, int(j), s)
        if v.weight > 0:
            out[closed == j] = v.direction
    return out


def feature_matrix(
    bars: pl.DataFrame, settings: en.EnsembleSettings | None = None, higher: str | None = None
) -> FeatureMatrix:
    """The causal feature rows of ``bars`` (see the module docstring); ``higher`` (e.g. "4h"
    for 1h bars) adds the higher timeframe's trend direction."""
    _checked(bars)
    s = settings or en.EnsembleSettings()
    f = en.compute_features(bars, s)
    X = _base_columns(f, s)
    names = FEATURE_NAMES
    if higher is not None:
        X = np.column_stack([X, _higher_trend(bars, f, higher, s)])
        names = (*names, HIGHER_FEATURE)
    X[~np.isfinite(X)] = np.nan
    return FeatureMatrix(X, names, ~np.isnan(X).any(axis=1))


def _check_horizon(horizon: int) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
    return int(horizon)


def outcomes(close: np.ndarray, horizon: int) -> np.ndarray:
    """``y[i]`` = 1.0 if ``close[i + horizon] > close[i]``, else 0.0: a tie counts as *not
    up* (the long side was not right); NaN for the last ``horizon`` bars."""
    h = _check_horizon(horizon)
    c = np.asarray(close, dtype=np.float64)
    if c.ndim != 1:
        raise ValueError(f"close must be one-dimensional, got shape {c.shape}")
    y = np.full(c.shape[0], np.nan)
    if h < c.shape[0]:
        y[:-h] = (c[h:] > c[:-h]).astype(np.float64)
    return y


@dataclass(frozen=True, slots=True)
class LearntProbabilities:
    """Per bar, aligned with the bars: ``p_up`` = P(close ``horizon`` bars later is higher),
    the training ``base_rate`` it was shrunk towards and the past ``cases`` behind it (all NaN
    where not scored); ``y`` the outcome per bar (the hit of an "up" forecast), ``fits`` the
    blocks fitted."""

    p_up: np.ndarray
    base_rate: np.ndarray
    cases: np.ndarray
    y: np.ndarray
    horizon: int
    names: tuple[str, ...]
    fits: int

    @property
    def scored(self) -> np.ndarray:
        return ~np.isnan(self.p_up)


def learnt_probabilities(
    bars: pl.DataFrame,
    horizon: int,
    settings: en.EnsembleSettings | None = None,
    higher: str | None = None,
    min_train: int = 500,
    block: int = 250,
) -> LearntProbabilities:
    """P(up at ``horizon``) per bar, learnt walk-forward on the valid feature rows.

    The first bar scored is the valid row number ``min_train + horizon`` (counting from 0):
    the walk needs ``min_train`` rows whose outcome is known.
    """
    h = _check_horizon(horizon)
    fm = feature_matrix(bars, settings, higher)
    n = len(fm)
    rows = np.flatnonzero(fm.valid)
    need_rows = int(min_train) + h + 1
    if rows.size < need_rows:
        s = settings or en.EnsembleSettings()
        warm = int(rows[0]) if rows.size else max(s.min_bars - 1, n)
        more = "" if rows.size else " (more: no bar has all its features yet)"
        raise ValueError(
            f"learnt_probabilities needs at least {warm + need_rows} bars{more}: {warm} to "
            f"warm up, min_train={min_train}, horizon={h} and one to score; got {n} bars "
            f"with {rows.size} valid feature rows"
        )
    y = outcomes(bars["close"].to_numpy(), h)
    wf = walk_forward(fm.X[rows], y[rows], h, min_train=min_train, block=block)
    p_up = np.full(n, np.nan)
    base = np.full(n, np.nan)
    cases = np.full(n, np.nan)
    p_up[rows] = wf.prob
    base[rows] = wf.base_rate
    scored = rows[~np.isnan(wf.prob)]
    cases[scored] = wf.cases[~np.isnan(wf.prob)]
    return LearntProbabilities(p_up, base, cases, y, h, fm.names, wf.fits)


__all__ = [
    "FEATURE_NAMES",
    "FIB_CAP_ATR",
    "HIGHER_FEATURE",
    "FeatureMatrix",
    "LearntProbabilities",
    "feature_matrix",
    "learnt_probabilities",
    "outcomes",
]
