"""What the dashboard asks of the engine, as the functions its worker runs.

A function sent to the engine's worker process travels by reference: the worker imports the
module that defines it. Defined here, not in the dashboard's module, the worker loads neither
Textual nor the widgets (a few seconds and tens of MB it never needed); the answers are
plain values that the screen turns into chart series and levels."""

from __future__ import annotations

from typing import Any

Series = tuple[str, Any, str]
"""An overlay as plain values: its name, its values aligned with the bars, its style."""
Level = tuple[str, float]
"""A price level as plain values: its name and its price."""


def chart_overlays(bars: Any) -> tuple[list[Series], list[Level]]:
    """EMA(20) and Bollinger(20, 2) series; Fibonacci retracements of the last confirmed swing
    and the two Gann square-of-9 levels nearest the price."""
    from engine.signals.indicators import bollinger, ema
    from engine.signals.levels import fibonacci_at, gann_square9, zigzag

    high, low, close = (bars[c].to_numpy() for c in ("high", "low", "close"))
    upper, _, lower = bollinger(close, 20, 2.0)
    series = [("ema20", ema(close, 20), "ema"), ("bb_upper", upper, "band"),
              ("bb_lower", lower, "band")]  # fmt: skip
    pivots = zigzag(high, low, close, atr_mult=2.5) if len(close) > 30 else []
    levels = [lv for lv in fibonacci_at(pivots) if lv.name in ("fib 0.382", "fib 0.5", "fib 0.618")]
    if pivots:
        gann = sorted(gann_square9(pivots[-1].price), key=lambda lv: abs(lv.price - close[-1]))
        levels += gann[:2]
    return series, [(lv.name, float(lv.price)) for lv in levels]


def cycle_scan(close: Any, window: int, backend: str, shots: int) -> tuple[Any, Any]:
    """The cycle report of the closes, and its spectrum folded for the cycle panel."""
    from engine.signals.cycles import detect_cycles
    from engine.signals.qpe import fold_spectrum

    report = detect_cycles(close, window=window, backend=backend, shots=shots, seed=7)
    return report, fold_spectrum(report.spectrum)
