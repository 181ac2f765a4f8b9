"""Each indicator on 1M bars against TA-Lib on the same input (best of 5, after warm-up).

Run: .venv/bin/python benchmarks/indicators.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import talib

from engine.signals import indicators as ind

BARS = 1_000_000
REPEAT = 5


def best(fn: Callable[[], object]) -> float:
    fn()
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    c = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, BARS)))
    o = np.concatenate(([100.0], c[:-1]))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.005, BARS)))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.005, BARS)))
    v = rng.gamma(2.0, 100.0, BARS)
    ts = 1_700_000_000_000_000_000 + np.arange(BARS, dtype=np.int64) * 60_000_000_000
    cases: list[tuple[str, Callable[[], object], Callable[[], object] | None]] = [
        ("sma(20)", lambda: ind.sma(c, 20), lambda: talib.SMA(c, 20)),
        ("ema(20)", lambda: ind.ema(c, 20), lambda: talib.EMA(c, 20)),
        ("rsi(14)", lambda: ind.rsi(c, 14), lambda: talib.RSI(c, 14)),
        ("macd(12,26,9)", lambda: ind.macd(c), lambda: talib.MACD(c)),
        ("atr(14)", lambda: ind.atr(h, lo, c, 14), lambda: talib.ATR(h, lo, c, 14)),
        ("bollinger(20,2)", lambda: ind.bollinger(c), lambda: talib.BBANDS(c, 20, 2.0, 2.0, 0)),
        (
            "stochastic(14,3)",
            lambda: ind.stochastic(h, lo, c),
            lambda: talib.STOCHF(h, lo, c, 14, 3, 0),
        ),
        ("adx(14)", lambda: ind.adx(h, lo, c, 14), lambda: talib.ADX(h, lo, c, 14)),
        ("vwap(daily)", lambda: ind.vwap(h, lo, c, v, ts), None),
    ]
    print(f"indicators on {BARS:,} bars, best of {REPEAT} (ms); ratio = ours / TA-Lib")
    print(f"{'indicator':<18}{'qws ms':>10}{'TA-Lib ms':>12}{'ratio':>8}")
    for name, ours, ref in cases:
        t_ours = best(ours) * 1e3
        if ref is None:
            print(f"{name:<18}{t_ours:>10.2f}{'—':>12}{'—':>8}")
            continue
        t_ref = best(ref) * 1e3
        print(f"{name:<18}{t_ours:>10.2f}{t_ref:>12.2f}{t_ours / t_ref:>8.2f}")


if __name__ == "__main__":
    main()
