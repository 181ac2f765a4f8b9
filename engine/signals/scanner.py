"""The scan pipeline: latest window of many symbols -> encoding -> QPE -> indicators -> ensemble.

Stages run batched where it pays: every symbol's cycle window is encoded and sent through the
phase estimation in one call. A symbol whose bars cannot be analysed (too few, NaN/inf,
non-positive or constant prices) gets a reason instead of a signal; it never stops the scan.
Time spent per stage is added to a :class:`StageTimes` so benchmarks and the CLI can show it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from engine.model import CyclePhase, Signal
from engine.signals import cycle_model as cm
from engine.signals import ensemble as en


@dataclass(slots=True)
class StageTimes:
    encoding: float = 0.0
    qpe: float = 0.0
    indicators: float = 0.0
    ensemble: float = 0.0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            setattr(self, name, getattr(self, name) + time.perf_counter() - t0)

    @property
    def total(self) -> float:
        return self.encoding + self.qpe + self.indicators + self.ensemble


@dataclass(frozen=True, slots=True)
class CycleDetector:
    """What makes a scan's phase spectra: ``spectrum`` takes the encoded windows (rows of
    :func:`engine.signals.cycle_model.encode_returns`) to phase-register probabilities. The
    encoding before and the reading after (dominant cycle, phase) are the one cycle model's
    (:mod:`engine.signals.cycle_model`), whichever detector made the spectrum."""

    name: str
    spectrum: cm.Spectrum

    def estimate(self, windows: np.ndarray) -> list[cm.CycleEstimate]:
        """All stages for rows of log-returns at once: a :data:`engine.signals.cycle_model.
        CycleSource` (e.g. ``signals_over(..., source=qpe_detector().estimate)``)."""
        return cm.estimate_cycles(windows, self.spectrum)


CLASSICAL = CycleDetector("periodogram", cm.power_spectrum)
"""The classical limit: the same encoding, then the numpy FFT periodogram, which the
statevector QPE distribution equals (to 1e-9, tests/engine/signals/test_qpe.py)."""


def qpe_detector(backend: str = "statevector", shots: int = 4096) -> CycleDetector:
    """The quantum detector: ``engine.signals.encoding`` (numba) and ``engine.signals.qpe`` phase
    estimation on Aer, all windows of a scan in one run (qiskit loads on the first spectrum,
    not before). The cycle and its phase are read off that spectrum by the same cycle model as
    the periodogram's and ``detect_cycles``'s."""
    from engine.signals import qpe

    def spectrum(amps: np.ndarray) -> np.ndarray:
        return np.asarray(qpe.phase_spectrum(amps, backend=backend, shots=shots))

    return CycleDetector(f"qpe ({backend})", spectrum)


@dataclass(frozen=True, slots=True)
class ScanResult:
    symbol: str
    signal: Signal | None = None
    reason: str = ""  # why there is no signal
    phase: CyclePhase | None = None
    notes: tuple[str, ...] = field(default=())


def check_bars(bars: pl.DataFrame, s: en.EnsembleSettings) -> str:
    """Why these bars cannot be scanned, or "" if they can."""
    need = s.min_bars
    if bars.height < need:
        return f"too few bars: {bars.height} < {need} needed"
    prices = bars.select("open", "high", "low", "close").to_numpy()
    bad = ~np.isfinite(prices)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        return f"NaN or inf price in bar {row} of {bars.height}"
    if (prices <= 0).any():
        return "non-positive price"
    ts = bars["ts"].to_numpy()
    if (np.diff(ts) <= 0).any():
        return "timestamps are not strictly increasing"
    close = prices[:, 3]
    if np.all(close[-(s.cycle_window + 1) :] == close[-1]):
        return f"constant price over the last {s.cycle_window + 1} bars: nothing to analyse"
    return ""


def scan(
    frames: Mapping[str, pl.DataFrame],
    timeframe: str,
    s: en.EnsembleSettings,
    detector: CycleDetector = CLASSICAL,
    times: StageTimes | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[ScanResult]:
    """A signal at the last bar of every frame (or a reason), in the order given.

    ``progress(done, total)`` is called after each symbol's signal (the cycle stages run
    once for all symbols before the first call).
    """
    times = StageTimes() if times is None else times
    results: dict[str, ScanResult] = {}
    ok: list[str] = []
    for sym, bars in frames.items():
        reason = check_bars(bars, s)
        if reason:
            results[sym] = ScanResult(sym, reason=reason)
        else:
            ok.append(sym)
    if ok:
        with times.stage("encoding"):
            rets = np.stack([_last_returns(frames[sym], s.cycle_window) for sym in ok])
            amps = cm.encode_returns(rets)
        encodable = np.all(np.isfinite(amps), axis=1)
        with times.stage("qpe"):
            estimates = cm.read_cycles(cm.spectra(amps, detector.spectrum), rets)
        for i, sym in enumerate(ok):
            with times.stage("indicators"):
                an = en.analyse(frames[sym], timeframe, s)
            with times.stage("ensemble"):
                t = len(an.features) - 1
                sig = en.signal_at(an, t, estimates[i], s, sym, timeframe)
            notes = () if encodable[i] else ("cycle window could not be encoded",)
            results[sym] = ScanResult(sym, sig, phase=estimates[i][1], notes=notes)
            if progress is not None:
                progress(i + 1, len(ok))
    return [results[sym] for sym in frames]


def _last_returns(bars: pl.DataFrame, window: int) -> np.ndarray:
    close = bars["close"].to_numpy()[-(window + 1) :]
    return np.diff(np.log(close))


def summary(result: ScanResult) -> dict[str, object]:
    """A JSON-ready record of one result."""
    if result.signal is None:
        return {"symbol": result.symbol, "error": result.reason}
    sig = result.signal
    cycle = (
        None
        if sig.cycle is None
        else {"period": sig.cycle.period_bars, "strength": sig.cycle.strength, "k": sig.cycle.k}
    )
    phase = result.phase
    return {
        "symbol": sig.symbol,
        "timeframe": sig.timeframe,
        "ts": sig.ts_ns,
        "action": str(sig.action),
        "confidence": round(sig.confidence, 6),
        "price": sig.price,
        "cycle": cycle,
        "bars_to_trough": None if phase is None else _finite(phase.bars_to_trough),
        "bars_to_peak": None if phase is None else _finite(phase.bars_to_peak),
        "reasons": list(sig.reasons),
        "notes": list(result.notes),
    }


def _finite(x: float) -> float | None:
    return round(x, 3) if math.isfinite(x) else None
