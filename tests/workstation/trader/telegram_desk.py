"""A headless runtime on the demo feed with the Telegram bot it starts, over the local fake Bot
API server (the real wire format): what the Telegram tests of the runtime drive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from feeds.demo import DemoFeed
from tests.telegram_api import FakeBotApi
from tests.telegram_fake import BotChat, until
from workstation.runtime.config import Settings
from workstation.runtime.secrets import env_name
from workstation.store import Store
from workstation.trader.events import RuntimeEvent
from workstation.trader.runtime import Runtime

TOKEN = "888888:RUNTIME-test-token-abcdefghij"
CHAT = 321
SYMBOL = "BTC/USDT"
TRADING = {"QWS__TELEGRAM__TRADING_COMMANDS": "true"}


@dataclass
class Running:
    runtime: Runtime
    chat: BotChat
    events: list[RuntimeEvent]


async def running_desk(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: dict[str, str]
) -> AsyncIterator[Running]:
    """A runtime on the demo feed, with the bot it started answering my chat; ``extra``
    settings as environment overrides."""
    monkeypatch.setenv(env_name("telegram", "token"), TOKEN)
    with FakeBotApi(TOKEN, [CHAT]) as api:
        env = {
            "QWS__TELEGRAM__API_URL": api.url,
            "QWS__TELEGRAM__CHAT_IDS": f"[{CHAT}]",
            "QWS__TELEGRAM__POLL_TIMEOUT_S": "1",
            "QWS__TELEGRAM__TIMEOUT_S": "3",
            "QWS__RISK__DAILY_LOSS_LIMIT": "0",
            **extra,
        }
        settings = Settings.load(tmp_path / "none.toml", environ=env)
        runtime = Runtime(
            DemoFeed(tick_interval_s=0.01), store, settings, [SYMBOL], "1m", signals=False
        )
        events: list[RuntimeEvent] = []
        runtime.listeners.append(events.append)
        stop = asyncio.Event()
        task = asyncio.create_task(runtime.run(stop))
        try:
            # the order manager is up, the first quotes are in, the bot is polling
            await until(lambda: runtime.ready.is_set() and runtime.mark(SYMBOL) is not None)
            await until(lambda: any(c.method == "getUpdates" for c in api.state.calls))
            service = runtime.telegram
            assert service is not None
            yield Running(runtime, BotChat(api, CHAT), events)
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
        # the bot went down with the runtime
        assert runtime.telegram is None and not service.control.app.running
