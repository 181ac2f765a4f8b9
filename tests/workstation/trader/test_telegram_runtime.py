"""Telegram against a headless runtime: the runtime starts the bot itself (chat ids and a token
configured), over the local fake Bot API server speaking the real wire format. A /kill that is
confirmed cancels the runtime's working orders; a confirmed /buy is placed through the runtime's
one order path, and a refused one is answered with the pre-trade check's reason before any
confirmation is asked."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.model import OrderStatus, Side
from tests.telegram_fake import buttons, plain, until
from tests.workstation.trader.telegram_desk import CHAT, SYMBOL, TRADING, Running
from workstation.store import Store
from workstation.trader.events import KillChanged, RuntimeEvent


def _kills(events: list[RuntimeEvent]) -> list[KillChanged]:
    return [e for e in events if isinstance(e, KillChanged)]


async def test_kill_from_telegram_cancels_the_runtimes_working_orders(
    running: Running, store: Store
) -> None:
    runtime, chat = running.runtime, running.chat
    resting = await runtime.submit(runtime.build(SYMBOL, Side.BUY, "0.01", "30000"))
    assert resting.status is OrderStatus.OPEN, resting.reason

    ask = await chat.say("/kill")
    assert ask is not None and "Engage the kill switch?" in plain(ask)
    assert [b["text"] for b in buttons(ask)] == ["Confirm", "Cancel"]
    assert all(b["callback_data"].split(":")[0] in ("ok", "no") for b in buttons(ask))
    assert not runtime.kill.engaged()  # nothing happens before the tap

    await chat.press(ask, "ok")
    assert "engaged" in chat.last_edit().lower()
    await until(lambda: _kills(running.events) != [])
    order = store.orders.get(resting.client_id)
    assert order is not None and order.status is OrderStatus.CANCELLED
    assert runtime.kill.engaged()
    kills = _kills(running.events)
    assert KillChanged(True, f"telegram:{CHAT}", "confirmed from Telegram", 1) in kills
    assert all(k.engaged for k in kills)
    assert runtime.working_orders() == []
    # new orders are refused now, with the same reason everywhere
    refused = await runtime.submit(runtime.build(SYMBOL, Side.BUY, "0.01", "30000"))
    assert refused.status is OrderStatus.REJECTED and "kill switch is on" in refused.reason

    # the runtime announced it, and its relay delivered the alert to my chat
    def delivered() -> bool:
        return any("Kill switch engaged" in plain(m) for m in chat.api.sent_to(CHAT))

    await until(delivered)
    [alert] = [a for a in store.alerts.find(limit=100) if a["title"] == "Kill switch engaged"]
    assert alert["severity"] == "critical" and "1 working order(s) cancelled" in alert["body"]


@pytest.mark.parametrize("running", [TRADING], indirect=True)
async def test_buy_from_telegram_goes_through_the_runtime(running: Running, store: Store) -> None:
    runtime, chat = running.runtime, running.chat

    # refused by the pre-trade check: said at once, with its reason, and no button to tap
    qty = Decimal("0.000001")
    expected = runtime.preview(runtime.build(SYMBOL, Side.BUY, qty)).reason
    assert "not a multiple of the lot size" in expected
    bad = await chat.say(f"/buy {SYMBOL} {qty}")
    assert bad is not None and plain(bad) == f"Refused: {expected}"
    assert buttons(bad) == []
    assert store.orders.find(limit=10) == []

    ask = await chat.say(f"/buy {SYMBOL} 0.01")
    assert ask is not None and "Confirm" in plain(ask) and buttons(ask)
    assert store.orders.find(limit=10) == []  # not before the tap
    await chat.press(ask, "ok")
    assert chat.last_edit() == f"buy 0.01 {SYMBOL}: FILLED"
    [order] = store.orders.find(venue="paper", limit=10)
    assert order.status is OrderStatus.FILLED and order.symbol == SYMBOL
    assert order.side is Side.BUY and order.qty == Decimal("0.01")
    [fill] = store.fills.find(venue="paper")
    assert fill.client_id == order.client_id
    [position] = [p for p in store.positions.find("paper") if p.qty]
    assert position.symbol == SYMBOL and position.qty == Decimal("0.01")

    # the fill alert, queued by the runtime's announcer, delivered by its relay
    def fill_sent() -> bool:
        rows = [a for a in store.alerts.find(limit=100) if a["kind"] == "fill"]
        return len(rows) == 1 and rows[0]["status"] == "sent"

    await until(fill_sent)


async def test_the_kill_confirmation_says_protective_orders_keep_working(
    running: Running, store: Store
) -> None:
    runtime, chat = running.runtime, running.chat
    parent = await runtime.submit(runtime.build(SYMBOL, Side.BUY, "0.01", sl="1000"))
    assert parent.status is OrderStatus.FILLED, parent.reason
    ask = await chat.say("/kill")
    assert ask is not None
    assert "stop-loss and take-profit orders of open positions keep working" in plain(ask)
    await chat.press(ask, "ok")
    await until(lambda: _kills(running.events) != [])
    leg = store.orders.get(f"{parent.client_id}-sl")
    assert leg is not None and leg.status is OrderStatus.OPEN
    assert [o.client_id for o in runtime.working_orders()] == [leg.client_id]
