"""Keeping the order manager in step with a venue that fills on its own (a real exchange or
MetaTrader): sync on a timer, and reconcile in full when it answers again after being
unreachable (whatever happened meanwhile, e.g. a fill or a cancel that never got its reply).

A simulated venue (the paper broker) is driven by the runtime's market loop instead
(:mod:`workstation.trader.runtime`), which hands it every quote and book in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from engine.protocols import BrokerError
from workstation.trading.oms import Discrepancy, OrderManager


async def poll_venue(
    oms: OrderManager, poll_s: float, report: Callable[[Discrepancy], None]
) -> None:
    """Run until cancelled; discrepancies go to ``report`` (and the audit log)."""
    degraded = False
    while True:
        await asyncio.sleep(poll_s)
        try:
            found = await (oms.reconcile() if degraded else oms.sync())
        except (BrokerError, OSError) as exc:
            if not degraded:
                oms.store.audit.add("oms", "broker.unreachable", oms.venue, {"error": str(exc)})
            degraded = True
            continue
        if degraded:
            oms.store.audit.add("oms", "broker.reachable", oms.venue)
        degraded = False
        for d in found:
            report(d)
