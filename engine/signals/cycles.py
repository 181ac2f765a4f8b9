"""One call for the rest of the product: closes in, the dominant cycles and where we are in them.

``detect_cycles(closes, window=64)`` takes the ``window`` log-returns of the ``window + 1``
closes ending at bar ``at`` (default: the last bar), encodes them, runs quantum phase estimation
on Aer (:mod:`engine.signals.qpe`), and reads the cycles off the spectrum with the one cycle
model (:mod:`engine.signals.cycle_model`): the dominant cycles, and the phase of the strongest
fitted on the same log-returns. The cycle panel, ``qws cycles`` and Telegram ``/cycles`` use
this; the scanner and the ensemble run many windows in one Aer call through the same model, so
for the same window and backend ``cycles[0]`` and ``phase`` are the cycle and phase the
ensemble's cycle vote uses (``tests/engine/signals/test_cycles.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.model import Cycle, CyclePhase


class CycleInputError(ValueError):
    """A series the detector cannot use (too short, NaN, constant...); the message says why."""


@dataclass(frozen=True, slots=True)
class CycleReport:
    """The detector's answer for one window ending at bar ``at`` of the input closes."""

    n: int  # data qubits; window = 2**n log-returns
    m: int  # phase qubits; spectrum has 2**m bins, bin y = period 2**m / y bars
    window: int
    backend: str
    at: int  # index (into closes) of the window's last bar
    spectrum: np.ndarray  # phase-register distribution, sums to 1
    cycles: tuple[Cycle, ...]  # strongest first
    phase: CyclePhase | None  # of cycles[0] (fitted on the log-returns); None without a cycle
    elapsed_ms: float  # encoding + QPE + fit, wall clock
    shots: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``qws cycles --json``."""
        ph = self.phase
        return {
            "n": self.n,
            "m": self.m,
            "window": self.window,
            "backend": self.backend,
            "shots": self.shots,
            "at": self.at,
            "spectrum": [float(v) for v in self.spectrum],
            "cycles": [
                {"period": c.period_bars, "strength": c.strength, "k": c.k} for c in self.cycles
            ],
            "phase": None
            if ph is None
            else {
                "period": ph.period_bars,
                "phase": ph.phase,
                "amplitude": ph.amplitude,
                "bars_to_trough": ph.bars_to_trough,
                "bars_to_peak": ph.bars_to_peak,
            },
            "elapsed_ms": self.elapsed_ms,
        }


def detect_cycles(
    closes: Any,
    window: int = 64,
    backend: str | Any = "statevector",
    at: int | None = None,
    shots: int = 4096,
    seed: int | None = None,
    m: int | None = None,
    top: int = 3,
) -> CycleReport:
    """Dominant cycles of the ``window`` log-returns ending at ``closes[at]`` (default: last).

    ``window`` must be a power of two (4..4096); ``at`` may be negative (Python indexing).
    The spectrum and the phase are both of those log-returns (not of the log-closes: a price's
    random-walk noise would bias the fit; see :mod:`engine.signals.cycle_model`), so
    ``cycles[0]`` and ``phase`` are what the ensemble's cycle vote reads for the same window.
    Raises :class:`CycleInputError` with a clear message for unusable input.
    """
    start = time.perf_counter()
    if not isinstance(window, int) or window < 4 or window > 4096 or window & (window - 1):
        raise CycleInputError(f"window must be a power of two between 4 and 4096, got {window}")
    c = np.asarray(closes, dtype=np.float64)
    if c.ndim != 1:
        raise CycleInputError(f"closes must be one series, got shape {c.shape}")
    last = c.size - 1 if at is None else (at if at >= 0 else c.size + at)
    if not 0 <= last < c.size:
        raise CycleInputError(f"--at {at} is outside the series of {c.size} bars")
    if last < window:
        raise CycleInputError(
            f"too short: {window} log-returns need {window + 1} closes up to bar {last},"
            f" only {last + 1} available"
        )
    span = c[last - window : last + 1]
    if not np.isfinite(span).all() or (span <= 0).any():
        bad = int(np.flatnonzero(~np.isfinite(span) | (span <= 0))[0]) + last - window
        raise CycleInputError(f"close at bar {bad} is missing, non-finite or not positive")
    n = window.bit_length() - 1
    from engine.signals.cycle_model import dominant_cycles, encode_rows, fit_phase
    from engine.signals.encoding import log_returns
    from engine.signals.qpe import QpeError, get_backend, phase_spectrum

    returns = log_returns(span)
    amps, meta = encode_rows(returns)
    if not meta.valid[0]:
        raise CycleInputError(f"cannot detect cycles: {meta.reasons[0]}")
    try:
        engine_backend = get_backend(backend, shots, seed)
        spectrum = phase_spectrum(amps, engine_backend, shots, seed, m)[0]
    except QpeError as exc:
        raise CycleInputError(str(exc)) from exc
    (cycles,) = dominant_cycles(spectrum, top)
    phase = fit_phase(returns, cycles[0].period_bars) if cycles else None
    return CycleReport(
        n=n,
        m=int(np.log2(spectrum.size)),
        window=window,
        backend=engine_backend.name,
        at=last,
        spectrum=spectrum,
        cycles=cycles,
        phase=phase,
        elapsed_ms=(time.perf_counter() - start) * 1e3,
        shots=shots if engine_backend.name == "shots" else None,
    )
