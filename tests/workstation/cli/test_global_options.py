"""``--db`` (every global option) before or after the command's name, for every command."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tests.helpers import write_csv
from workstation.cli import GLOBAL_OPTIONS, build_parser, main


def _parsers(
    parser: argparse.ArgumentParser, path: str = "qws"
) -> dict[str, argparse.ArgumentParser]:
    found = {path: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found.update(_parsers(child, f"{path} {name}"))
    return found


def test_every_command_and_subcommand_takes_the_global_options() -> None:
    parsers = _parsers(build_parser())
    assert {"qws run", "qws config show", "qws order", "qws telegram serve"} <= set(parsers)
    for name, parser in parsers.items():
        for option in GLOBAL_OPTIONS:
            assert option in parser._option_string_actions, (name, option)


@pytest.mark.parametrize(
    ("argv", "db"),
    [
        (["run", "--db", "after.db"], "after.db"),
        (["--db", "before.db", "run"], "before.db"),
        (["--db=before.db", "run", "--feed", "demo"], "before.db"),
        (["run", "--feed", "demo", "--db=after.db"], "after.db"),
        (["--db", "before.db", "bars", "X", "--timeframe", "1h", "--db", "after.db"], "after.db"),
        (["config", "show", "--db", "after.db"], "after.db"),
        (["bars", "X", "--timeframe", "1h"], None),
    ],
)
def test_the_db_is_read_before_or_after_the_command(argv: list[str], db: str | None) -> None:
    assert build_parser().parse_args(argv).db == db


def test_a_command_uses_the_db_named_after_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "q.db"
    csv = write_csv(tmp_path / "a.csv", 50)
    argv = ["import", str(csv), "--symbol", "X", "--timeframe", "1h", "--db", str(db)]
    assert main(argv) == 0
    assert db.exists()
    capsys.readouterr()
    assert main(["bars", "X", "--timeframe", "1h", "--limit", "3", "--json", "--db", str(db)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["--db", str(tmp_path / "other.db"), "bars", "X", "--timeframe", "1h"]) == 2
    assert "no 1h bars stored for X" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--db", "{db}", "--feed", "nosuchfeed"],
        ["--db", "{db}", "run", "--feed", "nosuchfeed"],
        ["--feed", "nosuchfeed", "--db", "{db}"],  # plain `qws` takes the options of `qws run`
        ["--db", "{db}", "--feed", "nosuchfeed"],
    ],
)
def test_run_and_plain_qws_take_the_db_on_either_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main([a.format(db=tmp_path / "q.db") for a in argv]) == 2
    err = capsys.readouterr().err
    assert "unknown feed 'nosuchfeed'" in err and "unrecognized arguments" not in err
