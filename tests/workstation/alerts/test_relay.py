"""workstation/alerts/relay.py: the alerts outbox driven against the local fake Bot API server."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.model import Action, Alert, Cycle, Instrument, Severity, Signal
from plugins.notifiers.telegram import TelegramNotifier
from tests.telegram_api import FakeBotApi, parse_telegram_html
from workstation.alerts.builders import risk_alert
from workstation.alerts.relay import Outbox, RelayConfig, backoff_s
from workstation.store import MIGRATIONS, Store
from workstation.trading.killswitch import set_paused

TOKEN = "654321:RELAY-test-token-abcdefghijkl"
CHAT = 111
FAST = RelayConfig(retry_base_s=0.05, retry_max_s=0.2, rate_per_window=0, dedup_window_s=0)


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi(TOKEN, [CHAT]) as server:
        yield server


def alert(title: str, severity: Severity = Severity.INFO, ts: int | None = None) -> Alert:
    return Alert("signal", title, f"body of {title}", ts or time.time_ns(), severity, "BTC/USDT")


def notifier(api_url: str, chat: int = CHAT) -> TelegramNotifier:
    return TelegramNotifier(TOKEN, chat, api_url=api_url, timeout_s=2)


async def run_until(outbox: Outbox, done: Callable[[], bool], timeout: float = 60.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run(stop))
    deadline = time.monotonic() + timeout
    try:
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for the outbox")
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        await outbox.close()


def tags(api: FakeBotApi, chat: int = CHAT) -> list[int]:
    """The qws#ID tags in the order the server received them."""
    out = []
    for sent in api.sent_to(chat):
        found = re.search(r"qws#(\d+)", parse_telegram_html(sent.text)[0])
        assert found, sent.text
        out.append(int(found.group(1)))
    return out


def statuses(store: Store) -> dict[int, str]:
    return {row["id"]: row["status"] for row in store.alerts.find(limit=1000)}


async def test_delivery_in_order_with_message_ids(store: Store, api: FakeBotApi) -> None:
    outbox = Outbox(store, [notifier(api.url)], FAST)
    ids = [i for n in range(6) for i in outbox.publish(alert(f"alert {n}"))]
    await run_until(outbox, lambda: len(api.state.sent) == 6)
    assert tags(api) == ids
    rows = store.alerts.find()
    assert [r["status"] for r in rows] == ["sent"] * 6
    assert [r["message_id"] for r in rows] == [str(s.message_id) for s in api.state.sent]


async def test_429_retry_after_is_honoured_and_order_kept(store: Store, api: FakeBotApi) -> None:
    api.fail_next("sendMessage", "retry_after:1")
    outbox = Outbox(store, [notifier(api.url)], FAST)
    first, second = (outbox.publish(alert(t))[0] for t in ("first", "second"))
    await run_until(outbox, lambda: len(api.state.sent) == 2)
    sends = [c for c in api.state.calls if c.method == "sendMessage"]
    assert [c.outcome for c in sends] == ["retry_after:1", "ok", "ok"]
    assert (
        sends[1].at - sends[0].at >= 0.95
    )  # waited the server's retry_after, not the 0.05 s back-off
    assert tags(api) == [first, second]
    assert store.alerts.get(first)["attempts"] == 2


async def test_server_down_then_back_delivers_all_exactly_once(store: Store) -> None:
    api = FakeBotApi(TOKEN, [CHAT]).start()
    url = api.url
    api.stop()
    outbox = Outbox(store, [notifier(url)], FAST)
    ids = [outbox.publish(alert(f"while down {n}"))[0] for n in range(4)]

    async def come_back() -> None:
        await asyncio.sleep(0.6)
        api.start()

    back = asyncio.create_task(come_back())
    try:
        await run_until(outbox, lambda: statuses(store) == dict.fromkeys(ids, "sent"))
    finally:
        await back
        api.stop()
    assert tags(api) == ids
    first = store.alerts.get(ids[0])
    assert first["attempts"] >= 3
    assert first["last_error"] == ""


