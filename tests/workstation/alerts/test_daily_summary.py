"""workstation/alerts/daily_summary.py: what the summary says, and that it goes once a day."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

from engine.model import Fill, Side
from plugins.notifiers.telegram import TelegramNotifier
from workstation.alerts.daily_summary import daily_summary_alert, publish_summary_if_due
from workstation.alerts.relay import Outbox, RelayConfig
from workstation.store import Store

SECOND = 1_000_000_000
FAST = RelayConfig(retry_base_s=0.05, retry_max_s=0.2, rate_per_window=0, dedup_window_s=0)


def notifier() -> TelegramNotifier:
    return TelegramNotifier(
        "654321:RELAY-test-token-abcdefghijkl", 111, api_url="http://127.0.0.1:9"
    )


def test_summary_counts_the_days_fills_and_equity_change(store: Store) -> None:
    t = time.time_ns()
    fill = Fill("c1", "BTC/USDT", Side.BUY, Decimal("0.5"), Decimal("43210.5"), Decimal("1.2"), t)
    store.fills.add(fill, "paper")
    store.equity.add("paper", t - 100 * SECOND, 10_000.0)
    store.equity.add("paper", t - SECOND, 10_100.0)
    summary = daily_summary_alert(store, t - 50 * SECOND, t, "paper")
    assert "fills: 1" in summary.body and "day +100.00" in summary.body


def test_daily_summary_once_per_day_from_its_time(store: Store) -> None:
    def at(text: str) -> int:
        return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1e9)

    now = [at("2026-03-02T20:59:00")]
    outbox = Outbox(store, [notifier()], FAST, clock=lambda: now[0])
    assert not publish_summary_if_due(outbox, "paper", "21:00")
    now[0] = at("2026-03-02T21:00:30")
    assert publish_summary_if_due(outbox, "paper", "21:00")
    assert not publish_summary_if_due(outbox, "paper", "21:00")  # once a day
    restarted = Outbox(store, [notifier()], FAST, clock=lambda: now[0])
    assert not publish_summary_if_due(restarted, "paper", "21:00")  # also after a restart
    now[0] = at("2026-03-03T21:05:00")
    assert publish_summary_if_due(outbox, "paper", "21:00")
    assert [r["title"] for r in store.alerts.find()] == ["Daily summary", "Daily summary"]
