"""The Telegram relay and command bot as one service, run by ``qws telegram serve`` and by the
workstation itself when Telegram is configured.

It owns the outbox sender, the command bot and the daily summary; callers hook in through
``outbox`` (publish alerts, listen to delivery status); pass the process's one
:class:`KillSwitch` so a /kill reaches whatever else hangs on it (the OMS cancels its orders).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from workstation.alerts.builders import risk_alert
from workstation.alerts.daily_summary import run_daily_summary
from workstation.alerts.relay import Outbox, RelayConfig
from workstation.alerts.telegram_control import (
    CommandDesk,
    OrderHandler,
    OrderPreview,
    TelegramControl,
)
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.trading.killswitch import KillSwitch


class TelegramService:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        token: str,
        kill_switch: KillSwitch | None = None,
        outbox: Outbox | None = None,
        order_handler: OrderHandler | None = None,
        order_preview: OrderPreview | None = None,
        on_pause: Callable[[bool, str], None] | None = None,
        desk: CommandDesk | None = None,
    ) -> None:
        """With ``outbox`` (the runtime's), this delivers what the runtime queues and the
        runtime announces the kill switch itself; alone, it announces a /kill."""
        from plugins.notifiers.telegram import TelegramNotifier

        api_url = str(settings.get("telegram.api_url"))
        timeout = float(settings.get("telegram.timeout_s", 10.0))
        notifiers = [
            TelegramNotifier(token, int(c), api_url=api_url, timeout_s=timeout)
            for c in settings.get("telegram.chat_ids", [])
        ]
        self.settings = settings
        if outbox is None:
            self.outbox = Outbox(store, notifiers, RelayConfig.from_settings(settings))
        else:
            outbox.attach(notifiers)
            self.outbox = outbox
        self.control = TelegramControl(
            store,
            settings,
            token,
            kill_switch=kill_switch,
            order_handler=order_handler,
            order_preview=order_preview,
            on_pause=on_pause,
            desk=desk,
        )
        if outbox is None:
            self.control.kill.register(self._announce_kill)
        self._stop = asyncio.Event()

    def _announce_kill(self, actor: str, reason: str) -> None:
        self.outbox.publish(
            risk_alert("Kill switch engaged", f"by {actor}: {reason}", self.outbox.clock())
        )

    async def run(self) -> None:
        """Deliver alerts and answer commands until :meth:`stop` (or cancellation)."""
        settings = self.settings
        await self.control.start()
        summary = asyncio.create_task(
            run_daily_summary(
                self.outbox,
                str(settings.get("trading.broker", "paper")),
                str(settings.get("telegram.summary_time_utc", "21:00")),
                self._stop,
            )
        )
        try:
            await self.outbox.run(self._stop)
        finally:
            self._stop.set()
            await summary
            await self.control.stop()
            await self.outbox.close()

    def stop(self) -> None:
        self._stop.set()
