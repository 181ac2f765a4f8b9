"""Free text to the bot, read by the command bar's parser, against a headless runtime over the
local fake Bot API server: questions get the runtime's answer, orders (a quantity, a part of
the position) and moving a stop get a confirm button with what was understood, anything else
the parser's message. Nothing is done before the tap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from engine.model import OrderStatus, Side
from feeds.demo import DemoFeed
from tests.telegram_api import FakeBotApi
from tests.telegram_fake import BotChat, buttons, plain, until
from workstation.runtime.config import Settings
from workstation.runtime.secrets import env_name
from workstation.store import Store
from workstation.trader.runtime import Runtime

TOKEN = "888888:COMMANDS-test-token-abcdefghij"
CHAT = 654
SYMBOL = "BTC/USDT"


@dataclass
class Desk:
    runtime: Runtime
    chat: BotChat


@pytest.fixture
async def desk(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Desk]:
    monkeypatch.setenv(env_name("telegram", "token"), TOKEN)
    with FakeBotApi(TOKEN, [CHAT]) as api:
        env = {
            "QWS__TELEGRAM__API_URL": api.url,
            "QWS__TELEGRAM__CHAT_IDS": f"[{CHAT}]",
            "QWS__TELEGRAM__POLL_TIMEOUT_S": "1",
            "QWS__TELEGRAM__TIMEOUT_S": "3",
            "QWS__TELEGRAM__TRADING_COMMANDS": "true",
            "QWS__RISK__DAILY_LOSS_LIMIT": "0",
        }
        settings = Settings.load(tmp_path / "none.toml", environ=env)
        runtime = Runtime(
            DemoFeed(tick_interval_s=0.01), store, settings, [SYMBOL], "1m", signals=False
        )
        stop = asyncio.Event()
        task = asyncio.create_task(runtime.run(stop))
        try:
            await until(lambda: runtime.ready.is_set() and runtime.mark(SYMBOL) is not None)
            await until(lambda: any(c.method == "getUpdates" for c in api.state.calls))
            yield Desk(runtime, BotChat(api, CHAT))
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)


def position(store: Store) -> Decimal:
    return next((p.qty for p in store.positions.find("paper") if p.symbol == SYMBOL), Decimal(0))


async def test_questions_get_the_runtimes_answer(desk: Desk) -> None:
    said = await desk.chat.say("show positions")
    assert said is not None and plain(said) == "No open positions."
    pnl = await desk.chat.say("what is my pnl")
    assert pnl is not None and plain(pnl).startswith("PnL, last day")
    assert buttons(pnl) == []
    nonsense = await desk.chat.say("make me rich")
    assert nonsense is not None and "unknown command" in plain(nonsense)


async def test_an_order_in_words_is_confirmed_then_placed(desk: Desk, store: Store) -> None:
    ask = await desk.chat.say("by 0.02 btc")
    assert ask is not None and plain(ask).startswith(f"Confirm buy 0.02 {SYMBOL} market?")
    assert "understood: buy 0.02 BTC/USDT market (by -> buy)" in plain(ask)
    assert [b["text"] for b in buttons(ask)] == ["Confirm", "Cancel"]
    assert store.orders.find(limit=10) == []  # not before the tap
    await desk.chat.press(ask, "ok")
    assert desk.chat.last_edit() == f"buy 0.02 {SYMBOL}: FILLED"
    assert position(store) == Decimal("0.02")

    half = await desk.chat.say("sell half my btc")
    assert half is not None and f"sell 0.01 {SYMBOL} market" in plain(half)
    assert "50% of 0.02 BTC = 0.01 BTC (lot 0.00001)" in plain(half)
    assert "understood: sell 50% of BTC/USDT" in plain(half)
    await desk.chat.press(half, "ok")
    assert desk.chat.last_edit() == f"sell 0.01 {SYMBOL}: FILLED"
    assert position(store) == Decimal("0.01")

    refused = await desk.chat.say("buy half my btc")  # a part of a long is sold, not bought
    assert refused is not None and plain(refused).startswith("Refused: a buy would not reduce")
    assert buttons(refused) == []


async def test_moving_a_stop_in_words_is_confirmed(desk: Desk, store: Store) -> None:
    rt = desk.runtime
    mark = Decimal(str(rt.mark(SYMBOL)))
    parent = await rt.submit(
        rt.build(SYMBOL, Side.BUY, "0.01", sl=(mark * Decimal("0.5")).quantize(Decimal(1))),
        confirmed=True,
    )
    assert parent.status is OrderStatus.FILLED, parent.reason
    level = (mark * Decimal("0.6")).quantize(Decimal(1))
    wrong = await desk.chat.say(f"set stop on btc to {(mark * 2).quantize(Decimal(1))}")
    assert wrong is not None and buttons(wrong)  # the side is checked when it is carried out
    await desk.chat.press(wrong, "ok")
    assert "Refused:" in desk.chat.last_edit() and "stop-loss" in desk.chat.last_edit()

    ask = await desk.chat.say(f"set stop on btc to {level}")
    assert ask is not None
    assert f"move the stop-loss to {level} of the {SYMBOL} position" in plain(ask)
    assert store.orders.get(f"{parent.client_id}-sl.2") is None
    await desk.chat.press(ask, "ok")
    assert desk.chat.last_edit().startswith(f"{SYMBOL}: stop-loss {level}")
    moved = store.orders.get(f"{parent.client_id}-sl.2")
    assert moved is not None and moved.status is OrderStatus.OPEN and moved.stop == level
    old = store.orders.get(f"{parent.client_id}-sl")
    assert old is not None and old.status is OrderStatus.CANCELLED
