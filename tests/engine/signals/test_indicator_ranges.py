"""Valid ranges, exactness and the properties the one-pass kernels must keep: NaN at exactly
TA-Lib's bars, a prefix's indicator is the indicator's prefix, a NaN gap restarts the warm-up,
and the rolling sums stay accurate over long series."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import talib
from numpy.lib.stride_tricks import sliding_window_view

from engine.signals import indicators as ind

N = 3000


def _ohlc(seed: int, price: float, vol: float, n: int = N) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    close = price * np.exp(np.cumsum(rng.normal(0, vol, n)))
    open_ = np.concatenate(([price], close[:-1]))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, vol / 2, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, vol / 2, n)))
    return high, low, close


SERIES = [
    pytest.param(_ohlc(1, 64_000.0, 0.01), id="btc-like"),
    pytest.param(_ohlc(2, 1.085, 0.001), id="fx-like"),
    pytest.param(_ohlc(3, 150.0, 0.03), id="volatile"),
]

Pair = tuple[Callable[..., object], Callable[..., object]]


def _cases(h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> dict[str, Pair]:
    """name -> (qws, TA-Lib), each returning one array or a tuple of arrays."""
    return {
        "sma(1)": (lambda: ind.sma(c, 1), lambda: talib.SMA(c, 1)),
        "sma(20)": (lambda: ind.sma(c, 20), lambda: talib.SMA(c, 20)),
        "ema(2)": (lambda: ind.ema(c, 2), lambda: talib.EMA(c, 2)),
        "ema(30)": (lambda: ind.ema(c, 30), lambda: talib.EMA(c, 30)),
        "rsi(14)": (lambda: ind.rsi(c, 14), lambda: talib.RSI(c, 14)),
        "macd(12,26,9)": (lambda: ind.macd(c), lambda: talib.MACD(c)),
        "macd(3,10,16)": (lambda: ind.macd(c, 3, 10, 16), lambda: talib.MACD(c, 3, 10, 16)),
        "macd(5,35,1)": (lambda: ind.macd(c, 5, 35, 1), lambda: talib.MACD(c, 5, 35, 1)),
        "atr(1)": (lambda: ind.atr(h, lo, c, 1), lambda: talib.ATR(h, lo, c, 1)),
        "atr(14)": (lambda: ind.atr(h, lo, c, 14), lambda: talib.ATR(h, lo, c, 14)),
        "bollinger(20,2)": (lambda: ind.bollinger(c), lambda: talib.BBANDS(c, 20, 2.0, 2.0, 0)),
        "bollinger(5,1)": (
            lambda: ind.bollinger(c, 5, 1.0),
            lambda: talib.BBANDS(c, 5, 1.0, 1.0, 0),
        ),
        "stochastic(14,3)": (
            lambda: ind.stochastic(h, lo, c),
            lambda: talib.STOCHF(h, lo, c, 14, 3, 0),
        ),
        "stochastic(5,1)": (
            lambda: ind.stochastic(h, lo, c, 5, 1),
            lambda: talib.STOCHF(h, lo, c, 5, 1, 0),
        ),
        "stochastic(1,4)": (
            lambda: ind.stochastic(h, lo, c, 1, 4),
            lambda: talib.STOCHF(h, lo, c, 1, 4, 0),
        ),
        "adx(14)": (lambda: ind.adx(h, lo, c, 14), lambda: talib.ADX(h, lo, c, 14)),
    }


def _arrays(result: object) -> tuple[np.ndarray, ...]:
    return tuple(result) if isinstance(result, tuple) else (result,)  # type: ignore[arg-type]


@pytest.mark.parametrize("ohlc", SERIES)
def test_nan_exactly_where_talib_has_nan_and_values_equal(ohlc: tuple[np.ndarray, ...]) -> None:
    h, lo, c = ohlc
    for name, (ours, ref) in _cases(h, lo, c).items():
        for k, (o, r) in enumerate(zip(_arrays(ours()), _arrays(ref()), strict=True)):
            where = f"{name} output {k}"
            np.testing.assert_array_equal(np.isnan(o), np.isnan(r), err_msg=where)
            scale = 100.0 if name.startswith(("rsi", "stoch", "adx")) else c
            err = np.nanmax(np.abs(o - r) / scale)
            assert err <= 1e-12, f"{where}: max diff {err} of scale"


@pytest.mark.parametrize("ohlc", SERIES)
def test_stochastic_and_adx_are_talib_bit_for_bit(ohlc: tuple[np.ndarray, ...]) -> None:
    h, lo, c = ohlc
    for k, d in ((14, 3), (5, 1), (1, 4), (9, 6)):
        ours, ref = ind.stochastic(h, lo, c, k, d), talib.STOCHF(h, lo, c, k, d, 0)
        for o, r in zip(ours, ref, strict=True):
            np.testing.assert_array_equal(o, r)
    for n in (2, 14, 28):
        np.testing.assert_array_equal(ind.adx(h, lo, c, n), talib.ADX(h, lo, c, n))


def test_macd_line_signal_and_histogram_all_start_at_slow_plus_signal_minus_2() -> None:
    _, _, c = _ohlc(4, 100.0, 0.01)
    for fast, slow, signal in ((12, 26, 9), (3, 10, 16), (5, 35, 1), (26, 12, 9)):
        first = max(fast, slow) + signal - 2
        for out in ind.macd(c, fast, slow, signal):
            assert np.all(np.isnan(out[:first])) and np.all(np.isfinite(out[first:]))
    c = c.copy()
    c[:7] = np.nan  # leading NaNs shift the whole warm-up, as in TA-Lib
    for o, r in zip(ind.macd(c), talib.MACD(c), strict=True):
        np.testing.assert_array_equal(np.isnan(o), np.isnan(r))
        assert np.isnan(o[7 + 32]) and np.isfinite(o[7 + 33])


def test_stochastic_k_starts_with_d() -> None:
    h, lo, c = _ohlc(5, 100.0, 0.01)
    for k, d in ((14, 3), (5, 1), (1, 4)):
        pct_k, pct_d = ind.stochastic(h, lo, c, k, d)
        first = k + d - 2
        for out in (pct_k, pct_d):
            assert np.all(np.isnan(out[:first])) and np.all(np.isfinite(out[first:]))


def _every_indicator(h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> dict[str, object]:
    return {
        "sma": ind.sma(c, 20),
        "ema": ind.ema(c, 20),
        "rsi": ind.rsi(c, 14),
        "macd": ind.macd(c),
        "atr": ind.atr(h, lo, c, 14),
        "bollinger": ind.bollinger(c, 20),
        "stochastic": ind.stochastic(h, lo, c),
        "adx": ind.adx(h, lo, c, 14),
        "vwap": ind.vwap(h, lo, c, np.ones_like(c)),
    }


def test_a_prefix_gives_the_prefix_of_the_full_result() -> None:
    """Strategies slice indicators at the current bar (engine.strategy.context): the periodic
    re-summing in sma/bollinger and the block-wise extremes in stochastic must not make a value
    depend on how long the series is."""
    h, lo, c = _ohlc(6, 100.0, 0.01, n=2000)
    full = _every_indicator(h, lo, c)
    for cut in (40, 277, 298, 555, 1024, 1999):
        part = _every_indicator(h[:cut], lo[:cut], c[:cut])
        for name, value in full.items():
            for f, p in zip(_arrays(value), _arrays(part[name]), strict=True):
                np.testing.assert_array_equal(f[:cut], p, err_msg=f"{name} cut at {cut}")


def test_a_nan_gap_restarts_every_indicator_as_on_the_series_after_it() -> None:
    h, lo, c = _ohlc(7, 100.0, 0.01, n=2000)
    gap = 700
    h, lo, c = h.copy(), lo.copy(), c.copy()
    c[gap] = np.nan
    full = _every_indicator(h, lo, c)
    after = _every_indicator(h[gap + 1 :], lo[gap + 1 :], c[gap + 1 :])
    for name, value in full.items():
        if name == "vwap":  # a session spans the gap: the bar is skipped, not a restart
            continue
        for f, a in zip(_arrays(value), _arrays(after[name]), strict=True):
            assert np.isnan(f[gap]), name
            np.testing.assert_array_equal(f[gap + 1 :], a, err_msg=name)


def test_sma_stays_exact_over_a_long_series() -> None:
    """The rolling sum is re-summed every few hundred bars: no drift, even after the level
    has moved by orders of magnitude."""
    rng = np.random.default_rng(8)
    c = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 300_000)))
    ours = ind.sma(c, 20)
    idx = rng.integers(19, len(c), 3000)
    exact = np.array([math.fsum(c[i - 19 : i + 1]) / 20 for i in idx])
    assert np.max(np.abs(ours[idx] - exact) / exact) < 1e-14


def test_bollinger_is_accurate_when_the_spread_is_tiny_against_the_price() -> None:
    """A plain sum of squares over x loses about (price / spread)^2 * eps: at a price of 1e6
    and a spread near 1, about 1% of the spread on this series. The shifted sums
    keep the bands at round-off of the price."""
    rng = np.random.default_rng(9)
    c = 1e6 + np.cumsum(rng.normal(0, 0.3, 20_000))
    up, mid, _ = ind.bollinger(c, 20, 1.0)
    windows = sliding_window_view(c, 20)
    sd = windows.std(axis=1)  # two-pass, population
    np.testing.assert_allclose(mid[19:], windows.mean(axis=1), rtol=1e-15)
    np.testing.assert_allclose((up - mid)[19:], sd, rtol=1e-8)


def test_vwap_resets_whenever_the_session_changes_even_backwards() -> None:
    h, lo, c = _ohlc(10, 100.0, 0.01, n=50)
    v = np.linspace(1.0, 2.0, 50)
    day = ind.DAY_NS
    sessions = np.array([0] * 10 + [1] * 10 + [0] * 10 + [-1] * 10 + [3] * 10, dtype=np.int64)
    ts = sessions * day + np.arange(50, dtype=np.int64)
    ours = ind.vwap(h, lo, c, v, ts)
    tp = (h + lo + c) / 3.0
    expected = np.empty(50)
    for start in range(0, 50, 10):
        s = slice(start, start + 10)
        expected[s] = np.cumsum(tp[s] * v[s]) / np.cumsum(v[s])
    np.testing.assert_allclose(ours, expected, rtol=1e-14)
