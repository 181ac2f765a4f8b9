"""``qws backtest``: once through the installed console script, the rest in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.backtest.performance import STAT_LABELS
from tests.helpers import write_csv
from workstation.cli import main

QWS = str(Path(sys.executable).parent / "qws")


def qws(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QWS, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


class Run:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.capsys.readouterr()
        code = main(list(args))
        out = self.capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out.out, out.err)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(capsys)


def test_csv_backtest_prints_stats_and_trades_as_json(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "eurusd.csv", 1_500)
    out = qws(
        "backtest",
        "--csv",
        str(csv),
        "--strategy",
        "sma_cross",
        "--param",
        "fast=5",
        "--param",
        "slow=40",
        "--commission",
        "0.002",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert set(STAT_LABELS) <= set(report["stats"])
    assert report["params"] == {"fast": 5, "slow": 40}
    assert report["stats"]["trades"] == len(report["trades"]) > 0
    first = report["trades"][0]
    assert {
        "entry_bar",
        "exit_bar",
        "entry_time",
        "exit_time",
        "entry_price",
        "exit_price",
        "size",
        "pnl",
        "fees",
    } <= set(first)
    assert first["entry_bar"] > 40


def test_demo_symbol_backtest_with_plot_and_accuracy(run: Run) -> None:
    out = run(
        "backtest",
        "--symbol",
        "ETH/USDT",
        "--timeframe",
        "1h",
        "--bars",
        "1500",
        "--strategy",
        "rsi_reversion",
        "--plot",
        "--accuracy",
    )
    assert out.returncode == 0, out.stderr
    assert "demo bars" in out.stderr
    assert "Return %" in out.stdout and "Buy&Hold %" in out.stdout
    assert "equity" in out.stdout and "└" in out.stdout and "█" in out.stdout
    assert "signal accuracy" in out.stdout and "p vs 50%" in out.stdout


def test_walk_forward_reports_in_sample_beside_out_of_sample(run: Run) -> None:
    out = run(
        "backtest",
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "1h",
        "--bars",
        "1200",
        "--strategy",
        "sma_cross",
        "--walk-forward",
        "500:300",
        "--max-evals",
        "4",
        "--workers",
        "2",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    wf = json.loads(out.stdout)["walk_forward"]
    assert [w["test"] for w in wf["windows"]] == [[500, 800], [800, 1100]]
    assert set(wf["summary"]["sharpe"]) == {"in_sample", "out_of_sample"}
    table = run(
        "backtest",
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "1h",
        "--bars",
        "1200",
        "--strategy",
        "sma_cross",
        "--walk-forward",
        "500:300",
        "--max-evals",
        "3",
        "--workers",
        "1",
    )
    assert table.returncode == 0 and "out-of-sample" in table.stdout


def test_user_errors_are_one_clear_line(tmp_path: Path, run: Run) -> None:
    csv = write_csv(tmp_path / "x.csv", 100)
    cases = [
        (["--csv", str(csv), "--strategy", "nope"], "unknown strategy 'nope'"),
        (["--csv", str(csv), "--strategy", "sma_cross", "--param", "fast=x"], "must be int"),
        (["--csv", str(csv), "--strategy", "sma_cross", "--param", "fast"], "name=value"),
        (["--csv", str(tmp_path / "missing.csv"), "--strategy", "sma_cross"], "no such file"),
        (["--symbol", "ZZZ", "--timeframe", "1h", "--strategy", "sma_cross"], "qws import"),
        (["--csv", str(csv), "--strategy", "sma_cross", "--walk-forward", "90:50"], "too few"),
    ]
    for args, message in cases:
        out = run("backtest", *args)
        assert out.returncode == 2, (args, out.stderr)
        assert message in out.stderr and "Traceback" not in out.stderr


def test_symbol_bars_come_from_the_store_when_it_has_them(tmp_path: Path, run: Run) -> None:
    db = tmp_path / "q.db"
    csv = write_csv(tmp_path / "eurusd.csv", 800, seed=4)
    assert run("--db", str(db), "import", str(csv), "--symbol", "EURUSD", "--timeframe",
               "1h").returncode == 0  # fmt: skip
    from_store = run("--db", str(db), "backtest", "--symbol", "EURUSD", "--timeframe", "1h",
                     "--strategy", "sma_cross", "--json")  # fmt: skip
    assert from_store.returncode == 0, from_store.stderr
    assert "demo" not in from_store.stderr
    from_file = run("backtest", "--csv", str(csv), "--strategy", "sma_cross", "--json")
    stats = json.loads(from_store.stdout)["stats"]
    assert stats["bars"] == 800
    assert stats == json.loads(from_file.stdout)["stats"]
