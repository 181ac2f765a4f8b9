"""Classical indicators over numpy arrays: float64 in, float64 out, NaN during warm-up.

Every function returns arrays of the input's length and reproduces TA-Lib's values (default
compatibility, unstable period 0) from the first index TA-Lib reports, including its seeding
conventions: EMA starts from the SMA of its first ``n`` values, RSI/ATR/ADX use Wilder's
smoothing seeded the way TA-Lib seeds them, Bollinger uses the population standard deviation.
TA-Lib is the reference in the tests, not a dependency.

NaN inputs: a bar with a NaN in any input is NaN in the output and *restarts the warm-up*
after it, so leading NaNs behave exactly as in TA-Lib (the computation starts at the first
finite bar) and an interior gap never poisons the rest of the series with NaN. Windowed
indicators (SMA, Bollinger, stochastic) are thereby NaN exactly where their window holds a NaN.

The recursive loops are numba kernels (``@njit(cache=True)``); the first call of a process
compiles them (or loads them from the cache).
"""

from __future__ import annotations

import numpy as np
from numba import njit

Array = np.ndarray
DAY_NS = 86_400_000_000_000


def _as_series(x: object, name: str = "x") -> Array:
    a = np.ascontiguousarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    return a


def _check_period(n: int, name: str = "n", minimum: int = 1) -> int:
    if isinstance(n, bool) or int(n) != n or n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n!r}")
    return int(n)


def _same_length(*arrays: Array) -> None:
    if len({len(a) for a in arrays}) != 1:
        raise ValueError(f"inputs differ in length: {[len(a) for a in arrays]}")


@njit(cache=True)
def _sma_kernel(x: Array, n: int) -> Array:  # pragma: no cover - compiled
    out = np.full(x.shape[0], np.nan)
    total = 0.0
    count = 0
    for i in range(x.shape[0]):
        v = x[i]
        if v != v:
            total = 0.0
            count = 0
            continue
        total += v
        count += 1
        if count > n:
            total -= x[i - n]
        if count >= n:
            out[i] = total / n
    return out


@njit(cache=True)
def _ema_kernel(x: Array, n: int, k: float, skip: int) -> Array:  # pragma: no cover
    """EMA whose seed is the SMA of the ``n`` values ending ``n - 1 + skip`` bars into a run.

    ``skip`` > 0 reproduces TA-Lib's MACD, which seeds the fast EMA on the window that ends
    where the slow EMA's seed ends.
    """
    out = np.full(x.shape[0], np.nan)
    count = 0
    prev = 0.0
    for i in range(x.shape[0]):
        v = x[i]
        if v != v:
            count = 0
            continue
        count += 1
        if count == n + skip:
            total = 0.0
            for j in range(i - n + 1, i + 1):
                total += x[j]
            prev = total / n
            out[i] = prev
        elif count > n + skip:
            prev = (v - prev) * k + prev
            out[i] = prev
    return out


@njit(cache=True)
def _macd_kernel(
    x: Array, fast: int, slow: int, signal: int
) -> tuple[Array, Array, Array]:  # pragma: no cover - compiled
    """One pass of TA-Lib's MACD: both EMAs start at bar ``slow - 1`` of a run (the fast one
    seeded on the ``fast`` values ending there), the signal EMA on the first ``signal`` lines."""
    m = x.shape[0]
    line = np.full(m, np.nan)
    sig = np.full(m, np.nan)
    hist = np.full(m, np.nan)
    kf = 2.0 / (fast + 1)
    ks = 2.0 / (slow + 1)
    kg = 2.0 / (signal + 1)
    count = 0
    ef = 0.0
    es = 0.0
    eg = 0.0
    for i in range(m):
        v = x[i]
        if v != v:
            count = 0
            continue
        count += 1
        if count < slow:
            continue
        if count == slow:
            tf = 0.0
            for j in range(i - fast + 1, i + 1):
                tf += x[j]
            ts = 0.0
            for j in range(i - slow + 1, i + 1):
                ts += x[j]
            ef = tf / fast
            es = ts / slow
        else:
            ef = (v - ef) * kf + ef
            es = (v - es) * ks + es
        d = ef - es
        line[i] = d
        c = count - slow + 1  # lines so far in this run
        if c < signal:
            continue
        if c == signal:
            tg = 0.0
            for j in range(i - signal + 1, i + 1):
                tg += line[j]
            eg = tg / signal
        else:
            eg = (d - eg) * kg + eg
        sig[i] = eg
        hist[i] = d - eg
    return line, sig, hist


