"""``stress ...``: the command that opens the risk screen, with the shocks as typed."""

from __future__ import annotations

import pytest

from engine.commands import HELP, parse
from engine.trading.stress import parse_shocks

SYMBOLS = ["BTC/USDT", "ETH/USDT", "EURUSD"]


@pytest.mark.parametrize(
    ("text", "shocks", "propagate"),
    [
        ("stress", "", False),
        ("stress BTC/USDT=-30%,EURUSD=+2%", "BTC/USDT=-30%,EURUSD=+2%", False),
        ("stress btc = -20 %, crypto=-10% propagate", "btc=-20%,crypto=-10%", True),
        ("stres beta eth/usdt=-5%", "eth/usdt=-5%", True),
    ],
)
def test_stress_keeps_the_shocks_for_the_risk_screen(
    text: str, shocks: str, propagate: bool
) -> None:
    command = parse(text, SYMBOLS)
    assert command.intent == "stress"
    assert command.entities["shocks"] == shocks
    assert command.entities["propagate"] is propagate
    if shocks:
        parse_shocks(shocks)  # what the screen reads them with takes them as they come


def test_stress_is_in_the_help() -> None:
    assert any(line.startswith("stress [SHOCKS] [propagate]") for line in HELP)
