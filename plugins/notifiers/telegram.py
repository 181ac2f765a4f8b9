"""Telegram notifier: formats alerts as Telegram HTML and sends them with python-telegram-bot.

Everything user-supplied (symbols, titles, reasons, bodies) is HTML-escaped; only the tags
this module writes reach Telegram as markup. Messages longer than Telegram's limit (4096
characters after parsing; counted here, conservatively, in UTF-16 units of the HTML source)
are split on line boundaries, and a single over-long line is cut outside HTML entities.

A send returns a :class:`~engine.model.DeliveryResult` that tells the outbox (which lives in
``workstation.alerts.relay``) what it may do next: ``ok`` with the message id; a ``retry_after_s``
for 429; ``permanent`` for errors that retrying cannot fix (chat not found, bot blocked,
malformed message); ``maybe_delivered`` when the request may have reached Telegram but no
answer came back (read timeout, connection dropped after sending): resending could duplicate
it. Anything else (cannot connect, an error answer from the server, a rejected token) is
"not sent" and retried with back-off, so alerts flow again once the cause is fixed.
"""

from __future__ import annotations

import html
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

# Opt in to the v23 behaviour (durations as timedelta) instead of a deprecation warning
# from inside python-telegram-bot on every 429.
os.environ.setdefault("PTB_TIMEDELTA", "true")

from telegram import Bot, LinkPreviewOptions
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from engine.model import Alert, DeliveryResult, Severity

MAX_MESSAGE_UNITS = 4096
DEFAULT_API_URL = "https://api.telegram.org"

_ICONS = {Severity.INFO: "ℹ️", Severity.WARNING: "⚠️", Severity.CRITICAL: "🚨"}
_KIND_ICONS = {"signal": "📈", "fill": "✅", "rejection": "⛔", "risk": "🛑", "feed": "📡"}
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_NOT_SENT_CAUSES = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def escape(text: object) -> str:
    """Text safe inside Telegram HTML (``<``, ``>``, ``&`` and quotes become entities)."""
    return html.escape(str(text), quote=True)


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def format_price(price: float | str | None, decimals: int | None) -> str:
    """A price to the instrument's precision (``decimals`` from its tick size)."""
    if price is None:
        return "—"
    value = float(price)
    if not math.isfinite(value):
        return "—"
    if decimals is None:
        return f"{value:,.8g}"
    return f"{value:,.{max(0, int(decimals))}f}"


@dataclass(frozen=True, slots=True)
class Line:
    """One output line: raw text plus the single tag it is wrapped in ('' for none)."""

    text: str
    tag: str = ""

    def render(self) -> str:
        body = escape(self.text)
        return f"<{self.tag}>{body}</{self.tag}>" if self.tag else body


def _field_lines(data: Mapping[str, Any]) -> list[Line]:
    decimals = data.get("price_decimals")
    decimals = int(decimals) if decimals is not None else None
    out: list[Line] = []
    if data.get("action"):
        conf = data.get("confidence")
        conf_txt = f" · confidence {float(conf):.0%}" if conf is not None else ""
        if data.get("evidence"):  # a learnt probability: "58% ±4, 412 past cases (...)"
            conf_txt = f" · {data['evidence']}"
        out.append(Line(f"{data['action']}{conf_txt}", "b"))
    for key, label in (
        ("side", "Side"),
        ("qty", "Quantity"),
    ):
        if data.get(key) not in (None, ""):
            out.append(Line(f"{label}: {data[key]}"))
    for key, label in (
        ("price", "Price"),
        ("stop", "Stop"),
        ("take_profit", "Target"),
    ):
        if data.get(key) is not None:
            out.append(Line(f"{label}: {format_price(data[key], decimals)}"))
    if data.get("period_bars") is not None:
        strength = data.get("cycle_strength")
        extra = f" (strength {float(strength):.2f})" if strength is not None else ""
        out.append(Line(f"Cycle: {float(data['period_bars']):.1f} bars{extra}"))
    reasons = data.get("reasons") or ()
    if reasons:
        out.append(Line("Reasons:", "i"))
        out.extend(Line(f"• {reason}") for reason in reasons)
    return out