@njit(cache=True)
def _rsi_kernel(x: Array, n: int) -> Array:  # pragma: no cover - compiled
    out = np.full(x.shape[0], np.nan)
    inv_n = 1.0 / n
    decay = (n - 1) * inv_n
    count = 0
    gain = 0.0
    loss = 0.0
    for i in range(x.shape[0]):
        v = x[i]
        if v != v:
            count = 0
            continue
        count += 1
        if count == 1:
            gain = 0.0
            loss = 0.0
            continue
        d = v - x[i - 1]
        g = d if d > 0.0 else 0.0
        lo = -d if d < 0.0 else 0.0
        if count <= n + 1:
            gain += g
            loss += lo
            if count == n + 1:
                gain /= n
                loss /= n
            else:
                continue
        else:
            gain = gain * decay + g * inv_n
            loss = loss * decay + lo * inv_n
        s = gain + loss
        out[i] = 100.0 * gain / s if s != 0.0 else 0.0
    return out


@njit(cache=True)
def _true_range(h: float, lo: float, prev_close: float) -> float:  # pragma: no cover
    tr = h - lo
    a = abs(h - prev_close)
    b = abs(lo - prev_close)
    if a > tr:
        tr = a
    if b > tr:
        tr = b
    return tr


@njit(cache=True)
def _atr_kernel(h: Array, lo: Array, c: Array, n: int) -> Array:  # pragma: no cover
    out = np.full(h.shape[0], np.nan)
    inv_n = 1.0 / n
    decay = (n - 1) * inv_n
    count = 0
    prev = 0.0
    for i in range(h.shape[0]):
        if h[i] != h[i] or lo[i] != lo[i] or c[i] != c[i]:
            count = 0
            continue
        count += 1
        if count == 1:
            prev = 0.0
            continue
        tr = _true_range(h[i], lo[i], c[i - 1])
        if count <= n + 1:
            prev += tr
            if count == n + 1:
                prev /= n
                out[i] = prev
        else:
            prev = prev * decay + tr * inv_n
            out[i] = prev
    return out


@njit(cache=True)
def _bollinger_kernel(x: Array, n: int, k: float) -> tuple[Array, Array, Array]:  # pragma: no cover
    m = x.shape[0]
    up = np.full(m, np.nan)
    mid = np.full(m, np.nan)
    dn = np.full(m, np.nan)
    total = 0.0
    count = 0
    for i in range(m):
        v = x[i]
        if v != v:
            total = 0.0
            count = 0
            continue
        total += v
        count += 1
        if count > n:
            total -= x[i - n]
        if count >= n:
            mean = total / n
            var = 0.0
            for j in range(i - n + 1, i + 1):
                d = x[j] - mean
                var += d * d
            sd = np.sqrt(var / n)
            mid[i] = mean
            up[i] = mean + k * sd
            dn[i] = mean - k * sd
    return up, mid, dn


@njit(cache=True)
def _stoch_k_kernel(h: Array, lo: Array, c: Array, n: int) -> Array:  # pragma: no cover
    out = np.full(h.shape[0], np.nan)
    count = 0
    for i in range(h.shape[0]):
        if h[i] != h[i] or lo[i] != lo[i] or c[i] != c[i]:
            count = 0
            continue
        count += 1
        if count < n:
            continue
        hh = h[i]
        ll = lo[i]
        for j in range(i - n + 1, i):
            if h[j] > hh:
                hh = h[j]
            if lo[j] < ll:
                ll = lo[j]
        diff = (hh - ll) / 100.0
        out[i] = (c[i] - ll) / diff if diff != 0.0 else 0.0
    return out


@njit(cache=True)
def _adx_kernel(h: Array, lo: Array, c: Array, n: int) -> Array:  # pragma: no cover
    """TA-Lib's ADX: DM/TR summed over n-1 bars, then Wilder-smoothed; ADX = mean of the first
    n DX values, then Wilder-smoothed. Bars with zero range or no directional movement keep
    the previous ADX, as in TA-Lib."""
    out = np.full(h.shape[0], np.nan)
    count = 0
    pdm = 0.0
    mdm = 0.0
    tr = 0.0
    sum_dx = 0.0
    adx = 0.0
    for i in range(h.shape[0]):
        if h[i] != h[i] or lo[i] != lo[i] or c[i] != c[i]:
            count = 0
            continue
        count += 1
        if count == 1:
            pdm = 0.0
            mdm = 0.0
            tr = 0.0
            sum_dx = 0.0
            continue
        diff_p = h[i] - h[i - 1]
        diff_m = lo[i - 1] - lo[i]
        dm_p = 0.0
        dm_m = 0.0
        if diff_m > 0.0 and diff_p < diff_m:
            dm_m = diff_m
        elif diff_p > 0.0 and diff_p > diff_m:
            dm_p = diff_p
        t = _true_range(h[i], lo[i], c[i - 1])
        if count <= n:
            pdm += dm_p
            mdm += dm_m
            tr += t
            continue
        pdm = pdm - pdm / n + dm_p
        mdm = mdm - mdm / n + dm_m
        tr = tr - tr / n + t
        dx = -1.0
        if tr != 0.0:
            mdi = 100.0 * (mdm / tr)
            pdi = 100.0 * (pdm / tr)
            s = mdi + pdi
            if s != 0.0:
                dx = 100.0 * (abs(mdi - pdi) / s)
        if count <= 2 * n:
            if dx >= 0.0:
                sum_dx += dx
            if count == 2 * n:
                adx = sum_dx / n
                out[i] = adx
        else:
            if dx >= 0.0:
                adx = (adx * (n - 1) + dx) / n
            out[i] = adx
    return out


