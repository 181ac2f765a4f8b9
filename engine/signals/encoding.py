"""Amplitude encoding of price-series windows for the QPE cycle detector.

A window of ``N = 2**n`` consecutive values is turned into the ``N`` real amplitudes of an
``n``-qubit state:

1. **detrend** — subtract the least-squares line (``detrend=True``) or only the mean
   (``detrend=False``). The mean (the DC bin) carries no cycle information and would otherwise
   take most of the probability, so it is always removed.
2. **taper** — multiply by a periodic Hann window ``w[i] = 0.5 - 0.5 cos(2πi/N)`` (``"hann"``)
   or leave as is (``None`` / ``"none"``). The taper trades a wider peak for much less leakage
   from a period that does not divide ``N``.
3. **normalise** — divide by the L2 norm so the amplitudes are a valid quantum state.

Windows end-align to the series: the last window always ends at the last value, and earlier
ones start ``step`` values apart going back (oldest first in the output). A window that cannot
be encoded (non-finite values, constant after detrending, series shorter than ``N``) yields a
zero row, ``valid=False`` and a reason; nothing raises and nothing divides by zero.

The numba kernel (``@njit(parallel=True, cache=True)``, ``prange`` over windows) compiles on
first use (~1 s) and is cached on disk beside this module, so the cost is paid once per install.
``encode_windows_numpy`` is the pure-numpy reference of the same function for tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

OK, NON_FINITE, CONSTANT, TOO_SHORT = 0, 1, 2, 3
# A residual whose norm is below this fraction of the raw window's scale is treated as zero:
# floating-point rounding of a constant or straight-line window, not a signal.
_FLAT_RTOL = 1e-10
TAPERS = ("hann", "none")


class EncodingError(ValueError):
    """Arguments that make no sense for any series (bad n, step or taper name)."""


@dataclass(frozen=True, slots=True)
class EncodingMeta:
    """What came out of :func:`encode_windows`: one entry per window, oldest first."""

    n: int
    window: int  # N = 2**n values per window
    step: int
    starts: np.ndarray  # int64[k]: index of each window's first value in the series
    valid: np.ndarray  # bool[k]
    reasons: tuple[str | None, ...]  # None for a valid window, else why it was not encoded

    @property
    def all_valid(self) -> bool:
        return bool(self.valid.all())


def _check_args(n: int, step: int, taper: str | None) -> str:
    if not isinstance(n, int | np.integer) or not 1 <= n <= 20:
        raise EncodingError(f"n must be an integer in 1..20 (window = 2**n values), got {n!r}")
    if not isinstance(step, int | np.integer) or step < 1:
        raise EncodingError(f"step must be a positive integer, got {step!r}")
    name = "none" if taper is None else str(taper).lower()
    if name not in TAPERS:
        raise EncodingError(f"unknown taper {taper!r}; choose one of {', '.join(TAPERS)}")
    return name


@lru_cache(maxsize=32)
def taper_window(size: int, taper: str) -> np.ndarray:
    """The taper weights for a window of ``size`` values (read-only, cached)."""
    if taper == "hann":
        w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(size) / size)
    else:
        w = np.ones(size)
    w.setflags(write=False)
    return w


def window_starts(length: int, size: int, step: int) -> np.ndarray:
    """First index of every end-aligned window of ``size`` values in a series of ``length``."""
    if length < size:
        return np.zeros(1, dtype=np.int64)
    count = (length - size) // step + 1
    return (length - size) - step * np.arange(count - 1, -1, -1, dtype=np.int64)


def _reason(code: int, start: int, size: int, length: int) -> str | None:
    if code == OK:
        return None
    if code == TOO_SHORT:
        return f"too short: {length} values, a window needs {size}"
    where = f"window [{start}:{start + size}]"
    if code == NON_FINITE:
        return f"{where} has NaN or infinite values"
    return f"{where} is constant (nothing left after detrending)"


def _finish(
    out: np.ndarray, status: np.ndarray, starts: np.ndarray, n: int, step: int, length: int
) -> tuple[np.ndarray, EncodingMeta]:
    size = 1 << n
    pairs = zip(status, starts, strict=True)
    reasons = tuple(_reason(int(c), int(s), size, length) for c, s in pairs)
    meta = EncodingMeta(n, size, step, starts, status == OK, reasons)
    return out, meta


def _as_series(series: Any) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(series, dtype=np.float64))
    if arr.ndim != 1:
        raise EncodingError(f"series must be one-dimensional, got shape {arr.shape}")
    return arr


def encode_windows(
    series: Any, n: int, step: int = 1, detrend: bool = True, taper: str | None = "hann"
) -> tuple[np.ndarray, EncodingMeta]:
    """Encode every end-aligned window of ``2**n`` values: ``(amplitudes[k, N], meta)``.

    Rows of invalid windows are all zero; ``meta.valid`` and ``meta.reasons`` say which and why.
    """
    name = _check_args(n, step, taper)
    x = _as_series(series)
    size = 1 << n
    starts = window_starts(x.size, size, step)
    if x.size < size:
        return _finish(np.zeros((1, size)), np.array([TOO_SHORT]), starts, n, step, x.size)
    kernel = _kernel()
    out, status = kernel(x, starts, size, bool(detrend), taper_window(size, name), _FLAT_RTOL)
    return _finish(out, status, starts, n, step, x.size)


@lru_cache(maxsize=1)
def _kernel() -> Any:
    """Compile (or load from the on-disk cache) the numba kernel on first use."""
    from numba import njit, prange

    @njit(parallel=True, cache=True)
    def encode_kernel(x, starts, size, detrend, weights, rtol):
        k = starts.size
        out = np.zeros((k, size))
        status = np.zeros(k, dtype=np.int64)
        t_mean = (size - 1) / 2.0
        t_ss = 0.0
        for i in range(size):
            t_ss += (i - t_mean) ** 2
        for w in prange(k):
            s = starts[w]
            total = 0.0
            scale = 0.0
            finite = True
            for i in range(size):
                v = x[s + i]
                if not np.isfinite(v):
                    finite = False
                    break
                total += v
                scale = max(scale, abs(v))
            if not finite:
                status[w] = 1
                continue
            mean = total / size
            slope = 0.0
            if detrend:
                cov = 0.0
                for i in range(size):
                    cov += (i - t_mean) * (x[s + i] - mean)
                slope = cov / t_ss
            resid = 0.0
            for i in range(size):
                r = x[s + i] - mean - slope * (i - t_mean)
                out[w, i] = r
                resid += r * r
            if resid <= (rtol * scale) ** 2 * size:
                status[w] = 2
                out[w, :] = 0.0
                continue
            norm = 0.0
            for i in range(size):
                out[w, i] *= weights[i]
                norm += out[w, i] * out[w, i]
            if norm <= 0.0:
                status[w] = 2
                out[w, :] = 0.0
                continue
            inv = 1.0 / np.sqrt(norm)
            for i in range(size):
                out[w, i] *= inv
        return out, status

    return encode_kernel


def encode_windows_numpy(
    series: Any, n: int, step: int = 1, detrend: bool = True, taper: str | None = "hann"
) -> tuple[np.ndarray, EncodingMeta]:
    """Pure-numpy reference of :func:`encode_windows` (same output, vectorised, no numba)."""
    name = _check_args(n, step, taper)
    x = _as_series(series)
    size = 1 << n
    starts = window_starts(x.size, size, step)
    if x.size < size:
        return _finish(np.zeros((1, size)), np.array([TOO_SHORT]), starts, n, step, x.size)
    win = x[starts[:, None] + np.arange(size)]
    finite = np.isfinite(win).all(axis=1)
    win = np.where(finite[:, None], win, 0.0)
    t = np.arange(size) - (size - 1) / 2.0
    resid = win - win.mean(axis=1, keepdims=True)
    if detrend:
        slope = resid @ t / (t @ t)
        resid = resid - slope[:, None] * t
    scale = np.abs(win).max(axis=1)
    flat = (resid**2).sum(axis=1) <= (_FLAT_RTOL * scale) ** 2 * size
    tapered = resid * taper_window(size, name)
    norm = np.sqrt((tapered**2).sum(axis=1))
    flat |= norm <= 0.0
    good = finite & ~flat
    out = np.zeros_like(tapered)
    out[good] = tapered[good] / norm[good, None]
    status = np.where(finite, np.where(flat, CONSTANT, OK), NON_FINITE)
    return _finish(out, status, starts, n, step, x.size)


def log_returns(closes: Any) -> np.ndarray:
    """``log(close[t] / close[t-1])``; a non-positive or missing close gives NaN (reported later
    as a bad window by the encoder rather than raising here)."""
    c = np.asarray(closes, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(c > 0, np.log(np.where(c > 0, c, 1.0)), np.nan)
    return np.diff(logs)
