"""workstation/alerts/telegram_control.py: commands over a real python-telegram-bot Application,
long-polling the local fake Bot API server."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.model import (
    Action,
    Cycle,
    Evidence,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
    Signal,
)
from engine.signals.cycles import detect_cycles
from feeds.demo import DemoFeed
from tests.telegram_api import FakeBotApi
from tests.telegram_fake import BotChat, buttons, plain
from workstation.alerts.telegram_control import TelegramControl
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.trading.killswitch import KILL_SWITCH_KEY, KillSwitch, is_paused

TOKEN = "777777:CONTROL-test-token-abcdefghij"
ME, STRANGER = 111, 999


def settings_for(api: FakeBotApi, tmp_path: Path, **extra: str) -> Settings:
    env = {
        "QWS__TELEGRAM__API_URL": api.url,
        "QWS__TELEGRAM__CHAT_IDS": f"[{ME}]",
        "QWS__TELEGRAM__POLL_TIMEOUT_S": "1",
        "QWS__TELEGRAM__TIMEOUT_S": "3",
        **extra,
    }
    return Settings.load(tmp_path / "none.toml", environ=env)


class Harness(BotChat):
    """My chat with the command bot (the chat helpers live in :mod:`tests.telegram_fake`)."""

    def __init__(self, api: FakeBotApi, control: TelegramControl) -> None:
        super().__init__(api, ME)
        self.control = control


@pytest.fixture
async def harness(
    store: Store, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Harness]:
    extra: dict[str, str] = getattr(request, "param", {})
    with FakeBotApi(TOKEN, [ME, STRANGER]) as api:
        control = TelegramControl(store, settings_for(api, tmp_path, **extra), TOKEN)
        await control.start()
        try:
            yield Harness(api, control)
        finally:
            await control.stop()


async def test_other_chats_get_no_answer_and_are_logged(
    harness: Harness, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    await harness.say("/status", chat=STRANGER)
    await harness.say("/kill", chat=STRANGER)
    mine = await harness.say("/kill")
    assert mine is not None
    await harness.press(mine, "ok", chat=STRANGER)  # a forged button press from elsewhere
    assert harness.api.sent_to(STRANGER) == []
    assert harness.control.ignored == 3
    assert not store.settings.get(KILL_SWITCH_KEY, False)
    assert harness.api.state.answers == []
    assert sum("ignored an update from chat 999" in r.getMessage() for r in caplog.records) == 3
    ignored = [a for a in store.audit.recent() if a["action"] == "ignored_update"]
    assert len(ignored) == 3 and {a["subject"] for a in ignored} == {"999"}


async def test_kill_switch_needs_inline_confirmation(harness: Harness, store: Store) -> None:
    calls: list[tuple[str, str]] = []

    async def oms_hook(actor: str, reason: str) -> None:
        calls.append((actor, reason))

    harness.control.kill.register(oms_hook)
    ask = await harness.say("/kill")
    assert ask is not None and "Engage the kill switch?" in plain(ask)
    buttons = [b["text"] for row in ask.reply_markup["inline_keyboard"] for b in row]  # type: ignore[index]
    assert buttons == ["Confirm", "Cancel"]
    assert not harness.control.kill.engaged()

    await harness.press(ask, "no")
    assert "Cancelled" in harness.last_edit() and not harness.control.kill.engaged()

    ask = await harness.say("/kill")
    assert ask is not None
    await harness.press(ask, "ok")
    assert "ENGAGED" in harness.last_edit()
    assert store.settings.get(KILL_SWITCH_KEY) is True
    assert calls == [(f"telegram:{ME}", "confirmed from Telegram")]
    assert any(
        a["action"] == "kill_switch" and a["subject"] == "on" and a["actor"] == "telegram:111"
        for a in store.audit.recent()
    )
    assert len(harness.api.state.answers) == 2

    await harness.press(ask, "ok")  # the same button again: already used
    assert "Expired" in harness.last_edit() and len(calls) == 1
    status = await harness.say("/status")
    assert status is not None and "kill switch: ENGAGED" in plain(status)


async def test_confirmation_expires(store: Store, tmp_path: Path) -> None:
    now = [time.time_ns()]
    with FakeBotApi(TOKEN, [ME]) as api:
        settings = settings_for(api, tmp_path, QWS__TELEGRAM__CONFIRM_TIMEOUT_S="30")
        control = TelegramControl(store, settings, TOKEN, clock=lambda: now[0])
        await control.start()
        try:
            h = Harness(api, control)
            ask = await h.say("/kill")
            assert ask is not None
            now[0] += 31 * 10**9
            await h.press(ask, "ok")
            assert "Expired" in h.last_edit() and not control.kill.engaged()
        finally:
            await control.stop()


async def test_read_commands_answer_from_the_store(harness: Harness, store: Store) -> None:
    t = time.time_ns()
    store.signals.add(
        Signal(
            t - 10,
            "BTC/USDT",
            "1m",
            Action.OPEN_LONG,
            0.81,
            43210.5,
            ("rsi",),
            Cycle(24.0, 0.37, 3),
        ),
        venue="demo",
    )
    learnt = Evidence(0.9, -1, 412, 235, 0.52, 0.61, 4, 3)
    store.signals.add(
        Signal(t, "<evil>&", "1m", Action.CLOSE, 0.9, 1.5, (), None, learnt), venue="demo"
    )
    store.positions.save(Position("BTC/USDT", Decimal("0.5"), Decimal("43000"), "paper"))
    store.orders.save(
        Order(
            "c-1",
            "ETH/USDT",
            Side.BUY,
            OrderType.LIMIT,
            Decimal("2"),
            Decimal("2500"),
            status=OrderStatus.OPEN,
        )
    )
    store.balances.set("paper", "USDT", Decimal("10000.5"))
    store.equity.add("paper", t - 3 * 86_400 * 10**9, 10_000.0)
    store.equity.add("paper", t - 2 * 86_400 * 10**9, 10_200.0)
    store.equity.add("paper", t - 10, 10_250.0)
    store.watchlists.set(["BTC/USDT", "EURUSD"])
    eurusd = await DemoFeed(clock=lambda: t).history("EURUSD", "1m", limit=300)
    store.candles.upsert(eurusd, "EURUSD", "1m", "demo")
    expected = detect_cycles(eurusd["close"].to_numpy(), window=64).cycles[0]

    replies: dict[str, str] = {}
    for command in (
        "/signals 2",
        "/positions",
        "/orders",
        "/balance",
        "/pnl week",
        "/pnl day",
        "/watchlist",
        "/cycles BTC/USDT",
        "/cycles EURUSD",
        "/status",
        "/help",
        "/pnl year",
    ):
        reply = await harness.say(command)
        assert reply is not None
        replies[command] = plain(reply)
    assert "<evil>& 1m CLOSE 90% ±5, 412 past cases (57% right), 4 bars" in replies["/signals 2"]
    assert "BTC/USDT 1m OPEN_LONG 81% (rule-made) @ 43,210.5" in replies["/signals 2"]
    assert "paper BTC/USDT: 0.5 @ 43000" in replies["/positions"]
    assert "c-1: buy 2 ETH/USDT limit @ 2500 [OPEN]" in replies["/orders"]
    assert "paper USDT: 10000.5" in replies["/balance"]
    assert "paper: +250.00 (+2.50%)" in replies["/pnl week"]
    assert "paper: +50.00 (+0.49%)" in replies["/pnl day"]  # opens at the last point before
    assert "BTC/USDT, EURUSD" in replies["/watchlist"]
    assert "no 1m bars stored for BTC/USDT" in replies["/cycles BTC/USDT"]
    assert "period 24.0 bars, strength 0.37" in replies["/cycles BTC/USDT"]
    assert f"1m: period {expected.period_bars:.1f} bars" in replies["/cycles EURUSD"]
    assert "next trough in" in replies["/cycles EURUSD"]
    assert "working orders: 1 · open positions: 1" in replies["/status"]
    assert "/kill" in replies["/help"]
    assert replies["/pnl year"].startswith("Usage")


async def test_pause_and_resume(harness: Harness, store: Store) -> None:
    await harness.say("/pause")
    assert is_paused(store) and store.settings.get("trading.paused") is True
    await harness.say("/resume")
    assert not is_paused(store) and store.settings.get("trading.paused") is False
    actors = {a["actor"] for a in store.audit.recent() if a["subject"] == "relay.paused"}
    assert actors == {"telegram:111"}


async def test_trading_commands_are_off_by_default(harness: Harness) -> None:
    reply = await harness.say("/buy BTC/USDT 1")
    assert reply is not None and "Trading commands are off" in plain(reply)
    assert reply.reply_markup is None


@pytest.mark.parametrize("harness", [{"QWS__TELEGRAM__TRADING_COMMANDS": "true"}], indirect=True)
async def test_trading_commands_when_enabled_always_confirm(harness: Harness) -> None:
    orders: list[tuple[Any, ...]] = []

    async def place(command: str, symbol: str, qty: Any, price: Any, actor: str) -> str:
        orders.append((command, symbol, qty, price, actor))
        return f"submitted {command} {symbol}"

    harness.control.order_handler = place
    bad = await harness.say("/buy BTC/USDT -1")
    assert bad is not None and "positive" in plain(bad)
    ask = await harness.say("/buy BTC/USDT 0.5 43000")
    assert ask is not None and ask.reply_markup is not None and orders == []
    await harness.press(ask, "ok")
    assert orders == [("buy", "BTC/USDT", Decimal("0.5"), Decimal("43000"), "telegram:111")]
    assert "submitted buy BTC/USDT" in harness.last_edit()

    await harness.control.kill.engage("test", "drill")
    ask = await harness.say("/sell BTC/USDT 0.5")
    assert ask is not None
    await harness.press(ask, "ok")
    assert "kill switch is engaged" in harness.last_edit() and len(orders) == 1


def test_kill_switch_hook_failure_is_audited_not_fatal(store: Store) -> None:
    kill = KillSwitch(store)
    seen: list[str] = []

    def broken(actor: str, reason: str) -> None:
        raise RuntimeError("OMS offline")

    kill.register(broken)
    kill.register(lambda actor, reason: seen.append(actor))
    asyncio.run(kill.engage("cli", "test"))
    assert kill.engaged() and seen == ["cli"]
    assert any(a["action"] == "kill_switch_hook_failed" for a in store.audit.recent())
    kill.release("cli")
    assert not kill.engaged()


GROUP, ADMIN, MEMBER = -100555, 201, 202


async def test_in_a_group_only_listed_users_command_and_confirm(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with FakeBotApi(TOKEN, [GROUP]) as api:
        settings = settings_for(
            api,
            tmp_path,
            QWS__TELEGRAM__CHAT_IDS=f"[{GROUP}]",
            QWS__TELEGRAM__USER_IDS=f"[{ADMIN}]",
        )
        control = TelegramControl(store, settings, TOKEN)
        await control.start()
        chat = BotChat(api, GROUP)
        try:
            # updates are handled in order: once a later one is answered, earlier ones were seen
            api.push_message(GROUP, "/status", user_id=MEMBER)
            api.push_message(GROUP, "/kill", user_id=ADMIN)
            await chat.until(lambda: len(chat.answers()) >= 1)
            [ask] = chat.answers()
            assert "Engage the kill switch?" in plain(ask)
            confirm = next(b["callback_data"] for b in buttons(ask) if b["text"] == "Confirm")
            api.push_callback(GROUP, confirm, ask.message_id, user_id=MEMBER)
            api.push_message(GROUP, "/help", user_id=ADMIN)
            await chat.until(lambda: len(chat.answers()) >= 2)
            assert not control.kill.engaged() and api.state.answers == []
            api.push_callback(GROUP, confirm, ask.message_id, user_id=ADMIN)
            await chat.until(control.kill.engaged)
        finally:
            await control.stop()
    assert control.ignored == 2
    assert sum("user 202" in r.getMessage() for r in caplog.records) == 2
    ignored = [a for a in store.audit.recent() if a["action"] == "ignored_update"]
    assert {a["subject"] for a in ignored} == {str(GROUP)} and len(ignored) == 2
