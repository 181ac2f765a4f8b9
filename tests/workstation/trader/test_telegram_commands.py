"""Free text to the bot, read by the command bar's parser, against a headless runtime over the
local fake Bot API server: questions get the runtime's answer, orders (a quantity, a part of
the position) and moving a stop get a confirm button with what was understood, anything else
the parser's message. Nothing is done before the tap."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.model import OrderStatus, Side
from tests.telegram_fake import buttons, plain
from tests.workstation.trader.telegram_desk import SYMBOL, TRADING, Running
from workstation.store import Store

pytestmark = pytest.mark.parametrize("running", [TRADING], indirect=True)


def position(store: Store) -> Decimal:
    return next((p.qty for p in store.positions.find("paper") if p.symbol == SYMBOL), Decimal(0))


async def test_questions_get_the_runtimes_answer(running: Running) -> None:
    said = await running.chat.say("show positions")
    assert said is not None and plain(said) == "No open positions."
    pnl = await running.chat.say("what is my pnl")
    assert pnl is not None and plain(pnl).startswith("PnL, last day")
    assert buttons(pnl) == []
    nonsense = await running.chat.say("make me rich")
    assert nonsense is not None and "unknown command" in plain(nonsense)


async def test_an_order_in_words_is_confirmed_then_placed(running: Running, store: Store) -> None:
    ask = await running.chat.say("by 0.02 btc")
    assert ask is not None and plain(ask).startswith(f"Confirm buy 0.02 {SYMBOL} market?")
    assert "understood: buy 0.02 BTC/USDT market (by -> buy)" in plain(ask)
    assert [b["text"] for b in buttons(ask)] == ["Confirm", "Cancel"]
    assert store.orders.find(limit=10) == []  # not before the tap
    await running.chat.press(ask, "ok")
    assert running.chat.last_edit() == f"buy 0.02 {SYMBOL}: FILLED"
    assert position(store) == Decimal("0.02")

    half = await running.chat.say("sell half my btc")
    assert half is not None and f"sell 0.01 {SYMBOL} market" in plain(half)
    assert "50% of 0.02 BTC = 0.01 BTC (lot 0.00001)" in plain(half)
    assert "understood: sell 50% of BTC/USDT" in plain(half)
    await running.chat.press(half, "ok")
    assert running.chat.last_edit() == f"sell 0.01 {SYMBOL}: FILLED"
    assert position(store) == Decimal("0.01")

    refused = await running.chat.say("buy half my btc")  # a part of a long is sold, not bought
    assert refused is not None and plain(refused).startswith("Refused: a buy would not reduce")
    assert buttons(refused) == []


async def test_moving_a_stop_in_words_is_confirmed(running: Running, store: Store) -> None:
    rt = running.runtime
    mark = Decimal(str(rt.mark(SYMBOL)))
    parent = await rt.submit(
        rt.build(SYMBOL, Side.BUY, "0.01", sl=(mark * Decimal("0.5")).quantize(Decimal(1))),
        confirmed=True,
    )
    assert parent.status is OrderStatus.FILLED, parent.reason
    level = (mark * Decimal("0.6")).quantize(Decimal(1))
    wrong = await running.chat.say(f"set stop on btc to {(mark * 2).quantize(Decimal(1))}")
    assert wrong is not None and buttons(wrong)  # the side is checked when it is carried out
    await running.chat.press(wrong, "ok")
    assert "Refused:" in running.chat.last_edit() and "stop-loss" in running.chat.last_edit()

    ask = await running.chat.say(f"set stop on btc to {level}")
    assert ask is not None
    assert f"move the stop-loss to {level} of the {SYMBOL} position" in plain(ask)
    assert store.orders.get(f"{parent.client_id}-sl.2") is None
    await running.chat.press(ask, "ok")
    assert running.chat.last_edit().startswith(f"{SYMBOL}: stop-loss {level}")
    moved = store.orders.get(f"{parent.client_id}-sl.2")
    assert moved is not None and moved.status is OrderStatus.OPEN and moved.stop == level
    old = store.orders.get(f"{parent.client_id}-sl")
    assert old is not None and old.status is OrderStatus.CANCELLED
