"""workstation/alerts/builders.py: the alerts built from fills and rejections, as sent."""

from __future__ import annotations

import time
from decimal import Decimal

from engine.model import Fill, Instrument, Order, OrderType, Side
from plugins.notifiers.telegram import format_alert
from tests.telegram_api import parse_telegram_html
from workstation.alerts.builders import fill_alert, rejection_alert


def test_fill_and_rejection_alerts_format() -> None:
    inst = Instrument("BTC/USDT", "paper", Decimal("0.1"), Decimal("0.001"), "USDT")
    t = time.time_ns()
    fill = Fill("c1", "BTC/USDT", Side.BUY, Decimal("0.5"), Decimal("43210.5"), Decimal("1.2"), t)
    order = Order(
        "c2",
        "BTC/USDT",
        Side.SELL,
        OrderType.LIMIT,
        Decimal("1"),
        Decimal("50000"),
        reason="insufficient <margin>",
    )
    texts = {
        "fill": parse_telegram_html(format_alert(fill_alert(fill, inst))[0]),
        "rejection": parse_telegram_html(format_alert(rejection_alert(order, t, inst))[0]),
    }
    assert all(error == "" for _, error in texts.values())
    assert "Price: 43,210.5" in texts["fill"][0] and "Quantity: 0.5" in texts["fill"][0]
    assert "Price: 50,000.0" in texts["rejection"][0]
    assert "insufficient <margin>" in texts["rejection"][0]


def test_a_fill_alert_gives_the_fee_exactly_without_trailing_zeros() -> None:
    fill = Fill(
        "qws-1", "BTC/USDT", Side.BUY, Decimal("0.01"), Decimal("54246.5"), Decimal("0.542465000"),
        1, "f1", "USDT",
    )  # fmt: skip
    assert fill_alert(fill).body == "fee 0.542465 USDT"
    big = Fill("qws-2", "ES", Side.SELL, Decimal(1), Decimal(1), Decimal("1.2E+3"), 1, "f2", "USD")
    assert fill_alert(big).body == "fee 1,200 USD"


def test_a_signal_alert_carries_its_evidence_and_model_version() -> None:
    from engine.model import Action, Evidence, Signal
    from workstation.alerts.builders import signal_alert

    learnt = Evidence(0.58, 1, 412, 235, 0.53, 0.62, 4, 3)
    alert = signal_alert(Signal(1, "EURUSD", "1h", Action.OPEN_LONG, 0.58, 1.085, (), None, learnt))
    assert alert.data["evidence"] == "58% ±5, 412 past cases (57% right), 4 bars"
    assert alert.data["model_version"] == 3
    plain, error = parse_telegram_html(format_alert(alert)[0])
    assert error == "" and "OPEN_LONG · 58% ±5, 412 past cases (57% right), 4 bars" in plain
    rule = signal_alert(Signal(1, "EURUSD", "1h", Action.OPEN_LONG, 0.8, 1.085))
    assert "evidence" not in rule.data
