"""The alert relay: queues alerts (:mod:`workstation.alerts.builders` makes them) in the
store's ``alerts`` outbox, one row per channel, and drives the notifiers that deliver them.

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
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.model import Action, Alert, DeliveryResult, Instrument, Severity, Signal
from engine.protocols import Notifier
from workstation.alerts.builders import signal_alert
from workstation.runtime.config import Settings
from workstation.runtime.secrets import redact
from workstation.store import Store
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
    "sentiment": "news",
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


# -- the outbox -------------------------------------------------------------------------------
def configured_channels(settings: Settings) -> list[str]:
    """The outbox channels of the configured Telegram chats (``telegram:<chat id>``)."""
    return [f"telegram:{c}" for c in settings.get("telegram.chat_ids", []) or []]


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
        channels: Sequence[str] = (),
    ) -> None:
        """``channels`` are queued for even before a notifier for them is attached (a headless
        command queues; the relay that runs later delivers)."""
        self.store = store
        self.config = config or RelayConfig()
        self.notifiers = {_channel(n): n for n in notifiers}
        self.channels = list(dict.fromkeys([*channels, *self.notifiers]))
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
        for channel in self.channels:
            row = self.store.alerts.enqueue(alert, channel, key, window)
            if row is None:
                self.deduplicated += 1
            else:
                ids.append(row)
        self._wake()
        return ids

    def attach(self, notifiers: Sequence[Notifier]) -> None:
        """Deliver with ``notifiers`` from now on (their channels are queued for too)."""
        for n in notifiers:
            self.notifiers[_channel(n)] = n
        self.channels = list(dict.fromkeys([*self.channels, *self.notifiers]))

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
        ids = self.store.alerts.reconcile_sending(UNKNOWN_AFTER_RESTART)
        for alert_id in ids:
            log.warning("alert %d: %s", alert_id, UNKNOWN_AFTER_RESTART)
            self._emit(alert_id, "unknown", UNKNOWN_AFTER_RESTART)
        return ids

    def _rate_wait_ns(self, channel: str, now: int) -> int:
        cap = self.config.rate_per_window
        if cap <= 0:
            return 0
        window = int(self.config.rate_window_s * SECOND_NS)
        times = self.store.alerts.sent_times(channel, now - window)
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
        row = self.store.alerts.claim(channel, now)
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
            self.store.alerts.mark_sent(alert_id, result.message_id or "", now)
            status, detail = "sent", result.message_id or ""
        elif result.maybe_delivered:
            detail = f"may have been delivered, not resent: {error}"
            if result.message_id:
                detail += f" (message ids {result.message_id})"
            self.store.alerts.mark_failed(alert_id, detail, status="unknown")
            status = "unknown"
        elif result.permanent:
            self.store.alerts.mark_failed(alert_id, error)
            status, detail = "failed", error
        elif result.retry_after_s is None and attempts >= self.config.max_attempts:
            detail = f"gave up after {attempts} attempts: {error}"
            self.store.alerts.mark_failed(alert_id, detail)
            status = "failed"
        else:
            if result.retry_after_s is not None:
                delay = max(0.0, float(result.retry_after_s))
            else:
                delay = backoff_s(attempts, self.config.retry_base_s, self.config.retry_max_s)
            detail = f"{error}; retry in {delay:g} s"
            self.store.alerts.mark_retry(alert_id, error, now + int(delay * SECOND_NS))
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
            head = self.store.alerts.head(channel)
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
