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

**Features** (:data:`FEATURE_NAMES`, then one ``htf_trend_{tf}`` per context timeframe, see
:func:`feature_names`): the direction of the cycle, trend, momentum, volatility and levels
analysers at each bar (their own vote
functions, called per bar; NaN while a vote has no weight, i.e. is warming up or, for levels,
has no confirmed swing yet), and scale-free numbers: the EMA slope over ``slope_bars`` in
ATRs, ADX / 50, (RSI - 50) / 50, the MACD histogram in ATRs, ATR over its average, Bollinger
width over its average, the last 1- and 5-bar log-returns in units of ATR / close, and the
distance from the close to the nearest Fibonacci level (retracements and extensions) of the
last confirmed swing, in ATRs, capped at :data:`FIB_CAP_ATR`, and ``news_sentiment``: the
symbol's news sentiment at the bar's close as the sentiment vote weighs it (the bars'
``sentiment`` column times ``min(1, sentiment_weight)``, :func:`engine.signals.ensemble.
news_strength`; 0.0 without news). Without news that column is constant, so the logistic gives
it a coefficient of exactly 0 (a constant column is centred to 0): news without an edge gets
no weight, and news is weighed by what it was worth on this instrument. ``htf_trend_{tf}`` is the
trend analyser's direction on the context timeframe ``tf`` at its last closed bar; the context
chain per timeframe is :func:`higher_chain` (a 1h bar sees 4h and 1d).

The cycle column is the cycle vote's P(up) direction from the periodogram of the
``cycle_window`` returns ending at each bar (:func:`engine.signals.cycle_model.
classical_cycles` over the stacked windows, as :func:`engine.signals.ensemble.signals_over`
computes them): the classical limit of the QPE estimate, which a walk over thousands of bars
cannot afford per bar on a simulator.

