"""``qws calibrate``: walk-forward calibration on real files (backtesting.py's samples), the
store and the demo feed, through the command's own entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import backtesting
import pytest

from engine.model import NewsItem
from feeds.demo import DEMO_INSTRUMENTS, synthetic_bars
from tests.engine.signals.test_evidence import news_market
from workstation.cli import main
from workstation.store import Store

SAMPLES = Path(backtesting.__file__).parent / "test"


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["calibrate", *argv, "--json"]) == 0, capsys.readouterr().err
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_a_real_hourly_market_stays_at_its_base_rate_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = _json(capsys, "--csv", str(SAMPLES / "EURUSD.csv"))
    keys = {"n", "horizon", "ece", "brier", "brier_base", "skill", "base_rate", "buckets"}
    assert keys <= out.keys()
    assert out["timeframe"] == "1h" and out["higher"] == ["4h", "1d"] and out["bars"] == 5000
    assert out["horizon"] == 4 and out["n"] > 3500  # the 1d context warms up ~750 bars
    assert sum(b["n"] for b in out["buckets"]) == out["n"]
    assert sum(b["hits"] for b in out["buckets"]) <= out["n"]
    # no edge found on this market: every probability is its training base rate, so the
    # model's Brier score is the base-rate forecast's (skill 0, never below) and calibrated
    assert out["within_003_of_base"] == 1.0
    assert out["skill"] == 0.0 and out["ece"] <= 0.03
    assert out["gate"]["n"] == 0 and out["signals_per_1000_bars"] == 0.0


def test_the_demo_market_s_cycles_are_an_edge_the_walk_learns(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bars = synthetic_bars(DEMO_INSTRUMENTS["EURUSD"], "1h", 1_700_000_000_000_000_000, 5000, 7)
    with Store(db_path) as store:
        store.candles.upsert(bars, "EURUSD", "1h", "demo")
    out = _json(capsys, "--db", str(db_path), "EURUSD", "--timeframe", "1h")
    assert out["skill"] > 0.05 and out["within_003_of_base"] < 0.9
    assert out["brier"] < out["brier_base"]
    gate = out["gate"]  # the gate keeps its meaning: 75% of what passes it was right
    assert gate["n"] > 100 and gate["hit_rate"] >= 0.75 and gate["hits"] <= gate["n"]


def test_the_demo_feed_is_read_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, "XAUUSD", "--feed", "demo", "--timeframe", "4h")
    assert out["source"] == "demo:XAUUSD" and out["bars"] == 5000 and out["higher"] == ["1d", "1w"]
    assert out["n"] == sum(b["n"] for b in out["buckets"]) > 3000


def test_the_text_report_is_a_reliability_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--csv", str(SAMPLES / "GOOG.csv"), "--horizon", "2"]) == 0
    text = capsys.readouterr().out
    assert "2,148 1d bars, 1w context; P(up in 2 bars) walk-forward" in text
    assert "bucket" in text and "95% interval" in text
    assert sum(line.strip().startswith("[") for line in text.splitlines()) == 10
    assert "skill +0.0000" in text and "ECE " in text
    assert "Nothing reaches the 75% gate: this market offers no edge that strong" in text


def test_the_store_s_bars_are_read(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bars = synthetic_bars(DEMO_INSTRUMENTS["USDJPY"], "1h", 1_700_000_000_000_000_000, 900, 3)
    with Store(db_path) as store:
        store.candles.upsert(bars, "USDJPY", "1h", "demo")
    out = _json(capsys, "--db", str(db_path), "USDJPY", "--higher", "none")
    assert out["source"] == "db:USDJPY" and out["timeframe"] == "1h" and out["higher"] == []
    assert out["bars"] == 900 and out["n"] > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--csv", str(SAMPLES / "BTCUSD.csv")], "needs at least 623 bars"),
        (["EURUSD", "--csv", str(SAMPLES / "GOOG.csv")], "either a SYMBOL"),
        ([], "either a SYMBOL"),
        (["--csv", str(SAMPLES / "GOOG.csv"), "--horizon", "0"], "--horizon must be"),
        (["--csv", str(SAMPLES / "EURUSD.csv"), "--higher", "1m"], "is not above"),
        (["--csv", "/nonexistent/bars.csv"], "bars.csv"),
        (["NOPE", "--feed", "db", "--timeframe", "1h"], "no 1h bars for NOPE"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("lead", "edge"), [(2.0, True), (0.0, False)])
def test_the_store_s_news_is_on_the_bars(
    lead: float, edge: bool, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """News that leads the market is an edge the walk measures; the same news on a market it
    does not move gets none (every probability at the base rate)."""
    bars, item_ts, item_score = news_market(1, lead)
    items = [
        NewsItem("demo", f"n{i}", int(ts), "headline", symbols=("WTI",), score=float(score))
        for i, (ts, score) in enumerate(zip(item_ts, item_score, strict=True))
    ]
    with Store(db_path) as store:
        store.candles.upsert(bars.drop("sentiment", "sentiment_weight"), "WTI", "1h", "demo")
        assert len(store.news.add(items, fetched_ns=0)) == len(items)
    argv = ("--db", str(db_path), "WTI", "--timeframe", "1h", "--horizon", "1", "--higher", "4h")
    out = _json(capsys, *argv)
    assert "news_sentiment" in out["features"]
    if edge:
        assert out["skill"] > 0.03 and out["brier"] < out["brier_base"]
    else:
        assert out["skill"] == pytest.approx(0.0, abs=1e-9) and out["within_003_of_base"] == 1.0
