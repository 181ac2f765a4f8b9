"""engine.signals.ensemble: analysers, the decision, no look-ahead, and confidence that means
something."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import numpy as np
import polars as pl
import pytest

from engine.model import Action, Cycle, CyclePhase, Signal
from engine.signals import ensemble as en
from feeds.demo import DEMO_INSTRUMENTS, DemoFeed

S = en.EnsembleSettings()
HOUR = 3_600_000_000_000
T0 = 1_700_000_000_000_000_000 - 1_700_000_000_000_000_000 % (4 * HOUR)
CLOCK_NS = 1_790_000_000_000_000_000


def frame(
    seed: int, n: int = 600, amp: float = 0.0, period: float = 16.0, vol: float = 0.01
) -> pl.DataFrame:
    """A random walk of log-returns (plus, if amp > 0, a cycle of amp * vol in the returns)."""
    rng = np.random.default_rng(seed)
    ret = rng.normal(0, vol, n)
    ret += amp * vol * np.sin(2 * np.pi * np.arange(n) / period + rng.uniform(0, 2 * np.pi))
    close = 100 * np.exp(np.cumsum(ret))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, vol / 3, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, vol / 3, n)))
    ts = T0 + np.arange(n, dtype=np.int64) * HOUR
    return pl.DataFrame(
        {"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": 1.0}
    )


def demo_frames() -> list[tuple[str, pl.DataFrame]]:
    feed = DemoFeed(seed=7, history_bars=2000, clock=lambda: CLOCK_NS)
    return [(sym, asyncio.run(feed.history(sym, "1h"))) for sym in DEMO_INSTRUMENTS]


# -- votes ----------------------------------------------------------------------------------


def test_vote_validates_its_range() -> None:
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        en.Vote(1.5, 1.0, "x")
    with pytest.raises(ValueError, match=">= 0"):
        en.Vote(0.5, -1.0, "x")


def _phase(theta: float, period: float = 16.0, amp: float = 0.02) -> CyclePhase:
    w = 2 * math.pi / period
    return CyclePhase(
        period,
        theta,
        amp,
        ((math.pi - theta) % (2 * math.pi)) / w,
        ((2 * math.pi - theta) % (2 * math.pi)) / w,
    )


def test_cycle_vote_follows_the_phase_and_needs_significance() -> None:
    strong = Cycle(16.0, 0.6, 4)
    falling = en.cycle_vote(strong, _phase(math.pi / 2), 0.01, S)  # between peak and trough
    rising = en.cycle_vote(strong, _phase(3 * math.pi / 2), 0.01, S)
    assert falling.direction < -0.5 and rising.direction > 0.5
    assert "trough in 4.0" in falling.reason and "peak in 4.0" in rising.reason
    weak = Cycle(16.0, 0.1, 4)  # a noise-sized peak says nothing
    assert en.cycle_vote(weak, _phase(3 * math.pi / 2), 0.01, S).direction == 0.0
    assert en.cycle_vote(None, None, 0.01, S).direction == 0.0
    assert en.cycle_vote(strong, _phase(0.0), math.nan, S).direction == 0.0
    # more noise, less certainty; a barely significant cycle is shrunk toward no edge
    noisy = en.cycle_vote(strong, _phase(3 * math.pi / 2), 0.05, S)
    marginal = en.cycle_vote(Cycle(16.0, 0.23, 4), _phase(3 * math.pi / 2), 0.01, S)
    assert 0 < noisy.direction < rising.direction
    assert 0 < marginal.direction < rising.direction


def test_classical_cycle_finds_period_and_phase_of_a_clean_sinusoid() -> None:
    n, period = 64, 16.0
    j = np.arange(n)
    returns = 0.01 * np.cos(2 * np.pi * j / period + 0.3)
    [(cycle, phase)] = en.classical_cycles(returns[None, :])
    assert cycle is not None and phase is not None
    assert cycle.period_bars == period
    assert cycle.strength == pytest.approx(2 / 3, abs=0.02)  # Hann: the main lobe holds 2/3
    # the projected move equals the sum of the next returns of the same sinusoid
    h = 4
    nxt = 0.01 * np.cos(2 * np.pi * np.arange(n, n + h) / period + 0.3)
    w = 2 * np.pi / period
    mu = phase.amplitude * (np.cos(phase.phase + w * h) - np.cos(phase.phase))
    assert mu == pytest.approx(nxt.sum(), rel=1e-9, abs=1e-12)


def test_bad_windows_give_no_cycle() -> None:
    rows = np.vstack([np.zeros(64), np.full(64, np.nan), np.ones(64)])
    assert [c for c, _ in en.classical_cycles(rows)] == [None, None, None]


def test_trend_and_momentum_votes_read_the_market() -> None:
    n = 300
    up = np.linspace(100, 160, n) * (1 + 0.002 * np.sin(np.arange(n)))
    bars = pl.DataFrame(
        {
            "ts": T0 + np.arange(n, dtype=np.int64) * HOUR,
            "open": up,
            "high": up * 1.003,
            "low": up * 0.997,
            "close": up,
            "volume": 1.0,
        }
    )
    f = en.compute_features(bars, S)
    trend = en.trend_vote(f, n - 1, S)
    assert trend.direction > 0.3 and "trending" in trend.reason
    mom = en.momentum_vote(f, n - 1, S)
    assert "overbought" in mom.reason and mom.direction < 0
    down = en.compute_features(bars.with_columns(pl.all().exclude("ts").reverse()), S)
    assert en.trend_vote(down, n - 1, S).direction < -0.3
    assert en.trend_vote(f, 2, S).weight == 0.0  # warming up: no say


def test_decide_combines_cycle_edge_with_confirmation() -> None:
    cyc = en.Vote(0.8, S.w_cycle, "cycle up")  # P(up) 0.9
    agree = [en.Vote(0.6, 1.0, "trend up"), en.Vote(0.5, 1.0, "momentum up")]
    against = [en.Vote(-0.8, 1.0, "trend down"), en.Vote(-0.8, 1.0, "momentum down")]
    neutral = [en.Vote(0.0, 1.0, "flat")]
    d_agree = en.decide(cyc, agree, None, S)
    d_neutral = en.decide(cyc, neutral, None, S)
    d_against = en.decide(cyc, against, None, S)
    assert d_agree.action is Action.OPEN_LONG and d_agree.confidence == pytest.approx(0.9)
    assert d_neutral.confidence == pytest.approx(0.9)  # agreement confirms, it adds nothing
    assert 0.5 < d_against.confidence < d_neutral.confidence
    assert d_agree.reasons[0] == "cycle up"
    no_edge = en.decide(en.Vote(0.0, S.w_cycle, "no cycle"), agree, None, S)
    assert no_edge.action is Action.WAIT and no_edge.confidence == 0.5
    turning = en.decide(en.Vote(0.1, S.w_cycle, "c"), neutral, _phase(math.pi - 0.2), S)
    assert turning.action is Action.CLOSE  # a trough half a bar away, no edge to enter
    far = en.decide(en.Vote(0.1, S.w_cycle, "c"), neutral, _phase(math.pi / 2), S)
    assert far.action is Action.WAIT


def test_settings_from_mapping() -> None:
    s = en.EnsembleSettings.from_mapping({"quality_gate": "0.8", "horizon_bars": 6})
    assert s.quality_gate == 0.8 and s.horizon_bars == 6
    with pytest.raises(ValueError, match="unknown signals settings: nope"):
        en.EnsembleSettings.from_mapping({"nope": 1})


# -- no look-ahead --------------------------------------------------------------------------


def _alter_after(bars: pl.DataFrame, t: int, seed: int) -> pl.DataFrame:
    n = len(bars)
    rng = np.random.default_rng(seed)
    k = np.ones(n)
    k[t + 1 :] = np.exp(np.cumsum(rng.normal(0.002, 0.03, n - t - 1)))
    return bars.with_columns(
        pl.col("open") * k,
        pl.col("high") * k * np.where(np.arange(n) > t, 1.01, 1.0),
        pl.col("low") * k,
        pl.col("close") * k,
        pl.col("volume") * k,
    )


ANALYSERS: dict[str, Callable[[en.Analysis, int], en.Vote]] = {
    "trend": lambda an, t: en.trend_vote(an.features, t, S),
    "momentum": lambda an, t: en.momentum_vote(an.features, t, S),
    "volatility": lambda an, t: en.volatility_vote(an.features, t, S),
    "levels": lambda an, t: en.levels_vote(an.features, t, S),
    "higher timeframe": lambda an, t: en.higher_timeframe_vote(
        an.higher, int(an.higher_index[t]), S
    ),
    "cycle": lambda an, t: en.cycle_vote(
        *en.classical_cycles(en.window_returns(an.features, t, S)[None, :])[0],
        float(np.std(en.window_returns(an.features, t, S))),
        S,
    ),
}


@pytest.mark.parametrize("name", list(ANALYSERS))
def test_no_analyser_looks_ahead(name: str) -> None:
    bars = frame(11, n=400, amp=0.8)
    vote = ANALYSERS[name]
    base = en.analyse(bars, "1h", S)
    for t in (150, 233, 310, 398):
        changed = en.analyse(_alter_after(bars, t, seed=t), "1h", S)
        for u in (t - 7, t - 1, t):
            assert vote(changed, u) == vote(base, u), (name, t, u)


def test_ensemble_signals_do_not_look_ahead() -> None:
    bars = frame(12, n=450, amp=0.8)
    base = en.signals_over(bars, "1h", S)
    first = len(bars) - len(base)
    for t in (140, 260, 333, 448):
        changed = en.signals_over(_alter_after(bars, t, seed=t), "1h", S)
        assert changed[: t - first + 1] == base[: t - first + 1]
        assert changed[t - first + 1 :] != base[t - first + 1 :] or t == len(bars) - 1


# -- calibration ----------------------------------------------------------------------------


def _directional(frames: list[tuple[str, pl.DataFrame]]) -> tuple[np.ndarray, np.ndarray, int]:
    """(confidence, hit) of every OPEN signal whose horizon lies in the data; total signals."""
    conf, hit, total = [], [], 0
    h = S.horizon_bars
    for sym, bars in frames:
        sigs = en.signals_over(bars, "1h", S, symbol=sym)
        close = bars["close"].to_numpy()
        first = len(bars) - len(sigs)
        total += len(sigs)
        for i, sig in enumerate(sigs):
            t = first + i
            side = {Action.OPEN_LONG: 1, Action.OPEN_SHORT: -1}.get(sig.action)
            if side is None or t + h >= len(bars):
                continue
            conf.append(sig.confidence)
            hit.append(np.sign(close[t + h] - close[t]) == side)
    return np.array(conf), np.array(hit), total


def _assert_gate_is_rarer_and_more_accurate(conf: np.ndarray, hit: np.ndarray, total: int) -> None:
    high = conf >= S.quality_gate
    assert 20 <= high.sum() < 0.5 * total
    assert (~high).sum() >= 20
    assert hit[high].mean() > hit[~high].mean() + 0.03
    # no band claims more than it delivers (beyond sampling error)
    for lo, hi in ((0.6, 0.7), (0.7, 0.8), (0.8, 1.01)):
        band = (conf >= lo) & (conf < hi)
        if band.sum() >= 30:
            se = math.sqrt(0.25 / band.sum())
            assert hit[band].mean() >= conf[band].mean() - 2 * se, (lo, hi)


def test_confidence_on_demo_history() -> None:
    conf, hit, total = _directional(demo_frames())
    _assert_gate_is_rarer_and_more_accurate(conf, hit, total)


def test_confidence_on_random_walks_with_a_cycle() -> None:
    periods = (12, 16, 24, 32)
    frames = [("c", frame(100 + i, 800, amp=0.8, period=periods[i % 4])) for i in range(30)]
    conf, hit, total = _directional(frames)
    _assert_gate_is_rarer_and_more_accurate(conf, hit, total)


def test_pure_random_walks_get_no_confidence_above_chance() -> None:
    sigs: list[Signal] = []
    frames = [("rw", frame(1000 + i, 700)) for i in range(12)]
    for sym, bars in frames:
        sigs += en.signals_over(bars, "1h", S, symbol=sym)
    conf = np.array([s.confidence for s in sigs])
    assert len(conf) > 5000
    assert np.mean(conf >= S.quality_gate) < 0.001
    assert np.mean([s.action in (Action.OPEN_LONG, Action.OPEN_SHORT) for s in sigs]) < 0.01
    assert abs(np.mean(conf) - 0.5) < 0.01  # reported hit rate: chance


def test_demo_dominant_period_matches_the_embedded_cycle() -> None:
    for sym, bars in demo_frames():
        spec = DEMO_INSTRUMENTS[sym]
        if spec.dominant_period is None:
            continue
        closes = bars["close"].to_numpy()
        returns = np.diff(np.log(closes))
        windows = np.stack([returns[e - 64 : e] for e in range(64, len(returns), 97)])
        periods = [c.period_bars for c, _ in en.classical_cycles(windows) if c is not None]
        share = np.mean(np.isclose(periods, spec.dominant_period, rtol=0.1))
        assert share >= 0.8, (sym, spec.dominant_period, periods)


# -- news sentiment -------------------------------------------------------------------------


def _with_news(bars: pl.DataFrame, value: float, weight: float, from_bar: int = 0) -> pl.DataFrame:
    n = bars.height
    on = np.arange(n) >= from_bar
    return bars.with_columns(
        pl.Series("sentiment", np.where(on, value, 0.0)),
        pl.Series("sentiment_weight", np.where(on, weight, 0.0)),
    )


def test_no_news_changes_nothing() -> None:
    bars = frame(31, n=400, amp=0.8)
    plain = en.signals_over(bars, "1h", S, start=360)
    silent = en.signals_over(_with_news(bars, 0.0, 0.0), "1h", S, start=360)
    assert silent == plain
    assert not any("news" in r for sig in plain for r in sig.reasons)
    f = en.compute_features(bars, S)
    assert en.sentiment_vote(f, 399, S) == en.Vote(0.0, 0.0, "no news")


def test_sentiment_vote_reads_the_column_and_its_weight() -> None:
    bars = frame(32, n=300)
    f = en.compute_features(_with_news(bars, 0.42, 3.0), S)
    v = en.sentiment_vote(f, 299, S)
    assert v.direction == pytest.approx(0.42) and v.weight == S.w_sentiment
    assert v.reason == "news sentiment +0.42 (~3.0 fresh items)"
    thin = en.sentiment_vote(en.compute_features(_with_news(bars, -0.5, 0.25), S), 299, S)
    assert thin.direction == -0.5 and thin.weight == pytest.approx(0.25 * S.w_sentiment)
    # a value outside [-1, 1] is clipped; NaN is no news; a bare column weighs 1 where not 0
    loud = en.compute_features(_with_news(bars, 3.0, 1.0), S)
    assert en.sentiment_vote(loud, 299, S).direction == 1.0
    nan = en.compute_features(_with_news(bars, math.nan, 1.0), S)
    assert en.sentiment_vote(nan, 299, S).weight == 0.0
    bare = en.compute_features(bars.with_columns(pl.lit(0.3).alias("sentiment")), S)
    assert en.sentiment_vote(bare, 299, S).weight == S.w_sentiment
    off = en.EnsembleSettings(w_sentiment=0.0)
    assert en.sentiment_vote(f, 299, off).weight == 0.0


def test_sentiment_confirms_or_contradicts_but_never_adds() -> None:
    cycle = en.Vote(0.6, S.w_cycle, "cycle")  # P(up) 0.8: the most any confirmation leaves
    trend = en.Vote(-0.5, S.w_trend, "trend against")
    alone = en.decide(cycle, [trend], None, S).confidence
    along = en.decide(cycle, [trend, en.Vote(1.0, 1.0, "news up")], None, S)
    against = en.decide(cycle, [trend, en.Vote(-1.0, 1.0, "news down")], None, S)
    assert against.confidence < alone < along.confidence == pytest.approx(0.8)
    assert along.reasons[1] == "news up"
    # without a cycle edge the strongest news leaves the confidence at chance
    flat = en.Vote(0.0, S.w_cycle, "no cycle")
    assert en.decide(flat, [en.Vote(1.0, S.w_sentiment, "news")], None, S).confidence == 0.5


def test_signals_carry_the_news_vote() -> None:
    bars = frame(33, n=400, amp=1.0)
    sig = en.signals_over(_with_news(bars, -0.42, 3.0), "1h", S, start=399)[0]
    assert "news sentiment -0.42 (~3.0 fresh items)" in sig.reasons
    plain = en.signals_over(bars, "1h", S, start=399)[0]
    assert len(sig.reasons) == len(plain.reasons) + 1


def test_sentiment_vote_does_not_look_ahead() -> None:
    bars = frame(34, n=400, amp=0.8)
    news = _with_news(bars, 0.6, 2.0, from_bar=250)
    base = en.signals_over(news, "1h", S, start=240)
    assert not any("news" in r for r in base[9].reasons)  # bar 249: news starts at 250
    assert any("news" in r for r in base[10].reasons)
