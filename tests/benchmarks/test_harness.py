"""The benchmark harness: comparisons that catch a difference, interleaving that alternates,
and verdicts that reach ``make bench``'s summary."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import harness
import run_all


def test_assert_same_finds_one_differing_element() -> None:
    a = np.array([1.0, np.nan, 3.0])
    harness.assert_same(a, a.copy())
    b = a.copy()
    b[2] = 3.0000001
    with pytest.raises(AssertionError, match="1 of 3 elements differ"):
        harness.assert_same(a, b)
    with pytest.raises(AssertionError, match="shapes differ"):
        harness.assert_same(a, a[:2])
    with pytest.raises(AssertionError, match=r"trades\[1\]"):
        harness.assert_same([(1, 2.0), (2, 3.0)], [(1, 2.0), (2, 3.5)], "trades")


def test_assert_close_allows_round_off_only() -> None:
    a = np.array([1.0, np.nan, 1e6])
    harness.assert_close(a, a * (1 + 1e-12))
    with pytest.raises(AssertionError, match="beyond rtol"):
        harness.assert_close(a, a * (1 + 1e-6))
    with pytest.raises(AssertionError, match="NaN in one only"):
        harness.assert_close(a, np.array([1.0, 2.0, 1e6]))


def test_interleave_alternates_and_checks_every_round() -> None:
    calls: list[str] = []
    checked: list[tuple[str, str]] = []

    def a() -> str:
        calls.append("a")
        return "A"

    def b() -> str:
        calls.append("b")
        return "B"

    t = harness.interleave(a, b, 4, warmup=1, check=lambda x, y: checked.append((x, y)))
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b", "b", "a"]
    assert checked == [("A", "B")] * 5
    assert len(t.a) == len(t.b) == 4


def test_interleave_fails_when_results_differ() -> None:
    with pytest.raises(AssertionError):
        harness.interleave(lambda: np.zeros(3), lambda: np.ones(3), 2)


def test_percentile_refuses_no_samples() -> None:
    with pytest.raises(ValueError, match="no samples"):
        harness.percentile([], 99)
    assert harness.percentile([1.0, 2.0, 3.0], 50) == 2.0


def test_verdicts_reach_the_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.jsonl"
    monkeypatch.setenv(harness.SUMMARY_ENV, str(summary))
    harness.verdict("ingest", "250,000 rows/s", ">= 200,000/s", True)
    t = harness.Timings([2.0, 2.0, 2.0], [1.0, 1.0, 1.0])
    harness.ratio_verdict("rsi vs TA-Lib", t, at_most=1.0)
    got = harness.read_summary(str(summary))
    assert [(v.work, v.mark) for v in got] == [("ingest", "OK"), ("rsi vs TA-Lib", "MISSED")]
    assert "2.00x" in got[1].measured


def test_run_all_knows_every_benchmark_and_refuses_unknown_names() -> None:
    names = {p.stem for p in run_all.scripts([])}
    assert {"qpe", "indicators", "tui", "store_ingest"} <= names
    assert not names & run_all.NOT_BENCHMARKS
    with pytest.raises(SystemExit, match="no benchmark named nope"):
        run_all.scripts(["nope"])
