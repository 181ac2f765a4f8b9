"""The alert relay: builds alerts from signals, fills and events, queues them in the store's
``alerts`` outbox (one row per channel) and drives the notifiers that deliver them.

Delivery guarantees, per channel (one Telegram chat = one channel):

* **Ordered.** Only the oldest undelivered row of a channel is ever sent; while it waits for
  a retry (back-off, 429 ``retry_after``), later rows wait behind it.
* **Outbox first.** An alert is committed before any send; a crash loses nothing queued.
* **Never twice.** Before the request a row is moved to ``sending`` in a FULL-sync
  transaction; the answer's message id is committed right after. Telegram has no
  idempotency key and a bot cannot read back what it sent, so a row whose outcome is
  unknowable is *not* resent automatically: a row still ``sending`` at start-up (the process
  died between request and mark) and a send that lost its answer (read timeout, connection
  dropped after the request went out) become ``unknown``: shown by ``qws alerts --failed``
  and the ``/status`` command, resent only when the user says so (``qws alerts --retry ID``).
  Each message carries a ``qws#ID`` tag, so a deliberate resend is recognisable. Only
  failures that prove the request never arrived (connection refused, connect timeout,
  an error answer from the server) are retried, with exponential back-off.
* **Permanent failures** (chat not found, bot blocked, malformed message) end in ``failed`` with
  the reason; so does a row that exhausted ``telegram.retry.max_attempts``.
* **Rate cap** per channel (``telegram.rate_per_minute`` within ``telegram.rate_window_s``),
  counted from the store, so a restart does not reset it; **de-duplication** of identical
  alerts (same kind, symbol, title, body, data) within ``telegram.dedup_window_s``.
* While paused (``/pause``), non-critical alerts are not queued; critical ones still are.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.model import (
    Action,
    Alert,
    DeliveryResult,
    Fill,
    Instrument,
    Order,
    Severity,
    Signal,
)
from engine.protocols import Notifier
from workstation.runtime.config import Settings
from workstation.runtime.secrets import redact
from workstation.store.store import Store
from workstation.trading.killswitch import is_paused

log = logging.getLogger(__name__)

SECOND_NS = 1_000_000_000
KIND_SETTINGS = {
    "signal": "signals",
    "fill": "fills",
    "rejection": "rejections",
    "risk": "risk",
    "feed": "feeds",
    "summary": "daily_summary",
}
UNKNOWN_AFTER_RESTART = (
    "interrupted between the send and its acknowledgement (process stopped); Telegram may"
    " have it, so it is not resent automatically: qws alerts --retry ID to resend"
)


@dataclass(frozen=True, slots=True)
class RelayConfig:
    rate_per_window: int = 20
    rate_window_s: float = 60.0
    dedup_window_s: float = 300.0
    retry_base_s: float = 1.0
    retry_max_s: float = 300.0
    max_attempts: int = 50
    quality_gate: float = 0.75
    kinds: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> RelayConfig:
        return cls(
            rate_per_window=int(settings.get("telegram.rate_per_minute", 20)),
            rate_window_s=float(settings.get("telegram.rate_window_s", 60.0)),
            dedup_window_s=float(settings.get("telegram.dedup_window_s", 300.0)),
            retry_base_s=float(settings.get("telegram.retry.base_s", 1.0)),
            retry_max_s=float(settings.get("telegram.retry.max_s", 300.0)),
            max_attempts=int(settings.get("telegram.retry.max_attempts", 50)),
            quality_gate=float(settings.get("signals.quality_gate", 0.75)),
            kinds={k: bool(v) for k, v in settings.section("telegram.relay").items()},
        )

    def relays(self, kind: str) -> bool:
        key = KIND_SETTINGS.get(kind)
        return True if key is None else self.kinds.get(key, True)


def backoff_s(attempts: int, base_s: float, max_s: float) -> float:
    """Delay before retry number ``attempts`` (1-based): base, 2·base, 4·base ... capped."""
    return float(min(max_s, base_s * 2 ** max(0, attempts - 1)))


def dedup_key(alert: Alert) -> str:
    payload = json.dumps(
        [alert.kind, alert.symbol, alert.title, alert.body, alert.data],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def row_to_alert(row: dict[str, Any]) -> Alert:
    data = json.loads(row.get("data") or "{}")
    data["alert_id"] = row["id"]
    return Alert(
        kind=row["kind"],
        title=row["title"],
        body=row["body"],
        ts_ns=row["ts"],
        severity=Severity(row["severity"]),
        symbol=row["symbol"],
        data=data,
    )


# -- what is relayed ----------------------------------------------------------------------
def signal_alert(signal: Signal, instrument: Instrument | None = None) -> Alert:
    data: dict[str, Any] = {
        "timeframe": signal.timeframe,
        "action": str(signal.action),
        "confidence": round(signal.confidence, 4),
        "price": signal.price,
        "reasons": list(signal.reasons),
    }
    if instrument is not None:
        data["price_decimals"] = instrument.price_decimals
    if signal.cycle is not None:
        data["period_bars"] = signal.cycle.period_bars
        data["cycle_strength"] = round(signal.cycle.strength, 4)
    return Alert(
        "signal",
        f"{signal.action} {signal.symbol}",
        "",
        signal.ts_ns,
        Severity.INFO,
        signal.symbol,
        data,
    )


def fill_alert(fill: Fill, instrument: Instrument | None = None) -> Alert:
    data: dict[str, Any] = {
        "side": str(fill.side),
        "qty": str(fill.qty),
        "price": str(fill.price),
    }
    if instrument is not None:
        data["price_decimals"] = instrument.price_decimals
    body = f"fee {fill.fee} {fill.fee_ccy}".strip() if fill.fee else ""
    return Alert(
        "fill",
        f"Filled {fill.side} {fill.symbol}",
        body,
        fill.ts_ns,
        symbol=fill.symbol,
        data=data,
    )


def rejection_alert(order: Order, ts_ns: int, instrument: Instrument | None = None) -> Alert:
    data: dict[str, Any] = {"side": str(order.side), "qty": str(order.qty)}
    if order.price is not None:
        data["price"] = str(order.price)
    if instrument is not None:
        data["price_decimals"] = instrument.price_decimals
    return Alert(
        "rejection",
        f"Order rejected: {order.side} {order.symbol}",
        order.reason or "no reason given",
        ts_ns,
        Severity.WARNING,
        order.symbol,
        data,
    )


def risk_alert(title: str, body: str, ts_ns: int) -> Alert:
    return Alert("risk", title, body, ts_ns, Severity.CRITICAL)


def feed_alert(feed: str, up: bool, detail: str, ts_ns: int) -> Alert:
    if up:
        return Alert("feed", f"Feed {feed} recovered", detail, ts_ns, Severity.INFO)
    return Alert("feed", f"Feed {feed} is down", detail, ts_ns, Severity.WARNING)


def daily_summary_alert(store: Store, day_start_ns: int, now_ns: int, venue: str) -> Alert:
    signals = [s for s in store.signals(limit=10_000) if s.ts_ns >= day_start_ns]
    actionable = sum(1 for s in signals if s.action is not Action.WAIT)
    fills = [f for f in store.fills(venue=venue) if f.ts_ns >= day_start_ns]
    points = store.equity_points(venue, day_start_ns)
    opening = store.equity_before(venue, day_start_ns)
    lines = [f"signals: {len(signals)} ({actionable} actionable)", f"fills: {len(fills)}"]
    if points:
        start = opening if opening is not None else points[0][1]
        lines.append(f"equity: {points[-1][1]:,.2f} (day {points[-1][1] - start:+,.2f})")
    counts = store.alert_counts()
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
        now_ns >= summary_time_ns(now_ns, at_utc) and store.get_setting(LAST_SUMMARY_KEY) != today
    )


def publish_summary_if_due(outbox: Outbox, venue: str, at_utc: str) -> bool:
    now = outbox.clock()
    if not summary_due(outbox.store, now, at_utc):
        return False
    at = summary_time_ns(now, at_utc)
    outbox.publish(daily_summary_alert(outbox.store, at - 86_400 * SECOND_NS, now, venue))
    today = datetime.fromtimestamp(now / 1e9, tz=UTC).date().isoformat()
    outbox.store.set_setting(LAST_SUMMARY_KEY, today, actor="relay")
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


# -- the outbox driver --------------------------------------------------------------------
def _channel(notifier: Notifier) -> str:
    return str(getattr(notifier, "channel", notifier.name))


StatusListener = Callable[[int, str, str], None]


class Outbox:
    """Queues alerts for every notifier's channel and delivers them (see module docstring)."""

    def __init__(
        self,
        store: Store,
        notifiers: Sequence[Notifier],
        config: RelayConfig | None = None,
        clock: Callable[[], int] = time.time_ns,
        poll_s: float = 1.0,
    ) -> None:
        self.store = store
        self.config = config or RelayConfig()
        self.notifiers = {_channel(n): n for n in notifiers}
        self.clock = clock
        self.poll_s = poll_s
        self.listeners: list[StatusListener] = []
        self.dropped_paused = 0
        self.deduplicated = 0
        self._wakeup = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.errors = 0

    # -- queueing --------------------------------------------------------------------------
    def publish(self, alert: Alert) -> list[int]:
        """Queue ``alert`` for every channel; returns the new row ids (empty if filtered)."""
        if not self.config.relays(alert.kind):
            return []
        if alert.severity is not Severity.CRITICAL and is_paused(self.store):
            self.dropped_paused += 1
            log.info("relay paused: not queueing %s alert %r", alert.kind, alert.title)
            return []
        key = dedup_key(alert)
        window = int(self.config.dedup_window_s * SECOND_NS)
        ids: list[int] = []
        for channel in self.notifiers:
            row = self.store.enqueue_alert(alert, channel, key, window)
            if row is None:
                self.deduplicated += 1
            else:
                ids.append(row)
        self._wake()
        return ids

    def _wake(self) -> None:
        """Wake the sender; safe from any thread (the screen's workers publish too)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wakeup.set()
        else:
            loop.call_soon_threadsafe(self._wakeup.set)

    def publish_signal(self, signal: Signal, instrument: Instrument | None = None) -> list[int]:
        """Relay a signal if it is actionable and at or above the quality gate."""
        if signal.action is Action.WAIT or signal.confidence < self.config.quality_gate:
            return []
        return self.publish(signal_alert(signal, instrument))

    # -- delivering ------------------------------------------------------------------------
    def reconcile(self) -> list[int]:
        """Run once at start: rows left in flight by a previous process become 'unknown'."""
        ids = self.store.reconcile_sending_alerts(UNKNOWN_AFTER_RESTART)
        for alert_id in ids:
            log.warning("alert %d: %s", alert_id, UNKNOWN_AFTER_RESTART)
            self._emit(alert_id, "unknown", UNKNOWN_AFTER_RESTART)
        return ids

    def _rate_wait_ns(self, channel: str, now: int) -> int:
        cap = self.config.rate_per_window
        if cap <= 0:
            return 0
        window = int(self.config.rate_window_s * SECOND_NS)
        times = self.store.sent_alert_times(channel, now - window)
        if len(times) < cap:
            return 0
        return max(0, times[-cap] + window - now)

    def _emit(self, alert_id: int, status: str, detail: str) -> None:
        for listener in list(self.listeners):
            try:
                listener(alert_id, status, detail)
            except Exception:  # a broken screen must not stop delivery
                log.exception("alert status listener failed")

    async def deliver_next(self, channel: str) -> bool:
        """Send the channel's head row if it is due; True if a row changed state."""
        notifier = self.notifiers[channel]
        now = self.clock()
        if self._rate_wait_ns(channel, now):
            return False
        row = self.store.claim_alert(channel, now)
        if row is None:
            return False
        alert_id, attempts = int(row["id"]), int(row["attempts"])
        try:
            result = await notifier.send(row_to_alert(row))
        except asyncio.CancelledError:
            raise  # the row stays 'sending' and is reconciled as 'unknown' on restart
        except Exception as exc:  # a notifier bug: outcome unknowable
            result = DeliveryResult(
                False, error=f"{type(exc).__name__}: {exc}", maybe_delivered=True
            )
        self._record(alert_id, attempts, result)
        return True

    def _record(self, alert_id: int, attempts: int, result: DeliveryResult) -> None:
        error = redact(result.error)
        now = self.clock()
        if result.ok:
            self.store.mark_alert_sent(alert_id, result.message_id or "", now)
            status, detail = "sent", result.message_id or ""
        elif result.maybe_delivered:
            detail = f"may have been delivered, not resent: {error}"
            if result.message_id:
                detail += f" (message ids {result.message_id})"
            self.store.mark_alert_failed(alert_id, detail, status="unknown")
            status = "unknown"
        elif result.permanent:
            self.store.mark_alert_failed(alert_id, error)
            status, detail = "failed", error
        elif result.retry_after_s is None and attempts >= self.config.max_attempts:
            detail = f"gave up after {attempts} attempts: {error}"
            self.store.mark_alert_failed(alert_id, detail)
            status = "failed"
        else:
            if result.retry_after_s is not None:
                delay = max(0.0, float(result.retry_after_s))
            else:
                delay = backoff_s(attempts, self.config.retry_base_s, self.config.retry_max_s)
            detail = f"{error}; retry in {delay:g} s"
            self.store.mark_alert_retry(alert_id, error, now + int(delay * SECOND_NS))
            status = "retry"
        level = logging.INFO if status == "sent" else logging.WARNING
        log.log(level, "alert %d %s: %s", alert_id, status, detail)
        self._emit(alert_id, status, detail)

    async def deliver_due(self) -> int:
        """Deliver everything that is due now, channel by channel; returns rows handled."""
        handled = 0
        for channel in self.notifiers:
            while await self.deliver_next(channel):
                handled += 1
        return handled

    def next_due_ns(self) -> int | None:
        """When something will next be deliverable (None: nothing queued for our channels)."""
        now = self.clock()
        due: list[int] = []
        for channel in self.notifiers:
            head = self.store.head_alert(channel)
            if head is None or head["status"] != "pending":
                continue
            due.append(max(int(head["next_attempt_ns"]), now + self._rate_wait_ns(channel, now)))
        return min(due) if due else None

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Deliver until ``stop`` is set (or the task is cancelled)."""
        stop = stop or asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.reconcile()
        while not stop.is_set():
            self._wakeup.clear()
            wait = self.poll_s
            try:
                await self.deliver_due()
                nxt = self.next_due_ns()
            except Exception:  # the store was busy or broken: log, wait, try again
                self.errors += 1
                log.exception("alert relay pass failed")
            else:
                if nxt is not None:
                    wait = min(wait, max(0.0, (nxt - self.clock()) / SECOND_NS))
            stopper = asyncio.ensure_future(stop.wait())
            waker = asyncio.ensure_future(self._wakeup.wait())
            try:
                await asyncio.wait({stopper, waker}, timeout=wait, return_when="FIRST_COMPLETED")
            finally:
                stopper.cancel()
                waker.cancel()

    async def close(self) -> None:
        for notifier in self.notifiers.values():
            closer = getattr(notifier, "close", None)
            if closer is not None:
                await closer()
