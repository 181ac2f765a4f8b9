"""engine/signals/encoding.py: the numba encoder against its numpy reference, and bad windows."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.signals.encoding import (
    EncodingError,
    encode_windows,
    encode_windows_numpy,
    log_returns,
    taper_window,
)

series_st = st.integers(0, 2**32 - 1).map(lambda s: np.random.default_rng(s))


@settings(max_examples=40, deadline=None)
@given(
    rng=series_st,
    n=st.integers(2, 8),
    extra=st.integers(0, 40),
    step=st.integers(1, 7),
    detrend=st.booleans(),
    taper=st.sampled_from(["hann", None, "none"]),
    kind=st.sampled_from(["noise", "walk", "sine", "prices"]),
)
def test_numba_matches_numpy_reference(rng, n, extra, step, detrend, taper, kind) -> None:
    size = 1 << n
    t = np.arange(size + extra)
    x = {
        "noise": rng.standard_normal(t.size),
        "walk": np.cumsum(rng.standard_normal(t.size)),
        "sine": np.sin(2 * np.pi * t / rng.uniform(2, 40)) + 0.1 * rng.standard_normal(t.size),
        "prices": 60_000 * np.exp(np.cumsum(0.001 * rng.standard_normal(t.size))),
    }[kind]
    a, meta = encode_windows(x, n, step, detrend, taper)
    b, ref = encode_windows_numpy(x, n, step, detrend, taper)
    assert a.shape == b.shape == (extra // step + 1, size)
    np.testing.assert_allclose(a, b, atol=1e-12)
    assert meta.reasons == ref.reasons
    np.testing.assert_array_equal(meta.starts, ref.starts)
    np.testing.assert_array_equal(meta.valid, ref.valid)
    assert meta.all_valid
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-12)


def test_windows_are_end_aligned_oldest_first() -> None:
    x = np.random.default_rng(1).standard_normal(50)
    a, meta = encode_windows(x, 4, step=3)
    assert meta.starts.tolist() == [1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 34]
    assert meta.starts[-1] + meta.window == x.size
    last, _ = encode_windows(x[-16:], 4)
    np.testing.assert_allclose(a[-1], last[0], atol=1e-14)


@settings(max_examples=25, deadline=None)
@given(
    rng=series_st,
    scale=st.floats(1e-4, 1e4),
    offset=st.floats(-1e3, 1e3),
    slope=st.floats(-10, 10),
)
def test_detrended_encoding_ignores_scale_offset_and_trend(rng, scale, offset, slope) -> None:
    x = rng.standard_normal(64)
    moved = scale * x + offset + slope * np.arange(64)
    a, _ = encode_windows(x, 6)
    b, meta = encode_windows(moved, 6)
    assert meta.all_valid
    np.testing.assert_allclose(a, b, atol=1e-8)


def test_hann_taper_is_periodic_and_none_is_flat() -> None:
    w = taper_window(8, "hann")
    np.testing.assert_allclose(w, [0, 0.1464466, 0.5, 0.8535534, 1, 0.8535534, 0.5, 0.1464466])
    np.testing.assert_array_equal(taper_window(8, "none"), np.ones(8))
    x = np.random.default_rng(2).standard_normal(8)
    flat, _ = encode_windows(x, 3, detrend=False, taper=None)
    centred = x - x.mean()
    np.testing.assert_allclose(flat[0], centred / np.linalg.norm(centred), atol=1e-14)


@pytest.mark.parametrize("encode", [encode_windows, encode_windows_numpy])
def test_bad_windows_get_reasons_and_zero_rows(encode) -> None:
    x = np.random.default_rng(3).standard_normal(40)
    x[20] = np.nan
    x[37] = np.inf
    a, meta = encode(x, 3, step=4)
    # windows covering index 20 start at 16 and 20; the one covering 37 starts at 32
    bad = {int(s) for s, ok in zip(meta.starts, meta.valid, strict=True) if not ok}
    assert bad == {16, 20, 32}
    for s, ok, reason, row in zip(meta.starts, meta.valid, meta.reasons, a, strict=True):
        if ok:
            assert reason is None
            assert np.isclose(np.linalg.norm(row), 1.0)
        else:
            assert reason == f"window [{s}:{s + 8}] has NaN or infinite values"
            assert not row.any()


@pytest.mark.parametrize("encode", [encode_windows, encode_windows_numpy])
@pytest.mark.parametrize(
    ("series", "detrend"),
    [
        (np.full(16, 101.25), True),
        (np.full(16, 101.25), False),
        (np.zeros(16), False),
        (3.0 + 0.5 * np.arange(16), True),  # a straight line is nothing once detrended
    ],
)
def test_constant_windows_are_reported_not_divided(encode, series, detrend) -> None:
    with np.errstate(all="raise"):
        a, meta = encode(series, 4, detrend=detrend)
    assert not meta.valid[0]
    assert "constant" in meta.reasons[0]
    assert not a.any()


@pytest.mark.parametrize("encode", [encode_windows, encode_windows_numpy])
def test_too_short_series_gives_one_invalid_row(encode) -> None:
    a, meta = encode(np.arange(10.0), 4)
    assert a.shape == (1, 16)
    assert not a.any()
    assert meta.valid.tolist() == [False]
    assert meta.reasons == ("too short: 10 values, a window needs 16",)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n must be"),
        ({"n": 4, "step": 0}, "step must be"),
        ({"n": 4, "taper": "hamming"}, "unknown taper"),
    ],
)
def test_bad_arguments_raise(kwargs, message) -> None:
    with pytest.raises(EncodingError, match=message):
        encode_windows(np.arange(100.0), **kwargs)


def test_two_dimensional_series_rejected() -> None:
    with pytest.raises(EncodingError, match="one-dimensional"):
        encode_windows(np.ones((4, 16)), 4)


def test_log_returns_turn_bad_closes_into_nan() -> None:
    r = log_returns([100.0, 110.0, 0.0, 121.0, np.nan, 100.0])
    assert np.isclose(r[0], np.log(1.1))
    assert np.isnan(r[1:]).all()
    r = log_returns([100.0, 110.0, 121.0])
    np.testing.assert_allclose(r, np.log([1.1, 1.1]))


def test_import_engine_does_not_import_numba_or_qiskit() -> None:
    code = (
        "import sys, engine, engine.signals.cycles, engine.signals.encoding, engine.signals.qpe;"
        "print(sorted(m for m in ('numba', 'qiskit', 'qiskit_aer') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
