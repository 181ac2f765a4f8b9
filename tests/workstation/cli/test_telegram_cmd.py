"""``qws keys``, ``qws telegram test``, ``qws alerts``, and the token-never-leaks scan."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

from engine.model import Alert, Severity
from plugins.notifiers.telegram import TelegramNotifier
from tests.keyrings import memory_keyring
from tests.telegram_api import FakeBotApi
from workstation.alerts.relay import Outbox, RelayConfig
from workstation.alerts.telegram_control import ControlError, TelegramControl
from workstation.cli import main
from workstation.runtime.config import Settings
from workstation.runtime.secrets import get_secret
from workstation.store import Store

TOKEN = "888888:CLI-test-token-abcdefghijklmn"
CHAT = 111


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    db = tmp_path / "cli.db"
    monkeypatch.setenv("QWS_DB", str(db))
    monkeypatch.setenv("QWS__TELEGRAM__CHAT_IDS", f"[{CHAT}]")
    monkeypatch.setenv("QWS__TELEGRAM__TIMEOUT_S", "2")
    return db


def test_keys_set_prompts_without_echo_and_stores_in_keyring(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str) -> str:
        prompts.append(prompt)
        return TOKEN

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    with memory_keyring() as ring:
        assert main(["keys", "set", "telegram"]) == 0
        assert ring.data[("qws:telegram", "token")] == TOKEN
        assert main(["keys", "status", "telegram"]) == 0
    out = capsys.readouterr()
    assert prompts and "hidden" in prompts[0]
    assert "keyring" in out.out and TOKEN not in out.out + out.err
    assert main(["keys", "set", "telegram"]) == 2  # no keyring here: a clear error
    assert "QWS_TELEGRAM_TOKEN" in capsys.readouterr().err


def test_telegram_test_diagnoses_in_plain_words(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["telegram", "test"]) == 2
    assert "qws keys set telegram" in capsys.readouterr().err

    monkeypatch.setenv("QWS_TELEGRAM_TOKEN", TOKEN)
    with FakeBotApi(TOKEN, [CHAT]) as api:
        monkeypatch.setenv("QWS__TELEGRAM__API_URL", api.url)
        assert main(["telegram", "test"]) == 0
        out = capsys.readouterr().out
        assert "bot token: OK (@qws_test_bot)" in out and f"chat {CHAT}: OK" in out
        assert "test message" in api.state.sent[0].text

        assert main(["telegram", "test", "--chat", "424242"]) == 1
        assert "chat 424242: FAILED: chat not found" in capsys.readouterr().out

        api.fail_next("sendMessage", "blocked")
        assert main(["telegram", "test"]) == 1
        assert "blocked" in capsys.readouterr().out

        monkeypatch.setenv("QWS_TELEGRAM_TOKEN", "888888:WRONG-token-zzzzzzzzzzzz")
        assert main(["telegram", "test"]) == 1
        assert "token was rejected" in capsys.readouterr().out
        port_url = api.url
    monkeypatch.setenv("QWS__TELEGRAM__API_URL", port_url)
    assert main(["telegram", "test"]) == 1
    assert "cannot reach the Telegram API" in capsys.readouterr().out


def test_alerts_lists_failed_and_requeues(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Store(env) as store:
        ok = store.alerts.enqueue(Alert("fill", "Filled buy BTC", "", time.time_ns()), "telegram:1")
        bad = store.alerts.enqueue(Alert("risk", "Kill", "", time.time_ns()), "telegram:1")
        assert ok and bad
        store.alerts.mark_sent(ok, "77", time.time_ns())
        store.alerts.mark_failed(bad, "chat not found")
    assert main(["alerts"]) == 0
    out = capsys.readouterr().out
    assert "sent" in out and "[message 77]" in out and "chat not found" in out
    assert main(["alerts", "--failed"]) == 0
    out = capsys.readouterr().out
    assert "Kill" in out and "Filled buy BTC" not in out
    assert main(["alerts", "--retry", str(bad)]) == 0
    assert main(["alerts", "--retry", str(ok)]) == 2
    with Store(env) as store:
        assert store.alerts.get(bad)["status"] == "pending"


async def test_token_never_reaches_logs_store_or_exception_texts(
    env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "telegram"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    monkeypatch.setenv("QWS_TELEGRAM_TOKEN", TOKEN)
    token = get_secret("telegram", "token")
    assert token == TOKEN
    texts: list[str] = []
    with FakeBotApi(TOKEN, [CHAT]) as api:
        monkeypatch.setenv("QWS__TELEGRAM__API_URL", api.url)
        monkeypatch.setenv("QWS__TELEGRAM__POLL_TIMEOUT_S", "1")
        settings = Settings.load(tmp_path / "none.toml")
        store = Store(env)
        try:
            api.fail_next("sendMessage", "retry_after:1")
            outbox = Outbox(
                store,
                [
                    TelegramNotifier(token, CHAT, api_url=api.url, timeout_s=2),
                    TelegramNotifier(token, 31337, api_url=api.url, timeout_s=2),
                ],
                RelayConfig(retry_base_s=0.05, rate_per_window=0),
            )
            outbox.publish(
                Alert("risk", f"title {TOKEN[:3]}", "b", time.time_ns(), Severity.CRITICAL)
            )
            deadline = time.monotonic() + 60
            while "pending" in {r["status"] for r in store.alerts.find()}:
                await outbox.deliver_due()
                await asyncio.sleep(0.05)
                assert time.monotonic() < deadline
            await outbox.close()
            control = TelegramControl(store, settings, token)
            await control.start()
            api.push_message(CHAT, "/status")
            await asyncio.sleep(0.3)
            await control.stop()

            api.state.token = "888888:ROTATED-token-zzzzzzzzzzz"  # the server now rejects ours
            broken = TelegramNotifier(token, CHAT, api_url=api.url, timeout_s=2)
            outbox = Outbox(store, [broken], RelayConfig(rate_per_window=0))
            outbox.publish(Alert("risk", "after rotation", "b", time.time_ns(), Severity.CRITICAL))
            await outbox.deliver_due()
            with pytest.raises(ControlError) as excinfo:
                await TelegramControl(store, settings, token).start()
            texts.append(str(excinfo.value))
            texts.append("".join(traceback.format_exception(excinfo.value)))
            assert await asyncio.to_thread(main, ["telegram", "test"]) == 1
        finally:
            store.close()
    outcomes = [c.outcome for c in api.state.calls]
    assert "ok" in outcomes and "unauthorized" in outcomes  # the token was really used
    assert "token was rejected" in texts[0]
    out = capsys.readouterr()
    texts += [caplog.text, out.out, out.err, *(r.getMessage() for r in caplog.records)]
    rows = list(Store(env).alerts.find(limit=100))
    assert {r["status"] for r in rows} == {"sent", "failed", "pending"}
    assert "token was rejected" in rows[-1]["last_error"]
    texts += [str(r) for r in rows]
    for path in tmp_path.glob("cli.db*"):
        assert TOKEN.encode() not in path.read_bytes(), path
    assert "HTTP Request" in caplog.text  # httpx did log the URLs, with the token masked
    for text in texts:
        assert TOKEN not in text


def test_serve_relays_the_outbox_and_answers_commands(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal
    import subprocess
    import sys

    with Store(env) as store:
        queued = store.alerts.enqueue(
            Alert("risk", "queued while offline", "b", time.time_ns()), f"telegram:{CHAT}"
        )
    with FakeBotApi(TOKEN, [CHAT]) as api:
        monkeypatch.setenv("QWS_TELEGRAM_TOKEN", TOKEN)
        monkeypatch.setenv("QWS__TELEGRAM__API_URL", api.url)
        monkeypatch.setenv("QWS__TELEGRAM__POLL_TIMEOUT_S", "1")
        monkeypatch.setenv("QWS__TELEGRAM__RELAY__DAILY_SUMMARY", "false")
        code = "import sys; from workstation.cli import main; sys.exit(main(sys.argv[1:]))"
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "telegram", "serve"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert api.wait_for(lambda s: len(s.sent) == 1, timeout=20), proc.poll()
            assert "queued while offline" in api.state.sent[0].text
            api.push_message(CHAT, "/status")
            assert api.wait_for(lambda s: len(s.sent) == 2, timeout=10)
            assert "qws status" in api.state.sent[1].text
            api.push_message(CHAT, "/kill")
            assert api.wait_for(lambda s: len(s.sent) == 3, timeout=10)
            markup = api.state.sent[2].reply_markup
            assert markup is not None
            confirm = markup["inline_keyboard"][0][0]["callback_data"]
            api.push_callback(CHAT, confirm, api.state.sent[2].message_id)
            # the kill is announced through the outbox to every chat
            assert api.wait_for(lambda s: len(s.sent) == 4, timeout=10)
            assert "Kill switch engaged" in api.state.sent[3].text
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()[-2000:]  # SIGINT stops the runtime cleanly
    assert TOKEN.encode() not in err
    with Store(env) as store:
        assert store.alerts.get(queued)["status"] == "sent"
        assert store.settings.get("trading.kill_switch") is True


class EchoingBotApi(FakeBotApi):
    """The Bot API behind a proxy that refuses sendMessage quoting the request line, token
    included; python-telegram-bot lowercases such a description (``str.capitalize``)."""

    def _m_sendMessage(self, handler: Any, params: dict[str, Any], fault: str) -> None:
        self._error(handler, 400, f"Bad Request: proxy refused POST {handler.path}")


async def test_a_lowercased_token_in_an_error_is_masked_in_store_logs_and_output(
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("QWS_TELEGRAM_TOKEN", TOKEN)
    token = get_secret("telegram", "token")
    assert token == TOKEN
    with EchoingBotApi(TOKEN, [CHAT]) as api:
        monkeypatch.setenv("QWS__TELEGRAM__API_URL", api.url)
        with Store(env) as store:
            notifier = TelegramNotifier(token, CHAT, api_url=api.url, timeout_s=2)
            outbox = Outbox(store, [notifier], RelayConfig(rate_per_window=0))
            outbox.publish(Alert("risk", "kill", "b", time.time_ns(), Severity.CRITICAL))
            assert await outbox.deliver_due() == 1
            await outbox.close()
            [row] = store.alerts.find()
        assert await asyncio.to_thread(main, ["telegram", "test"]) == 1
    out = capsys.readouterr()
    assert row["status"] == "failed" and "proxy refused" in row["last_error"].lower()
    assert "proxy refused" in out.out.lower()
    texts = [str(row), out.out, out.err, caplog.text, *(r.getMessage() for r in caplog.records)]
    texts += [p.read_bytes().decode("utf-8", "replace") for p in env.parent.glob("cli.db*")]
    for text in texts:
        assert TOKEN.lower() not in text.lower()


def test_alerts_shows_the_newest_first_and_says_how_many_more(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store(env) as store:
        ids = [
            store.alerts.enqueue(Alert("risk", f"alert {i}", "", time.time_ns()), "telegram:1")
            for i in range(8)
        ]
        for alert_id in ids[:6]:
            assert alert_id is not None
            store.alerts.mark_failed(alert_id, "chat not found")
    assert main(["alerts", "--limit", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    titles = [line.split()[-1] for line in lines if " alert " in line]
    assert titles == ["7", "6", "5"]
    assert lines[-1] == "… and 5 more: qws alerts --limit N"
    assert main(["alerts", "--failed", "--limit", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    titles = [line.split()[-1] for line in lines if " alert " in line]
    assert titles == ["5", "4", "3", "2"]
    assert lines[-1] == "… and 2 more: qws alerts --failed --limit N"
    assert main(["alerts", "--limit", "8"]) == 0
    assert "more" not in capsys.readouterr().out


def test_keys_set_at_end_of_input_stores_nothing_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess
    import sys

    code = "import sys; from workstation.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", code, "keys", "set", "telegram"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,  # no terminal: getpass reads the (empty) stdin
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "no input: nothing stored" in done.stderr.splitlines()[-1]

    def end_of_input(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("getpass.getpass", end_of_input)
    with memory_keyring() as ring:
        assert main(["keys", "set", "telegram"]) == 2
        assert ring.data == {}
    assert "no input: nothing stored" in capsys.readouterr().err
