"""plugins/notifiers/telegram.py: HTML formatting, splitting, and how Bot API answers are classified
(against the local fake Bot API server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.model import Alert, Severity
from plugins.notifiers.telegram import (
    MAX_MESSAGE_UNITS,
    Line,
    TelegramNotifier,
    format_alert,
    format_price,
    split_message,
    utf16_len,
)
from tests.telegram_api import FakeBotApi, parse_telegram_html

TOKEN = "123456:TEST-token-for-plugin-abcdefghij"
CHAT = 111

HOSTILE_SYMBOL = '<script>alert("x")</script>&amp;BTC'
HOSTILE_REASONS = ["<b>unclosed", "a < b && c > d", "</i></code>", "&lt;already&gt; escaped"]


def hostile_alert(**data: object) -> Alert:
    return Alert(
        "signal",
        f"OPEN_LONG {HOSTILE_SYMBOL}",
        "body with <a href='x'>link</a> & more",
        1_700_000_000_000_000_000,
        Severity.INFO,
        HOSTILE_SYMBOL,
        {
            "action": "OPEN_LONG",
            "confidence": 0.8312,
            "price": 0.000123456,
            "price_decimals": 6,
            "reasons": HOSTILE_REASONS,
            "timeframe": "1m",
            "period_bars": 32.0,
            "cycle_strength": 0.41,
            **data,
        },
    )


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi(TOKEN, [CHAT]) as server:
        yield server


def test_hostile_text_is_escaped_and_round_trips() -> None:
    [message] = format_alert(hostile_alert(), alert_id=7)
    plain, error = parse_telegram_html(message)
    assert error == ""
    assert HOSTILE_SYMBOL in plain
    for reason in HOSTILE_REASONS:
        assert reason in plain
    assert "<a href" in plain and "<script>" not in message
    assert "Price: 0.000123" in plain  # the instrument's 6 decimals, not the float's 9
    assert "confidence 83%" in plain and "32.0 bars" in plain and "qws#7" in plain


def test_price_precision_follows_the_instrument() -> None:
    assert format_price(1234.5, 2) == "1,234.50"
    assert format_price(1.23456789, 5) == "1.23457"
    assert format_price(101.0, 0) == "101"
    assert format_price(float("nan"), 2) == "—"


def test_long_alerts_are_split_under_the_limit_without_breaking_markup() -> None:
    reasons = [f"reason {i} <&> " + "x" * 300 for i in range(40)]
    alert = hostile_alert(reasons=reasons)
    alert = Alert(
        alert.kind, alert.title, "&" * 5000, alert.ts_ns, alert.severity, alert.symbol, alert.data
    )
    parts = format_alert(alert)
    assert len(parts) > 3
    plain = ""
    for part in parts:
        assert utf16_len(part) <= MAX_MESSAGE_UNITS
        text, error = parse_telegram_html(part)
        assert error == ""
        plain += text + "\n"
    assert plain.count("&") >= 5000 + 40
    assert all(r in plain for r in reasons)


def test_split_counts_utf16_units_for_emoji() -> None:
    lines = [Line("🚀" * 3000, "b")]  # 6000 UTF-16 units
    parts = split_message(lines, limit=4096)
    assert len(parts) == 2
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert sum(p.count("🚀") for p in parts) == 3000


async def test_send_delivers_html_to_the_chat(api: FakeBotApi) -> None:
    notifier = TelegramNotifier(TOKEN, CHAT, api_url=api.url, timeout_s=2)
    result = await notifier.send(hostile_alert(alert_id=3))
    await notifier.close()
    assert result.ok and result.message_id == str(api.state.sent[0].message_id)
    assert api.state.sent[0].parse_mode == "HTML"
    assert HOSTILE_SYMBOL in parse_telegram_html(api.state.sent[0].text)[0]
    assert notifier.channel == f"telegram:{CHAT}"


@pytest.mark.parametrize(
    ("fault", "expect"),
    [
        ("retry_after:3", {"retry_after_s": 3.0, "permanent": False, "maybe_delivered": False}),
        ("blocked", {"permanent": True, "maybe_delivered": False}),
        ("chat_not_found", {"permanent": True, "maybe_delivered": False}),
        ("server_error", {"permanent": False, "maybe_delivered": False}),
        ("drop_after_accept", {"permanent": False, "maybe_delivered": True}),
    ],
)
async def test_failures_are_classified(api: FakeBotApi, fault: str, expect: dict) -> None:
    notifier = TelegramNotifier(TOKEN, CHAT, api_url=api.url, timeout_s=2)
    api.fail_next("sendMessage", fault)
    result = await notifier.send(hostile_alert())
    await notifier.close()
    assert not result.ok and result.error
    for key, value in expect.items():
        assert getattr(result, key) == value, (key, result)
    if fault == "chat_not_found":
        assert "chat not found" in result.error


async def test_a_late_answer_is_ambiguous_not_retryable(api: FakeBotApi) -> None:
    notifier = TelegramNotifier(TOKEN, CHAT, api_url=api.url, timeout_s=0.3)
    await notifier.send(hostile_alert())  # warm up (getMe) within the timeout
    api.fail_next("sendMessage", "hang:1")
    result = await notifier.send(hostile_alert())
    await notifier.close()
    assert not result.ok and result.maybe_delivered and not result.permanent
    assert len(api.state.sent) == 2  # the server did take it


async def test_unreachable_server_is_retryable_not_ambiguous() -> None:
    with FakeBotApi(TOKEN, [CHAT]) as server:
        url = server.url
    notifier = TelegramNotifier(TOKEN, CHAT, api_url=url, timeout_s=1)
    result = await notifier.send(hostile_alert())
    assert not result.ok and not result.permanent and not result.maybe_delivered
    assert "cannot reach" in result.error


async def test_rejected_token_is_retried_and_not_echoed(api: FakeBotApi) -> None:
    bad = "999999:WRONG-token-zzzzzzzzzzzzzzzz"
    notifier = TelegramNotifier(bad, CHAT, api_url=api.url, timeout_s=2)
    result = await notifier.send(hostile_alert())
    assert not result.permanent and not result.maybe_delivered
    assert "token was rejected" in result.error
    assert bad not in result.error and not api.state.sent


async def test_send_is_one_request_per_part(api: FakeBotApi) -> None:
    notifier = TelegramNotifier(TOKEN, CHAT, api_url=api.url, timeout_s=2)
    await notifier.send(hostile_alert())
    await notifier.send(hostile_alert())
    await notifier.close()
    methods = [c.method for c in api.state.calls]
    assert methods == ["getMe", "sendMessage", "sendMessage"]


def test_plugin_does_not_import_the_workstation() -> None:
    import subprocess
    import sys

    code = (
        "import sys, plugins.notifiers.telegram\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('workstation', 'textual')]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


async def test_a_split_message_failing_midway_is_ambiguous(api: FakeBotApi) -> None:
    alert = hostile_alert(reasons=["y" * 3000, "z" * 3000, "w" * 3000])
    assert len(format_alert(alert)) == 3
    notifier = TelegramNotifier(TOKEN, CHAT, api_url=api.url, timeout_s=2)
    api.fail_next("sendMessage", "none")  # the first part goes through
    api.fail_next("sendMessage", "server_error")
    result = await notifier.send(alert)
    await notifier.close()
    assert not result.ok and result.maybe_delivered  # resending would repeat part 1
    assert result.message_id == str(api.state.sent[0].message_id)
    assert "partly delivered (1/3 parts)" in result.error


def test_a_learnt_signal_shows_its_evidence_instead_of_a_bare_confidence() -> None:
    evidence = "58% ±4, 412 past cases (57% right), 4 bars"
    [message] = format_alert(hostile_alert(evidence=evidence, confidence=0.58), alert_id=8)
    plain, error = parse_telegram_html(message)
    assert error == "" and evidence in plain and "confidence 58%" not in plain
