"""A runtime that cannot start its Telegram bot says, in plain words, what is missing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from feeds.demo import DemoFeed
from workstation.runtime.config import Settings
from workstation.runtime.secrets import env_name
from workstation.store import Store
from workstation.trader.events import Logged, RuntimeEvent
from workstation.trader.runtime import Runtime

WAIT_S = 60.0  # a deadline, not a duration


async def _telegram_line(store: Store, tmp_path: Path, env: dict[str, str]) -> str:
    settings = Settings.load(tmp_path / "none.toml", environ=env)
    runtime = Runtime(
        DemoFeed(tick_interval_s=0.05), store, settings, ["BTC/USDT"], "1m", signals=False
    )
    events: list[RuntimeEvent] = []
    runtime.listeners.append(events.append)
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.run(stop))

    def said() -> list[str]:
        return [e.text for e in events if isinstance(e, Logged) and e.text.startswith("telegram")]

    try:
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while not said():
            assert asyncio.get_running_loop().time() < deadline, "no telegram line"
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT_S)
    [line] = said()
    return line


async def test_no_token_and_no_chats_names_both(store: Store, tmp_path: Path) -> None:
    line = await _telegram_line(store, tmp_path, {})
    assert line == (
        "telegram off: no bot token (qws keys set telegram) and no chat ids (telegram.chat_ids)"
    )


async def test_a_token_without_chats_names_the_chat_ids(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env_name("telegram", "token"), "999:not-a-real-token-abcdefghij")
    line = await _telegram_line(store, tmp_path, {})
    assert line == "telegram off: no chat ids (telegram.chat_ids)"


async def test_chats_without_a_token_names_the_token(store: Store, tmp_path: Path) -> None:
    line = await _telegram_line(store, tmp_path, {"QWS__TELEGRAM__CHAT_IDS": "[42]"})
    assert line == "telegram off: no bot token (qws keys set telegram)"
