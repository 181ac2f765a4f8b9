"""The cycle model: which cycle dominates a window of log-returns, and where we are in it.

One model for every reader of cycles: the cycle panel, ``qws cycles`` and Telegram ``/cycles``
(through :func:`engine.signals.cycles.detect_cycles`), the scanner and the signal ensemble
(:mod:`engine.signals.scanner`, :mod:`engine.signals.ensemble`), the ``qpe_cycle`` strategy and
the backtester. For the same window they report the same cycle: same period, strength, phase
and bars to the next turn.

**The input** is a window of ``N = 2**n`` log-returns ``r[t] = log(close[t] / close[t-1])``,
i.e. the ``N + 1`` closes ending at the bar judged (oldest first, the last return is "now").
Log-returns, not prices, for every stage, because a price is (close to) a random walk: its
noise is not independent from bar to bar, its spectrum falls as ``1/f^2`` and buries any cycle
under the low bins, and a least-squares fit on it weighs that correlated noise as if it were
white. The returns of a random walk are white noise, which is what both the spectrum's
significance test and the least-squares phase fit assume. A trend in the price is a constant
in the returns: the encoding removes it (detrend) and the phase fit absorbs it (intercept).

1. **Encode** (:func:`encode_rows`): detrend, periodic Hann taper, L2-normalise
   (:func:`engine.signals.encoding.encode_windows`); a window that cannot be encoded (NaN/inf,
   constant) is a NaN row with a reason.
2. **Spectrum**: the phase-register distribution of the encoded window, from QPE on Aer
   (:func:`engine.signals.qpe.phase_spectrum`) or its classical limit :func:`power_spectrum`,
   which the statevector distribution equals to 1e-9.
3. **Pick** (:func:`dominant_cycles`): fold bin ``y`` with ``M - y`` (a real window has a
   symmetric spectrum), ignore ``y = 0`` (DC), keep the local maxima of the folded spectrum
   (a tapered peak spills into its neighbour bins: those are the same cycle) and rank them by
   power. ``strength`` is a peak's share of the non-DC power, ``period_bars = M / y``. The
   first is the strongest bin: the dominant cycle.
4. **Is it real?** (:func:`null_strength_quantile`): the ``1 - false_alarm`` quantile of the
   dominant strength on white-noise windows through the same stages; the ensemble's cycle vote
   gives no edge to a cycle at or below it.
5. **Phase** (:func:`fit_phase`): the least-squares sinusoid at the picked period on the same
   log-returns, expressed as the log-price cycle at the window's last bar (0 = peak,
   π = trough) with the bars to the next trough and peak.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from engine.model import Cycle, CyclePhase
from engine.signals.encoding import EncodingMeta, encode_windows
from engine.signals.qpe import fold_spectrum

CycleEstimate = tuple[Cycle | None, CyclePhase | None]
"""The dominant cycle of one window and its phase (both None when there is none)."""
CycleSource = Callable[[np.ndarray], list[CycleEstimate]]
"""Rows of log-returns ``[k, N]`` -> one :data:`CycleEstimate` per row."""
Spectrum = Callable[[np.ndarray], np.ndarray]
"""Encoded windows ``[k, N]`` (valid rows only) -> phase distributions ``[k, 2^m]``."""


def encode_rows(windows: Any) -> tuple[np.ndarray, EncodingMeta]:
    """Encode each row of log-returns (``N = 2**n`` per row): ``(amplitudes[k, N], meta)``.

    Rows that cannot be encoded come back NaN; ``meta.valid`` and ``meta.reasons`` say which
    and why (for one row, the reason names ``window [0:N]``)."""
    rows = np.atleast_2d(np.asarray(windows, dtype=np.float64))
    size = rows.shape[1]
    n = size.bit_length() - 1
    if rows.ndim != 2 or size < 2 or size != 1 << n:
        raise ValueError(f"the cycle window must be a power of 2 >= 2, got shape {rows.shape}")
    amps, meta = encode_windows(rows.ravel(), n, step=size)
    out = np.array(amps, dtype=np.float64)
    out[~meta.valid] = np.nan
    return out, meta


def encode_returns(windows: Any) -> np.ndarray:
    """:func:`encode_rows` without the reasons: NaN rows where a window cannot be encoded."""
    return encode_rows(windows)[0]


def power_spectrum(encoded: np.ndarray) -> np.ndarray:
    """|DFT|^2 / N of each encoded row: exactly the QPE phase distribution (statevector)."""
    return np.abs(np.fft.fft(encoded, axis=1)) ** 2 / encoded.shape[1]


def dominant_cycles(probs: Any, top: int = 3) -> list[tuple[Cycle, ...]]:
    """The ``top`` strongest cycles (strongest first) of each row of ``probs[k, 2^m]``.

    A single distribution ``probs[2^m]`` is one row. A row with no power outside DC, or NaN
    (a window that could not be encoded), has no cycle: an empty tuple. See the module
    docstring (step 3) for how cycles are picked; ties go to the lower bin (longer period).
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1:
        p = p[None, :]
    size = p.shape[-1] if p.ndim == 2 else 0
    if p.ndim != 2 or size < 2 or size & (size - 1):
        raise ValueError(f"probs must be rows of 2^m >= 2 values, got shape {p.shape}")
    if top < 1:
        return [() for _ in range(p.shape[0])]
    folded = fold_spectrum(p)[:, 1:]  # bin y = 1 .. M/2
    ac = folded.sum(axis=1)
    edge = np.full((p.shape[0], 1), -np.inf)
    left = np.concatenate((edge, folded[:, :-1]), axis=1)
    right = np.concatenate((folded[:, 1:], edge), axis=1)
    with np.errstate(invalid="ignore"):
        peak = (folded > 0.0) & (folded >= left) & (folded >= right) & (ac > 0.0)[:, None]
    order = np.argsort(np.where(peak, -folded, np.inf), axis=1, kind="stable")[:, :top]
    return [
        tuple(
            Cycle(size / k, float(folded[r, k - 1] / ac[r]), k) for k in row.tolist() if ok[k - 1]
        )
        for r, (row, ok) in enumerate(zip(order + 1, peak, strict=True))
    ]


