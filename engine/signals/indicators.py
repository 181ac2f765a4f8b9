"""Classical indicators over numpy arrays: float64 in, float64 out, NaN during warm-up.

Every function returns arrays of the input's length, NaN at exactly the bars where TA-Lib's
output is NaN (its lookback: MACD's line, signal and histogram all start at
``slow + signal - 2``, STOCHF's %K and %D at ``k + d - 2``) and TA-Lib's values (default
compatibility, unstable period 0) after, including its seeding conventions: EMA starts from
the SMA of its first ``n`` values, RSI/ATR/ADX use Wilder's smoothing seeded the way TA-Lib
seeds them, Bollinger uses the population standard deviation.
TA-Lib is the reference in the tests, not a dependency.

NaN inputs: a bar with a NaN in any input is NaN in the output and *restarts the warm-up*
after it, so leading NaNs behave exactly as in TA-Lib (the computation starts at the first
finite bar) and an interior gap never poisons the rest of the series with NaN. Windowed
indicators (SMA, Bollinger, stochastic) are thereby NaN exactly where their window holds a NaN.

Each indicator is one numba kernel (``@njit(cache=True)``), a single pass over the bars that
fills output arrays allocated here, with no temporaries; the first call of a process compiles
the kernels or loads them from numba's cache. Recursive kernels may fuse a multiply and an add
(``fastmath={"contract"}``, nothing else): ATR, STOCHF (%K and %D) and ADX are TA-Lib's values
bit for bit; SMA, EMA, RSI, MACD and Bollinger differ from TA-Lib by round-off only (their
recurrences are arranged to carry one multiply-add per bar, and the rolling sums are re-summed
every few hundred bars, so they do not drift as TA-Lib's do over long series).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.timeframes import DAY_NS

Array = np.ndarray

_NO_TS = np.empty(0, dtype=np.int64)
NAN = np.nan
# Fused multiply-add only (no reassociation, NaN checks intact): the recursive kernels are
# latency-bound on one multiply-add per bar, which TA-Lib's FMA build fuses the same way.
_FUSED = {"contract"}
_RECENTER = 256


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
def _sma_kernel(x: Array, n: int, out: Array) -> None:  # pragma: no cover - compiled
    """Rolling sum with one add on the loop-carried chain (``v - x[i - n]`` is formed off it),
    re-summed from the window every ``max(n, _RECENTER)`` bars so round-off cannot build up
    over a long series (a multiply by 1/n, not a divide, per bar: within an ulp of the divide).
    Each run (a stretch without NaN) is seeded, then carried by an inner
    loop with nothing in it but the update and the NaN test."""
    m = x.shape[0]
    recenter = max(n, _RECENTER)
    inv_n = 1.0 / n
    i = 0
    while i < m:
        total = 0.0
        count = 0
        while i < m and count < n:
            v = x[i]
            if v != v:
                break
            total += v
            count += 1
            out[i] = NAN
            i += 1
        if count < n:
            if i < m:
                out[i] = NAN
                i += 1
            continue
        out[i - 1] = total / n
        while i < m:
            stop = min(i + recenter - 1, m)
            while i < stop:
                v = x[i]
                if v != v:
                    break
                total += v - x[i - n]
                out[i] = total * inv_n
                i += 1
            if i < stop or i >= m or x[i] != x[i]:
                break
            total = 0.0
            for j in range(i - n + 1, i + 1):
                total += x[j]
            out[i] = total / n
            i += 1


@njit(cache=True, fastmath=_FUSED)
def _ema_kernel(x: Array, n: int, out: Array) -> None:  # pragma: no cover - compiled
    """EMA seeded with the SMA of a run's first ``n`` values. The step is written
    ``prev * (1 - k) + k * v`` so only one fused multiply-add sits on the loop-carried chain
    (TA-Lib's ``(v - prev) * k + prev`` carries a subtraction too); the two agree to round-off."""
    k = 2.0 / (n + 1)
    a = 1.0 - k
    count = 0
    prev = 0.0
    for i in range(x.shape[0]):
        v = x[i]
        if v != v:
            count = 0
            out[i] = NAN
            continue
        count += 1
        if count > n:
            prev = prev * a + k * v
            out[i] = prev
        elif count == 1:
            prev = v
            out[i] = prev if n == 1 else NAN
        else:
            prev += v
            if count == n:
                prev /= n
                out[i] = prev
            else:
                out[i] = NAN


@njit(cache=True, fastmath=_FUSED)
def _macd_kernel(
    x: Array, fast: int, slow: int, signal: int, line: Array, sig: Array, hist: Array
) -> None:  # pragma: no cover - compiled
    """One pass of TA-Lib's MACD: both EMAs start at bar ``slow - 1`` of a run (the fast one
    seeded on the ``fast`` values ending there), the signal EMA is seeded on the first
    ``signal`` lines, and all three outputs start with the signal, at ``slow + signal - 2``.

    Once a run is past its warm-up an inner loop carries it with no bookkeeping but the NaN
    test; a NaN ends the run and the outer loop starts the next one."""
    m = x.shape[0]
    kf = 2.0 / (fast + 1)
    ks = 2.0 / (slow + 1)
    kg = 2.0 / (signal + 1)
    af = 1.0 - kf
    as_ = 1.0 - ks
    ag = 1.0 - kg
    count = 0
    ef = 0.0
    es = 0.0
    eg = 0.0
    i = 0
    while i < m:
        v = x[i]
        if v != v:
            count = 0
            line[i] = NAN
            sig[i] = NAN
            hist[i] = NAN
            i += 1
            continue
        count += 1
        if count > slow:
            ef = ef * af + kf * v
            es = es * as_ + ks * v
        elif count == slow:
            tf = 0.0
            for j in range(i - fast + 1, i + 1):
                tf += x[j]
            ts = 0.0
            for j in range(i - slow + 1, i + 1):
                ts += x[j]
            ef = tf / fast
            es = ts / slow
        else:
            line[i] = NAN
            sig[i] = NAN
            hist[i] = NAN
            i += 1
            continue
        d = ef - es
        c = count - slow + 1
        if c < signal:
            eg = d if c == 1 else eg + d
            line[i] = NAN
            sig[i] = NAN
            hist[i] = NAN
            i += 1
            continue
        eg = (eg + d) / signal if signal > 1 else d
        line[i] = d
        sig[i] = eg
        hist[i] = d - eg
        i += 1
        while i < m:
            v = x[i]
            if v != v:
                break
            ef = ef * af + kf * v
            es = es * as_ + ks * v
            d = ef - es
            eg = eg * ag + kg * d
            line[i] = d
            sig[i] = eg
            hist[i] = d - eg
            i += 1
        count = 0


@njit(cache=True, fastmath=_FUSED)
def _rsi_kernel(x: Array, n: int, out: Array) -> None:  # pragma: no cover - compiled
    inv_n = 1.0 / n
    decay = (n - 1) * inv_n
    count = 0
    gain = 0.0
    loss = 0.0
    for i in range(x.shape[0]):
        v = x[i]
        if v != v:
            count = 0
            out[i] = NAN
            continue
        count += 1
        if count == 1:
            gain = 0.0
            loss = 0.0
            out[i] = NAN
            continue
        d = v - x[i - 1]
        g = d if d > 0.0 else 0.0
        lo = -d if d < 0.0 else 0.0
        if count > n + 1:
            gain = gain * decay + g * inv_n
            loss = loss * decay + lo * inv_n
        else:
            gain += g
            loss += lo
            if count <= n:
                out[i] = NAN
                continue
            gain /= n
            loss /= n
        s = gain + loss
        out[i] = 100.0 * gain / s if s != 0.0 else 0.0


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


@njit(cache=True, fastmath=_FUSED)
def _atr_kernel(h: Array, lo: Array, c: Array, n: int, out: Array) -> None:  # pragma: no cover
    """Wilder's ATR exactly as TA-Lib's FMA build computes it: the mean of the first ``n``
    true ranges, then ``prev * d + tr * (1 - d)`` with ``d = (n - 1) / n``.

    The previous close rides in a register, and one NaN test of ``tr + close`` stands for the
    three input tests (a NaN high or low makes ``tr`` NaN); the exact tests run only when it
    fires."""
    d = (n - 1) / n
    e = 1.0 - d
    count = 0
    prev = 0.0
    pc = 0.0
    for i in range(h.shape[0]):
        hi = h[i]
        lw = lo[i]
        cc = c[i]
        tr = _true_range(hi, lw, pc)
        pc = cc
        q = tr + cc
        if q != q and (hi != hi or lw != lw or cc != cc):
            count = 0
            out[i] = NAN
            continue
        count += 1
        if count > n + 1:
            prev = prev * d + tr * e
            out[i] = prev
        elif count == 1:
            prev = 0.0
            out[i] = NAN
        else:
            prev += tr
            if count == n + 1:
                prev /= n
                out[i] = prev
            else:
                out[i] = NAN


@njit(cache=True, fastmath=_FUSED)
def _bollinger_kernel(
    x: Array, n: int, k: float, up: Array, mid: Array, dn: Array
) -> None:  # pragma: no cover - compiled
    """Rolling mean and population variance in one pass, as sums of ``x - shift``.

    ``shift`` is re-taken as the window's mean every ``max(n, _RECENTER)`` bars (and the two
    sums recomputed from the window), so the variance never comes from the difference of two
    large numbers (a plain sum of squares loses digits as price / spread grows) and the rolling
    sums cannot drift; values agree with TA-Lib's to round-off."""
    m = x.shape[0]
    inv_n = 1.0 / n
    recenter = max(n, _RECENTER)
    shift = 0.0
    s1 = 0.0
    s2 = 0.0
    count = 0
    left = 0
    for i in range(m):
        v = x[i]
        if v != v:
            count = 0
            up[i] = NAN
            mid[i] = NAN
            dn[i] = NAN
            continue
        count += 1
        if count < n:
            up[i] = NAN
            mid[i] = NAN
            dn[i] = NAN
            continue
        left -= 1
        if count == n or left == 0:
            t = 0.0
            for j in range(i - n + 1, i + 1):
                t += x[j]
            shift = t / n
            s1 = 0.0
            s2 = 0.0
            for j in range(i - n + 1, i + 1):
                q = x[j] - shift
                s1 += q
                s2 += q * q
            left = recenter
        else:
            qn = v - shift
            qo = x[i - n] - shift
            s1 += qn - qo
            s2 += qn * qn - qo * qo
        m1 = s1 * inv_n
        mean = shift + m1
        var = s2 * inv_n - m1 * m1
        sd = k * np.sqrt(var) if var > 0.0 else 0.0
        mid[i] = mean
        up[i] = mean + sd
        dn[i] = mean - sd


@njit(cache=True)
def _stochf_kernel(
    h: Array, lo: Array, c: Array, k: int, d: int, pk: Array, pd: Array
) -> None:  # pragma: no cover - compiled
    """TA-Lib's STOCHF in one pass, bit for bit: %K = 100 * ((close - LL) / (HH - LL)), %D the
    SMA of %K summed in TA-Lib's order; both start at bar ``k + d - 2`` of a run.

    HH and LL come from van Herk / Gil-Werman: a run is cut into blocks of ``k`` bars; a
    window is the suffix extreme of the previous block (computed once, when that block
    completes) against the running prefix extreme of the current one: a few ``max``/``min`` a
    bar (builtins, which compile without branches), no data-dependent rescans."""
    m = h.shape[0]
    ring = np.empty(d)
    suf_h = np.empty(k)
    suf_l = np.empty(k)
    count = 0
    off = 0
    pre_h = 0.0
    pre_l = 0.0
    dsum = 0.0
    slot = 0
    for i in range(m):
        x = h[i]
        y = lo[i]
        z = c[i]
        if x != x or y != y or z != z:
            count = 0
            pk[i] = NAN
            pd[i] = NAN
            continue
        count += 1
        if count == 1 or off == 0:
            off = 0
            pre_h = x
            pre_l = y
        else:
            pre_h = max(x, pre_h)
            pre_l = min(y, pre_l)
        if off == k - 1:
            hh = pre_h
            ll = pre_l
            sh = x
            sl = y
            suf_h[k - 1] = sh
            suf_l[k - 1] = sl
            for j in range(k - 2, -1, -1):
                v = h[i - k + 1 + j]
                w = lo[i - k + 1 + j]
                sh = max(v, sh)
                sl = min(w, sl)
                suf_h[j] = sh
                suf_l[j] = sl
            off = 0
        else:
            a = suf_h[off + 1]
            b = suf_l[off + 1]
            hh = max(a, pre_h)
            ll = min(b, pre_l)
            off += 1
        if count < k:
            pk[i] = NAN
            pd[i] = NAN
            continue
        r = hh - ll
        kv = 100.0 * ((z - ll) / r) if r != 0.0 else 0.0
        kc = count - k
        if kc == 0:
            slot = 0
            dsum = 0.0
        dsum += kv
        ring[slot] = kv
        slot = slot + 1 if slot + 1 < d else 0
        if kc >= d - 1:
            pk[i] = kv
            pd[i] = dsum / d
            dsum -= ring[slot]  # the window's oldest %K: the slot written next
        else:
            pk[i] = NAN
            pd[i] = NAN


@njit(cache=True)
def _adx_kernel(h: Array, lo: Array, c: Array, n: int, out: Array) -> None:  # pragma: no cover
    """TA-Lib's ADX: DM/TR summed over n-1 bars, then Wilder-smoothed; ADX = mean of the first
    n DX values, then Wilder-smoothed. Bars with zero range or no directional movement keep
    the previous ADX, as in TA-Lib."""
    count = 0
    pdm = 0.0
    mdm = 0.0
    tr = 0.0
    sum_dx = 0.0
    adx = 0.0
    for i in range(h.shape[0]):
        if h[i] != h[i] or lo[i] != lo[i] or c[i] != c[i]:
            count = 0
            out[i] = NAN
            continue
        count += 1
        out[i] = NAN
        if count == 1:
            pdm = 0.0
            mdm = 0.0
            tr = 0.0
            sum_dx = 0.0
            continue
        diff_p = h[i] - h[i - 1]
        diff_m = lo[i - 1] - lo[i]
        # The two conditions exclude each other; as selects they cost no mispredicted branch.
        dm_m = diff_m if (diff_m > 0.0) & (diff_p < diff_m) else 0.0
        dm_p = diff_p if (diff_p > 0.0) & (diff_p > diff_m) else 0.0
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


@njit(cache=True)
def _vwap_kernel(
    h: Array, lo: Array, c: Array, v: Array, ts: Array, session_ns: int, out: Array
) -> None:  # pragma: no cover - compiled
    """Typical price, session and running sums in one pass; an empty ``ts`` is one session.
    The bucket ``[begin, end)`` of the current session is kept, so ``ts // session_ns`` is only
    taken when a bar leaves it."""
    m = h.shape[0]
    sessions = ts.shape[0] > 0
    pv = 0.0
    vol = 0.0
    begin = 0
    end = 0
    for i in range(m):
        if sessions and (i == 0 or ts[i] < begin or ts[i] >= end):
            s = ts[i] // session_ns
            if i == 0 or s * session_ns != begin:
                pv = 0.0
                vol = 0.0
            begin = s * session_ns
            end = begin + session_ns
        tp = (h[i] + lo[i] + c[i]) / 3.0
        w = v[i]
        if tp != tp or w != w or w < 0.0:
            out[i] = NAN
            continue
        pv += tp * w
        vol += w
        out[i] = pv / vol if vol > 0.0 else NAN


def sma(x: Array, n: int) -> Array:
    """Simple moving average; first value at index ``n - 1``."""
    a = _as_series(x)
    out = np.empty(a.shape[0])
    _sma_kernel(a, _check_period(n), out)
    return out


def ema(x: Array, n: int) -> Array:
    """Exponential moving average, k = 2/(n+1), seeded with the SMA of the first ``n`` values."""
    n = _check_period(n)
    a = _as_series(x)
    out = np.empty(a.shape[0])
    _ema_kernel(a, n, out)
    return out


def rsi(close: Array, n: int = 14) -> Array:
    """Wilder's RSI in [0, 100]; first value at index ``n``. A flat window reads 0 (TA-Lib)."""
    a = _as_series(close, "close")
    out = np.empty(a.shape[0])
    _rsi_kernel(a, _check_period(n), out)
    return out


def macd(
    close: Array, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[Array, Array, Array]:
    """(macd, signal, histogram), all three from index ``slow + signal - 2`` as in TA-Lib. As in
    TA-Lib, the fast EMA is seeded on the ``fast`` values ending at ``slow - 1`` (so both EMAs
    start on the same bar), the signal EMA on the first ``signal`` MACD values, and fast/slow are
    swapped if inverted."""
    x = _as_series(close, "close")
    fast, slow = _check_period(fast, "fast"), _check_period(slow, "slow")
    signal = _check_period(signal, "signal")
    if slow < fast:
        fast, slow = slow, fast
    line, sig, hist = np.empty(x.shape[0]), np.empty(x.shape[0]), np.empty(x.shape[0])
    _macd_kernel(x, fast, slow, signal, line, sig, hist)
    return line, sig, hist


def atr(high: Array, low: Array, close: Array, n: int = 14) -> Array:
    """Wilder's average true range; first value at index ``n`` (mean of the first n TRs)."""
    h, lo, c = _as_series(high, "high"), _as_series(low, "low"), _as_series(close, "close")
    _same_length(h, lo, c)
    out = np.empty(h.shape[0])
    _atr_kernel(h, lo, c, _check_period(n), out)
    return out


def bollinger(close: Array, n: int = 20, k: float = 2.0) -> tuple[Array, Array, Array]:
    """(upper, middle, lower): SMA ± k population standard deviations over ``n`` bars."""
    a = _as_series(close, "close")
    up, mid, dn = np.empty(a.shape[0]), np.empty(a.shape[0]), np.empty(a.shape[0])
    _bollinger_kernel(a, _check_period(n), float(k), up, mid, dn)
    return up, mid, dn


def stochastic(
    high: Array, low: Array, close: Array, k: int = 14, d: int = 3
) -> tuple[Array, Array]:
    """Fast stochastic (%K, %D) in [0, 100]: %K over ``k`` bars, %D = SMA(%K, d) (TA-Lib
    STOCHF); both from index ``k + d - 2``, as in TA-Lib. A window with zero range reads 0, as
    in TA-Lib."""
    h, lo, c = _as_series(high, "high"), _as_series(low, "low"), _as_series(close, "close")
    _same_length(h, lo, c)
    pct_k, pct_d = np.empty(h.shape[0]), np.empty(h.shape[0])
    _stochf_kernel(h, lo, c, _check_period(k, "k"), _check_period(d, "d"), pct_k, pct_d)
    return pct_k, pct_d


def adx(high: Array, low: Array, close: Array, n: int = 14) -> Array:
    """Wilder's average directional index in [0, 100]; first value at index ``2n - 1``."""
    h, lo, c = _as_series(high, "high"), _as_series(low, "low"), _as_series(close, "close")
    _same_length(h, lo, c)
    out = np.empty(h.shape[0])
    _adx_kernel(h, lo, c, _check_period(n, minimum=2), out)
    return out


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
    out = np.empty(h.shape[0])
    if ts is None:
        _vwap_kernel(h, lo, c, v, _NO_TS, 1, out)
        return out
    t = np.ascontiguousarray(ts, dtype=np.int64)
    _same_length(h, t)
    _vwap_kernel(h, lo, c, v, t, _check_period(session_ns, "session_ns"), out)
    return out
