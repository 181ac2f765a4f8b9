"""``qws config show``: every setting with its value and where it came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workstation.cli import main


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "c.toml"
    path.write_text("[signals]\nquality_gate = 0.8\n[brokers.paper.balances]\nEUR = 5\n")
    monkeypatch.setenv("QWS_CONFIG", str(path))
    monkeypatch.setenv("QWS__APP__FEED", "replay")
    return path


def _rows(out: str) -> dict[str, tuple[str, str]]:
    """setting -> (source, value) from the table (sources have no double space)."""
    rows = {}
    for line in out.splitlines()[2:]:
        key, source, value = (part.strip() for part in line.split("  ") if part.strip())
        rows[key] = (source, value)
    return rows


def test_show_is_a_table_of_value_and_source(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"config file: {config}"
    assert lines[1].split() == ["setting", "source", "value"]
    rows = _rows(out)
    assert rows["signals.quality_gate"] == (f"file {config}", "0.8")
    assert rows["app.feed"] == ("env QWS__APP__FEED", '"replay"')
    assert rows["app.timeframe"] == ("default", '"1m"')
    assert rows["brokers.paper.balances.EUR"] == (f"file {config}", "5")
    assert rows["brokers.paper.balances.USD"] == ("default", "100000")
    assert rows["trading.live"] == ("default", "false")


def test_show_json_gives_each_key_its_value_and_source(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["signals.quality_gate"] == {"value": 0.8, "source": f"file {config}"}
    assert shown["app.feed"] == {"value": "replay", "source": "env QWS__APP__FEED"}
    assert shown["watchlist.default"]["value"][0] == "BTC/USDT"
    assert shown["watchlist.default"]["source"] == "default"


def test_show_takes_a_prefix_and_says_when_nothing_matches(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "show", "app", "--json"]) == 0
    keys = set(json.loads(capsys.readouterr().out))
    assert {"app.feed", "app.timeframe", "app.theme"} <= keys
    assert all(key.startswith("app.") for key in keys)
    assert main(["config", "show", "nope"]) == 2
    assert "no setting 'nope'" in capsys.readouterr().err


def test_show_without_a_file_says_defaults_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QWS_CONFIG", str(tmp_path / "missing.toml"))
    assert main(["config", "show", "signals"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith("(not found: defaults apply)")
    assert {source for source, _ in _rows(out).values()} == {"default"}
