"""``qws cycles`` end to end: the installed command in a subprocess, real Aer, real SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.timeframes import parse
from feeds.demo import DEMO_INSTRUMENTS, synthetic_bars
from workstation.cli import main
from workstation.store import Store

QWS = str(Path(sys.executable).with_name("qws"))


def _run_all(*argvs: list[str], at_once: int = 3) -> list[subprocess.CompletedProcess[str]]:
    """Run several ``qws`` invocations, a few at a time (each pays the qiskit import, ~1 s)."""
    out = []
    for i in range(0, len(argvs), at_once):
        batch = argvs[i : i + at_once]
        procs = [
            subprocess.Popen(
                [QWS, *argv],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=os.environ,
            )
            for argv in batch
        ]
        for argv, p in zip(batch, procs, strict=True):
            stdout, stderr = p.communicate(timeout=120)
            out.append(subprocess.CompletedProcess(argv, p.returncode, stdout, stderr))
    return out


def _encoded_periodogram(closes: np.ndarray) -> np.ndarray:
    """The test's own classical spectrum of the last 64 log-returns (detrend, Hann, normalise)."""
    r = np.diff(np.log(closes[-65:]))
    t = np.arange(64)
    r = r - np.polyval(np.polyfit(t, r, 1), t)
    r = r * (0.5 - 0.5 * np.cos(2 * np.pi * t / 64))
    r /= np.linalg.norm(r)
    return np.abs(np.fft.fft(r)) ** 2 / 64


def _folded_argmax(power: np.ndarray) -> int:
    folded = power[1:33] + np.concatenate([power[63:32:-1], [0.0]])
    return int(np.argmax(folded)) + 1


def test_demo_instruments_with_a_dominant_cycle_are_found(monkeypatch) -> None:
    """Each instrument's LAST 64-bar window. The embedded cycle is random-phase and the noise
    has stormy regimes, so in some windows another bin is larger; the test regenerates the same
    bars (seed from settings, last bar ts from the JSON), decides from its own periodogram in
    which windows the embedded period dominates, and requires qws to name it there. At least
    two instruments must qualify (per-window dominance is ~90%), so the test cannot pass empty.
    """
    seed = 11
    monkeypatch.setenv("QWS__DEMO__SEED", str(seed))
    symbols = [s for s, spec in DEMO_INSTRUMENTS.items() if spec.dominant_period]
    assert len(symbols) >= 4
    results = _run_all(
        *[
            ["cycles", s, "--feed", "demo", "--timeframe", "1h", "--window", "64", "--json"]
            for s in symbols
        ]
    )
    found = {}
    for symbol, res in zip(symbols, results, strict=True):
        assert res.returncode == 0, res.stderr
        out = json.loads(res.stdout)
        spec = DEMO_INSTRUMENTS[symbol]
        bars = synthetic_bars(spec, "1h", out["last_ts"] + parse("1h").ns, 2000, seed)
        assert bars["ts"][-1] == out["last_ts"] and out["at"] == 1999
        power = _encoded_periodogram(bars["close"].to_numpy())
        assert np.abs(np.array(out["spectrum"]) - power).max() <= 1e-9
        dominant_k = round(64 / spec.dominant_period)
        if _folded_argmax(power) == dominant_k:
            assert out["cycles"][0]["period"] == spec.dominant_period
            assert out["cycles"][0]["k"] == dominant_k
            found[symbol] = out["cycles"][0]["strength"]
    assert len(found) >= 2, f"embedded cycle dominated too few last windows: {found}"


def _write_bars(path: Path, close: np.ndarray) -> None:
    """An OHLCV CSV the way exports look: epoch-second times, open = previous close."""
    open_ = np.concatenate([[close[0]], close[:-1]])
    pl.DataFrame(
        {
            "timestamp": 1_700_000_000 + 60 * np.arange(close.size),
            "open": open_,
            "high": np.maximum(open_, close) * 1.001,
            "low": np.minimum(open_, close) * 0.999,
            "close": close,
            "volume": np.full(close.size, 10.0),
        }
    ).write_csv(path)


