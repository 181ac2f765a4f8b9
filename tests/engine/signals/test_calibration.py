"""engine.signals.calibration: reliability buckets, Wilson intervals, Brier skill and ECE."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.signals import calibration as cal


def _calibrated(seed: int = 11, n: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Forecasts that are right by construction: hit ~ Bernoulli(p)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 1.0, n)
    return p, rng.uniform(0.0, 1.0, n) < p


def _wilson_closed_form(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


# -- Wilson interval ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [(0, 10, (0.0, 0.2775)), (5, 10, (0.2366, 0.7634)), (10, 10, (0.7225, 1.0))],
)
def test_wilson_interval_known_values(k: int, n: int, expected: tuple[float, float]) -> None:
    lo, hi = cal.wilson_interval(k, n)
    assert (round(lo, 4), round(hi, 4)) == expected
    assert lo == pytest.approx(_wilson_closed_form(k, n)[0], abs=1e-12)
    assert hi == pytest.approx(_wilson_closed_form(k, n)[1], abs=1e-12)


def test_wilson_interval_edges_and_errors() -> None:
    assert cal.wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = cal.wilson_interval(30, 100)
    assert lo < 0.3 < hi
    # more data, narrower interval
    lo2, hi2 = cal.wilson_interval(300, 1000)
    assert hi2 - lo2 < hi - lo
    with pytest.raises(ValueError):
        cal.wilson_interval(11, 10)
    with pytest.raises(ValueError):
        cal.wilson_interval(-1, 10)


# -- buckets --------------------------------------------------------------------------------


def test_bucket_edges_hold_zero_first_and_one_last() -> None:
    prob = np.array([0.0, 0.1, 0.7, 0.999, 1.0])
    hit = np.array([0, 1, 1, 1, 1])
    buckets = cal.reliability(prob, hit, bins=10)
    assert len(buckets) == 10
    assert [(b.lo, b.hi) for b in buckets][:2] == [(0.0, 0.1), (0.1, 0.2)]
    assert buckets[-1].hi == 1.0
    assert (buckets[0].n, buckets[0].hits, buckets[0].mean_prob) == (1, 0, 0.0)
    assert buckets[1].n == 1  # 0.1 opens the second bucket
    assert buckets[7].n == 1  # 0.7 opens the eighth
    assert (buckets[9].n, buckets[9].hits) == (2, 2)  # 0.999 and 1.0
    assert buckets[9].mean_prob == pytest.approx(0.9995)
    assert sum(b.n for b in buckets) == 5


def test_empty_bucket_has_nan_rate_and_uninformative_interval() -> None:
    buckets = cal.reliability([0.05, 0.95], [False, True], bins=4)
    empty = buckets[1]
    assert empty.n == 0
    assert math.isnan(empty.rate) and math.isnan(empty.mean_prob)
    assert empty.interval == (0.0, 1.0)
    assert buckets[3].rate == 1.0
    assert buckets[3].interval == cal.wilson_interval(1, 1)


@pytest.mark.parametrize(
    ("prob", "hit", "match"),
    [
        ([0.2, math.nan, 0.4], [0, 1, 0], "1 of 3 probabilities"),
        ([0.2, 1.2, -0.1], [0, 1, 0], "2 of 3 probabilities"),
        ([0.2, 0.3], [0, 1, 1], "differ in length"),
        ([0.2, 0.3, 0.4], [0, 2, 1], "1 of 3 hit values"),
        ([0.2, 0.3], [0.5, 1.0], "1 of 2 hit values"),
        ([0.2, 0.3], ["a", "b"], "dtype"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(
    prob: list[float], hit: list[int] | list[float] | list[str], match: str
) -> None:
    for call in (
        lambda: cal.reliability(prob, hit),
        lambda: cal.brier(prob, hit),
        lambda: cal.ece(prob, hit),
        lambda: cal.calibration_report(prob, hit, horizon=4),
    ):
        with pytest.raises(ValueError, match=match):
            call()


def test_other_bad_arguments() -> None:
    with pytest.raises(ValueError, match="no cases"):
        cal.calibration_report([], [], horizon=4)
    with pytest.raises(ValueError, match="bins"):
        cal.reliability([0.5], [1], bins=0)
    with pytest.raises(ValueError, match="horizon"):
        cal.calibration_report([0.5], [1], horizon=0)
    with pytest.raises(ValueError, match="base_rate"):
        cal.calibration_report([0.5], [1], horizon=4, base_rate=1.5)


# -- scores ---------------------------------------------------------------------------------


def test_brier_and_ece_on_a_tiny_known_case() -> None:
    prob = [0.8, 0.8, 0.2, 0.2]
    hit = [1, 0, 0, 0]
    assert cal.brier(prob, hit) == pytest.approx((0.04 + 0.64 + 0.04 + 0.04) / 4)
    # bucket 0.8: rate 0.5, off by 0.3; bucket 0.2: rate 0.0, off by 0.2
    assert cal.ece(prob, hit) == pytest.approx(0.5 * 0.3 + 0.5 * 0.2)


def test_calibrated_forecasts_have_small_ece_and_positive_skill() -> None:
    p, hit = _calibrated()
    rep = cal.calibration_report(p, hit, horizon=4)
    assert rep.n == 20_000
    assert rep.ece < 0.02
    assert rep.skill > 0
    # E[p(1-p)] = 1/6 for uniform p, against 1/4 for the base rate: skill about 1/3
    assert rep.brier == pytest.approx(1 / 6, abs=0.01)
    assert rep.skill == pytest.approx(1 / 3, abs=0.04)
    assert rep.ece == pytest.approx(cal.ece(p, hit))
    assert rep.brier == pytest.approx(cal.brier(p, hit))
    # 95 % intervals: few buckets (here 1 of 10) miss their mean forecast, none by much
    misses = [b for b in rep.buckets if not b.interval[0] <= b.mean_prob <= b.interval[1]]
    assert len(misses) <= 2
    assert all(abs(b.rate - b.mean_prob) < 0.03 for b in rep.buckets)


def test_base_rate_forecast_has_no_skill_and_no_calibration_error() -> None:
    rng = np.random.default_rng(3)
    hit = rng.uniform(size=5_000) < 0.37
    p = np.full(hit.size, hit.mean())
    rep = cal.calibration_report(p, hit, horizon=8)
    assert rep.skill == pytest.approx(0.0, abs=1e-12)
    assert rep.ece == pytest.approx(0.0, abs=1e-12)
    assert rep.base_rate == pytest.approx(hit.mean())
    assert sum(1 for b in rep.buckets if b.n) == 1


def test_overconfident_forecasts_have_negative_skill_and_large_ece() -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    hit = rng.uniform(size=n) < 0.5  # a fair coin
    p = np.where(rng.uniform(size=n) < 0.5, 0.98, 0.02)  # sure of itself, knows nothing
    rep = cal.calibration_report(p, hit, horizon=4)
    assert rep.skill < -0.5
    assert rep.ece > 0.4
    assert rep.ece == pytest.approx(0.48, abs=0.02)


def test_given_base_rate_is_the_reference() -> None:
    p, hit = _calibrated(seed=2, n=4_000)
    rep = cal.calibration_report(p, hit, horizon=4, base_rate=0.3)
    assert rep.base_rate == 0.3
    assert rep.brier_base == pytest.approx(float(np.mean((0.3 - hit) ** 2)))
    # the in-sample mean is the best constant, so any other base rate is a weaker reference
    own = cal.calibration_report(p, hit, horizon=4)
    assert rep.brier_base > own.brier_base
    assert rep.skill > own.skill


def test_skill_when_the_reference_is_perfect() -> None:
    hit = np.zeros(10, dtype=bool)
    assert cal.calibration_report(np.zeros(10), hit, horizon=1).skill == 0.0
    rep = cal.calibration_report(np.full(10, 0.1), hit, horizon=1)
    assert rep.brier_base == 0.0 and rep.brier > 0
    assert math.isnan(rep.skill)
    assert rep.as_dict()["skill"] is None


# -- output ---------------------------------------------------------------------------------


def test_as_dict_has_the_cli_shape() -> None:
    p, hit = _calibrated(seed=4, n=3_000)
    rep = cal.calibration_report(p, hit, horizon=6, bins=5)
    d = rep.as_dict()
    required = {"n", "horizon", "ece", "brier", "brier_base", "skill", "buckets"}
    assert required <= set(d) <= required | {"base_rate"}
    assert d["n"] == 3_000 and d["horizon"] == 6
    assert len(d["buckets"]) == 5
    assert all(set(b) == {"lo", "hi", "n", "hits"} for b in d["buckets"])
    assert sum(b["n"] for b in d["buckets"]) == d["n"]
    assert sum(b["hits"] for b in d["buckets"]) == int(hit.sum())
    assert json.loads(json.dumps(d, allow_nan=False)) == d


def test_table_has_a_header_and_one_aligned_line_per_bucket() -> None:
    p, hit = _calibrated(seed=6, n=2_000)
    p[(p >= 0.4) & (p < 0.5)] = 0.55  # leave one bucket empty
    rep = cal.calibration_report(p, hit, horizon=4)
    lines = rep.table()
    assert len(lines) == len(rep.buckets) + 1
    assert "count" in lines[0] and "95%" in lines[0]
    assert len({len(line) for line in lines}) == 1
    assert lines[1].startswith("[0.00, 0.10)")
    assert lines[-1].startswith("[0.90, 1.00]")
    assert lines[5].split() == ["[0.40,", "0.50)", "0", "-", "-", "-"]
    b = rep.buckets[9]
    lo, hi = b.interval
    assert f"{b.n}" in lines[-1] and f"[{lo:.3f}, {hi:.3f}]" in lines[-1]


def test_a_base_rate_per_case_is_the_walk_forward_reference() -> None:
    p, hit = _calibrated(seed=3, n=2_000)
    rates = np.linspace(0.4, 0.6, p.size)  # what the training past said at each case
    rep = cal.calibration_report(p, hit, horizon=4, base_rate=rates)
    assert rep.brier_base == pytest.approx(float(np.mean((rates - hit) ** 2)))
    assert rep.base_rate == pytest.approx(0.5)
    same = cal.calibration_report(p, hit, horizon=4, base_rate=np.full(p.size, 0.3))
    assert same.brier_base == cal.calibration_report(p, hit, horizon=4, base_rate=0.3).brier_base
    with pytest.raises(ValueError, match="3 rates for 2000 cases"):
        cal.calibration_report(p, hit, horizon=4, base_rate=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"base_rate must be in \[0, 1\]"):
        cal.calibration_report(p, hit, horizon=4, base_rate=np.full(p.size, 1.5))
