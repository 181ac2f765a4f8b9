from __future__ import annotations

import numpy as np
import pytest

from engine.commands import parse
from engine.signals.sentiment import (
    FINANCE_LEXICON,
    resolve_symbols,
    score_text,
    sentiment_at,
    sentiment_series,
)

KNOWN = (
    "BTC/USDT",
    "ETH/USDT",
    "EURUSD",
    "XAUUSD",
    "WTI",
    "BRENT",
    "NATGAS",
    "BRENT-WTI",
    "US500",
)
H = 3_600 * 10**9


def test_empty_and_neutral_text_scores_zero() -> None:
    assert score_text("") == 0.0
    assert score_text("   \n") == 0.0
    assert score_text("Oil inventories report due on Wednesday") == 0.0


def test_finance_words_carry_their_market_sign() -> None:
    # Plain VADER reads these as neutral: the overlay is what gives them a sign.
    assert score_text("Crude prices surge") > 0.3
    assert score_text("Bitcoin soars to a new high") > 0.3
    assert score_text("Analysts upgrade Brent outlook, bullish") > 0.3
    assert score_text("Natural gas prices plunge") < -0.3
    assert score_text("Oil slumps on supply glut") < -0.3
    assert score_text("Producer files for bankruptcy after default") < -0.3
    assert score_text("Crude prices plunge") < score_text("Crude prices slide") < 0.0
    # price verbs whose everyday tone is the market's opposite, or none
    assert score_text("Euro slips as ECB signals more rate cuts") < 0.0
    assert score_text("Oil eases as inventories build") < 0.0
    assert score_text("Stocks retreat from record") < 0.0
    assert score_text("Gold edges higher") > 0.0
    assert score_text("Euro firms after strong PMI data") > 0.0


def test_scores_stay_in_range() -> None:
    text = "surge soar rally beat upgrade bullish boom " * 20
    assert 0.9 < score_text(text) <= 1.0
    assert -1.0 <= score_text("plunge glut default bankruptcy crash " * 20) < -0.9
    assert all(-4.0 <= v <= 4.0 for v in FINANCE_LEXICON.values())


def test_symbol_and_base_and_names_resolve_as_whole_words() -> None:
    assert resolve_symbols("BTC/USDT breaks out", KNOWN) == ("BTC/USDT",)
    assert resolve_symbols("btc and ETH rally", KNOWN) == ("BTC/USDT", "ETH/USDT")
    assert resolve_symbols("Bitcoin miners sell; ethereum steady", KNOWN) == (
        "BTC/USDT",
        "ETH/USDT",
    )
    assert resolve_symbols("btcusdt perpetual funding", KNOWN) == ("BTC/USDT",)
    assert resolve_symbols("Gold and the euro climb", KNOWN) == ("XAUUSD", "EURUSD")
    # whole words only: "goldman", "oily", "boiler" and "obtcx" name nothing
    assert resolve_symbols("Goldman sees oily boiler obtcx", KNOWN) == ()


def test_energy_names() -> None:
    assert resolve_symbols("OPEC+ agrees deeper cuts", KNOWN) == ("WTI", "BRENT")
    assert resolve_symbols("Crude oil slides", KNOWN) == ("WTI", "BRENT")
    assert resolve_symbols("Henry Hub natural gas futures jump", KNOWN) == ("NATGAS",)
    assert resolve_symbols("LNG cargoes rerouted", KNOWN) == ("NATGAS",)
    assert resolve_symbols("natgas storage build; WTI flat", KNOWN) == ("NATGAS", "WTI")
    assert resolve_symbols("Brent tops $90", KNOWN) == ("BRENT",)


def test_spread_only_by_its_own_name() -> None:
    assert "BRENT-WTI" not in resolve_symbols("OPEC output cut lifts crude", KNOWN)
    # the spread's name is one name, its legs are not read again inside it
    assert resolve_symbols("Brent-WTI spread widens", KNOWN) == ("BRENT-WTI",)
    assert resolve_symbols("WTI-Brent discount narrows", KNOWN) == ("BRENT-WTI",)


def test_only_known_symbols_and_order_of_first_mention() -> None:
    assert resolve_symbols("Oil and bitcoin", ("BTC/USDT",)) == ("BTC/USDT",)
    assert resolve_symbols("Oil and bitcoin", ()) == ()
    assert resolve_symbols("", KNOWN) == ()
    text = "S&P 500 dips as Brent climbs; bitcoin, brent again"
    assert resolve_symbols(text, KNOWN) == ("US500", "BRENT", "BTC/USDT")


