"""Talking to a bot through the local fake Bot API server (:mod:`tests.telegram_api`) as a user
in one chat does: send a command and wait for the answer, tap a button of an inline keyboard
and wait for the bot to edit its message. Shared by the command-bot tests and the runtime's
Telegram tests."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

from tests.telegram_api import FakeBotApi, Sent, parse_telegram_html

WAIT_S = 15.0
"""How long to wait for the bot (a deadline, not a timing assertion: a loaded CI box is slow)."""
ALERT_TAG = re.compile(r"qws#\d+")
"""Every relayed alert carries its outbox id (see plugins/notifiers/telegram.py)."""


def plain(sent: Sent) -> str:
    """The text of a message as the user sees it (it must be valid Telegram HTML)."""
    text, error = parse_telegram_html(sent.text)
    assert error == "", error
    return text


def is_alert(sent: Sent) -> bool:
    """A message the relay delivered (an alert), not the bot's answer to a command."""
    return ALERT_TAG.search(sent.text) is not None


def buttons(sent: Sent) -> list[dict[str, str]]:
    markup = sent.reply_markup or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


async def until(predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
    """Wait (on the event loop: the bot runs on it too) until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the bot")
        await asyncio.sleep(0.02)


class BotChat:
    """One allowlisted chat (``me``) with the bot behind ``api``."""

    def __init__(self, api: FakeBotApi, me: int) -> None:
        self.api = api
        self.me = me

    async def until(self, predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
        await until(predicate, timeout)

    def answers(self, chat: int | None = None) -> list[Sent]:
        """What the bot said in ``chat`` (default: mine), alerts the relay delivered aside."""
        chat = self.me if chat is None else chat
        return [m for m in self.api.sent_to(chat) if not is_alert(m)]

    async def say(self, text: str, chat: int | None = None) -> Sent | None:
        """Send ``text`` from ``chat`` (default: mine); return the bot's answer, the first
        message after it that is not a relayed alert (None for strangers: we then wait until
        the update was fetched and a later allowlisted command was answered)."""
        chat = self.me if chat is None else chat
        before = len(self.answers(chat))
        update_id = self.api.push_message(chat, text)
        if chat != self.me:
            await self.until(lambda: self.api.consumed(update_id))
            await self.say("/help")
            return None
        await self.until(lambda: len(self.answers(chat)) > before)
        return self.answers(chat)[before]

    async def press(self, reply: Sent, verdict: str, chat: int | None = None) -> None:
        """Tap the button of ``reply`` whose callback data starts with ``verdict`` ("ok",
        "no") and wait until the bot edited its message (strangers: until it was fetched)."""
        chat = self.me if chat is None else chat
        data = next(
            b["callback_data"] for b in buttons(reply) if b["callback_data"].startswith(verdict)
        )
        edits = len(self.api.state.edits)
        update_id = self.api.push_callback(chat, data, reply.message_id)
        if chat != self.me:
            await self.until(lambda: self.api.consumed(update_id))
            await self.say("/help")
        else:
            await self.until(lambda: len(self.api.state.edits) > edits)

    def last_edit(self) -> str:
        return str(self.api.state.edits[-1]["text"])
