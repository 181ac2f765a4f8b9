"""engine.signals.indicators against TA-Lib (the reference) on generated series, plus NaN
behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from engine.signals import indicators as ind

N = 3000


def _ohlc(seed: int, price: float, vol: float) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    close = price * np.exp(np.cumsum(rng.normal(0, vol, N)))
    open_ = np.concatenate(([price], close[:-1]))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, vol / 2, N)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, vol / 2, N)))
    volume = rng.gamma(2.0, 100.0, N)
    return open_, high, low, close, volume


SERIES = [
    pytest.param(_ohlc(1, 64_000.0, 0.01), id="btc-like"),
    pytest.param(_ohlc(2, 1.085, 0.001), id="fx-like"),
    pytest.param(_ohlc(3, 150.0, 0.03), id="volatile"),
]


def _assert_matches(ours: np.ndarray, ref: np.ndarray, scale: float) -> None:
    """Equal to TA-Lib from TA-Lib's first non-NaN index, within 1e-9 of the value scale;
    our warm-up may not be longer than TA-Lib's."""
    first = int(np.argmax(~np.isnan(ref)))
    assert not np.isnan(ref[first])
    assert np.all(np.isfinite(ours[first:])), "NaN after TA-Lib's warm-up"
    err = np.max(np.abs(ours[first:] - ref[first:]))
    assert err <= 1e-9 * scale, f"max abs diff {err} exceeds {1e-9 * scale}"


@pytest.mark.parametrize("ohlcv", SERIES)
@pytest.mark.parametrize("n", [1, 2, 14, 50])
def test_sma_ema_match_talib(ohlcv: tuple[np.ndarray, ...], n: int) -> None:
    close = ohlcv[3]
    scale = float(np.max(np.abs(close)))
    _assert_matches(ind.sma(close, n), talib.SMA(close, n), scale)
    if n > 1:
        _assert_matches(ind.ema(close, n), talib.EMA(close, n), scale)
        assert np.all(np.isnan(ind.ema(close, n)[: n - 1]))


@pytest.mark.parametrize("ohlcv", SERIES)
@pytest.mark.parametrize("n", [2, 14, 30])
def test_rsi_matches_talib(ohlcv: tuple[np.ndarray, ...], n: int) -> None:
    close = ohlcv[3]
    ours = ind.rsi(close, n)
    _assert_matches(ours, talib.RSI(close, n), 100.0)
    assert np.all(np.isnan(ours[:n])) and not np.isnan(ours[n])


@pytest.mark.parametrize("ohlcv", SERIES)
@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 35, 5), (3, 10, 16)])
def test_macd_matches_talib(
    ohlcv: tuple[np.ndarray, ...], fast: int, slow: int, signal: int
) -> None:
    close = ohlcv[3]
    scale = float(np.max(np.abs(close)))
    ours = ind.macd(close, fast, slow, signal)
    ref = talib.MACD(close, fast, slow, signal)
    for o, r in zip(ours, ref, strict=True):
        _assert_matches(o, r, scale)


@pytest.mark.parametrize("ohlcv", SERIES)
@pytest.mark.parametrize("n", [1, 14, 21])
def test_atr_matches_talib(ohlcv: tuple[np.ndarray, ...], n: int) -> None:
    _, h, lo, c, _ = ohlcv
    _assert_matches(ind.atr(h, lo, c, n), talib.ATR(h, lo, c, n), float(np.max(c)))


@pytest.mark.parametrize("ohlcv", SERIES)
@pytest.mark.parametrize(("n", "k"), [(20, 2.0), (10, 1.5), (50, 3.0)])
def test_bollinger_matches_talib(ohlcv: tuple[np.ndarray, ...], n: int, k: float) -> None:
    close = ohlcv[3]
    ours = ind.bollinger(close, n, k)
    ref = talib.BBANDS(close, n, k, k, 0)
    for o, r in zip(ours, ref, strict=True):
        _assert_matches(o, r, float(np.max(close)))


@pytest.mark.parametrize("ohlcv", SERIES)
@pytest.mark.parametrize(("k", "d"), [(14, 3), (5, 1), (9, 6)])
def test_stochastic_matches_talib_stochf(ohlcv: tuple[np.ndarray, ...], k: int, d: int) -> None:
    _, h, lo, c, _ = ohlcv
    ours = ind.stochastic(h, lo, c, k, d)
    ref = talib.STOCHF(h, lo, c, fastk_period=k, fastd_period=d, fastd_matype=0)
    for o, r in zip(ours, ref, strict=True):
        _assert_matches(o, r, 100.0)


