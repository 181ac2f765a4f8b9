"""Learnt signal confidence: the time to fit and score 10,000 bars, and what scoring one closed
bar costs the live pipeline (issue 17's target: under 1 ms per symbol per bar).

Data: 10,000 hourly bars of the demo feed's EURUSD at a fixed end (its cycles make the fit do
real work: the walk finds an edge, isotonic steps have cases), and the real series the README's
calibration table is about: backtesting.py's EURUSD 1h and GOOG 1d and tests/data/wti_daily.csv.

Figures:
- **fit** (:func:`engine.signals.evidence.fit_signal_model` on 10,000 bars with the 4h and 1d
  context): the walk-forward over the whole history (every block fitted and scored, the
  reliability report) plus the live model's fit, median of ``RUNS``; split into the feature
  matrix and the rest. What the runtime pays in its engine worker once per ``refit_bars``.
- **score per bar, live** (:func:`engine.signals.evidence.score` on the window the pipeline
  reads, :func:`engine.signals.evidence.context_bars`): features of the last bar, the model's
  probability, its bucket's cases. Target < 1 ms.
- **last row vs whole matrix**: :func:`engine.signals.outcomes.feature_row` (the last row
  alone) against :func:`engine.signals.outcomes.feature_matrix` then its last row, interleaved
  A B A B on the same window, checked equal bit for bit every round: what computing one row
  instead of every row saves.
- **honest numbers**: per real dataset, the walk's out-of-sample skill, ECE, the OPEN signals
  (at the open threshold, either side) per 1,000 scored bars with their hit rate, and the
  signals at or above the quality gate (the README's table).

Run: .venv/bin/python benchmarks/calibrate.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import backtesting
import numpy as np
from harness import interleave, ratio_verdict, repeat, verdict

from engine.signals import evidence as ev
from engine.signals import outcomes as oc
from engine.signals.ensemble import EnsembleSettings
from feeds.demo import DEMO_INSTRUMENTS, synthetic_bars
from feeds.ohlcv_file import read_ohlcv

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = Path(backtesting.__file__).parent / "test"
END = 1_767_225_600 * 10**9  # 2026-01-01
S = EnsembleSettings()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    args = parser.parse_args(argv)
    runs = 3 if args.quick else 5
    score_runs = 200 if args.quick else 1000

    bars = synthetic_bars(DEMO_INSTRUMENTS["EURUSD"], "1h", END, 10_000, seed=7)
    chain = oc.higher_chain("1h")
    print(f"demo EURUSD 1h, {bars.height:,} bars, context {'/'.join(chain)}, horizon 4")

    model = ev.fit_signal_model(bars, "1h", 4, S)  # warm-up: numba compiled or loaded
    fit_s = repeat(lambda: ev.fit_signal_model(bars, "1h", 4, S), runs, warmup=0)
    features_s = repeat(lambda: oc.feature_matrix(bars, S, chain), runs, warmup=0)
    fit, features = float(np.median(fit_s)), float(np.median(features_s))
    report = model.report
    print(
        f"  fit: {fit:.2f} s (features {features:.2f} s, walk + live fit {fit - features:.2f} s;"
        f" {report['fits']} walk blocks), median of {runs}"
    )
    print(
        f"  out of sample: {report['n']:,} cases, skill {report['skill']:+.3f}, ECE"
        f" {report['ece']:.3f}, {report['open']['n']:,} OPEN ({_rate(report['open'])} right),"
        f" {report['gate']['n']:,} at or above the gate ({_rate(report['gate'])} right)"
    )
    verdict(
        "fit + walk-forward, 10,000 1h bars",
        f"{fit:.2f} s ({fit / bars.height * 1e6:.0f} us a bar)",
        "< 10 s",
        fit < 10.0,
    )

    window = bars.tail(ev.context_bars("1h", chain, S))
    scored = ev.score(model, window, S)
    assert scored is not None, "the live window must be long enough to score"
    per_bar = repeat(lambda: ev.score(model, window, S), score_runs)
    p50, p99 = np.percentile(per_bar, [50, 99]) * 1e3
    verdict(
        f"score one closed bar live ({window.height:,}-bar window)",
        f"p50 {p50:.3f} ms, p99 {p99:.3f} ms ({score_runs:,} bars)",
        "< 1 ms",
        p50 < 1.0,
    )

    t = interleave(
        lambda: oc.feature_row(window, S, chain),
        lambda: oc.feature_matrix(window, S, chain).X[-1],
        runs=20 if args.quick else 50,
        check=lambda a, b: _same_bits(a, b),
    )
    ratio_verdict("last feature row vs the whole matrix's last row", t, at_most=0.2)

    print("\nreal data, walk-forward out of sample (the README's table):")
    print(f"  {'dataset':<12} {'bars':>6} {'open/1k':>8} {'open hit':>8} {'gate n':>6}"
          f" {'gate hit':>8} {'skill':>7} {'ECE':>6} {'fit s':>6}")  # fmt: skip
    for name, path, tf in (
        ("EURUSD 1h", SAMPLES / "EURUSD.csv", "1h"),
        ("GOOG 1d", SAMPLES / "GOOG.csv", "1d"),
        ("WTI 1d", ROOT / "tests" / "data" / "wti_daily.csv", "1d"),
    ):
        frame = read_ohlcv(path).frame
        t0 = time.perf_counter()
        r = ev.fit_signal_model(frame, tf, 4, S).report
        took = time.perf_counter() - t0
        g, o = r["gate"], r["open"]
        print(
            f"  {name:<12} {frame.height:>6,} {o['per_1000_bars']:>8.1f} {_rate(o):>8}"
            f" {g['n']:>6,} {_rate(g):>8} {r['skill']:>+7.3f} {r['ece']:>6.3f} {took:>6.2f}"
        )
        verdict(
            f"{name}: calibrated, never worse than the base rate",
            f"ECE {r['ece']:.3f}, skill {r['skill']:+.3f}",
            "ECE <= 0.03, skill >= 0",
            r["ece"] <= 0.03 and r["skill"] >= 0.0,
        )
    return 0


def _rate(stats: dict[str, object]) -> str:
    rate = stats["hit_rate"]
    return "-" if rate is None else f"{float(rate):.1%}"  # type: ignore[arg-type]


def _same_bits(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape or a.tobytes() != b.tobytes():
        raise AssertionError(f"last row differs: {a} vs {b}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
