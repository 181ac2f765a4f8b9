"""The one place that turns what happened into alerts: signals, fills, rejections, the kill
switch, pause changes and strategies starting or stopping, whichever client caused them (the
runtime, a CLI command, Telegram, the screen).

Signals are stored first and relayed only if at or above the quality gate; everything else is
queued in the outbox as it happens (delivery is the relay's job, see
:mod:`workstation.alerts.relay`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from engine.model import Alert, Fill, Instrument, Order, Severity, Signal
from workstation.alerts.builders import fill_alert, rejection_alert, risk_alert
from workstation.alerts.relay import Outbox, RelayConfig, configured_channels
from workstation.runtime.config import Settings
from workstation.store import Store

log = logging.getLogger(__name__)

InstrumentLookup = Callable[[str], Instrument]


class Announcer:
    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        instruments: InstrumentLookup | None = None,
        venue: str = "",
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.instruments = instruments
        self.venue = venue

    @classmethod
    def from_settings(
        cls, store: Store, settings: Settings, instruments: InstrumentLookup | None = None
    ) -> Announcer:
        """An announcer whose outbox queues for the configured Telegram chats (no token needed:
        whichever process runs the relay delivers them)."""
        outbox = Outbox(
            store, [], RelayConfig.from_settings(settings), channels=configured_channels(settings)
        )
        return cls(store, outbox, instruments)

    def _instrument(self, symbol: str) -> Instrument | None:
        if self.instruments is None:
            return None
        try:
            return self.instruments(symbol)
        except (KeyError, LookupError, ValueError):
            return None

    def publish(self, alert: Alert) -> list[int]:
        try:
            return self.outbox.publish(alert)
        except Exception:  # an alert must never stop trading; the failure is logged and counted
            self.outbox.errors += 1
            log.exception("could not queue alert %r", alert.title)
            return []

    def signal(self, signal: Signal, venue: str) -> bool:
        """Store the signal, then relay it if it passes the gate; True if it was relayed."""
        signal_id = self.store.signals.add(signal, venue, relayed=False)
        try:
            relayed = bool(self.outbox.publish_signal(signal, self._instrument(signal.symbol)))
        except Exception:
            self.outbox.errors += 1
            log.exception("could not queue the signal alert of %s", signal.symbol)
            return False
        if relayed:
            self.store.signals.mark_relayed(signal_id)
        return relayed

    def order_event(self, event: Fill | Order, ts_ns: int) -> None:
        """A new fill, or an order that ended rejected (the order manager has stored it)."""
        instrument = self._instrument(event.symbol)
        if isinstance(event, Fill):
            self.publish(fill_alert(event, instrument))
        else:
            self.publish(rejection_alert(event, ts_ns, instrument))

    def kill(self, actor: str, reason: str, ts_ns: int, cancelled: int | None = None) -> None:
        body = f"by {actor}: {reason}".rstrip(": ")
        if cancelled is not None:
            body += f"; {cancelled} working order(s) cancelled"
        self.publish(risk_alert("Kill switch engaged", body, ts_ns))

    def kill_released(self, actor: str, ts_ns: int) -> None:
        self.publish(Alert("risk", "Kill switch released", f"by {actor}", ts_ns, Severity.WARNING))

    def paused(self, paused: bool, actor: str, ts_ns: int) -> None:
        title = "Trading paused" if paused else "Trading resumed"
        # critical, so a pause is announced even though pausing stops non-critical alerts
        self.publish(Alert("risk", title, f"by {actor}", ts_ns, Severity.CRITICAL))

    def strategy(self, key: str, running: bool, reason: str, ts_ns: int) -> None:
        title = f"Strategy {'started' if running else 'stopped'}: {key}"
        severity = Severity.INFO if running or not reason else Severity.WARNING
        self.publish(Alert("strategy", title, reason, ts_ns, severity))
