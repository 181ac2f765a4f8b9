"""Each indicator on 1M bars against TA-Lib on the same input; vwap against plain numpy.

Per indicator: qws (A) and the reference (B) run interleaved A B A B, ``RUNS`` times each after
one warm-up round, medians compared; every round's results are checked equal in full first:
NaN at exactly the same bars, and every value within ``RTOL`` of the bar's scale (the close for
price-valued outputs, 100 for oscillators), so a difference in the last bits of a MACD near
zero is judged against the price it was computed from. The largest difference seen is printed
beside each figure ("exact" where qws reproduces TA-Lib bit for bit). One line gives numba's
compile time (empty cache) and its cache-load time: importing the module and the first call of
every indicator in a fresh process (numba itself already imported), what a user's first call
costs.

Run: .venv/bin/python benchmarks/indicators.py [--quick]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import talib
from harness import assert_close, interleave, ratio_verdict

from engine.signals import indicators as ind

BARS = 1_000_000
RUNS = 31
RTOL = 1e-11

FIRST_CALLS = """
import time
import numba
import numpy as np
t0 = time.perf_counter()
from engine.signals import indicators as ind
x = 100.0 + np.cumsum(np.random.default_rng(0).normal(0, 1, 200))
h, lo, v = x + 1, x - 1, np.ones(200)
ts = np.arange(200, dtype=np.int64) * 60_000_000_000
ind.sma(x, 5); ind.ema(x, 5); ind.rsi(x); ind.macd(x); ind.atr(h, lo, x)
ind.bollinger(x); ind.stochastic(h, lo, x); ind.adx(h, lo, x); ind.vwap(h, lo, x, v, ts)
ind.vwap(h, lo, x, v)
print(time.perf_counter() - t0)
"""


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    ours: Callable[[], Any]
    ref: Callable[[], Any]
    scale: np.ndarray | float  # what a difference is measured against, per bar or overall
    ref_name: str = "TA-Lib"


def _outputs(result: Any) -> tuple[np.ndarray, ...]:
    return tuple(result) if isinstance(result, tuple | list) else (result,)


def check(scale: np.ndarray | float) -> Callable[[Any, Any], None]:
    def verify(a: Any, b: Any) -> None:
        xs, ys = _outputs(a), _outputs(b)
        assert len(xs) == len(ys), f"{len(xs)} outputs vs {len(ys)}"
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            assert_close(x / scale, y / scale, f"output {i}", rtol=RTOL)

    return verify


def max_diff(a: Any, b: Any, scale: np.ndarray | float) -> str:
    """Largest difference over all outputs, relative to the scale; 'exact' if bit for bit."""
    xs, ys = _outputs(a), _outputs(b)
    if all(np.array_equal(x, y, equal_nan=True) for x, y in zip(xs, ys, strict=True)):
        return "exact"
    worst = max(float(np.nanmax(np.abs(x - y) / scale)) for x, y in zip(xs, ys, strict=True))
    return f"max diff {worst:.1e} of scale"


def vwap_numpy(
    h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray, ts: np.ndarray
) -> np.ndarray:
    """The plain way: a cumulative sum per session (the input has no NaN). One global cumsum
    less each session's offset would be faster but loses digits once the running total dwarfs
    a session's."""
    pv = (h + lo + c) / 3.0 * v
    day = ts // ind.DAY_NS
    bounds = [0, *(np.flatnonzero(np.diff(day)) + 1).tolist(), len(c)]
    out = np.empty(len(c))
    for a, b in pairwise(bounds):
        out[a:b] = np.cumsum(pv[a:b]) / np.cumsum(v[a:b])
    return out


def first_call_seconds(cache_dir: str) -> float:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    out = subprocess.run(
        [sys.executable, "-c", FIRST_CALLS], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.split()[-1])


def main() -> None:
    runs = 7 if "--quick" in sys.argv else RUNS
    rng = np.random.default_rng(0)
    c = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, BARS)))
    o = np.concatenate(([100.0], c[:-1]))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.005, BARS)))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.005, BARS)))
    v = rng.gamma(2.0, 100.0, BARS)
    ts = 1_700_000_000_000_000_000 + np.arange(BARS, dtype=np.int64) * 60_000_000_000
    cases = [
        Case("sma(20)", lambda: ind.sma(c, 20), lambda: talib.SMA(c, 20), c),
        Case("ema(20)", lambda: ind.ema(c, 20), lambda: talib.EMA(c, 20), c),
        Case("rsi(14)", lambda: ind.rsi(c, 14), lambda: talib.RSI(c, 14), 100.0),
        Case("macd(12,26,9)", lambda: ind.macd(c), lambda: talib.MACD(c), c),
        Case("atr(14)", lambda: ind.atr(h, lo, c, 14), lambda: talib.ATR(h, lo, c, 14), c),
        Case(
            "bollinger(20,2)",
            lambda: ind.bollinger(c),
            lambda: talib.BBANDS(c, 20, 2.0, 2.0, 0),
            c,
        ),
        Case(
            "stochastic(14,3)",
            lambda: ind.stochastic(h, lo, c),
            lambda: talib.STOCHF(h, lo, c, 14, 3, 0),
            100.0,
        ),
        Case("adx(14)", lambda: ind.adx(h, lo, c, 14), lambda: talib.ADX(h, lo, c, 14), 100.0),
        Case(
            "vwap(daily)",
            lambda: ind.vwap(h, lo, c, v, ts),
            lambda: vwap_numpy(h, lo, c, v, ts),
            c,
            "numpy",
        ),
    ]
    with tempfile.TemporaryDirectory(prefix="qws-numba-") as cache:
        compile_s = first_call_seconds(cache)
        load_s = first_call_seconds(cache)
    print(
        f"numba: first call of every indicator in a fresh process {compile_s:.2f} s with an "
        f"empty cache (compile), {load_s:.2f} s from the cache (cache=True)"
    )
    print(
        f"indicators on {BARS:,} bars, interleaved, median of {runs} each; results checked "
        f"every round (same NaN bars, values within {RTOL:g} of scale); ratio = qws / reference"
    )
    print(f"{'indicator':<18}{'qws ms':>9}{'ref ms':>9}{'ratio':>7}  {'reference':<8} values")
    timings = []
    for case in cases:
        t = interleave(case.ours, case.ref, runs, check=check(case.scale))
        agree = max_diff(case.ours(), case.ref(), case.scale)
        print(
            f"{case.name:<18}{t.a_median * 1e3:>9.2f}{t.b_median * 1e3:>9.2f}{t.ratio:>7.2f}"
            f"  {case.ref_name:<8} {agree}",
            flush=True,
        )
        timings.append((case, t))
    for case, t in timings:
        ratio_verdict(f"{case.name} vs {case.ref_name}, {BARS:,} bars", t, at_most=1.0)


if __name__ == "__main__":
    main()
