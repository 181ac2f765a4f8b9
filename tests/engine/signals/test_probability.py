"""engine.signals.probability: the logistic, isotonic calibration, shrinkage, and walk-forward
probabilities that never peek and stay at the base rate where there is nothing to learn."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.signals import probability as pr


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _random_walk(seed: int, horizon: int, n: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """Features from a pure random walk (last 1/5/20-bar log-returns) and y = the next
    ``horizon``-bar return > 0 (NaN where the walk ends first)."""
    lp = np.cumsum(np.random.default_rng(seed).normal(0, 0.01, n))
    i = np.arange(20, n)
    X = np.column_stack([lp[i] - lp[i - 1], lp[i] - lp[i - 5], lp[i] - lp[i - 20]])
    y = np.full(i.shape[0], np.nan)
    ok = i + horizon < n
    y[ok] = (lp[i[ok] + horizon] > lp[i[ok]]).astype(float)
    return X, y


def _edge(seed: int, n: int = 5000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y depends on the first of three features through a logistic link; returns X, y, P(y)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    p = _sigmoid(1.0 * X[:, 0] - 0.3)
    return X, (rng.random(n) < p).astype(float), p


def _scored(wf: pr.WalkForward) -> np.ndarray:
    return ~np.isnan(wf.prob)


# -- the logistic ---------------------------------------------------------------------------


def test_fit_logistic_recovers_known_coefficients() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    X = rng.normal(size=(n, 3)) * [1.0, 2.0, 0.5] + [0.0, 5.0, -1.0]
    beta, b0 = np.array([1.0, -0.5, 0.8]), -0.4
    truth = _sigmoid(b0 + X @ beta)
    y = (rng.random(n) < truth).astype(float)
    m = pr.fit_logistic(X, y)
    raw = m.coef / m.scale
    est = np.concatenate(([m.intercept - float(np.dot(raw, m.mean))], raw))
    A = np.column_stack([np.ones(n), X])
    se = np.sqrt(np.diag(np.linalg.inv(A.T @ (A * (truth * (1 - truth))[:, None]))))
    assert se.max() < 0.15 and se[1:].max() < 0.08
    assert (np.abs(est - np.concatenate(([b0], beta))) < 4 * se).all()
    grid = rng.normal(size=(200, 3)) * [1.0, 2.0, 0.5] + [0.0, 5.0, -1.0]
    np.testing.assert_allclose(m.predict(grid), _sigmoid(b0 + grid @ beta), atol=0.05)


def test_separable_data_stays_finite_and_the_penalty_bounds_it() -> None:
    x = np.concatenate([np.linspace(-2, -1, 20), np.linspace(1, 2, 20)])[:, None]
    y = (x[:, 0] > 0).astype(float)
    loose, tight = pr.fit_logistic(x, y, l2=0.1), pr.fit_logistic(x, y, l2=10.0)
    for m in (loose, tight):
        assert np.isfinite(m.coef).all() and math.isfinite(m.intercept)
        p = m.predict(x)
        assert (p[y == 1] > 0.5).all() and (p[y == 0] < 0.5).all()
    assert 0 < tight.coef[0] < loose.coef[0]


def test_a_constant_column_gets_coef_zero_and_scale_one() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=500)
    X = np.column_stack([x, np.full(500, 0.1)])
    m = pr.fit_logistic(X, (rng.random(500) < _sigmoid(x)).astype(float))
    assert m.coef[1] == 0.0 and m.scale[1] == 1.0
    assert m.coef[0] > 0.5


@pytest.mark.parametrize("label", [0.0, 1.0])
def test_one_class_labels_give_the_clipped_base_rate(label: float) -> None:
    X = np.random.default_rng(5).normal(size=(100, 2))
    m = pr.fit_logistic(X, np.full(100, label))
    assert (m.coef == 0).all()
    np.testing.assert_allclose(m.predict(X), label, atol=1e-5)
    assert 0.0 < m.predict(X)[0] < 1.0


def test_logistic_model_round_trips_through_json() -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(300, 2))
    m = pr.fit_logistic(X, (rng.random(300) < _sigmoid(X[:, 1])).astype(float))
    back = pr.LogisticModel.from_dict(json.loads(json.dumps(m.as_dict())))
    np.testing.assert_array_equal(back.predict(X), m.predict(X))
    with pytest.raises(ValueError, match="same length"):
        pr.LogisticModel.from_dict({**m.as_dict(), "mean": [0.0]})


def test_fit_logistic_rejects_bad_input() -> None:
    X = np.zeros((4, 1))
    with pytest.raises(ValueError, match="finite"):
        pr.fit_logistic(np.array([[0.0], [np.nan], [1.0], [2.0]]), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="finite"):
        pr.fit_logistic(np.array([[0.0], [np.inf], [1.0], [2.0]]), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="only 0 and 1"):
        pr.fit_logistic(X, [0, 1, 2, 1])
    with pytest.raises(ValueError, match="one label per row"):
        pr.fit_logistic(X, [0, 1, 1])
    with pytest.raises(ValueError, match="features"):
        pr.fit_logistic(X, [0, 1, 0, 1]).predict(np.zeros((2, 3)))


# -- isotonic calibration and shrinkage -----------------------------------------------------


def test_isotonic_pav_on_hand_cases() -> None:
    iso = pr.fit_isotonic([0.1, 0.2, 0.3, 0.4], [1, 0, 1, 1])
    np.testing.assert_allclose(iso([0.1, 0.2, 0.3, 0.4]), [0.5, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(iso([0.0, 0.25, 0.9]), [0.5, 0.75, 1.0])  # clamp, interpolate
    np.testing.assert_array_equal(iso.cases([0.15, 0.35, 0.25]), [2, 2, 2])
    # 0 | 1 0 0 (pooled: 1/3) | 1 1, given out of order
    p = np.array([0.6, 0.1, 0.3, 0.5, 0.2, 0.4])
    y = np.array([1, 0, 0, 1, 1, 0])
    iso = pr.fit_isotonic(p, y)
    np.testing.assert_allclose(iso(np.sort(p)), [0, 1 / 3, 1 / 3, 1 / 3, 1, 1])
    np.testing.assert_array_equal(iso.count, [1, 3, 2])
    # tied scores share one value
    np.testing.assert_allclose(pr.fit_isotonic([0.5, 0.5, 0.7], [1, 0, 1])([0.5, 0.7]), [0.5, 1])


def test_isotonic_is_monotone_and_its_steps_are_their_cases_means() -> None:
    rng = np.random.default_rng(7)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(float)
    iso = pr.fit_isotonic(p, y)
    assert (np.diff(iso(np.linspace(-0.1, 1.1, 2001))) >= 0).all()
    assert iso.count.sum() == 1000 and (np.diff(iso.value) > 0).all()
    for lo, hi, v in zip(iso.lo, iso.hi, iso.value, strict=True):
        assert v == pytest.approx(y[(p >= lo) & (p <= hi)].mean())


def test_shrink_pulls_thin_evidence_to_the_base_rate() -> None:
    np.testing.assert_allclose(
        pr.shrink([0.9, 0.9, 0.9], [0, 50, 5000], 0.5), [0.5, 0.7, 4525 / 5050]
    )
    np.testing.assert_allclose(pr.shrink(0.9, 10, 0.5, prior_cases=0.0), 0.9)
    with pytest.raises(ValueError, match="prior_cases"):
        pr.shrink(0.9, 10, 0.5, prior_cases=-1.0)


def test_prior_strength_is_infinite_for_noise_and_small_for_an_edge() -> None:
    rng = np.random.default_rng(8)
    p = rng.random(1500)
    noise = pr.fit_isotonic(p, (rng.random(1500) < 0.5).astype(float))
    edge = pr.fit_isotonic(p, (rng.random(1500) < p).astype(float))
    assert pr.prior_strength(noise) == math.inf
    assert pr.prior_strength(edge) < 20


# -- walk-forward ---------------------------------------------------------------------------


@pytest.mark.parametrize("horizon", [1, 5])
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_random_walk_probabilities_stay_at_the_base_rate(seed: int, horizon: int) -> None:
    X, y = _random_walk(seed, horizon)
    wf = pr.walk_forward(X, y, horizon)
    ok = _scored(wf)
    first = 500 + horizon
    assert not ok[:first].any() and ok[first:].all()
    assert wf.fits == math.ceil((X.shape[0] - first) / 250)
    assert (wf.cases[ok] > 0).all() and (wf.cases[~ok] == 0).all()
    # measured: 0.0 on 300 walks at horizon 1 and 100 at horizon 5 (the issue allows 0.03)
    assert np.max(np.abs(wf.prob[ok] - wf.base_rate[ok])) <= 0.03
    assert abs(float(np.mean(wf.base_rate[ok])) - 0.5) < 0.05


@pytest.mark.parametrize("seed", [21, 22])
def test_a_learnable_edge_beats_the_base_rate_and_is_calibrated(seed: int) -> None:
    X, y, _ = _edge(seed)
    wf = pr.walk_forward(X, y, horizon=1)
    ok = _scored(wf)
    prob, base, hit = wf.prob[ok], wf.base_rate[ok], y[ok]
    brier, brier_base = np.mean((prob - hit) ** 2), np.mean((base - hit) ** 2)
    assert brier < brier_base - 0.02  # measured ~0.205 against ~0.247
    assert np.std(prob) > 0.1
    bins = np.minimum((prob * 10).astype(int), 9)
    gap = (
        sum(
            np.sum(bins == b) * abs(prob[bins == b].mean() - hit[bins == b].mean())
            for b in np.unique(bins)
        )
        / prob.shape[0]
    )
    assert gap < 0.05  # measured 0.015-0.026 on seeds 0-4


def test_uncalibrated_walk_forward_also_scores_every_row_after_the_first_block() -> None:
    X, y, _ = _edge(23, n=2000)
    wf = pr.walk_forward(X, y, horizon=2, calibrate=False)
    ok = _scored(wf)
    assert ok[502:].all() and not ok[:502].any()
    assert (wf.cases[ok] >= 500).all()
    assert np.mean((wf.prob[ok] - y[ok]) ** 2) < np.mean((wf.base_rate[ok] - y[ok]) ** 2)


@pytest.mark.parametrize("t", [1302, 1499, 1503, 1900])
def test_no_probability_depends_on_a_later_row(t: int) -> None:
    horizon = 3
    X, y, _ = _edge(31, n=2500)
    wf = pr.walk_forward(X, y, horizon)
    rng = np.random.default_rng(t)
    X2, y2 = X.copy(), y.copy()
    X2[t + 1 :] = rng.normal(size=X2[t + 1 :].shape) * 5
    y2[t + 1 :] = rng.integers(0, 2, y2.shape[0] - t - 1)
    wf2 = pr.walk_forward(X2, y2, horizon)
    for a, b in ((wf.prob, wf2.prob), (wf.base_rate, wf2.base_rate), (wf.cases, wf2.cases)):
        np.testing.assert_array_equal(a[: t + 1], b[: t + 1])
    assert np.isnan(wf.prob[: 500 + horizon]).all()


@pytest.mark.parametrize("t", [1003, 1100, 1253])  # blocks start at 503 + 250 k
def test_a_label_counts_only_once_its_outcome_bar_has_closed(t: int) -> None:
    horizon = 3
    X, y, _ = _edge(32, n=2000)
    wf = pr.walk_forward(X, y, horizon)
    flipped = y.copy()
    flipped[t - horizon :] = 1 - flipped[t - horizon :]  # every j > t - 1 - horizon
    np.testing.assert_array_equal(
        pr.walk_forward(X, flipped, horizon).prob[: t + 1], wf.prob[: t + 1]
    )


def test_the_last_known_label_is_used_by_the_next_block() -> None:
    horizon, t = 3, 1003  # a block starts at 503 + 2 * 250
    X, y, _ = _edge(33, n=2000)
    wf = pr.walk_forward(X, y, horizon)
    flipped = y.copy()
    flipped[t - 1 - horizon] = 1 - flipped[t - 1 - horizon]
    wf2 = pr.walk_forward(X, flipped, horizon)
    np.testing.assert_array_equal(wf2.prob[:t], wf.prob[:t])
    assert wf2.prob[t] != wf.prob[t]


def test_walk_forward_rejects_bad_input() -> None:
    X, y, _ = _edge(41, n=800)
    with pytest.raises(ValueError, match="one label per row"):
        pr.walk_forward(X, y[:-1], 1)
    bad = X.copy()
    bad[10, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        pr.walk_forward(bad, y, 1)
    for h in (0, -1):
        with pytest.raises(ValueError, match="horizon"):
            pr.walk_forward(X, y, h)
    with pytest.raises(ValueError, match="block"):
        pr.walk_forward(X, y, 1, block=0)
    with pytest.raises(ValueError, match="min_train"):
        pr.walk_forward(X, y, 1, min_train=12)
    holed = y.copy()
    holed[100] = np.nan
    with pytest.raises(ValueError, match="only 0 and 1"):
        pr.walk_forward(X, holed, 1)
    tail = y.copy()
    tail[-2:] = np.nan  # beyond the series at horizon 2: allowed
    assert pr.walk_forward(X, tail, 2).fits == 2