def _cycle_csv(path: Path, rows: int = 300, period: float = 16.0, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    returns = 0.01 * np.sin(2 * np.pi * t / period) + 0.003 * rng.standard_normal(rows)
    close = 100 * np.exp(np.cumsum(returns))
    _write_bars(path, close)
    return close


def test_csv_json_has_the_issue_shape_and_finds_the_cycle(tmp_path: Path) -> None:
    close = _cycle_csv(tmp_path / "c.csv")
    plain, at, table = _run_all(
        ["cycles", "--csv", str(tmp_path / "c.csv"), "--json"],
        ["cycles", "--csv", str(tmp_path / "c.csv"), "--at", "100", "--json"],
        ["cycles", "--csv", str(tmp_path / "c.csv"), "--column", "high"],
    )
    out = json.loads(plain.stdout)
    assert {"n", "window", "backend", "spectrum", "cycles", "phase", "elapsed_ms"} <= set(out)
    assert (out["n"], out["window"], out["backend"]) == (6, 64, "statevector")
    assert len(out["spectrum"]) == 64 and sum(out["spectrum"]) == pytest.approx(1.0)
    assert np.abs(np.array(out["spectrum"]) - _encoded_periodogram(close)).max() <= 1e-9
    assert out["cycles"][0] == {"period": 16.0, "strength": out["cycles"][0]["strength"], "k": 4}
    assert out["cycles"][0]["strength"] > 0.5
    assert set(out["phase"]) == {"period", "phase", "amplitude", "bars_to_trough", "bars_to_peak"}
    assert out["phase"]["period"] == 16.0 and out["elapsed_ms"] > 0
    assert out["last_ts"] == (1_700_000_000 + 60 * 299) * 10**9

    at_out = json.loads(at.stdout)
    assert at_out["at"] == 100
    assert np.abs(np.array(at_out["spectrum"]) - _encoded_periodogram(close[:101])).max() < 1e-9

    assert table.returncode == 0, table.stderr
    assert "dominant cycles" in table.stdout and "16.00" in table.stdout
    assert "classical least-squares" in table.stdout
    assert "█" in table.stdout


def test_a_bare_price_series_with_any_column_name(tmp_path: Path, capsys) -> None:
    t = np.arange(300)
    price = 100 * np.exp(0.01 * np.sin(2 * np.pi * t / 16) + 0.0002 * t)
    pl.DataFrame({"Price": price}).write_csv(tmp_path / "p.csv")
    assert main(["cycles", "--csv", str(tmp_path / "p.csv"), "--column", "price", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cycles"][0]["period"] == 16.0 and out["last_ts"] is None


def test_shots_backend_is_seeded_and_counts_shots(tmp_path: Path) -> None:
    _cycle_csv(tmp_path / "c.csv")
    argv = ["cycles", "--csv", str(tmp_path / "c.csv"), "--backend", "shots", "--shots", "1000"]
    a, b = _run_all([*argv, "--seed", "3", "--json"], [*argv, "--seed", "3", "--json"])
    first, second = json.loads(a.stdout), json.loads(b.stdout)
    assert first["backend"] == "shots" and first["shots"] == 1000
    assert first["spectrum"] == second["spectrum"]
    counts = np.array(first["spectrum"]) * 1000
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    assert first["cycles"][0]["period"] == 16.0


def test_db_feed_reads_the_store(tmp_path: Path, db_path: Path, capsys) -> None:
    spec = DEMO_INSTRUMENTS["USDJPY"]
    bars = synthetic_bars(spec, "1h", 1_700_000_000_000_000_000, 500, 3)
    with Store(db_path) as store:
        store.candles.upsert(bars, "USDJPY", "1h", "demo")
    argv = ["--db", str(db_path), "cycles", "USDJPY", "--feed", "db", "--timeframe", "1h"]
    ok, at = _run_all([*argv, "--json"], [*argv, "--at", "-50", "--json"])
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    closes = bars["close"].to_numpy()
    assert out["last_ts"] == bars["ts"][-1]
    assert np.abs(np.array(out["spectrum"]) - _encoded_periodogram(closes)).max() <= 1e-9
    at_out = json.loads(at.stdout)
    assert at_out["at"] == 450 and at_out["last_ts"] == bars["ts"][450]
    assert np.abs(np.array(at_out["spectrum"]) - _encoded_periodogram(closes[:451])).max() < 1e-9
    argv = ["--db", str(db_path), "cycles", "BTC/USDT", "--feed", "db", "--timeframe", "1h"]
    assert main(argv) == 2
    assert "no 1h bars for BTC/USDT" in capsys.readouterr().err


def test_bad_input_is_one_clear_line_and_exit_2(tmp_path: Path, capsys) -> None:
    short = tmp_path / "short.csv"
    _write_bars(short, np.linspace(100, 110, 40))
    gap = tmp_path / "gap.csv"
    _cycle_csv(gap)
    lines = gap.read_text().splitlines()
    lines[291] = lines[291].rsplit(",", 2)[0] + ",,10.0"  # row 291: no close
    gap.write_text("\n".join(lines) + "\n")
    flat = tmp_path / "flat.csv"
    _write_bars(flat, np.full(100, 101.5))
    words = tmp_path / "words.csv"
    lines = flat.read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 2)[0] + ",abc,10.0"
    words.write_text("\n".join(lines) + "\n")
    cases = {
        "too short: 64 log-returns need 65 closes": ["--csv", str(short)],
        "gap.csv: line 292, column 'close': missing value": ["--csv", str(gap)],
        "is constant": ["--csv", str(flat)],
        "flat.csv: no column 'price'; found": ["--csv", str(flat), "--column", "price"],
        "words.csv: line 6, column 'close': 'abc' is not a number": ["--csv", str(words)],
        "no such file": ["--csv", str(tmp_path / "nope.csv")],
        "power of two": ["--csv", str(flat), "--window", "60"],
        "give a SYMBOL": [],
        "not both": ["BTC/USDT", "--csv", str(flat)],
        "unknown demo symbol": ["NOPE", "--feed", "demo"],
        "outside the series": ["--csv", str(flat), "--at", "500"],
    }
    # two through the installed command, the rest through the same main() in-process (fast)
    first = list(cases)[:2]
    results = _run_all(*[["cycles", *cases[m]] for m in first])
    for message, res in zip(first, results, strict=True):
        assert res.returncode == 2, (message, res.stdout, res.stderr)
        assert res.stderr.strip() == res.stderr.strip().splitlines()[0]
        assert message in res.stderr
    for message in list(cases)[2:]:
        assert main(["cycles", *cases[message]]) == 2, message
        err = capsys.readouterr().err
        assert err.startswith("qws: error: ") and message in err
        assert len(err.strip().splitlines()) == 1


def test_db_report_names_the_timeframe_and_the_stored_bars_its_window_spans(
    db_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """156 stored bars: the window is bars 91..155 of them (not "bar 64" of what was loaded)."""
    bars = synthetic_bars(DEMO_INSTRUMENTS["USDJPY"], "1h", 1_700_000_000_000_000_000, 156, 3)
    with Store(db_path) as store:
        store.candles.upsert(bars, "BTCUSD", "1h", "import")
    argv = ["--db", str(db_path), "cycles", "BTCUSD", "--feed", "db"]
    assert main([*argv, "--timeframe", "1h", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["timeframe"], out["timeframe_from"]) == ("1h", "--timeframe")
    assert (out["bars"], out["first"], out["at"]) == (156, 91, 155)
    assert (out["first_ts"], out["last_ts"]) == (bars["ts"][91], bars["ts"][155])

    assert main([*argv, "--timeframe", "1h", "--at", "100", "--json"]) == 0
    at = json.loads(capsys.readouterr().out)
    assert (at["bars"], at["first"], at["at"], at["last_ts"]) == (156, 36, 100, bars["ts"][100])

    assert main(argv) == 0  # settings app.timeframe is 1m, none stored: the one stored is read
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "db:BTCUSD  timeframe 1h (the only timeframe stored for BTCUSD), 156 bars"

    with Store(db_path) as store:  # two stored: which one is for the user to say
        store.candles.upsert(bars.head(40), "BTCUSD", "4h", "import")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no 1m bars for BTCUSD in the database (settings app.timeframe)" in err
    assert "--timeframe; stored: 1h, 4h" in err

    monkeypatch.setenv("QWS__APP__TIMEFRAME", "1h")
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "db:BTCUSD  timeframe 1h (settings app.timeframe), 156 bars"
    first, last = (
        datetime.fromtimestamp(bars["ts"][i] / 1e9, UTC).strftime("%Y-%m-%d %H:%M")
        for i in (91, 155)
    )
    assert lines[1] == (
        f"window: bars 91..155 of 0..155 (65 closes, {first} .. {last} UTC; bar 0 = the oldest)"
    )


def test_csv_report_takes_the_timeframe_from_the_file_spacing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _cycle_csv(tmp_path / "c.csv")  # one bar a minute
    assert main(["cycles", "--csv", str(tmp_path / "c.csv"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["timeframe"], out["timeframe_from"]) == ("1m", "the file's spacing")
    assert (out["bars"], out["first"], out["at"]) == (300, 235, 299)
    t = np.arange(300)
    pl.DataFrame({"Price": 100 * np.exp(0.01 * np.sin(t / 3))}).write_csv(tmp_path / "p.csv")
    assert main(["cycles", "--csv", str(tmp_path / "p.csv"), "--column", "price"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "timeframe unknown (no time column)" in first and "300 bars" in first
