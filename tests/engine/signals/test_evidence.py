"""The learnt signal model: fitted on the past, scored on the last bar, stored as plain values."""

from __future__ import annotations

import json
from pathlib import Path

import backtesting
import numpy as np
import polars as pl
import pytest

from engine.model import Action, Evidence, Signal
from engine.signals import evidence as ev
from engine.signals import outcomes as oc
from engine.signals.ensemble import EnsembleSettings, news_strength
from engine.signals.sentiment import sentiment_series, with_sentiment
from feeds.demo import DEMO_INSTRUMENTS, synthetic_bars
from feeds.ohlcv_file import read_ohlcv
from tests.engine.signals.test_outcomes import _bars_from_returns
from tests.helpers import HOUR, T0, random_bars

S = EnsembleSettings()
SAMPLES = Path(backtesting.__file__).parent / "test"
DATA = Path(__file__).parents[2] / "data"
END = 1_767_225_600 * 10**9  # 2026-01-01: a fixed end, so the demo's bars do not move


def _demo(symbol: str = "EURUSD", n: int = 5000) -> pl.DataFrame:
    return synthetic_bars(DEMO_INSTRUMENTS[symbol], "1h", END, n, seed=7)


@pytest.fixture(scope="module")
def demo_model() -> tuple[pl.DataFrame, ev.SignalModel]:
    bars = _demo()
    return bars, ev.fit_signal_model(bars, "1h", 4, S)


def test_demo_feed_gate_fires_and_means_what_it_says(
    demo_model: tuple[pl.DataFrame, ev.SignalModel],
) -> None:
    """The demo's cycles are real: the gate passes signals, and at least 75% of them were right
    out of sample (the gate's meaning)."""
    _bars, model = demo_model
    gate = model.report["gate"]
    assert gate["gate"] == S.quality_gate
    assert gate["n"] > 100 and gate["hit_rate"] >= S.quality_gate
    assert model.report["skill"] > 0.05
    assert model.higher == ("4h", "1d") and model.spec.startswith(f"r{ev.RECIPE}-")


def test_score_reads_the_reports_bucket(demo_model: tuple[pl.DataFrame, ev.SignalModel]) -> None:
    bars, model = demo_model
    e = ev.score(model, bars.tail(ev.context_bars("1h", model.higher, S)), S)
    assert e is not None and e.horizon == 4 and e.probability >= 0.5
    p_up = e.probability if e.direction > 0 else 1 - e.probability
    bucket = next(
        b for b in model.report["buckets"] if b["lo"] <= p_up < b["hi"] or p_up == b["hi"] == 1
    )
    assert e.cases == bucket["n"]
    assert e.hits == (bucket["hits"] if e.direction > 0 else bucket["n"] - bucket["hits"])
    assert e.low <= e.hit_rate <= e.high