def fit_phase(returns: Any, period: float) -> CyclePhase | None:
    """Where the window stands in a cycle of ``period`` bars, now = its last bar.

    An ordinary least-squares fit of ``r_j = c + A cos(ωj) + B sin(ωj)`` (``ω = 2π/period``) on
    the window of log-returns (``c`` is the price's drift), turned into the log-price cycle:
    if ``r_j = R cos(ωj + ψ)`` then ``p_j = Σ r = R / (2 sin(ω/2)) · cos(ωj + ψ + ω/2 - π/2)``
    + const, exact for bars, so the projected move ``amplitude * (cos(phase + ωh) - cos(phase))``
    is the sum of the next ``h`` fitted returns. ``phase`` is in ``[0, 2π)`` (0 = price peak,
    π = trough); the bars to the next trough and peak are each in ``[0, period)``.

    None when the window has a non-finite value or fewer than 3 values, or ``period < 2``.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1 or r.size < 3 or not np.all(np.isfinite(r)):
        return None
    if not (math.isfinite(period) and period >= 2.0):
        return None
    n = r.size
    w = 2 * math.pi / period
    j = np.arange(n)
    design = np.column_stack((np.ones(n), np.cos(w * j), np.sin(w * j)))
    coef, *_ = np.linalg.lstsq(design, r, rcond=None)
    a, b = float(coef[1]), float(coef[2])
    big_r = math.hypot(a, b)
    psi = math.atan2(-b, a)
    amp = big_r / (2 * math.sin(w / 2))
    phase = (w * (n - 1) + psi + w / 2 - math.pi / 2) % (2 * math.pi)
    to_peak = ((2 * math.pi - phase) % (2 * math.pi)) / w
    to_trough = ((math.pi - phase) % (2 * math.pi)) / w
    return CyclePhase(float(period), phase, amp, to_trough, to_peak)


def read_cycles(probs: np.ndarray, windows: np.ndarray) -> list[CycleEstimate]:
    """The dominant cycle of each spectrum row and its phase fitted on the matching row of
    log-returns (NaN spectrum rows: no cycle)."""
    rows = np.atleast_2d(np.asarray(windows, dtype=np.float64))
    out: list[CycleEstimate] = []
    for peaks, row in zip(dominant_cycles(probs, top=1), rows, strict=True):
        cycle = peaks[0] if peaks else None
        out.append((cycle, None if cycle is None else fit_phase(row, cycle.period_bars)))
    return out


def spectra(amps: np.ndarray, spectrum: Spectrum = power_spectrum) -> np.ndarray:
    """``spectrum`` of every encodable row of ``amps`` (one call for all); NaN rows stay NaN."""
    ok = np.all(np.isfinite(amps), axis=1)
    if not ok.any():
        return np.full(amps.shape, np.nan)
    good = np.asarray(spectrum(amps[ok]), dtype=np.float64)
    probs = np.full((amps.shape[0], good.shape[1]), np.nan)
    probs[ok] = good
    return probs


def estimate_cycles(windows: Any, spectrum: Spectrum = power_spectrum) -> list[CycleEstimate]:
    """Every stage for rows of log-returns ``[k, N]`` at once: a :data:`CycleSource`.

    ``spectrum`` defaults to the numpy periodogram, the classical limit of QPE; the scanner's
    QPE detector passes the phase estimation on Aer."""
    rows = np.atleast_2d(np.asarray(windows, dtype=np.float64))
    return read_cycles(spectra(encode_returns(rows), spectrum), rows)


def classical_cycles(windows: Any) -> list[CycleEstimate]:
    """Cycle and phase of each row of log-returns from the periodogram (what QPE computes)."""
    return estimate_cycles(windows)


@lru_cache(maxsize=32)
def null_strength_quantile(window: int, false_alarm: float, trials: int = 20_000) -> float:
    """The ``1 - false_alarm`` quantile of the dominant cycle's strength on white noise.

    Measured once per window length (seeded, cached) by sending ``trials`` white-noise windows
    through the same encoding, periodogram and pick as every real window."""
    rng = np.random.default_rng(20_240_601 + window)
    noise = power_spectrum(encode_returns(rng.standard_normal((trials, window))))
    shares = [peaks[0].strength for peaks in dominant_cycles(noise, top=1)]
    return float(np.quantile(shares, 1.0 - false_alarm))
