"""engine/signals/cycle_model.py: the one cycle model: picking cycles off a folded spectrum, the
white-noise gate, and the phase fitted on log-returns."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.model import Cycle
from engine.signals import cycle_model as cm
from engine.signals.qpe import fold_spectrum

# -- picking --------------------------------------------------------------------------------


def test_dominant_cycles_fold_ignore_dc_and_keep_peaks() -> None:
    p = np.zeros(16)
    p[0] = 0.5  # DC: ignored, and not counted in strength
    p[4], p[12] = 0.1, 0.1  # k=4 and its mirror fold into one cycle of period 4
    p[3], p[5] = 0.02, 0.03  # shoulders of the k=4 peak: not cycles of their own
    p[2] = 0.2  # k=2 alone, period 8
    p /= p.sum()
    [cycles] = cm.dominant_cycles(p, top=5)
    ac = 1 - p[0]
    assert cycles == (
        Cycle(8.0, pytest.approx(p[2] / ac), 2),
        Cycle(4.0, pytest.approx(2 * p[4] / ac), 4),
    )
    np.testing.assert_allclose(fold_spectrum(p).sum(), 1.0)
    assert cm.dominant_cycles(np.eye(8)[0]) == [()], "pure DC has no cycle"
    assert cm.dominant_cycles(p, top=0) == [()]
    with pytest.raises(ValueError, match="2\\^m"):
        cm.dominant_cycles(np.ones(6) / 6)


def test_dominant_cycles_of_many_rows_are_those_of_each_row() -> None:
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(32), size=50)
    probs[7] = np.nan  # a window that could not be encoded
    rows = cm.dominant_cycles(probs, top=3)
    assert rows[7] == ()
    for i, row in enumerate(rows):
        if i != 7:
            assert row == cm.dominant_cycles(probs[i], top=3)[0]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 8))
def test_the_dominant_cycle_is_the_strongest_folded_bin(seed: int, m: int) -> None:
    p = np.random.default_rng(seed).dirichlet(np.ones(1 << m))
    folded = fold_spectrum(p)[1:]
    [cycles] = cm.dominant_cycles(p, top=3)
    k = int(np.argmax(folded)) + 1
    assert cycles[0] == Cycle((1 << m) / k, float(folded[k - 1] / folded.sum()), k)
    strengths = [c.strength for c in cycles]
    assert strengths == sorted(strengths, reverse=True)


def test_null_quantile_matches_white_noise() -> None:
    x_a = cm.null_strength_quantile(64, 0.01)
    rng = np.random.default_rng(123)
    estimates = cm.classical_cycles(rng.normal(size=(4000, 64)))
    share_above = np.mean([c.strength > x_a for c, _ in estimates if c is not None])
    assert 0.002 < share_above < 0.025


def test_windows_that_cannot_be_encoded_have_no_cycle_and_say_why() -> None:
    rows = np.vstack([np.zeros(64), np.full(64, np.nan), np.ones(64), np.sin(np.arange(64.0))])
    assert [c is None for c, _ in cm.classical_cycles(rows)] == [True, True, True, False]
    amps, meta = cm.encode_rows(rows[:1])
    assert np.isnan(amps).all() and "is constant" in str(meta.reasons[0])
    with pytest.raises(ValueError, match="power of 2"):
        cm.encode_rows(np.ones((2, 48)))


# -- the phase ------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    period=st.floats(4, 40),
    phi=st.floats(0, 2 * np.pi),
    amp=st.floats(0.005, 0.5),
    slope=st.floats(-0.01, 0.01),
    length=st.integers(64, 200),
)
def test_fit_phase_recovers_a_known_log_price_cycle(period, phi, amp, slope, length) -> None:
    """A log-price of drift plus a cosine: its log-returns give the price's phase and
    amplitude at the last close, and the turns land on the fitted cosine's extremes."""
    t = np.arange(length + 1)
    log_price = 4.0 + slope * t + amp * np.cos(2 * np.pi * t / period + phi)
    ph = cm.fit_phase(np.diff(log_price), period)
    assert ph is not None
    expected = (2 * np.pi * length / period + phi) % (2 * np.pi)
    diff = (ph.phase - expected + np.pi) % (2 * np.pi) - np.pi
    assert abs(diff) < 1e-6
    assert ph.amplitude == pytest.approx(amp, rel=1e-6)
    assert math.cos(ph.phase + 2 * np.pi * ph.bars_to_peak / period) == pytest.approx(1, abs=1e-9)
    assert math.cos(ph.phase + 2 * np.pi * ph.bars_to_trough / period) == pytest.approx(
        -1, abs=1e-9
    )
    assert 0 <= ph.bars_to_peak < period and 0 <= ph.bars_to_trough < period


def test_fit_phase_rejects_bad_input() -> None:
    assert cm.fit_phase([0.01, -0.02], 8) is None
    assert cm.fit_phase(np.linspace(-0.01, 0.01, 10), 1.0) is None
    assert cm.fit_phase(np.linspace(-0.01, 0.01, 10), math.nan) is None
    assert cm.fit_phase([0.01, np.nan, 0.02, 0.03, -0.01], 4) is None


def _log_price_fit_phase(log_price: np.ndarray, period: float) -> float:
    """The alternative the model does not use: c + d·t + A cos + B sin on the log-prices."""
    t = np.arange(log_price.size, dtype=np.float64)
    w = 2 * np.pi / period
    design = np.column_stack([np.ones_like(t), t - t.mean(), np.cos(w * t), np.sin(w * t)])
    coef, *_ = np.linalg.lstsq(design, log_price, rcond=None)
    return float((w * t[-1] - math.atan2(coef[3], coef[2])) % (2 * np.pi))


def test_the_phase_from_log_returns_is_closer_to_the_truth_than_from_log_prices() -> None:
    """Why the model fits returns: a price's noise is a random walk (correlated, 1/f^2), its
    returns' noise is white, where least squares is the best linear unbiased fit."""
    rng = np.random.default_rng(2024)
    period, n = 16.0, 64
    w = 2 * np.pi / period
    err_returns, err_prices = [], []
    for _ in range(400):
        psi = rng.uniform(0, 2 * np.pi)
        r = 0.5 * np.cos(w * np.arange(n) + psi) + rng.standard_normal(n) + 0.05
        truth = (w * (n - 1) + psi + w / 2 - np.pi / 2) % (2 * np.pi)
        ph = cm.fit_phase(r, period)
        assert ph is not None
        by_prices = _log_price_fit_phase(np.concatenate(([0.0], np.cumsum(r))), period)
        for err, got in ((err_returns, ph.phase), (err_prices, by_prices)):
            err.append(abs((got - truth + np.pi) % (2 * np.pi) - np.pi))
    assert np.mean(err_returns) < np.mean(err_prices)