def alert_lines(alert: Alert, alert_id: int | None = None) -> list[Line]:
    """The message as lines (escaped when rendered)."""
    icon = _KIND_ICONS.get(alert.kind, _ICONS.get(alert.severity, ""))
    lines = [Line(f"{icon} {alert.title}".strip(), "b")]
    data = alert.data or {}
    heading = " · ".join(str(p) for p in (alert.symbol, data.get("timeframe", "")) if p)
    if heading:
        lines.append(Line(heading, "code"))
    lines.extend(_field_lines(data))
    if alert.body:
        lines.extend(Line(part) for part in alert.body.splitlines())
    when = datetime.fromtimestamp(alert.ts_ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    tag = f" · qws#{alert_id}" if alert_id is not None else ""
    lines.append(Line(f"{alert.severity} · {when}{tag}", "i"))
    return lines


def _cut_line(line: Line, limit: int) -> list[str]:
    """Render an over-long line as several pieces, each within ``limit``, never cutting an
    entity or a tag."""
    overhead = utf16_len(line.render()) - utf16_len(escape(line.text))
    pieces: list[str] = []
    current: list[str] = []
    size = overhead
    for ch in line.text:
        unit = utf16_len(escape(ch))
        if current and size + unit > limit:
            pieces.append(Line("".join(current), line.tag).render())
            current, size = [], overhead
        current.append(ch)
        size += unit
    if current:
        pieces.append(Line("".join(current), line.tag).render())
    return pieces


def split_message(lines: Sequence[Line], limit: int = MAX_MESSAGE_UNITS) -> list[str]:
    """Pack rendered lines into messages of at most ``limit`` UTF-16 units each."""
    messages: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        rendered = line.render()
        parts = [rendered] if utf16_len(rendered) <= limit else _cut_line(line, limit)
        for part in parts:
            extra = utf16_len(part) + (1 if current else 0)
            if current and size + extra > limit:
                messages.append("\n".join(current))
                current, size = [], 0
                extra = utf16_len(part)
            current.append(part)
            size += extra
    if current:
        messages.append("\n".join(current))
    return messages


def format_alert(alert: Alert, alert_id: int | None = None) -> list[str]:
    """The alert as one or more Telegram HTML messages."""
    return split_message(alert_lines(alert, alert_id))


def retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def describe_error(exc: BaseException) -> str:
    """A plain-words reason for a failed Bot API call. A server's or proxy's description can
    quote the request URL, token included (python-telegram-bot lower-cases it on the way), so
    whoever shows or stores this text masks it (``workstation.runtime.secrets.redact``, which
    the relay, the store and the CLI apply; a plugin cannot import it)."""
    if isinstance(exc, InvalidToken):
        return "the bot token was rejected by Telegram (check it with @BotFather)"
    if isinstance(exc, Forbidden):
        return f"the bot may not write to this chat (blocked or removed): {exc.message}"
    if isinstance(exc, ChatMigrated):
        return f"the group became a supergroup; use chat id {exc.new_chat_id}"
    if isinstance(exc, BadRequest):
        if "chat not found" in exc.message.lower():
            return "chat not found (wrong chat id, or the chat never wrote to the bot)"
        return f"Telegram refused the message: {exc.message}"
    if isinstance(exc, RetryAfter):
        return f"rate limited by Telegram: retry in {retry_after_seconds(exc):g} s"
    if isinstance(exc, TimedOut):
        return "no answer from Telegram in time (network or proxy)"
    if isinstance(exc, NetworkError):
        cause = exc.__cause__
        if isinstance(cause, _NOT_SENT_CAUSES):
            return "cannot reach the Telegram API (network down, proxy, or wrong api_url)"
        return f"network error talking to Telegram: {exc.message}"
    if isinstance(exc, TelegramError):
        return f"Telegram error: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def classify_error(exc: BaseException) -> DeliveryResult:
    """Map a python-telegram-bot exception to what the outbox may do next."""
    reason = describe_error(exc)
    if isinstance(exc, RetryAfter):
        return DeliveryResult(False, error=reason, retry_after_s=retry_after_seconds(exc))
    if isinstance(exc, InvalidToken):
        # Not the alert's fault: it is delivered (with back-off) once the token is fixed.
        return DeliveryResult(False, error=reason)
    if isinstance(exc, Forbidden | ChatMigrated | BadRequest):
        return DeliveryResult(False, error=reason, permanent=True)
    if isinstance(exc, NetworkError):
        cause = exc.__cause__
        if isinstance(cause, _NOT_SENT_CAUSES):
            return DeliveryResult(False, error=reason)
        if isinstance(cause, httpx.HTTPError) or isinstance(exc, TimedOut):
            # The request may have been written and processed; only the answer is missing.
            return DeliveryResult(False, error=reason, maybe_delivered=True)
        return DeliveryResult(False, error=reason)  # an error status from the server
    if isinstance(exc, TelegramError):
        return DeliveryResult(False, error=reason)
    return DeliveryResult(False, error=reason, maybe_delivered=True)


def make_bot(token: str, api_url: str = DEFAULT_API_URL, timeout_s: float = 10.0) -> Bot:
    """A Bot against ``api_url`` (a setting, so tests and proxies can point it elsewhere)."""
    base = api_url.rstrip("/")
    request = HTTPXRequest(
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        write_timeout=timeout_s,
        pool_timeout=timeout_s,
    )
    return Bot(
        token,
        base_url=f"{base}/bot",
        base_file_url=f"{base}/file/bot",
        request=request,
        get_updates_request=request,
    )


class TelegramNotifier:
    """Sends alerts to one chat. ``Notifier`` protocol; entry point ``qws.notifiers:telegram``.

    ``alert.data["alert_id"]`` (the outbox row) is printed as a ``qws#ID`` tag so a human can
    tell a deliberate resend from a new alert.
    """

    name = "telegram"

    def __init__(
        self,
        token: str,
        chat_id: int | str,
        api_url: str = DEFAULT_API_URL,
        timeout_s: float = 10.0,
        bot: Bot | None = None,
    ) -> None:
        self.chat_id = chat_id
        self._bot = bot if bot is not None else make_bot(token, api_url, timeout_s)
        self._ready = False

    @property
    def channel(self) -> str:
        return f"telegram:{self.chat_id}"

    @property
    def bot(self) -> Bot:
        return self._bot

    async def _ensure_ready(self) -> None:
        if not self._ready:
            await self._bot.initialize()  # getMe once: validates the token
            self._ready = True

    async def send(self, alert: Alert) -> DeliveryResult:
        alert_id = alert.data.get("alert_id") if alert.data else None
        parts = format_alert(alert, int(str(alert_id)) if alert_id is not None else None)
        try:
            await self._ensure_ready()
        except Exception as exc:  # nothing was sent yet
            result = classify_error(exc)
            return DeliveryResult(
                False,
                error=result.error,
                permanent=result.permanent,
                retry_after_s=result.retry_after_s,
            )
        sent: list[str] = []
        for part in parts:
            try:
                message = await self._bot.send_message(
                    chat_id=self.chat_id,
                    text=part,
                    parse_mode="HTML",
                    link_preview_options=_NO_PREVIEW,
                )
            except Exception as exc:  # classified, never re-raised raw
                result = classify_error(exc)
                if sent:
                    return DeliveryResult(
                        False,
                        message_id=",".join(sent),
                        error=f"partly delivered ({len(sent)}/{len(parts)} parts): " + result.error,
                        maybe_delivered=True,
                    )
                return result
            sent.append(str(message.message_id))
        return DeliveryResult(True, message_id=",".join(sent))

    async def close(self) -> None:
        if self._ready:
            await self._bot.shutdown()
            self._ready = False