@pytest.mark.parametrize("ohlcv", SERIES)
@pytest.mark.parametrize("n", [2, 14, 28])
def test_adx_matches_talib(ohlcv: tuple[np.ndarray, ...], n: int) -> None:
    _, h, lo, c, _ = ohlcv
    ours = ind.adx(h, lo, c, n)
    _assert_matches(ours, talib.ADX(h, lo, c, n), 100.0)
    assert np.all(np.isnan(ours[: 2 * n - 1])) and not np.isnan(ours[2 * n - 1])


def test_vwap_resets_each_session_and_matches_direct_sum() -> None:
    _, h, lo, c, v = _ohlc(4, 100.0, 0.01)
    hour = 3_600_000_000_000
    ts = 1_700_000_000_000_000_000 + np.arange(N, dtype=np.int64) * hour
    ours = ind.vwap(h, lo, c, v, ts)
    tp = (h + lo + c) / 3
    day = ts // ind.DAY_NS
    expected = np.empty(N)
    for d in np.unique(day):
        m = day == d
        expected[m] = np.cumsum(tp[m] * v[m]) / np.cumsum(v[m])
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    first_of_day = np.flatnonzero(np.diff(day)) + 1
    np.testing.assert_allclose(ours[first_of_day], tp[first_of_day], rtol=1e-12)
    anchored = ind.vwap(h, lo, c, v)
    np.testing.assert_allclose(anchored, np.cumsum(tp * v) / np.cumsum(v), rtol=1e-12)


def test_leading_nans_skip_warmup_like_talib() -> None:
    _, h, lo, c, _ = _ohlc(5, 100.0, 0.02)
    c = c.copy()
    c[:7] = np.nan
    scale = float(np.nanmax(c))
    _assert_matches(ind.ema(c, 10), talib.EMA(c, 10), scale)
    _assert_matches(ind.rsi(c, 14), talib.RSI(c, 14), 100.0)
    _assert_matches(ind.macd(c)[2], talib.MACD(c)[2], scale)
    _assert_matches(ind.atr(h, lo, c, 14), talib.ATR(h, lo, c, 14), scale)
    assert np.all(np.isnan(ind.ema(c, 10)[: 7 + 9]))


def test_interior_nan_is_nan_and_restarts_warmup() -> None:
    _, h, lo, c, _ = _ohlc(6, 100.0, 0.02)
    c = c.copy()
    gap = 500
    c[gap] = np.nan
    after = c[gap + 1 :]
    for fn, n in ((ind.sma, 20), (ind.ema, 20), (ind.rsi, 14)):
        out = fn(c, n)
        assert np.isnan(out[gap])
        assert np.all(np.isfinite(out[gap + 1 + n : gap + 200])), fn.__name__
        # After the gap the indicator is exactly what it would be on the series after the gap.
        np.testing.assert_array_equal(out[gap + 1 :], fn(after, n))
    sma = ind.sma(c, 20)
    assert np.all(np.isnan(sma[gap : gap + 20])) and np.isfinite(sma[gap + 20])
    _, mid, _ = ind.bollinger(c, 20)
    np.testing.assert_array_equal(np.isnan(mid), np.isnan(sma))
    assert np.all(np.isfinite(ind.atr(h, lo, c, 14)[gap + 15 :]))
    assert np.all(np.isfinite(ind.adx(h, lo, c, 14)[gap + 28 :]))
    assert np.all(np.isnan(ind.adx(h, lo, c, 14)[gap : gap + 28]))


def test_all_nan_and_short_inputs_are_all_nan() -> None:
    x = np.full(50, np.nan)
    assert np.all(np.isnan(ind.ema(x, 5)))
    assert np.all(np.isnan(ind.rsi(np.arange(10.0), 14)))
    assert np.all(np.isnan(ind.adx(np.ones(20), np.ones(20), np.ones(20), 14)))
    assert ind.sma(np.array([]), 3).shape == (0,)