def test_score_on_the_context_window_matches_the_whole_history(
    demo_model: tuple[pl.DataFrame, ev.SignalModel],
) -> None:
    """The live pipeline reads only :func:`context_bars` bars: what it scores is the full
    history's last row up to the indicators' fading start (EMA and Wilder sums)."""
    bars, model = demo_model
    window = ev.context_bars("1h", model.higher, S)
    full = oc.feature_row(bars, S, model.higher)
    live = oc.feature_row(bars.tail(window), S, model.higher, base_bars=ev.base_window(S))
    np.testing.assert_allclose(live, full, rtol=0.01, atol=0.01)
    assert np.isnan(oc.feature_row(bars.tail(window // 4), S, model.higher)).any()


def test_stored_model_round_trips_through_json(
    demo_model: tuple[pl.DataFrame, ev.SignalModel],
) -> None:
    bars, model = demo_model
    stored = json.loads(json.dumps(model.as_dict(), allow_nan=False))
    report = json.loads(json.dumps(model.report, allow_nan=False))
    back = ev.SignalModel.from_stored(stored, report, model.through_ts_ns, model.bars, 3)
    assert back.version == 3 and back.spec == model.spec and back.higher == model.higher
    a, b = ev.score(model, bars, S), ev.score(back, bars, S)
    assert a is not None and b is not None
    assert (b.probability, b.cases, b.version) == (a.probability, a.cases, 3)
    with pytest.raises(ValueError, match="incomplete"):
        ev.SignalModel.from_stored({"timeframe": "1h"}, report, 0, 0, 1)


def test_random_walk_stays_at_the_base_rate_and_nothing_passes_the_gate() -> None:
    bars = random_bars(5000, seed=31)
    lp = oc.learnt_probabilities(bars, 4, S, oc.higher_chain("1h"))
    scored = lp.scored
    assert scored.sum() > 3000
    assert np.abs(lp.p_up[scored] - lp.base_rate[scored]).max() <= 0.03
    model = ev.fit_signal_model(bars, "1h", 4, S)
    assert model.report["gate"]["n"] == 0 and model.report["gate"]["per_1000_bars"] == 0
    e = ev.score(model, bars, S)
    assert (e is not None and abs(e.probability - model.model.base_rate) <= 0.03 + 1e-9) or (
        e is not None and abs(e.probability - (1 - model.model.base_rate)) <= 0.03 + 1e-9
    )


def _real(name: str) -> tuple[pl.DataFrame, str]:
    if name == "WTI":
        return read_ohlcv(DATA / "wti_daily.csv").frame, "1d"
    file, tf = {"EURUSD": ("EURUSD.csv", "1h"), "GOOG": ("GOOG.csv", "1d")}[name]
    return read_ohlcv(SAMPLES / file).frame, tf


@pytest.mark.parametrize("name", ["EURUSD", "GOOG", "WTI"])
def test_real_markets_are_calibrated_and_never_worse_than_the_base_rate(name: str) -> None:
    bars, tf = _real(name)
    report = ev.fit_signal_model(bars, tf, 4, S).report
    assert report["n"] > 1000
    assert report["ece"] <= 0.03
    assert report["skill"] is not None and report["skill"] >= 0.0
    gate = report["gate"]
    assert gate["n"] == 0 or gate["hit_rate"] >= S.quality_gate - 0.05


def test_walk_over_the_context_chain_never_peeks() -> None:
    """The look-ahead test over the model fitting: every bar after t changed, the walk's fits
    and scores at or before t stay bit for bit."""
    n, t = 2600, 2100
    bars = random_bars(n, seed=32)
    later = pl.Series(np.arange(n) > t)
    changed = bars.with_columns(
        [
            pl.when(later).then(bars[c] * 1.25).otherwise(bars[c]).alias(c)
            for c in ("open", "high", "low", "close")
        ]
    )
    chain = oc.higher_chain("1h")
    a = oc.learnt_probabilities(bars, 4, S, chain, min_train=500, block=100)
    b = oc.learnt_probabilities(changed, 4, S, chain, min_train=500, block=100)
    assert np.isfinite(a.p_up[t]) and a.fits > 5
    assert a.p_up[: t + 1].tobytes() == b.p_up[: t + 1].tobytes()
    assert a.base_rate[: t + 1].tobytes() == b.base_rate[: t + 1].tobytes()


def test_live_model_learns_only_outcomes_known_at_its_last_bar() -> None:
    """Fitted through bar t, the model's base rate is the rate of the outcomes known at t:
    rows up to t - horizon, never one whose outcome bar is still to come."""
    bars = random_bars(1500, seed=33)
    model = ev.fit_signal_model(bars, "1h", 4, S, min_train=400, block=200)
    fm = oc.feature_matrix(bars, S, model.higher)
    y = oc.outcomes(bars["close"].to_numpy(), 4)
    rows = np.flatnonzero(fm.valid)
    known = rows[rows < bars.height - 4]
    assert model.model.base_rate == pytest.approx(float(y[known].mean()))
    assert model.through_ts_ns == int(bars["ts"][-1]) and model.bars == 1500


def _signal(action: Action, confidence: float = 0.55) -> Signal:
    return Signal(1, "X", "1h", action, confidence, 100.0, ("rsi low",))


def _evidence(probability: float, direction: int) -> Evidence:
    return Evidence(probability, direction, 100, 60, 0.5, 0.69, 4, 2)


def test_apply_evidence_sets_action_from_the_learnt_side() -> None:
    up = ev.apply_evidence(_signal(Action.OPEN_SHORT), _evidence(0.7, 1), S)
    assert up.action is Action.OPEN_LONG and up.confidence == 0.7 and up.evidence is not None
    down = ev.apply_evidence(_signal(Action.WAIT), _evidence(0.65, -1), S)
    assert down.action is Action.OPEN_SHORT
    weak = ev.apply_evidence(_signal(Action.OPEN_LONG, 0.9), _evidence(0.55, 1), S)
    assert weak.action is Action.WAIT and weak.confidence == 0.55
    assert weak.reasons == ("rsi low",)
    close = ev.apply_evidence(_signal(Action.CLOSE), _evidence(0.52, -1), S)
    assert close.action is Action.CLOSE


def test_too_few_bars_says_how_many() -> None:
    with pytest.raises(ValueError, match=r"at least \d+ bars"):
        ev.fit_signal_model(random_bars(400, seed=34), "1h", 4, S)


def test_spec_changes_with_what_the_model_means() -> None:
    base = ev.model_spec(S, ("4h", "1d"), 4, 500, 250)
    assert base == ev.model_spec(S, ("4h", "1d"), 4, 500, 250)
    assert base != ev.model_spec(S, ("4h",), 4, 500, 250)
    assert base != ev.model_spec(S, ("4h", "1d"), 8, 500, 250)
    other = EnsembleSettings(rsi_n=10)
    assert base != ev.model_spec(other, ("4h", "1d"), 4, 500, 250)


def test_gate_stats_count_both_sides() -> None:
    p = np.array([0.8, 0.9, 0.2, 0.5, 0.76])
    up = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    g = ev.gate_stats(p, up, 0.75, 10)
    assert (g["n"], g["hits"], g["per_1000_bars"]) == (4, 3, 400.0)


# -- news sentiment -------------------------------------------------------------------------


def news_market(
    seed: int, lead: float, n: int = 3000
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """(bars, item times, item scores): 1h bars with one news item per 3 bars on average
    (scores uniform in [-1, 1], the default 6h half-life); each bar's return drifts by ``lead``
    x 1% x the news strength at the previous bar's close (the feature's own value: 0.23 sd),
    on 1% noise. The bars carry the news as their ``sentiment`` columns."""
    rng = np.random.default_rng(seed)
    item_ts = np.sort(T0 + rng.integers(0, n * HOUR, n // 3))
    item_score = rng.uniform(-1.0, 1.0, n // 3)
    close_ns = T0 + HOUR * np.arange(1, n + 1)
    value, weight = sentiment_series(close_ns, item_ts, item_score, S.sentiment_half_life_s)
    ret = rng.normal(0, 0.01, n)
    ret[1:] += 0.01 * lead * news_strength(value, weight)[:-1]
    bars = _bars_from_returns(ret, seed=seed + 100)
    news = with_sentiment(bars, "1h", item_ts, item_score, S.sentiment_half_life_s)
    return news, item_ts, item_score


NEWS = oc.feature_names(("4h",)).index("news_sentiment")


def test_without_news_the_sentiment_coefficient_is_zero() -> None:
    model = ev.fit_signal_model(random_bars(3000, seed=11), "1h", 1, S, higher=("4h",))
    assert model.model.logistic.coef[NEWS] == 0.0


@pytest.mark.parametrize("seed", [1, 2])
def test_news_that_leads_gets_weight_and_beats_the_base_rate(seed: int) -> None:
    """Measured (seeds 1-3): out-of-sample Brier skill 0.060, 0.048, 0.045; the standardised
    news coefficient 0.87, 0.81, 0.77, the next largest 0.17, 0.27, 0.44 (RSI, EMA slope).
    A lead of 1.0 (half this edge) is not claimed on 3,000 bars (skill 0.000-0.002): the
    recipe's shrinkage (:func:`engine.signals.probability.prior_strength`)."""
    model = ev.fit_signal_model(news_market(seed, 2.0)[0], "1h", 1, S, higher=("4h",))
    coef = np.abs(model.model.logistic.coef)
    assert coef[NEWS] == coef.max() and coef[NEWS] > 0.5
    assert model.report["skill"] > 0.03
    assert model.model.strength < 100


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_news_without_an_edge_gets_no_weight(seed: int) -> None:
    """The same news on a market it does not move: every out-of-sample probability is the
    base rate (measured: skill 0.000, all within 0.03 of it, the shrinkage infinite)."""
    bars = news_market(seed, 0.0)[0]
    assert (bars["sentiment_weight"] > 0).mean() > 0.9
    model = ev.fit_signal_model(bars, "1h", 1, S, higher=("4h",))
    assert model.report["within_003_of_base"] == 1.0
    assert model.report["skill"] == pytest.approx(0.0, abs=1e-9)
    lp = oc.learnt_probabilities(bars, 4, S, higher=("4h",))
    ok = lp.scored
    assert np.abs(lp.p_up[ok] - lp.base_rate[ok]).max() <= 0.03


def test_a_model_of_the_previous_recipe_has_another_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ev.model_spec(S, ("4h", "1d"), 4, 500, 250)
    assert ev.RECIPE >= 2 and spec.startswith(f"r{ev.RECIPE}-")
    monkeypatch.setattr(ev, "RECIPE", ev.RECIPE - 1)
    assert ev.model_spec(S, ("4h", "1d"), 4, 500, 250) != spec
