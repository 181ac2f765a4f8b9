"""Each subcommand end to end through the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write_csv
from workstation.store import SCHEMA_VERSION

QWS = str(Path(sys.executable).parent / "qws")


def qws(
    *args: str, db: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    cmd = [QWS, *(["--db", str(db)] if db else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=os.environ)


def test_help_lists_the_jobs() -> None:
    out = qws("--help")
    assert out.returncode == 0
    for command in ("run", "import", "bars", "doctor", "config"):
        assert command in out.stdout


def test_import_then_bars_as_table_and_json(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    csv = write_csv(tmp_path / "eurusd.csv", 300)
    done = qws("import", str(csv), "--symbol", "EURUSD", "--timeframe", "1h", db=db)
    assert done.returncode == 0, done.stderr
    assert "imported 300 1h bars of EURUSD" in done.stdout
    table = qws("bars", "EURUSD", "--timeframe", "1h", "--limit", "5", db=db)
    assert table.returncode == 0 and "EURUSD 1h" in table.stdout
    lines = qws("bars", "EURUSD", "--timeframe", "1h", "--limit", "3", "--json", db=db)
    records = [json.loads(line) for line in lines.stdout.splitlines()]
    assert len(records) == 3
    assert set(records[0]) == {"ts", "open", "high", "low", "close", "volume"}
    assert records[-1]["ts"] == "2024-01-13T11:00:00.000Z"


def test_bad_file_imports_nothing_and_keeps_what_was_stored(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    good = write_csv(tmp_path / "good.csv", 100)
    assert qws("import", str(good), "--symbol", "X", "--timeframe", "1h", db=db).returncode == 0
    bad = write_csv(tmp_path / "bad.csv", 2000, seed=9)
    lines = bad.read_text().splitlines()
    lines[1233] = lines[1233].replace(lines[1233].split(",")[4], "oops")
    bad.write_text("\n".join(lines) + "\n")
    out = qws("import", str(bad), "--symbol", "X", "--timeframe", "1h", db=db)
    assert out.returncode == 2
    assert f"{bad}: line 1234, column 'Close': 'oops' is not a number" in out.stderr
    assert "Traceback" not in out.stderr
    stored = qws("bars", "X", "--timeframe", "1h", "--limit", "1000", "--json", db=db)
    assert len(stored.stdout.splitlines()) == 100


@pytest.mark.parametrize(
    "args,message",
    [
        (("import", "{csv}", "--symbol", "X", "--timeframe", "7y"), "unknown timeframe '7y'"),
        (("import", "{csv}", "--symbol", "X", "--timeframe", "1d"), "finer than --timeframe 1d"),
        (("bars", "NOPE", "--timeframe", "1h"), "no 1h bars stored for NOPE"),
        (("run", "--feed", "nosuchfeed"), "unknown feed 'nosuchfeed'"),
        (("run", "--feed", "replay", "--file", "{missing}"), "no such file"),
    ],
)
def test_user_errors_are_one_clear_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    csv = write_csv(tmp_path / "a.csv", 50)
    filled = [a.format(csv=csv, missing=tmp_path / "missing.csv") for a in args]
    out = qws(*filled, db=tmp_path / "q.db")
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr


def test_doctor_reports_versions_db_keyring_and_plugins(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    qws(
        "import",
        str(write_csv(tmp_path / "a.csv", 10)),
        "--symbol",
        "X",
        "--timeframe",
        "1h",
        db=db,
    )
    out = qws("doctor", db=db)
    assert "qiskit-aer" in out.stdout and "textual" in out.stdout
    assert f"schema v{SCHEMA_VERSION}" in out.stdout and "integrity ok" in out.stdout
    assert "keyring backend" in out.stdout
    assert "demo" in out.stdout and "replay" in out.stdout


def test_config_path_and_show_with_env_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QWS_CONFIG", str(tmp_path / "c.toml"))
    monkeypatch.setenv("QWS__SIGNALS__QUALITY_GATE", "0.9")
    assert qws("config", "path").stdout.strip() == str(tmp_path / "c.toml")
    shown = json.loads(qws("config", "show", "--json").stdout)
    assert shown["signals.quality_gate"] == {
        "value": 0.9,
        "source": "env QWS__SIGNALS__QUALITY_GATE",
    }
    assert shown["trading.live"] == {"value": False, "source": "default"}


def test_a_closed_pipe_is_not_a_crash(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    qws(
        "import",
        str(write_csv(tmp_path / "a.csv", 3000)),
        "--symbol",
        "X",
        "--timeframe",
        "1h",
        db=db,
    )
    out = subprocess.run(
        f"'{QWS}' --db '{db}' bars X --timeframe 1h --limit 3000 --json | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
    )
    assert out.stdout.count("\n") == 1
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr


def test_import_names_a_text_line_among_epoch_timestamps(tmp_path: Path) -> None:
    csv = tmp_path / "epoch.csv"
    lines = ["Timestamp,Open,High,Low,Close,Volume"] + [
        f"{1_704_067_200 + 3600 * i},1,2,0.5,1.5,3" for i in range(3000)
    ]
    lines[2500] = "market closed,1,2,0.5,1.5,3"
    csv.write_text("\n".join(lines) + "\n")
    out = qws("import", str(csv), "--symbol", "X", "--timeframe", "1h", db=tmp_path / "q.db")
    assert out.returncode == 2
    assert f"{csv}: line 2501, column 'Timestamp': cannot read 'market closed'" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_failed_import_of_many_chunks_keeps_nothing(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    good = write_csv(tmp_path / "good.csv", 100)
    assert qws("import", str(good), "--symbol", "X", "--timeframe", "1h", db=db).returncode == 0
    before = qws("bars", "X", "--timeframe", "1h", "--limit", "1000000", "--json", db=db).stdout
    bad = write_csv(tmp_path / "bad.csv", 250_000, seed=9)
    with bad.open("a") as f:
        f.write("2099-01-01 00:00:00,1,2,0.5,nope,3\n")
    out = qws("import", str(bad), "--symbol", "X", "--timeframe", "1h", db=db)
    assert out.returncode == 2 and "line 250002, column 'Close'" in out.stderr
    after = qws("bars", "X", "--timeframe", "1h", "--limit", "1000000", "--json", db=db).stdout
    assert after == before


def _damaged_store(tmp_path: Path, table: str) -> Path:
    from tests.workstation.store.damaged import damage_table

    db = tmp_path / "q.db"
    csv = write_csv(tmp_path / "a.csv", 3000)
    assert qws("import", str(csv), "--symbol", "X", "--timeframe", "1h", db=db).returncode == 0
    damage_table(db, table)
    return db


@pytest.mark.parametrize(
    "args",
    [
        ("bars", "X", "--timeframe", "1h"),
        ("import", "{csv}", "--symbol", "Y", "--timeframe", "1h"),
        ("orders",),
        ("positions",),
        ("alerts",),
        ("scan", "--feed", "db", "--symbols", "X", "--timeframe", "1h", "--cycles", "periodogram"),
    ],
)
def test_a_damaged_store_is_one_clear_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    db = _damaged_store(tmp_path, "candles")
    filled = [a.format(csv=write_csv(tmp_path / "b.csv", 20)) for a in args]
    out = qws(*filled, db=db)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.strip()]
    assert errors == [
        f"qws: error: the store at {db} is damaged (quick_check: "
        + errors[0].split("(quick_check: ", 1)[-1]
    ]
    assert "restore a backup or move it aside" in errors[0]


def test_import_does_not_write_into_a_damaged_store(tmp_path: Path) -> None:
    db = _damaged_store(tmp_path, "signals")
    damaged = db.read_bytes()
    csv = write_csv(tmp_path / "b.csv", 20)
    out = qws("import", str(csv), "--symbol", "Y", "--timeframe", "1h", db=db)
    assert out.returncode == 2 and "is damaged" in out.stderr
    assert db.read_bytes() == damaged


def test_a_damaged_paper_account_is_one_clear_line(tmp_path: Path) -> None:
    from plugins.brokers.paper import PaperBroker
    from tests.workstation.store.damaged import damage_table

    db = tmp_path / "q.db"
    paper = tmp_path / "q.paper.db"
    PaperBroker(paper, {}, starting_balances={"USDT": 1000}).close()
    damage_table(paper, "balances")
    out = qws("orders", db=db)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr, out.stderr
    assert f"qws: error: the paper account at {paper} is damaged" in out.stderr
    assert "restore a backup or move it aside" in out.stderr