_CRASHING_SENDER = textwrap.dedent(
    """
    import asyncio, os, sys
    from plugins.notifiers.telegram import TelegramNotifier
    from workstation.alerts.relay import Outbox
    from workstation.store import Store

    class DiesAfterSend(TelegramNotifier):
        async def send(self, alert):
            result = await super().send(alert)
            assert result.ok, result
            os._exit(17)  # power cut: the server has the message, the store was not told

    store = Store(sys.argv[1])
    sender = DiesAfterSend(os.environ["T_TOKEN"], int(sys.argv[3]), api_url=sys.argv[2])
    asyncio.run(Outbox(store, [sender]).deliver_due())
    """
)


async def test_crash_between_send_and_mark_never_resends(
    store: Store, api: FakeBotApi, db_path: Path, tmp_path: Path
) -> None:
    outbox = Outbox(store, [notifier(api.url)], FAST)
    first, second = (outbox.publish(alert(t))[0] for t in ("acknowledged", "after restart"))
    store.close()
    script = tmp_path / "crash.py"
    script.write_text(_CRASHING_SENDER)
    proc = subprocess.run(
        [sys.executable, str(script), str(db_path), api.url, str(CHAT)],
        env={**os.environ, "T_TOKEN": TOKEN},
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 17, proc.stderr.decode()[-2000:]
    assert tags(api) == [first]

    restarted = Store(db_path)
    try:
        assert restarted.alerts.get(first)["status"] == "sending"
        outbox = Outbox(restarted, [notifier(api.url)], FAST)
        await run_until(outbox, lambda: restarted.alerts.get(second)["status"] == "sent")
        assert tags(api) == [first, second]  # the acknowledged alert was not sent again
        row = restarted.alerts.get(first)
        assert row["status"] == "unknown"
        assert "not resent" in row["last_error"]
        assert [r["id"] for r in restarted.alerts.find(status=("failed", "unknown"))] == [first]
    finally:
        restarted.close()


async def test_lost_acknowledgement_is_unknown_and_not_resent(
    store: Store, api: FakeBotApi
) -> None:
    api.fail_next("sendMessage", "drop_after_accept")
    outbox = Outbox(store, [notifier(api.url)], FAST)
    first, second = (outbox.publish(alert(t))[0] for t in ("ack lost", "next"))
    await run_until(outbox, lambda: store.alerts.get(second)["status"] == "sent")
    assert tags(api) == [first, second]
    assert store.alerts.get(first)["status"] == "unknown"
    assert store.alerts.requeue(first)  # the user may decide to resend it
    assert store.alerts.get(first)["status"] == "pending"


async def test_permanent_failures_are_failed_with_reason(store: Store, api: FakeBotApi) -> None:
    api.fail_next("sendMessage", "blocked")
    outbox = Outbox(store, [notifier(api.url), notifier(api.url, chat=999)], FAST)
    outbox.publish(alert("one"))
    outbox.publish(alert("two"))
    await run_until(outbox, lambda: "pending" not in statuses(store).values())
    rows = {(r["channel"], r["title"]): r for r in store.alerts.find()}
    assert rows[("telegram:111", "one")]["status"] == "failed"
    assert "blocked" in rows[("telegram:111", "one")]["last_error"]
    assert rows[("telegram:111", "two")]["status"] == "sent"
    for title in ("one", "two"):
        row = rows[("telegram:999", title)]
        assert row["status"] == "failed" and "chat not found" in row["last_error"]
        assert row["attempts"] == 1


async def test_gives_up_after_max_attempts(store: Store) -> None:
    api = FakeBotApi(TOKEN, [CHAT]).start()
    url = api.url
    api.stop()
    config = RelayConfig(retry_base_s=0.01, retry_max_s=0.02, max_attempts=3, rate_per_window=0)
    outbox = Outbox(store, [notifier(url)], config)
    [row] = outbox.publish(alert("nobody listens"))
    await run_until(outbox, lambda: store.alerts.get(row)["status"] == "failed")
    failed = store.alerts.get(row)
    assert failed["attempts"] == 3 and "gave up after 3 attempts" in failed["last_error"]


async def test_rate_cap_per_chat(store: Store, api: FakeBotApi) -> None:
    config = RelayConfig(rate_per_window=2, rate_window_s=1.0, dedup_window_s=0)
    outbox = Outbox(store, [notifier(api.url)], config)
    for n in range(4):
        outbox.publish(alert(f"burst {n}"))
    await run_until(outbox, lambda: len(api.state.sent) == 4)
    at = [s.at for s in api.state.sent]
    assert at[2] - at[0] >= 0.95 and at[3] - at[1] >= 0.95


def test_identical_alerts_are_deduplicated_within_the_window(store: Store) -> None:
    config = RelayConfig(dedup_window_s=60)
    outbox = Outbox(store, [notifier("http://127.0.0.1:9")], config)
    t = time.time_ns()
    assert outbox.publish(alert("same", ts=t))
    assert outbox.publish(alert("same", ts=t + 1)) == []
    assert outbox.publish(alert("different", ts=t + 2))
    assert outbox.publish(alert("same", ts=t + 61 * 10**9))  # window passed
    assert outbox.deduplicated == 1 and len(store.alerts.find()) == 3


def test_pause_holds_back_all_but_critical_alerts(store: Store) -> None:
    outbox = Outbox(store, [notifier("http://127.0.0.1:9")], FAST)
    set_paused(store, True, actor="test")
    assert outbox.publish(alert("routine")) == []
    assert outbox.publish(risk_alert("Daily loss limit hit", "trading stopped", time.time_ns()))
    set_paused(store, False, actor="test")
    assert outbox.publish(alert("routine again"))
    assert outbox.dropped_paused == 1


def test_signal_gate_and_instrument_precision(store: Store) -> None:
    config = RelayConfig(quality_gate=0.75, kinds={"signals": True})
    outbox = Outbox(store, [notifier("http://127.0.0.1:9")], config)
    inst = Instrument("EURUSD", "demo", Decimal("0.00001"), Decimal("1000"), "USD")

    def sig(conf: float, action: Action = Action.OPEN_LONG) -> Signal:
        return Signal(
            time.time_ns(), "EURUSD", "1m", action, conf, 1.0845678, ("r",), Cycle(32, 0.4, 8)
        )

    assert outbox.publish_signal(sig(0.74), inst) == []
    assert outbox.publish_signal(sig(0.9, Action.WAIT), inst) == []
    [row] = outbox.publish_signal(sig(0.8), inst)
    assert '"price_decimals": 5' in store.alerts.get(row)["data"]
    off = Outbox(store, [notifier("http://127.0.0.1:9")], RelayConfig(kinds={"signals": False}))
    assert off.publish_signal(sig(0.9), inst) == []


def test_sentiment_swings_follow_the_news_relay_setting(store: Store) -> None:
    from workstation.alerts.builders import sentiment_alert

    swing = sentiment_alert("WTI", -0.1, 0.6, 21_600.0, "OPEC+ agrees deeper cuts", time.time_ns())
    on = Outbox(store, [notifier("http://127.0.0.1:9")], RelayConfig(kinds={"news": True}))
    assert len(on.publish(swing)) == 1
    off = Outbox(store, [notifier("http://127.0.0.1:9")], RelayConfig(kinds={"news": False}))
    assert off.publish(swing) == []


def test_backoff_doubles_and_caps() -> None:
    assert [backoff_s(n, 1.0, 10.0) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 10]


def test_migration_keeps_queued_alerts(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version=2")
    conn.execute(
        "INSERT INTO alerts (ts, kind, severity, title, body, channel, status, attempts)"
        " VALUES (1, 'risk', 'critical', 'queued before upgrade', 'b', 'telegram:1', 'pending', 2)"
    )
    conn.commit()
    conn.close()
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        [row] = store.alerts.find()
        assert (row["title"], row["status"], row["attempts"]) == (
            "queued before upgrade",
            "pending",
            2,
        )
        store.alerts.mark_failed(row["id"], "x", status="unknown")
        assert store.alerts.get(row["id"])["status"] == "unknown"


async def test_publish_from_another_thread_wakes_the_sender(store: Store, api: FakeBotApi) -> None:
    outbox = Outbox(store, [notifier(api.url)], FAST, poll_s=30.0)  # only a wake-up can help
    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run(stop))
    await asyncio.sleep(0.1)
    t0 = time.monotonic()
    await asyncio.to_thread(outbox.publish, alert("from a worker thread"))
    try:
        while not api.state.sent:
            assert time.monotonic() - t0 < 60
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        await outbox.close()
