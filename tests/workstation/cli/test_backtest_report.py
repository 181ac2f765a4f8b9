"""``qws backtest --report FILE.html``: single runs and walk-forward, with and without --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_cli, write_csv


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "eurusd.csv", 1_500)


def backtest(csv: Path, *more: str) -> list[str]:
    return ["backtest", "--csv", str(csv), "--strategy", "sma_cross", "--param", "fast=5", *more]


def test_the_report_is_written_beside_the_json_which_stays_the_same(
    capsys: pytest.CaptureFixture[str], csv: Path, tmp_path: Path
) -> None:
    html = tmp_path / "bt.html"
    rc, plain, _ = run_cli(capsys, *backtest(csv, "--json"))
    assert rc == 0
    rc, out, err = run_cli(capsys, *backtest(csv, "--json", "--report", str(html)))
    assert rc == 0, err
    assert json.loads(out) == json.loads(plain)  # --json prints the same object
    assert f"report written: {html}" in err.splitlines()
    text = html.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    for name in ("candles", "entries", "exits", "equity", "drawdown", "overlay:sma(5)"):
        assert f'"name":"{name}"' in text
    assert "<script src=" not in text  # BokehJS inlined: the file opens offline
    rc, out, err = run_cli(capsys, *backtest(csv, "--report", str(html)))
    assert rc == 0, err
    assert out.splitlines()[-1] == f"report written: {html}"


def test_a_walk_forward_report_has_each_windows_curves(
    capsys: pytest.CaptureFixture[str], csv: Path, tmp_path: Path
) -> None:
    html = tmp_path / "wf.html"
    args = backtest(csv, "--walk-forward", "600:300", "--max-evals", "4", "--workers", "1")
    rc, out, err = run_cli(capsys, *args, "--report", str(html))
    assert rc == 0, err
    assert out.splitlines()[-1].startswith("cash ") and f"report written: {html}" in out
    text = html.read_text(encoding="utf-8")
    for k in range(3):  # 1,500 bars: windows at 0, 300 and 600
        assert f'"name":"window{k}:in_sample"' in text
        assert f'"name":"window{k}:out_of_sample"' in text
    assert '"name":"window3:in_sample"' not in text
    rc, out, err = run_cli(capsys, *args, "--json", "--report", str(html))
    assert rc == 0 and len(json.loads(out)["walk_forward"]["windows"]) == 3
    assert f"report written: {html}" in err


@pytest.mark.parametrize("where", ["missing/bt.html", "."])
def test_a_report_path_that_cannot_be_written_is_refused_before_the_run(
    capsys: pytest.CaptureFixture[str], csv: Path, tmp_path: Path, where: str
) -> None:
    rc, out, err = run_cli(capsys, *backtest(csv, "--report", str(tmp_path / where)))
    assert rc == 2 and out == ""
    assert err.startswith("qws: error: --report: ")
    assert ("does not exist" if "missing" in where else "is a folder") in err
