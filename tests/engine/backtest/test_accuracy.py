from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from engine.backtest.accuracy import binomial_sf, signal_accuracy


@pytest.mark.parametrize(
    ("k", "n", "p"),
    [(0, 10, 0.5), (7, 10, 0.5), (60, 100, 0.55), (530, 1000, 0.5), (3, 3, 0.9), (4, 3, 0.5)],
)
def test_binomial_tail_matches_scipy(k: int, n: int, p: float) -> None:
    assert binomial_sf(k, n, p) == pytest.approx(stats.binom.sf(k - 1, n, p), rel=1e-9, abs=1e-300)


def test_perfect_foresight_is_significant_and_coin_flips_are_not() -> None:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 3000)))
    future = np.sign(np.r_[close[1:] - close[:-1], 0.0])
    rows = {r.horizon: r for r in signal_accuracy(close, future, horizons=(1,), buckets=(0, 1))}
    assert rows[1].hit_rate == 1.0 and rows[1].p_vs_half < 1e-100
    coin = rng.choice([-1.0, 1.0], 3000)
    row = signal_accuracy(close, coin, horizons=(5,), buckets=(0, 1))[0]
    assert 0.45 < row.hit_rate < 0.55 and row.p_vs_half > 0.001


def test_base_rate_is_the_drift_a_one_sided_source_gets_for_free() -> None:
    close = np.arange(1.0, 201.0)  # rises every bar
    close[::4] -= 1.5  # except every fourth
    always_long = np.ones(200)
    conf = np.linspace(0, 1, 200)
    rows = signal_accuracy(close, always_long, conf, horizons=(1,), buckets=(0, 0.5, 1))
    assert [r.signals for r in rows] == [100, 99]  # the last bar has no future
    for r in rows:
        assert r.base_rate == pytest.approx(np.mean(np.diff(close) > 0))
        assert r.p_vs_base > 0.01  # no skill beyond the drift
        assert 0.7 < r.base_rate < 0.8
