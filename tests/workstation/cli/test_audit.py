"""``qws audit`` over the rows real commands write: orders on the paper broker with the demo
feed, a refusal of the pre-trade check, the kill switch, and a config change."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from workstation.cli import main
from workstation.cli.audit import CSV_COLUMNS, DEFAULT_DAYS
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.trading.audit_report import record_config

TODAY = datetime.now(UTC).date()


def utc_ms(ts_ns: int) -> datetime:
    """A stored time in UTC, to the millisecond the report shows."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ts_ns // 1_000_000)


def run(capsys: pytest.CaptureFixture[str], db: Path, *args: str) -> tuple[int, str, str]:
    rc = main(["--db", str(db), *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def table(out: str) -> list[str]:
    """The data lines of the table (the header aside)."""
    lines = out.splitlines()
    assert lines[0].split() == ["time", "(UTC)", "actor", "category", "action", "subject",
                                "summary"]  # fmt: skip
    return lines[1:]


@pytest.fixture
def traded(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    """A database with a filled order, a refused one and the kill switch on then off."""
    db = tmp_path / "q.db"
    assert run(capsys, db, "order", "buy", "0.01", "BTC/USDT", "--yes")[0] == 0
    rc, out, _ = run(capsys, db, "order", "buy", "10", "BTC/USDT", "--limit", "60000", "--yes")
    assert rc == 1 and "exceeds the limit" in out
    assert run(capsys, db, "kill", "on")[0] == 0
    assert run(capsys, db, "kill", "off")[0] == 0
    return db


def test_the_report_lists_the_intent_the_refusal_and_the_kill_switch(
    capsys: pytest.CaptureFixture[str], traded: Path
) -> None:
    rc, out, err = run(capsys, traded, "audit", "--since", str(TODAY))
    assert (rc, err) == (0, "")
    lines = table(out)
    intent = next(line for line in lines if " order.intent " in line)
    assert intent.split()[2:4] == ["user", "intent"]
    assert intent.rstrip().endswith("BUY 0.01 BTC/USDT market")
    [refusal] = [line for line in lines if " refusal " in line]
    assert "refused: order notional 600,000.00 exceeds the limit 100,000.00" in refusal
    kills = [line.rstrip() for line in lines if " kill_switch " in line]
    assert [k.split()[3] for k in kills] == ["decision", "decision"]
    assert kills[0].endswith("kill switch on (cli)") and kills[1].endswith("off (cli)")
    assert any("SUBMITTING -> FILLED, filled 0.01 @ " in line for line in lines)
    with Store(traded) as store:
        first_ns = store.audit.between(0)[0]["ts"]
    stamp = datetime.strptime(" ".join(lines[0].split()[:2]), "%Y-%m-%d %H:%M:%S.%f")
    assert stamp.replace(tzinfo=UTC) == utc_ms(first_ns)

    rc, out, _ = run(capsys, traded, "audit", "--since", str(TODAY), "--category", "refusal")
    assert [line.split()[3] for line in table(out)] == ["refusal"]
    rc, out, _ = run(
        capsys, traded, "audit", "--category", "intent,decision", "--symbol", "btc/usdt"
    )
    assert [line.split()[4] for line in table(out)] == ["order.intent"]


def test_csv_has_every_row_and_column_with_the_raw_detail(
    capsys: pytest.CaptureFixture[str], traded: Path, tmp_path: Path
) -> None:
    rc, out, _ = run(capsys, traded, "audit", "--since", str(TODAY), "--csv")
    assert rc == 0
    header, *rows = list(csv.reader(io.StringIO(out)))
    assert tuple(header) == CSV_COLUMNS
    with Store(traded) as store:
        stored = store.audit.between(0)
    assert [int(r[0]) for r in rows] == [int(s["id"]) for s in stored]
    by_id = {int(s["id"]): s for s in stored}
    for r in rows:
        record = dict(zip(header, r, strict=True))
        s = by_id[int(record["id"])]
        assert json.loads(record["detail"]) == json.loads(s["detail"])
        assert (record["action"], record["subject"], int(record["ts_ns"])) == (
            s["action"], s["subject"], s["ts"],
        )  # fmt: skip
        assert datetime.fromisoformat(record["time_utc"]) == utc_ms(s["ts"])
    refused = next(r for r in rows if r[4] == "refusal")
    assert refused[7] == "BTC/USDT" and json.loads(refused[9])["to"] == "REJECTED"
    assert {"intent", "refusal", "decision", "order"} <= {r[4] for r in rows}

    target = tmp_path / "audit.csv"
    rc, said, _ = run(capsys, traded, "audit", "--since", str(TODAY), "--csv", str(target))
    assert (rc, said.strip()) == (0, f"wrote {len(rows)} audit rows to {target}")
    assert target.read_bytes().decode("utf-8") == out  # the same CRLF rows (RFC 4180)


def test_a_config_change_shows_with_its_old_and_new_value(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "q.db"
    path = tmp_path / "config.toml"
    path.write_text("[risk]\nmax_order_notional = 100000.0\n", encoding="utf-8")
    with Store(db) as store:
        record_config(store, Settings.load(path, environ={}), "runtime")
        path.write_text("[risk]\nmax_order_notional = 50000.0\n", encoding="utf-8")
        record_config(store, Settings.load(path, environ={}), "runtime")
    rc, out, _ = run(capsys, db, "audit", "--category", "config")
    assert rc == 0
    snapshot, changed = (line.rstrip() for line in table(out))
    assert snapshot.split()[3:5] == ["config", "config.snapshot"]
    assert changed.split()[3:5] == ["config", "config.changed"]
    assert changed.endswith("risk.max_order_notional: 100000.0 -> 50000.0")


def test_the_default_window_is_the_last_seven_days_and_until_takes_a_whole_day(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "q.db"
    old = datetime.now(UTC) - timedelta(days=DEFAULT_DAYS + 3)
    with Store(db) as store:
        monkeypatch.setattr(
            "workstation.store.audit.now_ns", lambda: int(old.timestamp()) * 1_000_000_000
        )
        store.audit.add("user", "kill_switch", "on", {"reason": "long ago"})
        monkeypatch.undo()
        store.audit.add("user", "kill_switch", "off", {"reason": "now"})
    rc, out, _ = run(capsys, db, "audit")
    assert [line.split()[5] for line in table(out)] == ["off"]
    day = str(old.date())
    rc, out, _ = run(capsys, db, "audit", "--since", day, "--until", day)
    assert [line.split()[5] for line in table(out)] == ["on"]
    rc, out, _ = run(capsys, db, "audit", "--since", f"{day}T00:00:00+00:00", "--until", day)
    assert len(table(out)) == 1
    yesterday = str(TODAY - timedelta(days=1))
    rc, out, _ = run(capsys, db, "audit", "--since", yesterday, "--until", yesterday)
    assert (rc, out.strip()) == (
        0,
        f"no audit rows since {yesterday} 00:00:00.000 UTC until {TODAY} 00:00:00.000 UTC",
    )
    rc, out, _ = run(capsys, db, "audit", "--since", day, "--limit", "1")
    lines = out.splitlines()
    assert (
        len(table("\n".join(lines[:-1]))) == 1 and lines[-1] == "the newest 1 of 2 rows (--limit)"
    )
    with pytest.raises(SystemExit):
        run(capsys, db, "audit", "--help")
    out = capsys.readouterr().out
    assert f"default: {DEFAULT_DAYS} days ago" in " ".join(out.split())


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--since", "yesterday"], "--since: not a date: 'yesterday' (YYYY-MM-DD, or an ISO"),
        (["--until", "2024-02-30"], "--until: not a date: '2024-02-30'"),
        (["--since", "2024-05-02", "--until", "2024-05-01T12:00"],
         "--until 2024-05-01T12:00 is not after the start (2024-05-02 00:00:00.000 UTC)"),
        (["--category", "intent,bogus"], "--category: unknown 'bogus' (choose from intent,"),
        (["--category", ","], "--category: unknown empty list"),
        (["--limit", "0"], "--limit wants a positive number of rows, got 0"),
        (["--csv", "/nonexistent-dir/x.csv"], "--csv: cannot write /nonexistent-dir/x.csv:"),
    ],
)  # fmt: skip
def test_bad_input_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], error: str
) -> None:
    rc, out, err = run(capsys, tmp_path / "q.db", "audit", *args)
    assert rc == 2 and out == ""
    assert err.startswith(f"qws: error: {error}") and err.count("\n") == 1
