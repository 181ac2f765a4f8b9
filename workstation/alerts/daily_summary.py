"""The daily summary: once per UTC day at ``telegram.summary_time_utc``, an alert with the
day's signals, fills, equity change and undelivered alerts, queued in the outbox. The day
it was last sent is remembered in the store, so a restart does not send it twice."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from engine.model import Action, Alert
from workstation.alerts.relay import SECOND_NS, Outbox
from workstation.store import Store

log = logging.getLogger(__name__)


def daily_summary_alert(store: Store, day_start_ns: int, now_ns: int, venue: str) -> Alert:
    signals = [s for s in store.signals.recent(limit=10_000) if s.ts_ns >= day_start_ns]
    actionable = sum(1 for s in signals if s.action is not Action.WAIT)
    fills = [f for f in store.fills.find(venue=venue) if f.ts_ns >= day_start_ns]
    points = store.equity.points(venue, day_start_ns)
    opening = store.equity.before(venue, day_start_ns)
    lines = [f"signals: {len(signals)} ({actionable} actionable)", f"fills: {len(fills)}"]
    if points:
        start = opening if opening is not None else points[0][1]
        lines.append(f"equity: {points[-1][1]:,.2f} (day {points[-1][1] - start:+,.2f})")
    counts = store.alerts.counts()
    if counts.get("failed") or counts.get("unknown"):
        lines.append(
            f"alerts not delivered: {counts.get('failed', 0)} failed,"
            f" {counts.get('unknown', 0)} unknown"
        )
    return Alert("summary", "Daily summary", "\n".join(lines), now_ns)


LAST_SUMMARY_KEY = "relay.last_summary_day"


def summary_time_ns(now_ns: int, at_utc: str) -> int:
    """Today's summary time (``"HH:MM"`` UTC) as ns, for the UTC day containing ``now_ns``."""
    hours, minutes = (int(p) for p in at_utc.split(":"))
    day = datetime.fromtimestamp(now_ns / 1e9, tz=UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return int((day.timestamp() + hours * 3600 + minutes * 60) * SECOND_NS)


def summary_due(store: Store, now_ns: int, at_utc: str) -> bool:
    """True once per UTC day, from ``at_utc`` on (remembered in the store across restarts)."""
    today = datetime.fromtimestamp(now_ns / 1e9, tz=UTC).date().isoformat()
    return (
        now_ns >= summary_time_ns(now_ns, at_utc) and store.settings.get(LAST_SUMMARY_KEY) != today
    )


def publish_summary_if_due(outbox: Outbox, venue: str, at_utc: str) -> bool:
    now = outbox.clock()
    if not summary_due(outbox.store, now, at_utc):
        return False
    at = summary_time_ns(now, at_utc)
    outbox.publish(daily_summary_alert(outbox.store, at - 86_400 * SECOND_NS, now, venue))
    today = datetime.fromtimestamp(now / 1e9, tz=UTC).date().isoformat()
    outbox.store.settings.set(LAST_SUMMARY_KEY, today, actor="relay")
    return True


async def run_daily_summary(
    outbox: Outbox, venue: str, at_utc: str, stop: asyncio.Event, check_s: float = 30.0
) -> None:
    """Queue the daily summary at ``at_utc`` each day until ``stop`` is set."""
    while not stop.is_set():
        try:
            publish_summary_if_due(outbox, venue, at_utc)
        except Exception:
            log.exception("daily summary failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), check_s)