def test_constant_series_gives_defined_values() -> None:
    c = np.full(100, 5.0)
    assert np.all(ind.rsi(c, 14)[14:] == 0.0)  # TA-Lib reads a flat window as 0
    up, _, lo = ind.bollinger(c, 20)
    assert np.all(up[19:] == 5.0) and np.all(lo[19:] == 5.0)
    assert np.all(ind.atr(c, c, c, 14)[14:] == 0.0)
    pct_k, pct_d = ind.stochastic(c, c, c)
    assert np.all(pct_k[15:] == 0.0) and np.all(pct_d[15:] == 0.0)  # both from k + d - 2


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_period_is_a_clear_error(bad: object) -> None:
    with pytest.raises(ValueError, match="integer >= 1"):
        ind.sma(np.arange(10.0), bad)  # type: ignore[arg-type]


def test_mismatched_lengths_and_2d_input_are_errors() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        ind.atr(np.ones(10), np.ones(9), np.ones(10))
    with pytest.raises(ValueError, match="one-dimensional"):
        ind.ema(np.ones((3, 3)), 2)


def test_long_series_do_not_drift_from_talib() -> None:
    rng = np.random.default_rng(7)
    n = 200_000
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    h = c * np.exp(np.abs(rng.normal(0, 0.001, n)))
    lo = c * np.exp(-np.abs(rng.normal(0, 0.001, n)))
    scale = float(np.max(c))
    _assert_matches(ind.sma(c, 50), talib.SMA(c, 50), scale)
    _assert_matches(ind.ema(c, 50), talib.EMA(c, 50), scale)
    _assert_matches(ind.rsi(c, 14), talib.RSI(c, 14), 100.0)
    _assert_matches(ind.atr(h, lo, c, 14), talib.ATR(h, lo, c, 14), scale)
    _assert_matches(ind.adx(h, lo, c, 14), talib.ADX(h, lo, c, 14), 100.0)
    _assert_matches(ind.bollinger(c)[0], talib.BBANDS(c, 20, 2.0, 2.0, 0)[0], scale)
    _assert_matches(ind.macd(c)[2], talib.MACD(c)[2], scale)


def _fma(a: float, b: float, c: float) -> float:
    """``a * b + c`` rounded once (exact rational arithmetic; int / int rounds correctly)."""
    import math
    from fractions import Fraction

    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
        return a * b + c
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    return exact.numerator / exact.denominator


def _atr_bar_by_bar(h: np.ndarray, lo: np.ndarray, c: np.ndarray, n: int) -> np.ndarray:
    """ATR one bar at a time in plain Python: TA-Lib's arithmetic (one fused multiply-add per
    step, as its FMA build), an input NaN restarting the warm-up."""
    import math

    d = (n - 1) / n
    e = 1.0 - d
    out = np.full(len(h), np.nan)
    count, prev = 0, 0.0
    for i in range(len(h)):
        pc = c[i - 1] if i else 0.0
        if math.isnan(h[i]) or math.isnan(lo[i]) or math.isnan(c[i]):
            count = 0
            continue
        tr = h[i] - lo[i]
        for x in (abs(h[i] - pc), abs(lo[i] - pc)):
            if x > tr:
                tr = x
        count += 1
        if count == 1:
            prev = 0.0
        elif count <= n + 1:
            prev += tr
            if count == n + 1:
                prev /= n
                out[i] = prev
        else:
            prev = _fma(prev, d, tr * e)
            out[i] = prev
    return out


@pytest.mark.parametrize("seed", range(12))
def test_atr_is_bar_by_bar_exact_through_gaps_infinities_and_restarts(seed: int) -> None:
    """Bit for bit the bar-by-bar recurrence, wherever the kernel switches between its warm-up
    step and its steady loop: NaN gaps (restart), infinities (no restart), high below low."""
    rng = np.random.default_rng(seed)
    m = 2000
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, m)))
    h = c * np.exp(np.abs(rng.normal(0, 0.01, m)))
    lo = c * np.exp(-np.abs(rng.normal(0, 0.01, m)))
    for arr in (c, h, lo):
        arr[rng.integers(0, m, 4)] = np.nan
    if seed % 3 == 0:
        c[rng.integers(0, m, 2)] = np.inf
        h[rng.integers(0, m, 2)] = -np.inf
    if seed % 4 == 1:
        h, lo = lo, h
    if seed % 5 == 2:
        c[: rng.integers(1, 100)] = np.nan
    for n in (1, 2, 14):
        with np.errstate(invalid="ignore"):
            ours = ind.atr(h, lo, c, n)
            ref = _atr_bar_by_bar(h, lo, c, n)
        np.testing.assert_array_equal(ours, ref)
