"""engine.signals.levels: zigzag pivots (no look-ahead), Fibonacci and Gann levels, Gann time
cycles."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from engine.signals import levels as lv


def _walk(seed: int, n: int = 1500) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    high = close * np.exp(np.abs(rng.normal(0, 0.004, n)))
    low = close * np.exp(-np.abs(rng.normal(0, 0.004, n)))
    return high, low, close


def test_zigzag_on_a_known_path() -> None:
    # up to 110 at bar 2, down to 95 at bar 5, up to 120 at bar 8
    close = np.array([100, 105, 110, 104, 99, 95, 101, 112, 120, 119.0])
    pivots = lv.zigzag(close, close, pct=0.04)
    assert [(p.index, p.kind, p.price) for p in pivots] == [
        (0, -1, 100.0),
        (2, 1, 110.0),
        (5, -1, 95.0),
    ]
    # each pivot is confirmed by the first bar that reversed 4 % from the extreme
    assert [p.confirmed_at for p in pivots] == [1, 3, 6]


@pytest.mark.parametrize("kw", [{"pct": 0.03}, {"atr_mult": 2.5}])
def test_zigzag_alternates_and_confirms_after_the_extreme(kw: dict[str, float]) -> None:
    h, lo, c = _walk(1)
    pivots = lv.zigzag(h, lo, c, **kw)
    assert len(pivots) > 10
    kinds = [p.kind for p in pivots]
    assert all(a == -b for a, b in itertools.pairwise(kinds))
    for p in pivots:
        assert p.index < p.confirmed_at
        assert p.price == (h[p.index] if p.kind == 1 else lo[p.index])
    for a, b in itertools.pairwise(pivots):
        assert a.confirmed_at <= b.index  # the next swing starts after the last was known
        if "pct" in kw:
            assert abs(b.price - a.price) >= 0.03 * min(a.price, b.price)


@pytest.mark.parametrize("kw", [{"pct": 0.02}, {"atr_mult": 2.0}])
def test_zigzag_has_no_look_ahead(kw: dict[str, float]) -> None:
    h, lo, c = _walk(2, 800)
    full = lv.zigzag(h, lo, c, **kw)
    rng = np.random.default_rng(9)
    for t in range(30, 800, 37):
        # the past alone gives exactly the pivots confirmed by t ...
        assert lv.zigzag(h[: t + 1], lo[: t + 1], c[: t + 1], **kw) == lv.known_at(full, t)
        # ... and so does any other future
        f = rng.normal(0, 0.05, 800 - t - 1)
        h2, lo2, c2 = h.copy(), lo.copy(), c.copy()
        h2[t + 1 :] *= np.exp(f + 0.01)
        lo2[t + 1 :] *= np.exp(f - 0.01)
        c2[t + 1 :] *= np.exp(f)
        assert lv.known_at(lv.zigzag(h2, lo2, c2, **kw), t) == lv.known_at(full, t)


def test_zigzag_rejects_ambiguous_thresholds() -> None:
    x = np.ones(5)
    with pytest.raises(ValueError, match="exactly one"):
        lv.zigzag(x, x)
    with pytest.raises(ValueError, match="exactly one"):
        lv.zigzag(x, x, x, pct=0.1, atr_mult=1.0)
    with pytest.raises(ValueError, match="needs close"):
        lv.zigzag(x, x, atr_mult=1.0)


def test_fibonacci_levels_of_an_up_swing() -> None:
    levels = {v.name: v.price for v in lv.fibonacci_levels(100.0, 200.0)}
    assert levels["fib 0.5"] == pytest.approx(150.0)
    assert levels["fib 0.618"] == pytest.approx(138.2)
    assert levels["fib 0.236"] == pytest.approx(176.4)
    assert levels["fib ext 1.618"] == pytest.approx(261.8)
    down = {v.name: v.price for v in lv.fibonacci_levels(200.0, 100.0)}
    assert down["fib 0.382"] == pytest.approx(138.2)
    assert down["fib ext 1.272"] == pytest.approx(72.8)


def test_fibonacci_at_uses_only_confirmed_swing() -> None:
    pivots = [lv.Pivot(0, 3, 100.0, -1), lv.Pivot(5, 9, 200.0, 1), lv.Pivot(12, 15, 150.0, -1)]
    assert lv.fibonacci_at(pivots, 8) == []
    at_10 = {v.name: v.price for v in lv.fibonacci_at(pivots, 10)}
    assert at_10["fib 0.5"] == pytest.approx(150.0)
    at_15 = {v.name: v.price for v in lv.fibonacci_at(pivots, 15)}
    assert at_15["fib 0.5"] == pytest.approx(175.0)


def test_gann_square9_levels() -> None:
    levels = {v.name: v.price for v in lv.gann_square9(2500.0)}  # sqrt = 50
    assert levels["gann +360°"] == pytest.approx(52.0**2)
    assert levels["gann -180°"] == pytest.approx(49.0**2)
    assert levels["gann +45°"] == pytest.approx(50.25**2)
    assert len(levels) == 16
    fx = {v.name: v.price for v in lv.gann_square9(1.0850, scale=1e4)}  # drawn on 10850
    assert fx["gann +360°"] == pytest.approx((math.sqrt(10850) + 2) ** 2 / 10_000)
    assert lv.gann_scale(64_000) == pytest.approx(0.1)
    assert lv.gann_scale(150.0) == 1.0
    assert lv.gann_scale(1.085) == pytest.approx(100.0)


def test_gann_time_hits_count_from_known_pivots_only() -> None:
    pivots = [lv.Pivot(10, 14, 1.0, 1), lv.Pivot(50, 80, 1.0, -1)]
    hits = lv.gann_time_hits(500, pivots)
    assert hits[40] == 30 and hits[55] == 45 and hits[154] == 144 and hits[370] == 360
    assert hits[50 + 30] == 30  # confirmed exactly at 80: known
    assert hits[110] == 60  # 50 + 60, from the second pivot
    assert hits[41] == 0
    late = [lv.Pivot(10, 45, 1.0, 1)]
    assert lv.gann_time_hits(100, late)[40] == 0  # 30 bars after the extreme, but not yet known
    assert lv.gann_time_hits(100, late, tolerance=1)[56] == 45


def test_nearest_level() -> None:
    levels = lv.fibonacci_levels(100.0, 200.0)
    level, dist = lv.nearest_level(139.0, levels)  # type: ignore[misc]
    assert level.name == "fib 0.618" and dist == pytest.approx(0.8)
    assert lv.nearest_level(1.0, []) is None
