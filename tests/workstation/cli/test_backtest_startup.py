"""What ``qws backtest`` does before and after the backtest: only its own command's parser,
only the strategy it names, and a walk-forward pool only when one pays."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from engine.backtest import walkforward
from tests.helpers import write_csv
from workstation.cli import COMMAND_MODULES, COMMANDS, build_parser, command_module, main


def test_the_commands_table_names_every_subcommand_with_its_module() -> None:
    found = {}
    for name in COMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(name).register(sub)
        found.update(dict.fromkeys(sub.choices, name))
    assert found == COMMANDS


@pytest.mark.parametrize(
    ("argv", "module"),
    [
        (["backtest", "--csv", "x.csv"], "workstation.cli.backtest"),
        (["--db", "q.db", "bars", "X"], "workstation.cli.data"),
        (["--db=q.db", "import", "f.csv"], "workstation.cli.data"),
        (["order", "buy"], "workstation.cli.trade"),
        ([], None),
        (["-h"], None),
        (["--d", "q.db", "backtest"], None),  # an abbreviation argparse would accept
        (["EURUSD"], None),
    ],
)
def test_command_module_is_sure_or_says_none(argv: list[str], module: str | None) -> None:
    assert command_module(argv) == module


@pytest.mark.parametrize(
    "argv",
    [
        ["backtest", "--csv", "x.csv", "--strategy", "sma_cross", "--json"],
        ["--db", "q.db", "backtest", "--symbol", "X", "--timeframe", "1h", "--strategy", "s"],
        [
            "backtest",
            "--csv",
            "x.csv",
            "--strategy",
            "s",
            "--walk-forward",
            "9:3",
            "--workers",
            "2",
        ],
        ["--db", "q.db", "bars", "EURUSD", "--timeframe", "1h", "--json"],
    ],
)
def test_the_one_command_parser_reads_argv_as_the_whole_one_does(argv: list[str]) -> None:
    module = command_module(argv)
    assert module is not None
    assert vars(build_parser((module,)).parse_args(argv)) == vars(build_parser().parse_args(argv))


def test_a_backtest_imports_no_other_command_plugin_or_store(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "bars.csv", 300)
    code = (
        "import json, sys\n"
        "from workstation.cli import main\n"
        f"rc = main(['backtest', '--csv', {str(csv)!r}, '--strategy', 'sma_cross', '--json'])\n"
        "print(json.dumps({'rc': rc, 'modules': sorted(sys.modules)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=os.environ
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["rc"] == 0
    modules = set(report["modules"])
    assert "plugins.strategies.sma_cross" in modules
    never = {
        "plugins.strategies.qpe_cycle",
        "plugins.strategies.ensemble",
        "plugins.strategies.rsi_reversion",
        "engine.signals.ensemble",
        "engine.signals.qpe",
        "qiskit",
        "textual",
        "pandas",
        "workstation.store",
        "workstation.trader.events",
        "workstation.cli.headless",
        "workstation.cli.trade",
        "workstation.cli.run",
    }
    assert not never & modules


class _CountingPool(walkforward.ProcessPoolExecutor):
    started: ClassVar[list[int]] = []

    def __init__(self, max_workers: int | None = None, **kwargs: Any) -> None:
        type(self).started.append(max_workers or 0)
        super().__init__(max_workers=max_workers, **kwargs)


def _walk_forward_json(csv: Path, workers: str) -> dict[str, Any]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [
                "backtest",
                "--csv",
                str(csv),
                "--strategy",
                "sma_cross",
                "--walk-forward",
                "400:200",
                "--max-evals",
                "6",
                "--workers",
                workers,
                "--json",
            ]
        )
    assert code == 0
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def test_walk_forward_is_the_same_with_one_worker_and_with_a_pool_of_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = write_csv(tmp_path / "bars.csv", 1_400)
    monkeypatch.setattr(walkforward, "ProcessPoolExecutor", _CountingPool)
    _CountingPool.started = []
    small = _walk_forward_json(csv, "2")
    assert _CountingPool.started == []  # too little work: no pool, even with --workers 2
    serial = _walk_forward_json(csv, "1")
    monkeypatch.setattr(walkforward, "POOL_PAYS_S", 0.0)
    monkeypatch.setattr(walkforward, "SPAWNED_POOL_PAYS_S", 0.0)
    pooled = _walk_forward_json(csv, "2")
    assert _CountingPool.started == [2]
    none = _walk_forward_json(csv, "1")
    assert _CountingPool.started == [2]  # --workers 1 never starts one
    windows = serial["walk_forward"]["windows"]
    assert len(windows) == 5 and all(w["candidates"] == 6 for w in windows)
    assert pooled == serial == small == none


def test_help_says_when_a_pool_is_started(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["backtest", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "a pool is started only when" in text and "1 never starts one" in text
    assert f"over {walkforward.POOL_PAYS_S:g} s of CPU" in text
    assert f"{walkforward.SPAWNED_POOL_PAYS_S:g} s where processes are spawned" in text
