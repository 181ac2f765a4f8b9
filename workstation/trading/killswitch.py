"""The kill switch: one durable flag (``trading.kill_switch`` in the store's settings), an
audit entry for every change, and hooks the order manager registers to act on it (cancel
open orders, refuse new ones). Whoever places orders must check :meth:`KillSwitch.engaged`.

Pausing (``trading.paused`` / ``relay.paused``) is softer: no new strategy entries and no
relaying of non-critical alerts, but orders already working stay.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable

from workstation.store import Store

KILL_SWITCH_KEY = "trading.kill_switch"
TRADING_PAUSED_KEY = "trading.paused"
RELAY_PAUSED_KEY = "relay.paused"

Hook = Callable[[str, str], Awaitable[None] | None]

log = logging.getLogger(__name__)


class KillSwitch:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._hooks: list[Hook] = []

    def register(self, hook: Hook) -> Callable[[], None]:
        """Call ``hook(actor, reason)`` when the switch is engaged; returns an unregister."""
        self._hooks.append(hook)
        return lambda: self._hooks.remove(hook)

    def engaged(self) -> bool:
        return bool(self.store.settings.get(KILL_SWITCH_KEY, False))

    async def engage(self, actor: str, reason: str = "") -> None:
        with self.store.durable():
            self.store.settings.set(KILL_SWITCH_KEY, True, actor=actor)
            self.store.audit.add(actor, "kill_switch", "on", {"reason": reason})
        for hook in list(self._hooks):
            try:
                result = hook(actor, reason)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:  # one failing hook must not stop the rest
                log.exception("kill switch hook %r failed", hook)
                self.store.audit.add(
                    actor, "kill_switch_hook_failed", repr(hook), {"error": str(exc)}
                )

    def release(self, actor: str, reason: str = "") -> None:
        with self.store.durable():
            self.store.settings.set(KILL_SWITCH_KEY, False, actor=actor)
            self.store.audit.add(actor, "kill_switch", "off", {"reason": reason})


def set_paused(store: Store, paused: bool, actor: str) -> None:
    """Stop (or restart) relaying non-critical alerts and new strategy entries."""
    with store.transaction():
        store.settings.set(TRADING_PAUSED_KEY, paused, actor=actor)
        store.settings.set(RELAY_PAUSED_KEY, paused, actor=actor)


def is_paused(store: Store) -> bool:
    return bool(store.settings.get(RELAY_PAUSED_KEY, False))
