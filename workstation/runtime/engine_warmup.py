"""The engine's warm-up: what the screen's first cycle scan needs, loaded before it is asked.

Run on the engine (in the app, its worker process) right after the first frame, it imports
qiskit and Aer and the modules of the caller's engine calls (a function travels to the worker
by reference: its module would otherwise load on the first call), loads or compiles the
encoder's numba kernel (from numba's on-disk cache after the first run) and runs one cycle scan
of a synthetic series with the screen's settings, which builds the QPE template of that window
and pays Aer's first run. Each step is reported as a stage
(:func:`workstation.runtime.engine_thread.report_stage`), so the cycle panel can say what the
wait is for.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Sequence

from workstation.runtime.engine_thread import report_stage

STAGES = ("importing qiskit", "compiling kernels", "first scan")
"""What :func:`warm_up` reports, in order."""

_PERIOD_BARS = 16


def synthetic_closes(window: int) -> list[float]:
    """``window + 1`` positive closes with a clean cycle: a series every detector accepts."""
    price, closes = 100.0, [100.0]
    for i in range(window):
        price *= math.exp(0.01 * math.sin(2 * math.pi * i / _PERIOD_BARS))
        closes.append(price)
    return closes


def warm_up(
    window: int, backend: str, shots: int, modules: Sequence[str] = ()
) -> tuple[tuple[str, float], ...]:
    """Load what a cycle scan of ``window`` bars on ``backend`` needs, and ``modules``: each
    stage's seconds. An unusable ``window`` or ``backend`` raises :class:`ValueError`, as the
    scan would."""
    timings: list[tuple[str, float]] = []
    start = time.perf_counter()

    def done(stage: str) -> None:
        nonlocal start
        now = time.perf_counter()
        timings.append((stage, now - start))
        start = now

    report_stage(STAGES[0])
    from engine.signals.qpe import aer_simulator

    aer_simulator()
    for name in modules:
        importlib.import_module(name)
    done(STAGES[0])
    report_stage(STAGES[1])
    from engine.signals.cycle_model import encode_rows

    encode_rows([[math.sin(2 * math.pi * i / _PERIOD_BARS) for i in range(window)]])
    done(STAGES[1])
    report_stage(STAGES[2])
    from engine.signals.cycles import detect_cycles

    detect_cycles(synthetic_closes(window), window=window, backend=backend, shots=shots, seed=7)
    done(STAGES[2])
    return tuple(timings)
