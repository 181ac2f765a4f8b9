"""The energy complex through ``qws scan`` and the command bar: the Brent-WTI spread is an
instrument like any other (its bars positive, its signal stored), and so are its legs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from engine.commands import parse
from feeds.demo import DEMO_INSTRUMENTS
from workstation.cli import main
from workstation.store import Store

PINNED_NS = 1_764_308_841 * 10**9
ENERGY = ["BRENT-WTI", "WTI", "BRENT", "NATGAS"]


def test_scan_gives_the_spread_and_its_legs_a_stored_signal(
    db_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: PINNED_NS)
    argv = ["--db", str(db_path), "scan", "--feed", "demo", "--symbols", ",".join(ENERGY)]
    code = main([*argv, "--json"])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert code == 0 and [r["symbol"] for r in records] == ENERGY
    for r in records:
        assert "error" not in r, r
        assert r["action"] in ("WAIT", "OPEN_LONG", "OPEN_SHORT", "CLOSE") and r["reasons"]
        assert r["price"] == DEMO_INSTRUMENTS[r["symbol"]].price  # the anchor: the last close
    with Store(db_path) as store:
        stored = {s.symbol for s in store.signals.recent(limit=10)}
    assert stored == set(ENERGY)


@pytest.mark.parametrize(
    ("text", "intent", "entities"),
    [
        ("chart brent-wti 1h", "chart", {"symbol": "BRENT-WTI", "timeframe": "1h"}),
        ("scan BRENT-WTI", "scan", {"symbols": ["BRENT-WTI"]}),
        ("buy 200 brent-wti limit 3.95", "order", {"symbol": "BRENT-WTI", "qty": 200}),
        ("sell 1000 natgas", "order", {"symbol": "NATGAS", "side": "sell"}),
        ("buy 100 wti", "order", {"symbol": "WTI"}),
    ],
)
def test_the_command_bar_reads_the_energy_symbols(
    text: str, intent: str, entities: dict[str, object]
) -> None:
    command = parse(text, list(DEMO_INSTRUMENTS))
    assert command.intent == intent
    assert {k: command.entities[k] for k in entities} == entities