@njit(cache=True)
def _vwap_kernel(tp: Array, v: Array, session: Array) -> Array:  # pragma: no cover
    out = np.full(tp.shape[0], np.nan)
    pv = 0.0
    vol = 0.0
    current = 0
    for i in range(tp.shape[0]):
        if i == 0 or session[i] != current:
            current = session[i]
            pv = 0.0
            vol = 0.0
        if tp[i] != tp[i] or v[i] != v[i] or v[i] < 0.0:
            continue
        pv += tp[i] * v[i]
        vol += v[i]
        if vol > 0.0:
            out[i] = pv / vol
    return out


def sma(x: Array, n: int) -> Array:
    """Simple moving average; first value at index ``n - 1``."""
    return _sma_kernel(_as_series(x), _check_period(n))


def ema(x: Array, n: int) -> Array:
    """Exponential moving average, k = 2/(n+1), seeded with the SMA of the first ``n`` values."""
    n = _check_period(n)
    return _ema_kernel(_as_series(x), n, 2.0 / (n + 1), 0)


def rsi(close: Array, n: int = 14) -> Array:
    """Wilder's RSI in [0, 100]; first value at index ``n``. A flat window reads 0 (TA-Lib)."""
    return _rsi_kernel(_as_series(close, "close"), _check_period(n))


def macd(
    close: Array, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[Array, Array, Array]:
    """(macd, signal, histogram). The MACD line starts at ``slow - 1``, signal and histogram at
    ``slow + signal - 2``. As in TA-Lib, the fast EMA is seeded on the ``fast`` values ending at
    ``slow - 1`` (so both EMAs start on the same bar), and fast/slow are swapped if inverted."""
    x = _as_series(close, "close")
    fast, slow = _check_period(fast, "fast"), _check_period(slow, "slow")
    signal = _check_period(signal, "signal")
    if slow < fast:
        fast, slow = slow, fast
    return _macd_kernel(x, fast, slow, signal)


def atr(high: Array, low: Array, close: Array, n: int = 14) -> Array:
    """Wilder's average true range; first value at index ``n`` (mean of the first n TRs)."""
    h, lo, c = _as_series(high, "high"), _as_series(low, "low"), _as_series(close, "close")
    _same_length(h, lo, c)
    return _atr_kernel(h, lo, c, _check_period(n))


def bollinger(close: Array, n: int = 20, k: float = 2.0) -> tuple[Array, Array, Array]:
    """(upper, middle, lower): SMA ± k population standard deviations over ``n`` bars."""
    return _bollinger_kernel(_as_series(close, "close"), _check_period(n), float(k))


def stochastic(
    high: Array, low: Array, close: Array, k: int = 14, d: int = 3
) -> tuple[Array, Array]:
    """Fast stochastic (%K, %D) in [0, 100]: %K over ``k`` bars, %D = SMA(%K, d) (TA-Lib
    STOCHF). A window with zero range reads 0, as in TA-Lib."""
    h, lo, c = _as_series(high, "high"), _as_series(low, "low"), _as_series(close, "close")
    _same_length(h, lo, c)
    pct_k = _stoch_k_kernel(h, lo, c, _check_period(k, "k"))
    return pct_k, _sma_kernel(pct_k, _check_period(d, "d"))


def adx(high: Array, low: Array, close: Array, n: int = 14) -> Array:
    """Wilder's average directional index in [0, 100]; first value at index ``2n - 1``."""
    h, lo, c = _as_series(high, "high"), _as_series(low, "low"), _as_series(close, "close")
    _same_length(h, lo, c)
    return _adx_kernel(h, lo, c, _check_period(n, minimum=2))


def vwap(
    high: Array,
    low: Array,
    close: Array,
    volume: Array,
    ts: Array | None = None,
    session_ns: int = DAY_NS,
) -> Array:
    """Volume-weighted average of the typical price (h+l+c)/3, reset at each session.

    Sessions are ``session_ns``-long buckets of ``ts`` (UTC ns; default: the UTC day). Without
    ``ts`` the whole series is one session (anchored VWAP). Bars with NaN or negative volume
    are NaN and do not count; a session with no volume yet is NaN.
    """
    h, lo, c = _as_series(high, "high"), _as_series(low, "low"), _as_series(close, "close")
    v = _as_series(volume, "volume")
    _same_length(h, lo, c, v)
    if ts is None:
        session = np.zeros(len(c), dtype=np.int64)
    else:
        t = np.ascontiguousarray(ts, dtype=np.int64)
        _same_length(h, t)
        session = t // _check_period(session_ns, "session_ns")
    return _vwap_kernel((h + lo + c) / 3.0, v, session)
