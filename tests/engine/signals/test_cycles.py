"""engine/signals/cycles.py: ``detect_cycles`` (the chart, ``qws cycles``, Telegram ``/cycles``)
names the same cycle, at the same phase, as the ensemble's vote for the same window."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from engine.model import Cycle, CyclePhase
from engine.signals import ensemble as en
from engine.signals import scanner as sc
from engine.signals.cycles import CycleInputError, detect_cycles
from engine.timeframes import parse
from feeds.demo import DEMO_INSTRUMENTS, synthetic_bars

S = en.EnsembleSettings()
HOUR = parse("1h").ns
T0 = 1_699_999_200_000_000_000


def _noisy_sine_with_trend(seed: int = 5, n: int = 320, period: float = 16.0) -> pl.DataFrame:
    """Log-price = drift + a 16-bar cycle + a random walk: trend, cycle and noise at once."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    log_close = (
        0.0008 * t
        + 0.03 * np.sin(2 * np.pi * t / period + 0.7)
        + np.cumsum(rng.normal(0.0, 0.008, n))
    )
    close = 100.0 * np.exp(log_close)
    open_ = np.concatenate(([close[0]], close[:-1]))
    return pl.DataFrame(
        {
            "ts": T0 + t.astype(np.int64) * HOUR,
            "open": open_,
            "high": np.maximum(open_, close) * 1.002,
            "low": np.minimum(open_, close) * 0.998,
            "close": close,
            "volume": 1.0,
        }
    )


def _demo_bars() -> pl.DataFrame:
    spec = next(s for s in DEMO_INSTRUMENTS.values() if s.dominant_period)
    return synthetic_bars(spec, "1h", T0 + 400 * HOUR, 400, 7)


def _same_cycle(a: Cycle | None, b: Cycle | None) -> None:
    assert a is not None and b is not None
    assert (a.period_bars, a.k) == (b.period_bars, b.k)
    assert a.strength == pytest.approx(b.strength, abs=1e-9)


def _same_phase(a: CyclePhase | None, b: CyclePhase | None) -> None:
    assert a is not None and b is not None
    assert a.period_bars == b.period_bars
    for field in ("phase", "amplitude", "bars_to_trough", "bars_to_peak"):
        assert getattr(a, field) == pytest.approx(getattr(b, field), rel=1e-9, abs=1e-12), field


@pytest.mark.parametrize("bars", [_noisy_sine_with_trend(), _demo_bars()], ids=["sine", "demo"])
def test_detect_cycles_and_the_scan_name_the_same_cycle_at_the_same_phase(
    bars: pl.DataFrame,
) -> None:
    close = bars["close"].to_numpy()
    report = detect_cycles(close, window=S.cycle_window)
    [result] = sc.scan({"X": bars}, "1h", S, sc.qpe_detector())
    assert result.signal is not None
    _same_cycle(report.cycles[0], result.signal.cycle)
    _same_phase(report.phase, result.phase)
    # and that cycle, at that phase, is the ensemble's cycle vote
    sigma = float(np.std(np.diff(np.log(close[-(S.cycle_window + 1) :]))))
    vote = en.cycle_vote(report.cycles[0], report.phase, sigma, S)
    assert vote.reason in result.signal.reasons


def test_detect_cycles_matches_the_ensembles_cycle_at_every_bar() -> None:
    """``at`` walks back through history: each window's report is the ensemble's estimate of
    the window ending at that bar (its default source, the periodogram, equals statevector QPE).
    """
    bars = _noisy_sine_with_trend(seed=9)
    close = bars["close"].to_numpy()
    f = en.analyse(bars, "1h", S).features
    ends = list(range(S.cycle_window, len(close), 17))
    windows = np.stack([en.window_returns(f, t, S) for t in ends])
    estimates = en.classical_cycles(windows)
    turns = set()
    for t, (cycle, phase) in zip(ends, estimates, strict=True):
        report = detect_cycles(close, window=S.cycle_window, at=t)
        _same_cycle(report.cycles[0], cycle)
        _same_phase(report.phase, phase)
        assert report.phase is not None
        turns.add(round(report.phase.bars_to_trough, 6))
    assert len(turns) == len(ends)  # a real walk through the cycle, not one phase repeated


def test_the_phase_is_fitted_on_the_log_returns_of_the_window() -> None:
    from engine.signals.cycle_model import fit_phase

    close = _noisy_sine_with_trend()["close"].to_numpy()
    report = detect_cycles(close, window=64, at=200)
    assert report.phase == fit_phase(np.diff(np.log(close[136:201])), report.cycles[0].period_bars)
    assert report.cycles[0].period_bars == 16.0


def test_unusable_windows_are_clear_errors() -> None:
    with pytest.raises(CycleInputError, match="is constant"):
        detect_cycles(np.full(100, 7.0), window=64)
    with pytest.raises(CycleInputError, match="power of two"):
        detect_cycles(np.ones(100), window=48)
