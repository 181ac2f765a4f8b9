"""Keeps the order manager in step with the market while the app runs.

:func:`run_execution` reconciles once at start, then routes every quote and book from the hub
to a broker that simulates fills (the paper broker's ``on_tick``/``on_book``) and lets the order
manager pick up what changed; remote brokers are polled every ``poll_s`` instead, and reconciled
in full when they answer again after being unreachable (a reconnect). Discrepancies go to
``on_discrepancy`` (the screen shows them) as well as to the audit log.

Quotes reach the hub conflated per symbol, so under back-pressure the paper broker sees fewer
trades: resting limits then fill *less*, never more, than the market allowed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from engine.model import OrderBook, Tick
from engine.protocols import BrokerError
from workstation.runtime.hub import Hub
from workstation.trading.oms import Discrepancy, OrderManager


async def run_execution(
    hub: Hub,
    oms: OrderManager,
    poll_s: float = 2.0,
    min_sync_interval_s: float = 0.1,
    on_discrepancy: Callable[[Discrepancy], None] | None = None,
    account_ccy: str = "USD",
    fx_pegs: Mapping[str, float] | None = None,
    equity_every_s: float = 60.0,
) -> None:
    """Run until cancelled. Records an equity point every ``equity_every_s`` (the daily loss
    limit and the equity curve read them)."""
    report = on_discrepancy or (lambda _d: None)
    equity_task = asyncio.create_task(_record_equity(oms, account_ccy, fx_pegs, equity_every_s))
    try:
        await _route(hub, oms, poll_s, min_sync_interval_s, report)
    finally:
        equity_task.cancel()


async def _record_equity(
    oms: OrderManager, account_ccy: str, pegs: Mapping[str, float] | None, every_s: float
) -> None:
    while True:
        value = oms.equity(account_ccy, oms.rates(pegs))
        if value is not None:
            oms.record_equity(value)
        await asyncio.sleep(every_s)


async def _route(
    hub: Hub,
    oms: OrderManager,
    poll_s: float,
    min_sync_interval_s: float,
    report: Callable[[Discrepancy], None],
) -> None:
    for d in await oms.reconcile():
        report(d)
    broker = oms.broker
    on_tick = getattr(broker, "on_tick", None)
    on_book = getattr(broker, "on_book", None)
    if on_tick is None:
        await _poll(oms, poll_s, report)
        return
    sub = hub.subscribe("execution", lossless=True)
    last_sync = 0.0
    try:
        async for event in sub:
            if isinstance(event, Tick):
                on_tick(event)
            elif isinstance(event, OrderBook) and on_book is not None:
                on_book(event)
            else:
                continue
            now = time.monotonic()
            if now - last_sync >= min_sync_interval_s and oms.store.orders.find(
                open_only=True, venue=oms.venue, limit=1
            ):
                last_sync = now
                for d in await oms.sync():
                    report(d)
    finally:
        hub.unsubscribe(sub)


async def _poll(oms: OrderManager, poll_s: float, report: Callable[[Discrepancy], None]) -> None:
    """Sync on a timer; after the venue was unreachable, reconcile in full once it answers
    again (whatever happened meanwhile, e.g. a fill or a cancel that never got its reply)."""
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
