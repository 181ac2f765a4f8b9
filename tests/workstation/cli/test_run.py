"""``qws run``: the store it opens (in a thread, while the screen's modules import) is the same
store, and a store that cannot be opened is the same one clear line, before anything is drawn.
A replay says what its speed means, on the command line and in the screen's log."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import backtesting
import pytest
from textual.widgets import Static

from feeds.replay import ReplayFeed
from tests.workstation.store.damaged import damage_table
from tests.workstation.ui.ui_helpers import wait_for
from widgets.log_pane import LogPane
from workstation.cli import CliError, main
from workstation.cli.run import _open_store_while_importing
from workstation.store import SCHEMA_VERSION, Store
from workstation.ui.app import QwsApp

QWS = str(Path(sys.executable).parent / "qws")


def _run(db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QWS, "--db", str(db), "run"], capture_output=True, text=True, timeout=120
    )


def _filled_store(db: Path) -> None:
    with Store(db) as store:
        store.watchlists.set(["BTC/USDT", "ETH/USDT"])


def test_the_store_opened_beside_the_imports_is_the_file_asked_for(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    _filled_store(db)
    store = _open_store_while_importing(argparse.Namespace(db=str(db)))
    try:
        assert store.path == db
        assert store.watchlists.get() == ["BTC/USDT", "ETH/USDT"]
        assert store.schema_version == SCHEMA_VERSION
    finally:
        store.close()
    assert "workstation.ui.app" in sys.modules


def test_a_damaged_store_is_refused_before_the_screen(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    _filled_store(db)
    damage_table(db, "settings")
    with pytest.raises(CliError, match=r"is damaged \(quick_check: .*restore a backup"):
        _open_store_while_importing(argparse.Namespace(db=str(db)))


def test_qws_run_on_a_damaged_store_is_one_clear_line_and_leaves_the_file(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    _filled_store(db)
    damage_table(db, "settings")
    damaged = db.read_bytes()
    out = _run(db)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith(f"qws: error: the store at {db} is damaged")
    assert "restore a backup or move it aside" in errors[0]
    assert db.read_bytes() == damaged


def test_qws_run_on_a_newer_schema_says_upgrade(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    _filled_store(db)
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    out = _run(db)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr, out.stderr
    assert f"schema version {SCHEMA_VERSION + 1} is newer than this qws" in out.stderr
    assert "upgrade qws" in out.stderr


def test_qws_run_on_a_replay_says_what_the_speed_means(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    file = Path(backtesting.__file__).parent / "test" / "EURUSD.csv"
    monkeypatch.setenv("QWS__SCAN__ON_BAR", "false")
    monkeypatch.setenv("QWS__APP__ENGINE_DELAY_S", "3600")
    shown: dict[str, object] = {}

    def headless(app: QwsApp) -> None:
        async def drive() -> None:
            async with app.run_test(size=(160, 50)):
                status = app.dashboard.query_one("#status", Static)
                await wait_for(lambda: app.bars_stored == 1)
                app.refresh_status()
                await wait_for(lambda: "next in" in str(status.render()))
                await wait_for(lambda: bool(app.dashboard.query(LogPane)))
                shown["status"] = str(status.render())
                shown["log"] = [text for _, text in app.dashboard.query_one(LogPane).entries]
                shown["feed"] = app.feed

        asyncio.run(drive())

    monkeypatch.setattr(QwsApp, "run", headless)
    argv = ["--db", str(tmp_path / "q.db"), "run", "--feed", "replay", "--file", str(file)]
    assert main([*argv, "--timeframe", "1h", "--speed", "10"]) == 0
    said = (
        "replay EURUSD.csv at 10x: one 1h bar every 6 min; 4,000 bars after 1,000 warm-up bars"
        " (2017-06-16 01:00 to 2018-02-07 15:00 UTC); --speed 0 for as fast as possible"
    )
    assert capsys.readouterr().out.splitlines() == [said]
    feed = shown["feed"]
    assert isinstance(feed, ReplayFeed) and (feed.timeframe, feed.speed) == ("1h", 10.0)
    assert said in shown["log"]  # type: ignore[operator]
    assert "feed replay: live · bar 1 of 4,000 · 2017-06-16 01:00 · next in " in str(
        shown["status"]
    )


def test_qws_run_on_a_replay_charts_the_timeframe_it_plays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    file = Path(backtesting.__file__).parent / "test" / "EURUSD.csv"
    monkeypatch.setenv("QWS__REPLAY__TIMEFRAME", "1h")
    monkeypatch.setenv("QWS__APP__TIMEFRAME", "5m")
    charted: list[str] = []
    monkeypatch.setattr(QwsApp, "run", lambda app: charted.append(app.timeframe))
    argv = ["--db", str(tmp_path / "q.db"), "run", "--feed", "replay", "--file", str(file)]
    assert main(argv) == 0
    assert main([*argv, "--timeframe", "4h"]) == 0
    assert charted == ["1h", "4h"]
    out = capsys.readouterr().out
    first, second = out.splitlines()
    assert "one 1h bar every 6 min" in first and "apart" not in first
    assert second.endswith(
        "the file's bars are 1h apart but they are replayed as 4h bars: pass --timeframe 1h)"
    )
