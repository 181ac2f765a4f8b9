"""Probability that a signal is right at its horizon, learnt walk-forward from one history.

A signal's ``confidence`` is meant as P(right at the horizon). This module estimates it from
the instrument's own past, never its future: a small L2-penalised logistic regression over the
analysers' outputs and features (:func:`fit_logistic`), calibrated by isotonic regression on
held-out past cases (:func:`fit_isotonic`), then shrunk towards the base rate by how many past
cases back it (:func:`shrink`). :func:`walk_forward` fits on the past, scores the next block of
bars and rolls on.

**The label-known rule.** Row ``j`` holds the features known at bar ``j``; ``y[j]`` is the
outcome at bar ``j + horizon``, known once that bar has closed. A block scoring bars
``t .. t + block - 1`` is fitted at the close of bar ``t - 1``, so it uses exactly the rows
``j <= t - 1 - horizon``. The same rule splits that past in two: the calibration rows start at
``s`` and the logistic is fitted on the rows ``j <= s - 1 - horizon``, so no fitted label
overlaps a calibration label in time.

**Why the logistic is fitted on the older ~70 % and not refitted on all usable rows:** the
isotonic map must calibrate the very model that is scored. A refit on all rows is a model whose
outputs the map has never seen (fitted on more data, it is typically sharper), and the
calibration cases would be in-sample for it. With a handful of features the logistic needs few
rows; the held-out cases are what the probability stands on.

**Why shrink, and by how much.** On a series with no edge the logistic's ranking is noise, yet
pool-adjacent-violators still finds steps; the extreme ones hold few cases and, chosen as
extremes, sit far from the base rate. Each step is therefore pulled towards the training base
rate with its case count as the evidence, ``(n p + k base) / (n + k)``. A fixed ``k`` cannot
serve both cases: on 5,000-bar random walks ``k = 50`` leaves probabilities up to 0.14 off the
base rate and even ``k = 600`` up to 0.05, while on a clear edge (PAV steps of some tens of
cases) ``k = 50`` already makes the probabilities underconfident by ~0.07. So ``k`` is
estimated per fit, empirical-Bayes fashion (:func:`prior_strength`): from how much the steps'
spread exceeds what noise alone gives PAV. No edge: ``k`` is infinite and every probability is
the base rate; a clear edge: ``k`` is a few cases. The price is that a weak edge (true
probabilities spread by ~0.05) is not claimed on 5,000 bars. ``tests/engine/signals/
test_probability.py`` checks both: pure random walks stay within 0.03 of the base rate (they
stay at it: measured on 300 walks at horizon 1 and 100 at horizon 5, every deviation 0), and a
learnable edge beats the base-rate Brier score with calibrated probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

_P_CLIP = 1e-6  # the base rate of a one-class sample is clipped to [clip, 1 - clip]
_CAL_SHARE = 0.3  # the most recent share of the training past held out for calibration
_MIN_FIT = 10  # the fewest rows the logistic is fitted on


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _logit(p: float) -> float:
    q = min(max(p, _P_CLIP), 1.0 - _P_CLIP)
    return math.log(q / (1.0 - q))


def _features(X: Any, name: str = "X") -> np.ndarray:
    a = np.asarray(X, dtype=float)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows x features), got shape {a.shape}")
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        raise ValueError(f"{name} must be finite: NaN/inf at row {bad[0]}, column {bad[1]}")
    return a


def _labels(y: Any, n: int) -> np.ndarray:
    a = np.asarray(y, dtype=float)
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"y must be 1-D with one label per row ({n}), got shape {a.shape}")
    if not ((a == 0.0) | (a == 1.0)).all():
        raise ValueError("y must hold only 0 and 1 (1 = the signal was right)")
    return a


@dataclass(frozen=True, slots=True)
class LogisticModel:
    """P(y = 1 | x) = sigmoid(intercept + coef . (x - mean) / scale)."""

    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray

    def predict(self, X: Any) -> np.ndarray:
        a = _features(X)
        if a.shape[1] != self.coef.shape[0]:
            raise ValueError(f"X has {a.shape[1]} features, the model {self.coef.shape[0]}")
        return _sigmoid(self.intercept + ((a - self.mean) / self.scale) @ self.coef)

    def as_dict(self) -> dict[str, Any]:
        return {
            "coef": [float(v) for v in self.coef],
            "intercept": float(self.intercept),
            "mean": [float(v) for v in self.mean],
            "scale": [float(v) for v in self.scale],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LogisticModel:
        coef = np.asarray(d["coef"], dtype=float)
        mean = np.asarray(d["mean"], dtype=float)
        scale = np.asarray(d["scale"], dtype=float)
        if not (coef.ndim == mean.ndim == scale.ndim == 1) or not (
            coef.shape == mean.shape == scale.shape
        ):
            raise ValueError("coef, mean and scale must be lists of the same length")
        return cls(coef, float(d["intercept"]), mean, scale)


def fit_logistic(
    X: Any, y: Any, l2: float = 1.0, max_iter: int = 50, tol: float = 1e-8
) -> LogisticModel:
    """L2-penalised logistic regression by Newton's method (IRLS) with step halving.

    Minimises ``sum(log-loss) + l2 / 2 * |coef|^2`` on features standardised with the sample
    mean and standard deviation (a constant column keeps scale 1 and gets coef 0); the
    intercept is not penalised. The penalty keeps separable data finite. A one-class ``y``
    gives coef 0 and the intercept at the (clipped) log-odds of its base rate.
    """
    a = _features(X)
    n, m = a.shape
    if n == 0:
        raise ValueError("X has no rows")
    t = _labels(y, n)
    if not l2 > 0 or not math.isfinite(l2):
        raise ValueError(f"l2 must be a finite number > 0, got {l2}")
    lo, hi = a.min(axis=0), a.max(axis=0)
    const = lo == hi
    mean = np.where(const, lo, a.mean(axis=0))
    scale = np.where(const, 1.0, a.std(axis=0))
    scale = np.where(scale > 0, scale, 1.0)
    base = float(t.mean())
    coef = np.zeros(m)
    if base in (0.0, 1.0):
        return LogisticModel(coef, _logit(base), mean, scale)
    z = np.hstack([np.ones((n, 1)), (a - mean) / scale])
    pen = np.full(m + 1, float(l2))
    pen[0] = 0.0
    beta = np.zeros(m + 1)
    beta[0] = _logit(base)

    def objective(b: np.ndarray) -> float:
        eta = z @ b
        return float(np.sum(np.logaddexp(0.0, eta) - t * eta) + 0.5 * np.dot(pen * b, b))

    f = objective(beta)
    for _ in range(max_iter):
        p = _sigmoid(z @ beta)
        grad = z.T @ (p - t) + pen * beta
        hess = (z * (p * (1.0 - p))[:, None]).T @ z + np.diag(pen)
        hess[0, 0] += 1e-9 * n
        step = np.linalg.solve(hess, grad)
        shrink_by = 1.0
        while True:
            cand = beta - shrink_by * step
            fc = objective(cand)
            if fc <= f or shrink_by < 1e-10:
                break
            shrink_by *= 0.5
        if fc > f:
            break
        beta, f = cand, fc
        if float(np.max(np.abs(shrink_by * step))) < tol:
            break
    return LogisticModel(beta[1:].copy(), float(beta[0]), mean, scale)


@dataclass(frozen=True, slots=True)
class IsotonicMap:
    """A non-decreasing step map fitted by pool-adjacent-violators.

    Step ``i`` covers the fitted scores ``lo[i] .. hi[i]`` with the value ``value[i]`` (its
    cases' hit rate) from ``count[i]`` cases. Between steps the map interpolates linearly;
    beyond the first and last it is clamped.
    """

    lo: np.ndarray
    hi: np.ndarray
    value: np.ndarray
    count: np.ndarray

    def __call__(self, p: Any) -> np.ndarray:
        x, v = self._knots()
        return np.interp(np.asarray(p, dtype=float), x, v)

    def _knots(self) -> tuple[np.ndarray, np.ndarray]:
        wide = self.hi > self.lo
        x = np.column_stack([self.lo, self.hi]).ravel()
        v = np.repeat(self.value, 2)
        keep = np.column_stack([np.ones_like(wide), wide]).ravel()
        return x[keep], v[keep]

    def cases(self, p: Any) -> np.ndarray:
        """Calibration cases behind the value at ``p``: its step's count, or between two
        steps the smaller of theirs."""
        q = np.asarray(p, dtype=float)
        right = np.clip(np.searchsorted(self.lo, q, side="right") - 1, 0, len(self.lo) - 1)
        inside = q <= self.hi[right]
        nxt = np.minimum(right + 1, len(self.lo) - 1)
        between = np.minimum(self.count[right], self.count[nxt])
        return np.where(inside, self.count[right], between).astype(np.int64)


def fit_isotonic(p: Any, y: Any) -> IsotonicMap:
    """Isotonic regression of ``y`` on ``p`` (pool-adjacent-violators, equal weights)."""
    x = np.asarray(p, dtype=float)
    if x.ndim != 1 or x.shape[0] == 0:
        raise ValueError(f"p must be 1-D and non-empty, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("p must be finite")
    t = _labels(y, x.shape[0])
    order = np.argsort(x, kind="stable")
    xs, ts = x[order], t[order]
    # tied scores must share one value: pool them before PAV
    starts = np.flatnonzero(np.concatenate(([True], xs[1:] != xs[:-1])))
    sums = np.add.reduceat(ts, starts)
    counts = np.diff(np.append(starts, xs.shape[0]))
    lo_b: list[float] = []
    hi_b: list[float] = []
    sum_b: list[float] = []
    cnt_b: list[int] = []
    for i, s in enumerate(starts):
        lo_b.append(float(xs[s]))
        hi_b.append(float(xs[s]))
        sum_b.append(float(sums[i]))
        cnt_b.append(int(counts[i]))
        while len(sum_b) > 1 and sum_b[-2] * cnt_b[-1] >= sum_b[-1] * cnt_b[-2]:
            hi_b[-2] = hi_b[-1]
            sum_b[-2] += sum_b[-1]
            cnt_b[-2] += cnt_b[-1]
            del lo_b[-1], hi_b[-1], sum_b[-1], cnt_b[-1]
    cnt = np.asarray(cnt_b, dtype=np.int64)
    return IsotonicMap(np.asarray(lo_b), np.asarray(hi_b), np.asarray(sum_b) / cnt, cnt)


def shrink(p: Any, n_cases: Any, base_rate: Any, prior_cases: float = 50.0) -> np.ndarray:
    """``(n p + k base) / (n + k)``: a probability backed by few cases stays near the base
    rate (``k = prior_cases`` pseudo-cases at the base rate)."""
    if not prior_cases >= 0 or not math.isfinite(prior_cases):
        raise ValueError(f"prior_cases must be a finite number >= 0, got {prior_cases}")
    q = np.asarray(p, dtype=float)
    n = np.asarray(n_cases, dtype=float)
    b = np.asarray(base_rate, dtype=float)
    if (n < 0).any():
        raise ValueError("n_cases must be >= 0")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (n * q + prior_cases * b) / (n + prior_cases)
    return np.where(n + prior_cases > 0, out, q)


@dataclass(frozen=True, slots=True)
class CalibratedModel:
    """One fit of the walk's recipe: the logistic, its isotonic calibration (``None`` for the
    uncalibrated baseline) and the shrinkage towards the training base rate by ``strength``
    pseudo-cases (``inf``: every probability is the base rate). ``fit_rows`` is the row count
    the baseline's raw output stands on."""

    logistic: LogisticModel
    iso: IsotonicMap | None
    base_rate: float
    strength: float
    fit_rows: int

    def predict(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(probability, cases)`` per row: the calibrated, shrunk P(y = 1) and the past cases
        it stands on (its isotonic step's count)."""
        raw = self.logistic.predict(X)
        if self.iso is not None:
            p, k = self.iso(raw), self.iso.cases(raw)
        else:
            p, k = raw, np.full(raw.shape[0], self.fit_rows, dtype=np.int64)
        if not math.isfinite(self.strength):
            return np.full(raw.shape[0], self.base_rate), k
        return shrink(p, k, self.base_rate, self.strength), k

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values (``strength`` ``None`` for infinity: JSON has no inf)."""
        iso = None
        if self.iso is not None:
            iso = {
                "lo": [float(v) for v in self.iso.lo],
                "hi": [float(v) for v in self.iso.hi],
                "value": [float(v) for v in self.iso.value],
                "count": [int(v) for v in self.iso.count],
            }
        return {
            "logistic": self.logistic.as_dict(),
            "iso": iso,
            "base_rate": float(self.base_rate),
            "strength": float(self.strength) if math.isfinite(self.strength) else None,
            "fit_rows": int(self.fit_rows),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CalibratedModel:
        iso_d = d["iso"]
        iso = None
        if iso_d is not None:
            arrays = [np.asarray(iso_d[k], dtype=float) for k in ("lo", "hi", "value")]
            count = np.asarray(iso_d["count"], dtype=np.int64)
            if any(x.ndim != 1 or x.shape != count.shape for x in arrays) or count.size == 0:
                raise ValueError("iso lo, hi, value and count must be lists of one length > 0")
            iso = IsotonicMap(arrays[0], arrays[1], arrays[2], count)
        strength = math.inf if d["strength"] is None else float(d["strength"])
        base = float(d["base_rate"])
        if not 0.0 <= base <= 1.0 or not strength >= 0:
            raise ValueError(f"base_rate {base} or strength {strength} out of range")
        return cls(LogisticModel.from_dict(d["logistic"]), iso, base, strength, int(d["fit_rows"]))


def fit_calibrated(
    X: np.ndarray,
    y: np.ndarray,
    horizon: int,
    usable: int,
    l2: float = 1.0,
    calibrate: bool = True,
    prior_cases: float = 0.0,
    noise_margin: float = 4.0,
) -> CalibratedModel:
    """The model a walk-forward block is scored with, fitted on rows ``0 .. usable - 1`` (their
    labels known; see :func:`walk_forward` for the split and the shrinkage). The live
    pipeline's model is this same fit with ``usable`` = every row whose outcome is known."""
    base = float(y[:usable].mean())
    if calibrate:
        s = usable - _n_cal(usable)
        model = fit_logistic(X[: s - horizon], y[: s - horizon], l2=l2)
        iso = fit_isotonic(model.predict(X[s:usable]), y[s:usable])
        strength = max(prior_cases, prior_strength(iso, horizon, noise_margin))
        return CalibratedModel(model, iso, base, strength, s - horizon)
    model = fit_logistic(X[:usable], y[:usable], l2=l2)
    return CalibratedModel(model, None, base, prior_cases, usable)


@dataclass(frozen=True, slots=True)
class WalkForward:
    """Out-of-sample probabilities, one per row (NaN before the first scored block).

    ``base_rate`` is the training base rate each row was shrunk towards, ``cases`` the past
    cases its probability stands on (0 where unscored), ``fits`` the number of blocks fitted.
    """

    prob: np.ndarray
    base_rate: np.ndarray
    cases: np.ndarray
    fits: int


def walk_forward(
    X: Any,
    y: Any,
    horizon: int,
    min_train: int = 500,
    block: int = 250,
    l2: float = 1.0,
    calibrate: bool = True,
    prior_cases: float = 0.0,
    noise_margin: float = 4.0,
) -> WalkForward:
    """Fit on the past, score the next ``block`` bars, roll on; never peek.

    Row ``i`` of ``X`` holds the features known at bar ``i``; ``y[i]`` is the outcome at bar
    ``i + horizon`` (1 = the signal was right). **Label-known rule:** the block that scores
    bars ``t .. t + block - 1`` is fitted only on rows ``j <= t - 1 - horizon`` (their labels
    are known by the close of bar ``t - 1``). The first block starts once ``min_train`` rows
    are usable, at ``t = min_train + horizon``; rows before it are NaN. ``y`` may be NaN in
    its last ``horizon`` rows (outcomes beyond the series, never used).

    Per block: the most recent ~30 % of the usable rows calibrate (isotonic) a logistic fitted
    on the older rows up to the horizon gap; each probability is then shrunk towards the
    training base rate with ``n_cases`` = the calibration cases of its isotonic step and
    ``k`` = the larger of ``prior_cases`` and :func:`prior_strength` (``noise_margin``). With
    ``calibrate=False`` the logistic is fitted on all usable rows, its raw output shrunk with
    ``n_cases`` = that row count and ``k = prior_cases`` (a baseline, not calibrated).
    """
    a = _features(X)
    n = a.shape[0]
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
    if isinstance(block, bool) or not isinstance(block, int | np.integer) or block < 1:
        raise ValueError(f"block must be an integer >= 1, got {block!r}")
    if isinstance(min_train, bool) or not isinstance(min_train, int | np.integer):
        raise ValueError(f"min_train must be an integer, got {min_train!r}")
    if not 0 <= prior_cases < math.inf:
        raise ValueError(f"prior_cases must be a finite number >= 0, got {prior_cases}")
    if not 0 <= noise_margin < math.inf:
        raise ValueError(f"noise_margin must be a finite number >= 0, got {noise_margin}")
    n_cal0 = _n_cal(int(min_train))
    if int(min_train) - n_cal0 - horizon < _MIN_FIT:
        raise ValueError(
            f"min_train={min_train} leaves fewer than {_MIN_FIT} rows for the logistic after "
            f"the {n_cal0} calibration rows and the horizon gap of {horizon}"
        )
    t_all = np.asarray(y, dtype=float)
    if t_all.ndim != 1 or t_all.shape[0] != n:
        raise ValueError(f"y must be 1-D with one label per row ({n}), got shape {t_all.shape}")
    known = t_all[: max(n - horizon, 0)]
    if not ((known == 0.0) | (known == 1.0)).all():
        raise ValueError("y must hold only 0 and 1 (NaN allowed only in its last `horizon` rows)")
    tail = t_all[max(n - horizon, 0) :]
    if not ((tail == 0.0) | (tail == 1.0) | np.isnan(tail)).all():
        raise ValueError("y must hold only 0, 1 or NaN in its last `horizon` rows")

    prob = np.full(n, np.nan)
    base_rate = np.full(n, np.nan)
    cases = np.zeros(n, dtype=np.int64)
    fits = 0
    for t in range(int(min_train) + horizon, n, int(block)):
        rows = slice(t, min(t + int(block), n))
        model = fit_calibrated(
            a, t_all, horizon, t - horizon, l2, calibrate, prior_cases, noise_margin
        )
        prob[rows], cases[rows] = model.predict(a[rows])
        base_rate[rows] = model.base_rate
        fits += 1
    return WalkForward(prob, base_rate, cases, fits)


def prior_strength(iso: IsotonicMap, horizon: int = 1, noise_margin: float = 4.0) -> float:
    """The pseudo-case count ``k`` to shrink an isotonic map's steps by (empirical Bayes).

    Treat each step's hit rate as its true rate plus noise of variance ``s2 / count`` with
    ``s2 = b (1 - b) * horizon`` (``b`` the calibration hit rate; the labels of rows fewer than
    ``horizon`` bars apart overlap, which at worst multiplies the noise variance by
    ``horizon``, e.g. when slow features put neighbouring rows in one step; without that factor
    random walks at horizon 5 leaked up to 0.17). The true rates'
    spread ``tau2`` is estimated from the fit's between-step sum of squares ``SS`` over ``n``
    cases and ``L`` steps: with no edge, ``SS / s2`` is about ``L`` (a chi-bar-square with as
    many degrees of freedom, on average, as PAV finds steps), so
    ``tau2 = max(0, SS - noise_margin * L * s2) / n`` and ``k = s2 / tau2``: each step keeps
    ``count / (count + k)`` of its deviation (``inf`` when nothing beats noise: all at base).
    """
    n = float(iso.count.sum())
    b = float(np.dot(iso.count, iso.value) / n)
    s2 = b * (1.0 - b) * horizon
    if s2 <= 0:
        return math.inf
    ss = float(np.dot(iso.count, (iso.value - b) ** 2))
    tau2 = (ss - noise_margin * iso.count.shape[0] * s2) / n
    return s2 / tau2 if tau2 > 0 else math.inf


def _n_cal(usable: int) -> int:
    return max(1, round(_CAL_SHARE * usable))