:func:`feature_row` computes the last row only (the live pipeline's per-bar cost): the same
arrays, the votes and the cycle fit at one bar; it equals ``feature_matrix(...).X[-1]``.

**Rows that are not valid.** A row is valid when all its features are finite. The walk uses
valid rows only: the leading warm-up rows and any invalid row later are dropped, never filled
(a row is either what was known at its bar or absent). Dropping a row only delays when labels
count as known (walk-forward's label-known rule is applied to the kept rows, whose bars are at
least as far apart as their rows), so it never lets a fit see an outcome it could not have known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from engine.signals import ensemble as en
from engine.signals import indicators as ind
from engine.signals import levels as lv
from engine.signals.cycle_model import classical_cycles
from engine.signals.probability import walk_forward
from engine.timeframes import bar_spacing, buckets, parse

FEATURE_NAMES: tuple[str, ...] = (
    "vote_cycle",
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
    "news_sentiment",
)
HIGHER_FEATURE = "htf_trend"
FIB_CAP_ATR = 5.0


def higher_chain(timeframe: str) -> tuple[str, ...]:
    """The context timeframes of ``timeframe`` (none for one not in
    :data:`engine.signals.ensemble.HIGHER_CHAINS`)."""
    return en.HIGHER_CHAINS.get(timeframe, ())


def _context(higher: str | Sequence[str] | None) -> tuple[str, ...]:
    if higher is None:
        return ()
    return (higher,) if isinstance(higher, str) else tuple(higher)


def feature_names(higher: str | Sequence[str] | None = None) -> tuple[str, ...]:
    """The columns of :func:`feature_matrix` for ``higher``: one string keeps the single
    ``htf_trend`` column; a sequence names one ``htf_trend_{tf}`` per timeframe."""
    if isinstance(higher, str):
        return (*FEATURE_NAMES, HIGHER_FEATURE)
    return (*FEATURE_NAMES, *(f"{HIGHER_FEATURE}_{tf}" for tf in _context(higher)))


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


def _vote_columns(
    f: en.Features, s: en.EnsembleSettings, known: np.ndarray, at: np.ndarray
) -> np.ndarray:
    """The analysers' directions at the bars ``at``, from their own vote functions. The levels
    vote reads pivots only as their last swing known at its bar (:func:`engine.signals.levels.
    last_swing`, the last two confirmed); it is handed those two alone, the same vote without
    a rescan of the whole pivot list at every bar (quadratic in the series' length)."""
    out = np.full((at.size, len(_VOTES)), np.nan)
    views = {int(k): replace(f, pivots=f.pivots[max(k - 2, 0) : k]) for k in np.unique(known[at])}
    for r, t in enumerate(at):
        ft = views[int(known[t])]
        for k, vote in enumerate(_VOTES):
            v = vote(ft if vote is en.levels_vote else f, int(t), s)
            if v.weight > 0:
                out[r, k] = v.direction
    return out


def _cycle_column(f: en.Features, s: en.EnsembleSettings, at: np.ndarray) -> np.ndarray:
    """The cycle vote's direction at the bars ``at`` (NaN before a whole window of returns)."""
    out = np.full(at.size, np.nan)
    ready = np.flatnonzero(at >= s.cycle_window)
    if ready.size == 0:
        return out
    ends = at[ready]
    windows = np.stack([en.window_returns(f, int(t), s) for t in ends])
    for r, (cycle, phase), w in zip(ready, classical_cycles(windows), windows, strict=True):
        out[r] = en.cycle_vote(cycle, phase, float(np.std(w)), s).direction
    return out


def _fib_distance(f: en.Features, known: np.ndarray, at: np.ndarray) -> np.ndarray:
    """At the bars ``at``: |close - nearest Fibonacci level of the last swing confirmed by
    then| / ATR, capped; NaN before the second confirmed pivot."""
    out = np.full(at.size, np.nan)
    k_at = known[at]
    for k in np.unique(k_at[k_at >= 2]):
        start, end = f.pivots[k - 2], f.pivots[k - 1]
        prices = np.array([lvl.price for lvl in lv.fibonacci_levels(start.price, end.price)])
        rows = np.flatnonzero(k_at == k)
        bars = at[rows]
        gap = np.abs(f.close[bars, None] - prices[None, :]).min(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[rows] = np.minimum(gap / f.atr[bars], FIB_CAP_ATR)
    return out


def _lagged(x: np.ndarray, k: int, at: np.ndarray) -> np.ndarray:
    """``x[t - k]`` at the bars ``at`` (NaN where ``t < k``)."""
    out = np.full(at.size, np.nan)
    ok = at >= k
    out[ok] = x[at[ok] - k]
    return out


def _base_columns(f: en.Features, s: en.EnsembleSettings, at: np.ndarray) -> np.ndarray:
    c, a = f.close[at], f.atr[at]
    log_all = np.log(f.close)
    log_c = log_all[at]
    known = _known_pivots(f)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_atr = a / c
        cols = [
            (f.ema[at] - _lagged(f.ema, s.slope_bars, at)) / a,
            f.adx[at] / 50.0,
            (f.rsi[at] - 50.0) / 50.0,
            f.macd_hist[at] / a,
            a / f.atr_avg[at],
            f.bb_width[at] / f.bb_width_avg[at],
            (log_c - _lagged(log_all, 1, at)) / rel_atr,
            (log_c - _lagged(log_all, 5, at)) / rel_atr,
            _fib_distance(f, known, at),
            en.news_strength(f.sentiment[at], f.sentiment_weight[at]),
        ]
    return np.column_stack([_cycle_column(f, s, at), _vote_columns(f, s, known, at), *cols])


def _higher_trend(
    f: en.Features | en.PriceArrays,
    higher: str,
    s: en.EnsembleSettings,
    at: np.ndarray,
    spacing: int | None,
) -> np.ndarray:
    """The trend vote of the context timeframe ``higher`` at its last bucket closed by each bar
    of ``at``. Buckets are aggregated from the bars (as :func:`engine.timeframes.resample`
    does) and only the trend's arrays are computed on them."""
    tf = parse(higher)
    h_ns = tf.ns
    if spacing is None:
        return np.full(at.size, np.nan)
    if h_ns <= spacing:
        raise ValueError(f"higher timeframe {higher} is not above the bars' spacing")
    labels, starts, ends = buckets(f.ts, tf)
    hh = np.maximum.reduceat(f.high, starts)
    hl = np.minimum.reduceat(f.low, starts)
    hc = f.close[ends]
    ema, atr, adx = ind.ema(hc, s.ema_n), ind.atr(hh, hl, hc, s.atr_n), ind.adx(hh, hl, hc, s.adx_n)
    closed = np.searchsorted(labels + h_ns, f.ts[at] + spacing, side="right") - 1
    out = np.full(at.size, np.nan)
    for j in np.unique(closed[closed >= 0]):
        v = en.trend_vote_of(ema, atr, adx, int(j), s)
        if v.weight > 0:
            out[closed == j] = v.direction
    return out


def _rows(
    bars: pl.DataFrame,
    settings: en.EnsembleSettings | None,
    higher: str | Sequence[str] | None,
    last_only: bool,
    base_bars: int | None = None,
) -> tuple[np.ndarray, tuple[str, ...]]:
    _checked(bars)
    s = settings or en.EnsembleSettings()
    base = bars if base_bars is None or base_bars >= bars.height else bars.tail(base_bars)
    f = en.compute_features(base, s)
    n = len(f)
    at = np.arange(max(n - 1, 0), n) if last_only else np.arange(n)
    X = _base_columns(f, s, at)
    context = _context(higher)
    if context:
        whole = f if base is bars else en.price_arrays(bars)
        spacing = bar_spacing(whole.ts)
        at_whole = at + (bars.height - n)
        X = np.column_stack(
            [X, *(_higher_trend(whole, tf, s, at_whole, spacing) for tf in context)]
        )
    X[~np.isfinite(X)] = np.nan
    return X, feature_names(higher)


def feature_matrix(
    bars: pl.DataFrame,
    settings: en.EnsembleSettings | None = None,
    higher: str | Sequence[str] | None = None,
) -> FeatureMatrix:
    """The causal feature rows of ``bars`` (see the module docstring); ``higher`` (e.g. "4h"
    for 1h bars, or the chain ``("4h", "1d")``) adds the context timeframes' trend directions."""
    X, names = _rows(bars, settings, higher, last_only=False)
    return FeatureMatrix(X, names, ~np.isnan(X).any(axis=1))


def feature_row(
    bars: pl.DataFrame,
    settings: en.EnsembleSettings | None = None,
    higher: str | Sequence[str] | None = None,
    base_bars: int | None = None,
) -> np.ndarray:
    """The feature row of the last bar of ``bars`` alone (NaN where a feature is warming up):
    what the live pipeline scores at each closed bar, without the per-bar votes of the rest.

    ``base_bars``: compute the bar timeframe's own features on the last ``base_bars`` bars only
    and read the whole of ``bars`` for the context timeframes, whose trend needs far more bars
    of this timeframe than the base features do (see
    :func:`engine.signals.evidence.context_bars`)."""
    if bars.height == 0:
        raise ValueError("feature_row needs at least one bar")
    X, _names = _rows(bars, settings, higher, last_only=True, base_bars=base_bars)
    return X[0]


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
    higher: str | Sequence[str] | None = None,
    min_train: int = 500,
    block: int = 250,
    features: FeatureMatrix | None = None,
) -> LearntProbabilities:
    """P(up at ``horizon``) per bar, learnt walk-forward on the valid feature rows.

    The first bar scored is the valid row number ``min_train + horizon`` (counting from 0):
    the walk needs ``min_train`` rows whose outcome is known. ``features``: the matrix of
    these ``bars`` already computed (by :func:`feature_matrix` with the same settings and
    ``higher``), so a caller that needs it too computes it once.
    """
    h = _check_horizon(horizon)
    fm = features if features is not None else feature_matrix(bars, settings, higher)
    if len(fm) != bars.height:
        raise ValueError(f"features has {len(fm)} rows for {bars.height} bars")
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
    "feature_names",
    "feature_row",
    "higher_chain",
    "learnt_probabilities",
    "outcomes",
]
