"""Feed health: dropped-input counters per reason and connection state, readable by the UI.

Every live feed owns a :class:`FeedHealth`. Bad input (malformed JSON, unknown message types,
out-of-order or duplicate events, NaN or zero prices...) is dropped and counted under a short
reason; the first drop of a reason is logged, then at most once per ``log_every_s`` per reason
with the count since, so a flood of garbage never floods the log. Closed bars a feed knows
it missed and could not fetch are kept as :class:`Gap` records until they are filled.
:func:`snapshot` returns every live feed's counters for ``qws doctor --live`` and the status bar.
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

STREAM_ENDED = "stream ended"
"""Why a stream stopped when it reached its end: for a feed that plays once (a replay, a
timed load) that is the feed finishing, not an error."""


@dataclass(slots=True)
class _Reason:
    count: int = 0
    logged_count: int = 0
    last_log: float = float("-inf")
    last_detail: str = ""


@dataclass(frozen=True, slots=True)
class Gap:
    """Closed bars of ``symbol`` opening in ``[start_ns, end_ns)`` that were not delivered."""

    symbol: str
    start_ns: int
    end_ns: int
    bars: int
    reason: str

    def describe(self) -> str:
        first = time.strftime("%Y-%m-%d %H:%M", time.gmtime(self.start_ns / 1e9))
        until = time.strftime("%Y-%m-%d %H:%M", time.gmtime(self.end_ns / 1e9))
        if until[:10] == first[:10]:
            until = until[11:]
        return (
            f"{self.symbol}: {self.bars} bar(s) missing from {first} until {until} UTC"
            f" ({self.reason})"
        )


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
    gaps_filled: int = 0
    _drops: dict[str, _Reason] = field(default_factory=dict)
    _gaps: dict[tuple[str, int], Gap] = field(default_factory=dict)
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

    def open_gap(self, gap: Gap) -> None:
        """Record (or update: same symbol and start) a hole being backfilled or left open."""
        with self._lock:
            self._gaps[(gap.symbol, gap.start_ns)] = gap

    def close_gap(self, symbol: str, start_ns: int) -> None:
        with self._lock:
            if self._gaps.pop((symbol, start_ns), None) is not None:
                self.gaps_filled += 1

    def gaps(self) -> list[Gap]:
        """The holes not filled (yet), oldest first."""
        with self._lock:
            return sorted(self._gaps.values(), key=lambda g: (g.start_ns, g.symbol))

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
            "gaps_filled": self.gaps_filled,
            "gaps": [
                {
                    "symbol": g.symbol,
                    "start_ns": g.start_ns,
                    "end_ns": g.end_ns,
                    "bars": g.bars,
                    "reason": g.reason,
                    "text": g.describe(),
                }
                for g in self.gaps()
            ],
        }


def snapshot() -> list[dict[str, Any]]:
    """Counters and state of every feed alive in this process (for doctor and the status bar)."""
    with _REGISTRY_LOCK:
        feeds = list(_REGISTRY.values())
    return [h.as_dict() for h in feeds]
