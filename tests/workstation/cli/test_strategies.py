"""``qws strategies new`` writes a package that passes its own test, installs, and then shows
up in ``qws strategies list`` and runs in ``qws backtest``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from workstation.cli import main

QWS = str(Path(sys.executable).parent / "qws")


def _run(
    cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=180, cwd=cwd, env={**os.environ, **(env or {})}
    )


def test_new_package_passes_its_test_installs_lists_and_backtests(tmp_path: Path) -> None:
    assert main(["strategies", "new", "trend_rider", "--dir", str(tmp_path)]) == 0
    root = tmp_path / "qws-strategy-trend-rider"
    assert (root / "pyproject.toml").read_text().count(
        'trend_rider = "qws_strategy_trend_rider'
    ) == 1
    assert main(["strategies", "new", "trend_rider", "--dir", str(tmp_path)]) == 2  # exists

    tested = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "3 passed" in tested.stdout

    # installed into a private target (the test venv stays clean), put on the path
    target = tmp_path / "site"
    installed = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(root),
        ]
    )
    assert installed.returncode == 0, installed.stderr
    env = {"PYTHONPATH": str(target)}
    listed = _run([QWS, "strategies", "list", "--json"], env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["trend_rider"]["enabled"], rows["trend_rider"]
    assert "qws-strategy-trend-rider" in rows["trend_rider"]["source"]
    assert rows["trend_rider"]["params"]["ema"]["default"] == 50

    ran = _run(
        [
            QWS,
            "backtest",
            "--symbol",
            "SOL/USDT",
            "--timeframe",
            "1h",
            "--bars",
            "2000",
            "--strategy",
            "trend_rider",
            "--param",
            "ema=20",
            "--json",
        ],
        env=env,
    )
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["strategy"] == "trend_rider" and report["params"]["ema"] == 20
    assert report["stats"]["trades"] > 0


def test_new_rejects_bad_names(tmp_path: Path, capsys: object) -> None:
    assert main(["strategies", "new", "9lives", "--dir", str(tmp_path)]) == 2
    assert main(["strategies", "new", "Bad Name", "--dir", str(tmp_path)]) == 2
    assert not list(tmp_path.iterdir())
