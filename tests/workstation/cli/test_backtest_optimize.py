"""``qws backtest --optimize``: a parameter sweep from the command line, in-process."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli, write_csv
from workstation.cli.backtest import _fmt

FAST = [5, 10, 15, 20]
SLOW = [10, 20, 30, 40]
AXES = ("--optimize", "fast=5:20:5", "--optimize", "slow=10:40:10")
VALID = {(f, s) for f in FAST for s in SLOW if f < s}


@pytest.fixture(scope="module")
def csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("optimize") / "bars.csv", 1_500, seed=3)


def backtest(capsys: pytest.CaptureFixture[str], csv: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(
        capsys, "backtest", "--csv", str(csv), "--strategy", "sma_cross",
        "--commission", "0.002", *args,
    )  # fmt: skip


def rank(stats: dict[str, Any], metric: str) -> float:
    """The order a sweep ranks by: a run without trades or without the metric goes last."""
    v = stats[metric]
    return -math.inf if v is None or stats["trades"] == 0 else float(v)


def sweep_json(capsys: pytest.CaptureFixture[str], csv: Path, *args: str) -> dict[str, Any]:
    code, out, err = backtest(capsys, csv, *AXES, "--json", *args)
    assert code == 0, err
    assert out.count("\n") == 1
    report: dict[str, Any] = json.loads(out)
    return report


@pytest.mark.parametrize("metric", ["sharpe", "return_pct"])
def test_json_has_every_combination_once_best_first_with_the_stats_of_a_run_alone(
    capsys: pytest.CaptureFixture[str], csv: Path, metric: str
) -> None:
    report = sweep_json(capsys, csv, "--metric", metric)
    assert report["strategy"] == "sma_cross"
    assert report["metric"] == metric
    assert report["axes"] == {"fast": FAST, "slow": SLOW}
    results = report["results"]
    combos = [(r["params"]["fast"], r["params"]["slow"]) for r in results]
    assert len(combos) == len(set(combos)) and set(combos) == VALID
    ranks = [rank(r["stats"], metric) for r in results]
    assert ranks == sorted(ranks, reverse=True)
    assert math.isfinite(ranks[0]) and ranks[0] > ranks[-1]
    for r in (results[0], results[len(results) // 2], results[-1]):
        fast, slow = r["params"]["fast"], r["params"]["slow"]
        code, out, err = backtest(
            capsys, csv, "--param", f"fast={fast}", "--param", f"slow={slow}", "--json"
        )
        assert code == 0, err
        alone = json.loads(out)
        assert alone["params"] == r["params"]
        assert alone["stats"] == r["stats"]


def heatmap(out: str) -> tuple[list[str], dict[str, list[str]]]:
    """The heatmap's column heads and its rows (label -> cells) from the text output."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("slow\\fast"))
    heads = lines[start].split()[1:]
    rows = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        label, *cells = line.split()
        rows[label] = cells
    return heads, rows


def test_text_output_has_the_heatmap_and_the_top_table_best_first(
    capsys: pytest.CaptureFixture[str], csv: Path
) -> None:
    best = sweep_json(capsys, csv)["results"]
    code, out, err = backtest(capsys, csv, *AXES)
    assert code == 0, err
    assert "\x1b" not in out  # no colour when stdout is not a terminal
    heads, rows = heatmap(out)
    assert heads == [str(f) for f in FAST]
    assert list(rows) == [str(s) for s in SLOW]
    assert all(len(cells) == len(FAST) for cells in rows.values())
    for s in SLOW:
        for i, f in enumerate(FAST):
            assert (rows[str(s)][i] == "·") == ((f, s) not in VALID)
    top = best[0]
    cell = rows[str(top["params"]["slow"])][FAST.index(top["params"]["fast"])]
    assert cell == _fmt(top["stats"]["sharpe"])
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("top 10 of 12 by sharpe"))
    assert lines[at + 1].split()[:2] == ["#", "params"]
    table = lines[at + 2 :]
    assert len(table) == 10
    for n, (line, r) in enumerate(zip(table, best, strict=False), 1):
        shown = f"fast={r['params']['fast']}, slow={r['params']['slow']}"
        assert line.startswith(f"{n:>2}  {shown} ")
    assert table[0].split()[-1] == str(top["stats"]["trades"])


def test_refused_combinations_are_counted_and_left_out(
    capsys: pytest.CaptureFixture[str], csv: Path
) -> None:
    code, out, err = backtest(capsys, csv, *AXES, "--top", "3")
    assert code == 0, err
    head = out.splitlines()[0]
    assert head.startswith(f"sma_cross on {csv}: 1,500 bars, 12 combinations run (batched)")
    assert re.search(
        r", 4 skipped \(e\.g\. sma_cross: fast \(\d+\) must be shorter than slow", head
    )
    report = sweep_json(capsys, csv)
    refused = {(s["params"]["fast"], s["params"]["slow"]) for s in report["skipped"]}
    assert refused == {(f, s) for f in FAST for s in SLOW if f >= s}
    assert all("must be shorter than slow" in s["reason"] for s in report["skipped"])
    ran = {(r["params"]["fast"], r["params"]["slow"]) for r in report["results"]}
    assert not ran & refused


def test_one_axis_is_a_one_row_table_and_param_fixes_the_other(
    capsys: pytest.CaptureFixture[str], csv: Path
) -> None:
    code, out, err = backtest(
        capsys, csv, "--optimize", "fast=5,10,15", "--param", "slow=30", "--metric", "sortino"
    )
    assert code == 0, err
    lines = out.splitlines()
    at = lines.index("sortino by fast")
    assert lines[at + 1].split() == ["fast", "5", "10", "15"]
    assert lines[at + 2].split()[0] == "sortino" and len(lines[at + 2].split()) == 4
    assert lines[at + 3] == ""
    assert "top 3 of 3 by sortino (the others: slow=30)" in lines
    code, out, err = backtest(
        capsys, csv, "--optimize", "fast=5,10,15", "--param", "slow=30", "--json"
    )
    assert code == 0, err
    ran = [r["params"] for r in json.loads(out)["results"]]
    assert sorted(p["fast"] for p in ran) == [5, 10, 15]
    assert all(p["slow"] == 30 for p in ran)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--optimize", "fast=a:b:c"], "fast: cannot read 'a:b:c' as numbers"),
        (["--optimize", "nope=1:3:1"], "no parameter nope to sweep"),
        (["--optimize", "fast=50:5:5"], "needs STEP > 0 and STOP >= START"),
        (["--optimize", "fast=5:20:5", "--walk-forward", "500:200"], "--walk-forward"),
        (["--optimize", "fast=5:20:5", "--report", "x.html"], "--report"),
        (["--optimize", "fast=50:60:5", "--param", "slow=20"], "no valid combination"),
        (["--optimize", "fast=5:20:5", "--param", "fast=5"], "both swept and fixed"),
        (["--optimize", "fast=5:20:5", "--param", "nope=1"], "unknown parameter(s) nope"),
        (["--optimize", "fast=5:20:5", "--metric", "win_rate_pct"], "cannot rank a sweep"),
        (["--optimize", "fast=5:20:5", "--metric", "nope"], "use one of sharpe, return_pct"),
        (["--top", "3"], "--top goes with --optimize"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], csv: Path, args: list[str], says: str
) -> None:
    code, out, err = backtest(capsys, csv, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("qws: error: ")
    assert says in err
