"""``qws backtest``: its cash, lot and commission come from the settings and are reported;
undefined statistics are null in JSON and ``n/a (why)`` in the table."""

from __future__ import annotations

import json
from pathlib import Path

import backtesting.test
import numpy as np
import polars as pl
import pytest

from tests.helpers import write_csv
from workstation.cli import main

GOOG = Path(backtesting.test.__file__).parent / "GOOG.csv"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["backtest", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _demo(*extra: str) -> list[str]:
    return ["--symbol", "ETH/USDT", "--timeframe", "1h", "--bars", "300", "--strategy",
            "sma_cross", *extra]  # fmt: skip


def test_defaults_come_from_the_settings_and_are_reported(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = _run(capsys, *_demo("--json"))
    assert code == 0, err
    assert json.loads(out)["config"] == {"cash": 10_000.0, "lot": 0.0001, "commission": 0.0}

    monkeypatch.setenv("QWS__BACKTEST__CASH", "25000")
    monkeypatch.setenv("QWS__BACKTEST__COMMISSION", "0.001")
    monkeypatch.setenv("QWS__BACKTEST__LOT", "0.5")
    code, out, err = _run(capsys, *_demo("--json"))
    assert code == 0, err
    assert json.loads(out)["config"] == {"cash": 25_000.0, "lot": 0.5, "commission": 0.001}

    code, out, err = _run(capsys, *_demo("--cash", "5000", "--lot", "0.01", "--json"))
    assert code == 0, err
    assert json.loads(out)["config"] == {"cash": 5_000.0, "lot": 0.01, "commission": 0.001}

    code, out, err = _run(capsys, *_demo())
    assert code == 0, err
    assert "cash 25,000 · lot 0.5 · commission 0.001" in out


def test_a_file_without_an_instrument_trades_whole_units(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = write_csv(tmp_path / "x.csv", 300)
    code, out, err = _run(capsys, "--csv", str(csv), "--strategy", "sma_cross", "--json")
    assert code == 0, err
    assert json.loads(out)["config"]["lot"] == 1.0


def test_a_bad_backtest_setting_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QWS__BACKTEST__LOT", "-1")
    code, _out, err = _run(capsys, *_demo())
    assert code == 2
    assert "backtest.lot must be 0 (the instrument's lot size) or positive" in err
    assert "Traceback" not in err


def _strong_run_csv(path: Path) -> Path:
    """400 1m bars from 23:00 UTC, a tenfold rise: annualised, it passes a float's range."""
    n = 400
    close = np.r_[np.linspace(110, 100, 40), np.linspace(100, 1000, n - 40)]
    ts = 1_700_002_800_000_000_000 + np.arange(n, dtype=np.int64) * 60_000_000_000
    pl.DataFrame(
        {
            "Date": pl.from_epoch(pl.Series(ts), time_unit="ns").dt.strftime("%Y-%m-%d %H:%M:%S"),
            "Open": close,
            "High": close * 1.001,
            "Low": close * 0.999,
            "Close": close,
            "Volume": np.ones(n),
        }
    ).write_csv(path)
    return path


def test_undefined_statistics_are_null_with_a_reason_and_nothing_crashes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = _strong_run_csv(tmp_path / "strong.csv")
    code, out, err = _run(capsys, "--csv", str(csv), "--strategy", "sma_cross", "--json")
    assert code == 0, err
    assert "NaN" not in out and "Infinity" not in out
    stats = json.loads(out)["stats"]
    assert stats["bars"] == 400
    assert stats["volatility_pct"] is None and stats["sharpe"] is None
    assert stats["undefined"]["sharpe"] == "too few bars (2 days; needs 3)"

    code, out, err = _run(capsys, "--csv", str(csv), "--strategy", "sma_cross")
    assert code == 0, err
    assert "nan" not in out.lower().replace("n/a", "")
    assert "n/a (too few bars (2 days; needs 3))" in out
    assert "n/a (no closed trades (1 still open))" in out


def test_goog_max_drawdown_duration_is_in_calendar_days(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--csv", str(GOOG), "--strategy", "sma_cross", "--param", "fast=10", "--param",
            "slow=20", "--commission", "0.002", "--json"]  # fmt: skip
    code, out, err = _run(capsys, *args)
    assert code == 0, err
    stats = json.loads(out)["stats"]
    assert (stats["max_drawdown_days"], stats["max_drawdown_bars"]) == (830.0, 570)
