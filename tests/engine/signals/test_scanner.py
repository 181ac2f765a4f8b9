"""engine.signals.scanner: the batch pipeline, its stage times and per-symbol reasons."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from engine.signals import ensemble as en
from engine.signals import scanner as sc

S = en.EnsembleSettings()
HOUR = 3_600_000_000_000


def _bars(seed: int, n: int = 256, amp: float = 1.2, period: float = 16.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    ret = rng.normal(0, 0.01, n) + amp * 0.01 * np.sin(2 * np.pi * np.arange(n) / period)
    close = 50 * np.exp(np.cumsum(ret))
    open_ = np.concatenate(([50.0], close[:-1]))
    return pl.DataFrame(
        {
            "ts": 1_699_999_200_000_000_000 + np.arange(n, dtype=np.int64) * HOUR,
            "open": open_,
            "high": np.maximum(open_, close) * 1.002,
            "low": np.minimum(open_, close) * 0.998,
            "close": close,
            "volume": 1.0,
        }
    )


def test_scan_gives_signals_in_order_and_reasons_for_bad_frames() -> None:
    good = _bars(1)
    nan = good.with_columns(
        pl.when(pl.int_range(pl.len()) == 200).then(None).otherwise(pl.col("high")).alias("high")
    ).fill_null(float("nan"))
    frames = {
        "A": good,
        "SHORT": good.head(50),
        "NAN": nan,
        "FLAT": good.with_columns(pl.lit(7.0).alias(c) for c in ("open", "high", "low", "close")),
        "NEG": good.with_columns(-pl.col("low")),
        "B": _bars(2, period=32.0),
        "EMPTY": good.head(0),
        "UNSORTED": good.reverse(),
    }
    times = sc.StageTimes()
    results = sc.scan(frames, "1h", S, times=times)
    assert [r.symbol for r in results] == list(frames)
    by = {r.symbol: r for r in results}
    assert by["A"].signal is not None and by["B"].signal is not None
    assert by["A"].signal.cycle is not None and by["A"].signal.cycle.period_bars == 16.0
    assert by["B"].signal.cycle is not None and by["B"].signal.cycle.period_bars == 32.0
    assert by["A"].signal.ts_ns == int(good["ts"][-1])
    assert by["SHORT"].reason.startswith("too few bars: 50")
    assert by["EMPTY"].reason.startswith("too few bars: 0")
    assert "NaN or inf price in bar 200" in by["NAN"].reason
    assert "constant price" in by["FLAT"].reason
    assert by["NEG"].reason == "non-positive price"
    assert by["UNSORTED"].reason == "timestamps are not strictly increasing"
    assert min(times.encoding, times.qpe, times.indicators, times.ensemble) > 0
    assert times.total > 0


def test_scan_signal_equals_the_ensemble_at_the_last_bar() -> None:
    bars = _bars(3)
    [res] = sc.scan({"X": bars}, "1h", S)
    expected = en.signals_over(bars, "1h", S, start=len(bars) - 1, symbol="X")
    assert [res.signal] == expected


def test_summary_is_json_ready() -> None:
    [ok, bad] = sc.scan({"X": _bars(4), "Y": _bars(4).head(3)}, "1h", S)
    rec = sc.summary(ok)
    assert rec["symbol"] == "X" and isinstance(rec["reasons"], list)
    assert rec["cycle"]["period"] == 16.0  # type: ignore[index]
    assert sc.summary(bad) == {"symbol": "Y", "error": "too few bars: 3 < 114 needed"}


def test_qpe_detector_gives_the_periodogram_signals() -> None:
    frames = {f"S{i}": _bars(10 + i, period=(8.0, 16.0, 32.0)[i % 3]) for i in range(6)}
    frames["BAD"] = _bars(1).head(20)
    quantum = sc.scan(frames, "1h", S, sc.qpe_detector())
    classical = sc.scan(frames, "1h", S, sc.CLASSICAL)
    for q, c in zip(quantum, classical, strict=True):
        assert q.reason == c.reason
        if c.signal is None:
            continue
        assert q.signal is not None and q.signal.cycle is not None and c.signal.cycle is not None
        assert q.signal.cycle.k == c.signal.cycle.k
        assert abs(q.signal.cycle.strength - c.signal.cycle.strength) < 1e-9
        assert abs(q.signal.confidence - c.signal.confidence) < 1e-6
        assert q.signal.action == c.signal.action
    assert [r.signal.cycle.period_bars for r in quantum[:3]] == [8.0, 16.0, 32.0]  # type: ignore[union-attr]


def test_qpe_detector_runs_the_circuits_on_aer(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.signals import qpe

    calls: list[int] = []
    real = qpe.phase_spectrum

    def counting(amps: np.ndarray, *args: object, **kw: object) -> np.ndarray:
        calls.append(len(amps))
        return real(amps, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(qpe, "phase_spectrum", counting)
    frames = {f"S{i}": _bars(20 + i) for i in range(5)}
    results = sc.scan(frames, "1h", S, sc.qpe_detector())
    assert calls == [5]  # every symbol's window in one phase-estimation call
    assert all(r.signal is not None for r in results)


def test_scan_reports_progress_per_symbol() -> None:
    seen: list[tuple[int, int]] = []
    frames = {"A": _bars(5), "SHORT": _bars(5).head(9), "B": _bars(6)}
    sc.scan(frames, "1h", S, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]


def test_detector_estimate_is_a_cycle_source_for_history() -> None:
    bars = _bars(8, n=200)
    quantum = en.signals_over(bars, "1h", S, start=180, source=sc.qpe_detector().estimate)
    classical = en.signals_over(bars, "1h", S, start=180)
    assert len(quantum) == 20
    for q, c in zip(quantum, classical, strict=True):
        assert q.action == c.action and abs(q.confidence - c.confidence) < 1e-6
        assert q.cycle is not None and c.cycle is not None and q.cycle.k == c.cycle.k
