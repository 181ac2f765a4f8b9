"""``qws trade``'s printer: a fill's fee is money, exact and with its currency; a signal's price
is shown with every digit it has."""

from __future__ import annotations

import io
from decimal import Decimal

from engine.model import Action, Evidence, Fill, Side, Signal
from workstation.cli.headless import printer
from workstation.trader.events import Filled, SignalEmitted

TS = 1_795_000_000_000_000_000


def _line(event: Filled | SignalEmitted) -> str:
    out, err = io.StringIO(), io.StringIO()
    printer(out, err)(event)
    assert not err.getvalue()
    return out.getvalue().strip()


def test_the_fill_line_shows_the_fee_exactly_without_trailing_zeros_and_its_currency() -> None:
    fill = Fill(
        "c1", "BTC/USDT", Side.BUY, Decimal("0.01"), Decimal("54246.5"),
        Decimal("0.542465000"), TS, "c1-1", "USDT",
    )  # fmt: skip
    day, time, rest = _line(Filled(fill)).split(" ", 2)
    assert (day, time) == ("2026-11-18", "11:06:40")
    assert rest == "fill buy 0.01 BTC/USDT @ 54246.5 fee 0.542465 USDT"


def test_a_fee_without_a_currency_is_the_number_alone() -> None:
    fill = Fill("c2", "EURUSD", Side.SELL, Decimal("1000"), Decimal("1.085"), Decimal("2E+1"), TS)
    assert _line(Filled(fill)).endswith("fee 20")


def test_a_signal_line_keeps_every_digit_of_its_price() -> None:
    signal = Signal(TS, "EURUSD", "1h", Action.OPEN_LONG, 0.8, 1.085125)
    line = _line(SignalEmitted(signal, relayed=True))
    assert line.endswith("signal EURUSD 1h OPEN_LONG conf 0.80 (rule-made) @ 1.085125 (relayed)")
    big = Signal(TS, "BTC/USDT", "1h", Action.OPEN_SHORT, 0.8, 64_001.625)
    assert _line(SignalEmitted(big, relayed=False)).endswith("@ 64,001.625")


def test_a_learnt_signal_line_gives_its_evidence() -> None:
    learnt = Evidence(0.58, 1, 412, 235, 0.53, 0.62, 4, 3)
    signal = Signal(TS, "EURUSD", "1h", Action.OPEN_LONG, 0.58, 1.085, (), None, learnt)
    line = _line(SignalEmitted(signal, relayed=False))
    assert line.endswith("OPEN_LONG 58% ±5, 412 past cases (57% right), 4 bars @ 1.085")
