"""Feed health: dropped-input counters per reason and connection state, readable by the UI.

Every live feed owns a :class:`FeedHealth`. Bad input (malformed JSON, unknown message types,
out-of-order or duplicate events, NaN or zero prices...) is dropped and counted under a short
reason; the first drop of a reason is logged, then at most once per ``log_every_s`` per reason
with the count since, so a flood of garbage never floods the log. :func:`snapshot` returns
every live feed's counters for ``qws doctor --live`` and the status bar.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("qws.feeds")

_REGISTRY: weakref.WeakValueDictionary[int, FeedHealth] = weakref.WeakValueDictionary()
_REGISTRY_LOCK = threading.Lock()


@dataclass(slots=True)
class _Reason:
    count: int = 0
    logged_count: int = 0
    last_log: float = float("-inf")
    last_detail: str = ""


@dataclass(slots=True, weakref_slot=True)
class FeedHealth:
    """Counters for one feed. Thread-safe: the MT5 feed counts from its polling thread."""

    name: str
    log_every_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    logger: logging.Logger = field(default=log)
    state: str = "idle"
    connects: int = 0
    reconnects: int = 0
    backfilled_bars: int = 0
    messages: int = 0
    last_message_at: float | None = None
    last_error: str = ""
    _drops: dict[str, _Reason] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        with _REGISTRY_LOCK:
            _REGISTRY[id(self)] = self

    def drop(self, reason: str, detail: str = "") -> None:
        """Count one dropped input; log it if this reason was not logged in the last period."""
        now = self.clock()
        with self._lock:
            entry = self._drops.setdefault(reason, _Reason())
            entry.count += 1
            entry.last_detail = detail[:200]
            due = now - entry.last_log >= self.log_every_s
            if due:
                since = entry.count - entry.logged_count
                entry.logged_count = entry.count
                entry.last_log = now
        if due:
            self.logger.warning(
                "%s: dropped %d input(s) (%s)%s",
                self.name,
                since,
                reason,
                f": {detail[:200]}" if detail else "",
            )

    def seen(self) -> None:
        self.messages += 1
        self.last_message_at = self.clock()

    def drops(self) -> dict[str, int]:
        with self._lock:
            return {reason: r.count for reason, r in self._drops.items()}

    @property
    def dropped(self) -> int:
        return sum(self.drops().values())

    def as_dict(self) -> dict[str, Any]:
        age = None if self.last_message_at is None else self.clock() - self.last_message_at
        return {
            "name": self.name,
            "state": self.state,
            "connects": self.connects,
            "reconnects": self.reconnects,
            "messages": self.messages,
            "backfilled_bars": self.backfilled_bars,
            "last_message_age_s": age,
            "last_error": self.last_error,
            "drops": self.drops(),
        }


def snapshot() -> list[dict[str, Any]]:
    """Counters and state of every feed alive in this process (for doctor and the status bar)."""
    with _REGISTRY_LOCK:
        feeds = list(_REGISTRY.values())
    return [h.as_dict() for h in feeds]