def test_user_aliases_merge_over_the_built_in_names() -> None:
    aliases = {"Aramco": "BRENT", "oil": "WTI", "Saudi  Aramco": "BRENT", "nowhere": "NOPE"}
    assert resolve_symbols("Saudi Aramco raises prices", KNOWN, aliases) == ("BRENT",)
    assert resolve_symbols("oil rises", KNOWN, aliases) == ("WTI",)
    assert resolve_symbols("nowhere to go", KNOWN, aliases) == ()
    # a base asset as the value: every known symbol with that base
    assert resolve_symbols("satoshi", ("BTC/USDT", "BTC/USD", "ETH/USDT"), {"satoshi": "BTC"}) == (
        "BTC/USDT",
        "BTC/USD",
    )


def test_the_command_bar_reads_the_energy_names() -> None:
    symbols = ["WTI", "BRENT", "NATGAS", "BTC/USDT"]
    assert parse("chart natural gas", symbols).entities["symbol"] == "NATGAS"
    assert parse("chart crude", symbols).entities["symbol"] == "WTI"
    assert parse("henry hub", symbols).entities["symbol"] == "NATGAS"
    # "lng" is a news name only: in the command bar it is still a typo of "long"
    assert parse("lng 1 btc", symbols).entities["side"] == "buy"


def test_series_is_a_decayed_mean_and_strictly_causal() -> None:
    close = np.array([0, 1, 2, 3, 4], dtype=np.int64) * H
    ts = np.array([1 * H, 1 * H + 1, 3 * H], dtype=np.int64)
    score = np.array([0.8, 0.4, -0.6])
    value, weight = sentiment_series(close, ts, score, half_life_s=3_600.0)
    assert value[0] == 0.0 and weight[0] == 0.0  # nothing published yet
    # at the close of bar 1 only the first item is out (the second is 1 ns late)
    assert value[1] == pytest.approx(0.8) and weight[1] == pytest.approx(1.0)
    w1, w2 = 0.5, 0.5 * 2 ** (1e-9 / 3_600)
    assert value[2] == pytest.approx((0.8 * w1 + 0.4 * w2) / (w1 + w2))
    assert weight[2] == pytest.approx(w1 + w2)
    # bar 3's close includes the item published exactly at it
    w = np.array([0.25, 0.25, 1.0])
    assert value[3] == pytest.approx(float((score * w).sum() / w.sum()))
    assert weight[4] == pytest.approx(weight[3] / 2)
    assert value[4] == pytest.approx(value[3])


def test_series_never_sees_a_later_item() -> None:
    rng = np.random.default_rng(3)
    close = np.sort(rng.integers(0, 100 * H, 200))
    ts = rng.integers(0, 100 * H, 60)
    score = rng.uniform(-1, 1, 60)
    value, weight = sentiment_series(close, ts, score, 7_200.0)
    for i in rng.choice(len(close), 20, replace=False):
        seen = ts <= close[i]
        v, w = sentiment_series(close[i : i + 1], ts[seen], score[seen], 7_200.0)
        assert v[0] == pytest.approx(value[i]) and w[0] == pytest.approx(weight[i])
        later = rng.uniform(-1, 1, 5)
        more = np.concatenate([ts, close[i] + 1 + np.arange(5)])
        v2, w2 = sentiment_series(close[i : i + 1], more, np.concatenate([score, later]), 7_200.0)
        assert v2[0] == pytest.approx(value[i]) and w2[0] == pytest.approx(weight[i])


def test_series_edge_cases() -> None:
    value, weight = sentiment_series([1, 2], [], [], 60.0)
    assert value.tolist() == [0.0, 0.0] and weight.tolist() == [0.0, 0.0]
    value, weight = sentiment_series([10 * H], [0, H], [float("nan"), 0.5], 60.0)
    assert value[0] == pytest.approx(0.5) and 0.0 < weight[0] < 1e-100
    with pytest.raises(ValueError):
        sentiment_series([1], [1, 2], [0.1], 60.0)
    with pytest.raises(ValueError):
        sentiment_series([1], [1], [0.1], 0.0)


def test_sentiment_at() -> None:
    assert sentiment_at([], [], 5, 60.0) is None
    assert sentiment_at([10], [0.5], 5, 60.0) is None
    assert sentiment_at([10, 20], [0.5, -0.5], 20, 1e9) == pytest.approx(0.0)
    assert sentiment_at([10], [0.5], 10**15, 60.0) == pytest.approx(0.5)
