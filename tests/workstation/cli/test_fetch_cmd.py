"""``qws fetch`` against a local Binance REST stand-in, into a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.feeds.exchanges.test_ccxt_feed import ROUTES
from tests.feeds.servers import rest_stand_in
from workstation.cli import main
from workstation.store import Store


def test_fetch_fills_the_store_then_asks_for_nothing_already_there(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with rest_stand_in(ROUTES) as rest:
        monkeypatch.setenv("QWS__FEEDS__BINANCE__REST_URL", rest.url)
        argv = ["--db", str(db_path), "fetch", "BTC/USDT", "--venue", "binance", "-t", "1m",
                "--since", "2024-01-01", "--until", "2024-01-01T05:00", "-q"]  # fmt: skip
        assert main(argv) == 0
        assert "300 bars" in capsys.readouterr().out
        klines = [p for p in rest.paths() if p == "/api/v3/klines"]
        assert len(klines) == 1
        rest.requests.clear()
        assert main(argv) == 0
        assert "300 bars" in capsys.readouterr().out and rest.requests == []
    with Store(db_path) as store:
        bars = store.candles.between("BTC/USDT", "1m", venue="binance")
    assert bars.height == 300 and bars["open"][0] == 100.0


def test_fetch_reports_unknown_symbol_as_one_line(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with rest_stand_in(ROUTES) as rest:
        monkeypatch.setenv("QWS__FEEDS__BINANCE__REST_URL", rest.url)
        code = main(["--db", str(db_path), "fetch", "NOPE/USDT", "--since", "2024-01-01", "-q"])
    assert code == 2
    assert "binance has no symbol 'NOPE/USDT'" in capsys.readouterr().err


def test_fetch_rejects_a_bad_date(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", str(db_path), "fetch", "BTC/USDT", "--since", "yesterday"]) == 2
    assert "not a date" in capsys.readouterr().err
