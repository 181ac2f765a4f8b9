"""``qws trade``'s printer: a fill's fee is money, exact and with its currency."""

from __future__ import annotations

import io
from decimal import Decimal

from engine.model import Fill, Side
from workstation.cli.headless import printer
from workstation.trader.events import Filled

TS = 1_795_000_000_000_000_000


def _line(fill: Fill) -> str:
    out, err = io.StringIO(), io.StringIO()
    printer(out, err)(Filled(fill))
    assert not err.getvalue()
    return out.getvalue().strip()


def test_the_fill_line_shows_the_fee_exactly_without_trailing_zeros_and_its_currency() -> None:
    fill = Fill(
        "c1", "BTC/USDT", Side.BUY, Decimal("0.01"), Decimal("54246.5"),
        Decimal("0.542465000"), TS, "c1-1", "USDT",
    )  # fmt: skip
    day, time, rest = _line(fill).split(" ", 2)
    assert (day, time) == ("2026-11-18", "11:06:40")
    assert rest == "fill buy 0.01 BTC/USDT @ 54246.5 fee 0.542465 USDT"


def test_a_fee_without_a_currency_is_the_number_alone() -> None:
    fill = Fill("c2", "EURUSD", Side.SELL, Decimal("1000"), Decimal("1.085"), Decimal("2E+1"), TS)
    assert _line(fill).endswith("fee 20")
