"""Order management: the order state machine, persisted before every broker call, with
pre-trade risk, a kill switch, brackets, and reconciliation with the broker.

The rules that keep money safe:

- Every transition is written in a ``Store.durable()`` (synchronous=FULL) transaction, with
  its audit-log line, *before* the next step. The intent (NEW -> SUBMITTING) is on disk
  before the broker is called, so a crash at any point leaves either nothing at the broker
  or an order we know the client id of.
- Client ids are generated once and reused on every retry; brokers are idempotent on them,
  so a retried submit after a timeout never makes a second order.
- A broker failure whose outcome is unknown (timeout, 5xx) leaves the order SUBMITTING;
  :meth:`OrderManager.reconcile` (on start and after every reconnect) looks it up by client id.
- Fills are recorded once (``(venue, fill_id)`` is unique) and each new fill moves the local
  position in the same transaction, so replaying fills is harmless.
- Illegal transitions (e.g. FILLED -> OPEN) are refused and reported as discrepancies.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from engine.model import (
    Fill,
    Instrument,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
    to_decimal,
)
from engine.protocols import Broker, BrokerError, BrokerUnavailable, OrderNotFound, OrderRejected
from engine.trading.portfolio import apply_fill, fx_rate
from engine.trading.risk import RiskContext, RiskDecision, RiskLimits, check_order
from workstation.store import Store
from workstation.trading.killswitch import KILL_SWITCH_KEY, KillSwitch

log = logging.getLogger(__name__)

S = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.NEW: frozenset({S.SUBMITTING, S.REJECTED, S.CANCELLED}),
    S.SUBMITTING: frozenset(
        {S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED}
    ),
    S.OPEN: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED, S.REJECTED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}
ACTOR = "oms"
FILL_LOOKBACK_NS = 300_000_000_000


class OmsError(Exception):
    """An order the workstation refuses to send (kill switch, live trading off, unconfirmed)."""


class IllegalTransition(OmsError):
    pass


def check_transition(old: OrderStatus, new: OrderStatus) -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"order cannot go from {old} to {new}")


def new_client_id() -> str:
    """24 characters of [a-z0-9-]: fits Binance's 36-char clientOrderId and MT5's comment."""
    return f"qws-{uuid.uuid4().hex[:20]}"


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """Something the venue says that our records did not: shown to the user, kept in the audit."""

    kind: str
    subject: str
    detail: str
    data: dict[str, Any] = field(default_factory=dict, compare=False)


ConfirmFn = Callable[[Order], bool | Awaitable[bool]]
OrderListener = Callable[[Fill | Order], None]


class OrderManager:
    """One broker, one store. Use from one event loop; calls are serialised by a lock."""

    def __init__(
        self,
        store: Store,
        broker: Broker,
        instruments: Callable[[str], Instrument],
        marks: Callable[[str], float | None] = lambda _s: None,
        limits: RiskLimits | None = None,
        live_enabled: bool = False,
        confirm_live: bool = True,
        confirm: ConfirmFn | None = None,
        kill_switch_default: bool = False,
        kill_switch: KillSwitch | None = None,
        clock: Callable[[], int] = time.time_ns,
        actor: str = "user",
    ) -> None:
        self.store = store
        self.broker = broker
        self.venue = broker.name
        self.instruments = instruments
        self.marks = marks
        self.limits = limits or RiskLimits()
        self.live_enabled = live_enabled
        self.confirm_live = confirm_live
        self.confirm = confirm
        self.clock = clock
        self.actor = actor
        self._kill_default = kill_switch_default
        # how long a SUBMITTING order may be in flight before "not at the venue" means it never
        # got there (Binance refuses requests older than its recvWindow; paper is synchronous)
        self._submit_grace_ns = int(float(getattr(broker, "submit_grace_s", 0.0)) * 1e9)
        self._lock = asyncio.Lock()
        self._engaging = False
        self._cancelled: list[Order] = []
        self.kill = kill_switch or KillSwitch(store)
        self.kill.register(self._on_kill)
        self.listeners: list[OrderListener] = []
        """Called with each new fill and each order that ends REJECTED, after it is on disk
        (the screen's log and the Telegram relay hang here). A failing listener is logged."""

    def _emit(self, event: Fill | Order) -> None:
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                log.exception("order listener %r failed", listener)

    # -- kill switch ---------------------------------------------------------------------------
    @property
    def kill_switch(self) -> bool:
        return bool(self.store.settings.get(KILL_SWITCH_KEY, self._kill_default))

    async def set_kill_switch(self, on: bool, reason: str = "") -> list[Order]:
        """Engage (cancel every open order, block new ones) or release the kill switch.
        Engaging through :attr:`kill` from elsewhere (Telegram, a key binding) does the same."""
        if not on:
            self.kill.release(self.actor, reason)
            return []
        self._cancelled = []
        await self.kill.engage(self.actor, reason)
        return self._cancelled

    @property
    def last_cancelled(self) -> list[Order]:
        """The orders the last engagement of the kill switch cancelled."""
        return list(self._cancelled)

    async def _on_kill(self, actor: str, reason: str) -> None:
        if self._engaging:  # engaged from inside a submit, which holds the lock already
            self._cancelled = await self._cancel_open()
            return
        async with self._lock:
            self._cancelled = await self._cancel_open()

    async def cancel_working(self) -> list[Order]:
        """Cancel every working order (the kill switch was engaged elsewhere, e.g. by another
        process: this process's hooks did not run)."""
        async with self._lock:
            return await self._cancel_open()

    async def _cancel_open(self) -> list[Order]:
        cancelled = []
        for order in self.store.orders.find(open_only=True, venue=self.venue):
            if order.status is not S.SUBMITTING:
                cancelled.append(await self._cancel(order.client_id))
        return cancelled

    # -- placing orders ------------------------------------------------------------------------
    def build(
        self,
        symbol: str,
        side: Side,
        qty: Decimal | str | float,
        type: OrderType = OrderType.MARKET,
        price: Decimal | str | float | None = None,
        stop: Decimal | str | float | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        sl: Decimal | str | float | None = None,
        tp: Decimal | str | float | None = None,
        client_id: str | None = None,
    ) -> Order:
        def dec(v: Decimal | str | float | None) -> Decimal | None:
            return None if v is None else to_decimal(v)

        return Order(
            client_id or new_client_id(),
            symbol,
            side,
            type,
            to_decimal(qty),
            dec(price),
            dec(stop),
            tif,
            S.NEW,
            self.venue,
            sl=dec(sl),
            tp=dec(tp),
            ts_ns=self.clock(),
        )

    async def submit(self, order: Order, reduce_only: bool = False) -> Order:
        """Check, persist the intent, send, record the venue's answer. Idempotent on client id:
        a client id already in the store is never sent as a new order."""
        async with self._lock:
            return await self._submit(order, reduce_only)

    async def _submit(
        self, order: Order, reduce_only: bool = False, confirmed: bool = False
    ) -> Order:
        known = self.store.orders.get(order.client_id)
        if known is not None:
            return known
        order = replace(order, venue=self.venue, status=S.NEW, ts_ns=order.ts_ns or self.clock())
        refusal = await self._refusal(order, reduce_only, confirmed)
        if refusal:
            return self._reject(order, refusal)
        with self.store.durable():
            self.store.orders.save(order)
            self.store.audit.add(self.actor, "order.intent", order.client_id, _order_detail(order))
            order = self._transition(order, S.SUBMITTING)
        try:
            remote = await self.broker.submit(order)
        except OrderRejected as exc:
            return self._save(order, S.REJECTED, reason=str(exc))
        except (BrokerUnavailable, OSError, TimeoutError) as exc:
            self.store.audit.add(ACTOR, "order.unknown", order.client_id, {"error": str(exc)})
            return order
        except BrokerError as exc:  # the venue answered, with an error: nothing was placed
            return self._save(order, S.REJECTED, reason=str(exc))
        await self._apply_remote(order, remote)
        await self._pull_fills()
        await self._after_update()
        return self.store.orders.get(order.client_id) or order

    def preview(self, order: Order, reduce_only: bool = False) -> RiskDecision:
        """The one pre-trade check: what :meth:`submit` will decide for ``order`` now, without
        sending, storing or asking anything. The ticket, the CLI, Telegram and strategies all
        ask here, so they give the same answer as the order manager itself.

        ``trip_kill_switch`` says the daily loss limit is reached (submit engages the switch).
        A live order that passes still needs its confirmation (``confirm_live``)."""
        position = self._position_qty(order.symbol)
        reduces = position != 0 and order.side.sign * position < 0 and order.qty <= abs(position)
        if reduce_only and not reduces:
            return RiskDecision(
                False, f"reduce-only order would not reduce the {order.symbol} position"
            )
        if self.kill_switch and not (reduce_only and reduces):
            return RiskDecision(
                False, "kill switch is on: new orders are blocked (qws kill off to release)"
            )
        if getattr(self.broker, "live", True) and not self.live_enabled:
            return RiskDecision(
                False, "live trading is off: set trading.live = true in the config to enable it"
            )
        try:
            inst = self.instruments(order.symbol)
        except (KeyError, LookupError, ValueError) as exc:
            return RiskDecision(False, f"unknown instrument {order.symbol}: {exc}")
        price = order.price if order.type is OrderType.LIMIT else order.stop
        mark = self.marks(order.symbol)
        ref = float(price) if price is not None else (mark if mark is not None else math.nan)
        decision = check_order(order, inst, ref, self.limits, self._risk_context())
        if not decision.ok and reduce_only and reduces and decision.trip_kill_switch:
            return RiskDecision(True, decision.reason, trip_kill_switch=True)
        return decision

    async def _refusal(self, order: Order, reduce_only: bool, confirmed: bool = False) -> str:
        decision = self.preview(order, reduce_only)
        if decision.trip_kill_switch and not self.kill_switch:
            await self._engage_from_risk(decision.reason)
        if not decision.ok:
            return decision.reason
        if getattr(self.broker, "live", True) and self.confirm_live and not confirmed:
            ok = False
            if self.confirm is not None:
                answer = self.confirm(order)
                ok = bool(await answer) if inspect.isawaitable(answer) else bool(answer)
            if not ok:
                return "live order not confirmed"
        return ""

    async def _engage_from_risk(self, reason: str) -> None:
        self._engaging = True
        self._cancelled = []
        try:
            await self.kill.engage("risk", reason)
        finally:
            self._engaging = False
        await self._cancel_open()  # whatever a failing hook left working

    def _risk_context(self) -> RiskContext:
        now = self.clock()
        positions = {p.symbol: float(p.qty) for p in self.store.positions.find(self.venue) if p.qty}
        marks = {s: m for s in positions if (m := self.marks(s)) is not None}
        recent = [
            o.ts_ns
            for o in self.store.orders.find(venue=self.venue, limit=500)
            if now - o.ts_ns < 6e10
        ]
        return RiskContext(positions, marks, recent, self.daily_pnl(), now)

    def daily_pnl(self) -> float:
        """Equity now minus equity at the first point of the UTC day (0 without points)."""
        day_start = self.clock() // 86_400_000_000_000 * 86_400_000_000_000
        span = self.store.equity.first_last(self.venue, day_start)
        return span[1] - span[0] if span is not None else 0.0

    def _reject(self, order: Order, reason: str) -> Order:
        with self.store.durable():
            self.store.orders.save(order)
            rejected = self._transition(order, S.REJECTED, reason=reason)
        self._emit(rejected)
        return rejected

    # -- transitions ---------------------------------------------------------------------------
    def _transition(self, order: Order, status: OrderStatus, **changes: Any) -> Order:
        """Move ``order`` to ``status`` (must run inside ``durable()``) and audit it."""
        if status != order.status:
            check_transition(order.status, status)
        new = replace(order, status=status, **changes)
        self.store.orders.save(new)
        detail = {
            "from": str(order.status),
            "to": str(status),
            **{k: v for k, v in changes.items()},
        }
        self.store.audit.add(self.actor, "order.status", order.client_id, detail)
        return new

    def _save(self, order: Order, status: OrderStatus, **changes: Any) -> Order:
        with self.store.durable():
            new = self._transition(order, status, **changes)
        if status is OrderStatus.REJECTED and order.status is not OrderStatus.REJECTED:
            self._emit(new)
        return new

    async def _apply_remote(self, local: Order, remote: Order, why: str = "") -> Discrepancy | None:
        """Bring ``local`` to the venue's view of it. Returns a discrepancy if it was refused."""
        same = (
            remote.status == local.status
            and remote.filled_qty == local.filled_qty
            and remote.broker_id == local.broker_id
        )
        if same:
            return None
        if remote.status != local.status and remote.status not in TRANSITIONS[local.status]:
            d = Discrepancy(
                "illegal_transition",
                local.client_id,
                f"venue reports {remote.status}, we have {local.status}; kept ours",
            )
            self._audit_discrepancy(d)
            return d
        changes = {
            "filled_qty": remote.filled_qty,
            "avg_price": remote.avg_price,
            "broker_id": remote.broker_id or local.broker_id,
            "reason": remote.reason or local.reason,
        }
        with self.store.durable():
            new = self._transition(local, remote.status, **changes)
            if why:
                self.store.audit.add(ACTOR, "order.reconciled", local.client_id, {"why": why})
        if new.status is S.REJECTED and local.status is not S.REJECTED:
            self._emit(new)
        if why:
            return Discrepancy(
                "changed_while_away",
                local.client_id,
                f"{local.status} -> {remote.status} ({remote.filled_qty}/{remote.qty} filled)",
            )
        return None

    # -- fills and positions -------------------------------------------------------------------
    def _position_qty(self, symbol: str) -> Decimal:
        for p in self.store.positions.find(self.venue):
            if p.symbol == symbol:
                return p.qty
        return Decimal(0)

    def record_fill(self, fill: Fill, emit: bool = True) -> bool:
        """Record one fill and move the position, atomically; False if already recorded."""
        with self.store.durable():
            if not self.store.fills.add(fill, self.venue):
                return False
            current = next(
                (p for p in self.store.positions.find(self.venue) if p.symbol == fill.symbol), None
            )
            try:
                inst: Instrument | None = self.instruments(fill.symbol)
            except (KeyError, LookupError, ValueError):
                inst = None
            self.store.positions.save(apply_fill(current, fill, self.venue, inst))
            self.store.audit.add(
                ACTOR,
                "fill",
                fill.client_id,
                {"fill_id": fill.fill_id, "qty": fill.qty, "price": fill.price, "fee": fill.fee},
            )
        if emit:
            self._emit(fill)
        return True

    async def _pull_fills(self) -> list[Fill]:
        fetch = getattr(self.broker, "fills", None)
        if fetch is None:
            return []
        last = self.store.fills.last_ts(self.venue)
        # a margin for venue clocks that stamp late; recording a fill twice is a no-op
        since = last - FILL_LOOKBACK_NS if last is not None else None
        fetched = await fetch(since)
        # the look-back returns fills already recorded: skip them before any durable commit
        known = self.store.fills.ids_since(self.venue, since) if fetched else set()
        fresh = [f for f in fetched if (f.fill_id or f"{f.client_id}:{f.ts_ns}") not in known]
        new = [f for f in fresh if self.record_fill(f, emit=False)]
        if new:
            # cash moved with the fills: listeners (equity marks) must see the new balances
            await self._copy_balances()
        for fill in new:
            self._emit(fill)
        return new

    # -- cancel, flatten, sync -----------------------------------------------------------------
    async def cancel(self, client_id: str) -> Order:
        async with self._lock:
            return await self._cancel(client_id)

    async def _cancel(self, client_id: str) -> Order:
        local = self.store.orders.get(client_id)
        if local is None:
            raise OmsError(f"no order {client_id}")
        if local.status.is_final:
            return local
        self.store.audit.add(self.actor, "order.cancel_requested", client_id)
        try:
            remote = await self.broker.cancel(client_id)
        except OrderNotFound:
            if local.status is S.SUBMITTING:
                return self._save(local, S.CANCELLED, reason="cancelled before reaching the venue")
            raise
        except BrokerError as exc:
            raise OmsError(f"cancel {client_id} failed: {exc}") from exc
        await self._pull_fills()
        await self._apply_remote(local, remote)
        return self.store.orders.get(client_id) or local

    async def flatten(self, symbol: str | None = None) -> list[Order]:
        """Cancel open orders and close positions (all, or one symbol) with market orders."""
        out: list[Order] = []
        async with self._lock:
            for o in self.store.orders.find(open_only=True, venue=self.venue):
                if (symbol is None or o.symbol == symbol) and o.status is not S.SUBMITTING:
                    out.append(await self._cancel(o.client_id))
            for p in self.store.positions.find(self.venue):
                if p.qty == 0 or (symbol is not None and p.symbol != symbol):
                    continue
                side = Side.SELL if p.qty > 0 else Side.BUY
                order = self.build(p.symbol, side, abs(p.qty))
                out.append(await self._submit(order, reduce_only=True))
        return out

    async def sync(self) -> list[Discrepancy]:
        """Pull the venue's view of our open orders and new fills (after market data, or on a
        timer for remote venues)."""
        async with self._lock:
            found = await self._sync_orders(reconciling=False)
            await self._after_update()
            return found

    async def _sync_orders(self, reconciling: bool) -> list[Discrepancy]:
        found: list[Discrepancy] = []
        await self._pull_fills()
        lookup = getattr(self.broker, "order", None)
        for local in self.store.orders.find(open_only=True, venue=self.venue):
            remote = await lookup(local.client_id, local.symbol) if lookup is not None else None
            if remote is None:
                in_flight = self.clock() - local.ts_ns < self._submit_grace_ns
                if reconciling and local.status in (S.SUBMITTING, S.NEW) and not in_flight:
                    d = Discrepancy(
                        "never_reached_venue",
                        local.client_id,
                        "the venue has no such order; marked rejected (never sent)",
                    )
                    self._save(local, S.REJECTED, reason="never reached the venue")
                    self._audit_discrepancy(d)
                    found.append(d)
                elif (
                    reconciling and lookup is not None and local.status not in (S.SUBMITTING, S.NEW)
                ):
                    d = Discrepancy(
                        "missing_at_venue",
                        local.client_id,
                        f"{local.status} here, unknown at the venue; marked cancelled",
                    )
                    self._save(local, S.CANCELLED, reason="unknown at the venue")
                    self._audit_discrepancy(d)
                    found.append(d)
                continue
            changed = await self._apply_remote(local, remote, "reconcile" if reconciling else "")
            if changed is not None:
                found.append(changed)
        return found

    async def reconcile(self) -> list[Discrepancy]:
        """Settle everything that happened while we were away; returns what differed.

        Orders: each local non-final order is looked up by client id and brought to the venue's
        state; orders open at the venue that we never sent are imported. Fills: every venue fill
        since our last is recorded (trades made outside qws included). Positions: compared with
        the venue's, which win. Balances: copied. Everything found goes to the audit log.
        """
        async with self._lock:
            track = getattr(self.broker, "track", None)
            if track is not None:
                track({o.symbol for o in self.store.orders.find(venue=self.venue, limit=10_000)})
            found = await self._sync_orders(reconciling=True)
            for remote in await self.broker.open_orders():
                mine = self.store.orders.get(remote.client_id)
                if mine is not None and mine.status.is_final:
                    found.append(self._revive(mine, remote))
                elif mine is None:
                    d = Discrepancy(
                        "unknown_order_at_venue",
                        remote.client_id,
                        f"{remote.side} {remote.qty} {remote.symbol} {remote.type} open at the"
                        " venue, not placed by qws; imported",
                    )
                    with self.store.durable():
                        self.store.orders.save(replace(remote, venue=self.venue))
                    self._audit_discrepancy(d)
                    found.append(d)
            known = {o.client_id for o in self.store.orders.find(venue=self.venue, limit=1_000_000)}
            for f in self.store.fills.find(venue=self.venue):
                if f.client_id not in known:
                    d = Discrepancy(
                        "external_fill",
                        f.fill_id,
                        f"{f.side} {f.qty} {f.symbol} @ {f.price} made outside qws",
                    )
                    if not self._seen_discrepancy(d):
                        self._audit_discrepancy(d)
                        found.append(d)
            found.extend(await self._reconcile_positions())
            await self._copy_balances()
            await self._after_update()
            self.store.audit.add(ACTOR, "reconciled", self.venue, {"discrepancies": len(found)})
            return found

    def _revive(self, mine: Order, remote: Order) -> Discrepancy:
        """The venue is working an order we hold as final (a submit that arrived after we gave
        up on it, a cancel that never took). The venue is the truth: track it again, loudly."""
        d = Discrepancy(
            "revived",
            mine.client_id,
            f"we had {mine.status} ({mine.reason or 'no reason'}), the venue is working it as"
            f" {remote.status}; tracking it again",
        )
        revived = replace(
            mine,
            status=remote.status,
            filled_qty=remote.filled_qty,
            avg_price=remote.avg_price,
            broker_id=remote.broker_id or mine.broker_id,
            reason="revived: open at the venue",
        )
        with self.store.durable():
            self.store.orders.save(revived)
            self._audit_discrepancy(d)
        return d

    async def _reconcile_positions(self) -> list[Discrepancy]:
        found = []
        remote = {p.symbol: p for p in await self.broker.positions()}
        local = {p.symbol: p for p in self.store.positions.find(self.venue)}
        for symbol in sorted(set(remote) | set(local)):
            r, lp = remote.get(symbol), local.get(symbol)
            rq = r.qty if r else Decimal(0)
            lq = lp.qty if lp else Decimal(0)
            if rq == lq:
                continue
            d = Discrepancy(
                "position_mismatch",
                symbol,
                f"venue has {rq}, we had {lq}; took the venue's",
                {"venue_qty": str(rq), "local_qty": str(lq)},
            )
            base = lp or Position(symbol, Decimal(0), Decimal(0), self.venue)
            fixed = replace(
                base,
                qty=rq,
                avg_price=r.avg_price if r else Decimal(0),
                venue=self.venue,
            )
            with self.store.durable():
                self.store.positions.save(fixed)
                self._audit_discrepancy(d)
            found.append(d)
        return found

    async def _copy_balances(self) -> None:
        exact = getattr(self.broker, "balances", None)
        values = exact() if callable(exact) else None
        if inspect.isawaitable(values):
            values = await values
        if values is None:
            values = {k: to_decimal(v) for k, v in (await self.broker.balance()).items()}
        with self.store.durable():
            for asset, total in values.items():
                self.store.balances.set(self.venue, asset, total)

    def _audit_discrepancy(self, d: Discrepancy) -> None:
        self.store.audit.add(
            ACTOR, f"discrepancy.{d.kind}", d.subject, {"detail": d.detail, **d.data}
        )

    def _seen_discrepancy(self, d: Discrepancy) -> bool:
        return self.store.audit.exists(f"discrepancy.{d.kind}", d.subject)

    def discrepancies(self, limit: int = 50) -> list[dict[str, Any]]:
        """Recent discrepancies from the audit log, newest first (for the UI)."""
        return [
            r for r in self.store.audit.recent(limit * 20) if str(r["action"]).startswith("discrep")
        ][:limit]

    # -- brackets ------------------------------------------------------------------------------
    async def _after_update(self) -> None:
        """Place stop-loss/take-profit children for filled parents; one-cancels-other."""
        for parent in self._bracket_parents():
            for suffix, level in (("sl", parent.sl), ("tp", parent.tp)):
                cid = f"{parent.client_id}-{suffix}"
                if level is None or self.store.orders.get(cid) is not None:
                    continue
                child = self.build(
                    parent.symbol,
                    Side.SELL if parent.side is Side.BUY else Side.BUY,
                    parent.filled_qty,
                    OrderType.STOP if suffix == "sl" else OrderType.LIMIT,
                    price=level if suffix == "tp" else None,
                    stop=level if suffix == "sl" else None,
                    client_id=cid,
                )
                # the parent's confirmation covers its protective orders
                await self._submit(child, reduce_only=True, confirmed=True)
        for a, b in self._bracket_pairs():
            if a.status is S.FILLED and not b.status.is_final:
                await self._cancel(b.client_id)

    def _bracket_parents(self) -> Iterable[Order]:
        for o in self.store.orders.find(venue=self.venue, limit=200):
            if o.status is S.FILLED and (o.sl is not None or o.tp is not None):
                yield o

    def _bracket_pairs(self) -> Iterable[tuple[Order, Order]]:
        for parent in self._bracket_parents():
            sl = self.store.orders.get(f"{parent.client_id}-sl")
            tp = self.store.orders.get(f"{parent.client_id}-tp")
            if sl is not None and tp is not None:
                yield sl, tp
                yield tp, sl

    # -- equity --------------------------------------------------------------------------------
    def rates(self, pegs: Mapping[str, float] | None = None) -> dict[str, float]:
        """FX/crypto pair rates from the marks of every instrument we hold or traded, plus
        explicit ``pegs`` from the settings (e.g. ``{"USDT/USD": 1.0}``)."""
        out = dict(pegs or {})
        for p in self.store.positions.find(self.venue):
            self._add_rate(out, p.symbol)
        for asset in self.store.balances.get(self.venue):
            for symbol in (f"{asset}/USD", f"{asset}USD", f"USD{asset}"):
                self._add_rate(out, symbol)
        return out

    def _add_rate(self, rates: dict[str, float], symbol: str) -> None:
        try:
            inst = self.instruments(symbol)
        except (KeyError, LookupError, ValueError):
            return
        mark = self.marks(symbol)
        if mark and inst.base_ccy and inst.quote_ccy:
            rates[f"{inst.base_ccy}/{inst.quote_ccy}"] = mark

    def equity(self, account_ccy: str, rates: Mapping[str, float]) -> float | None:
        """Cash plus positions at their marks, in ``account_ccy``; None when a mark or rate is
        missing (never a guess)."""
        total = 0.0
        try:
            for asset, amount in self.store.balances.get(self.venue).items():
                if amount:
                    total += float(amount) * fx_rate(asset, account_ccy, rates)
            for p in self.store.positions.find(self.venue):
                if p.qty == 0:
                    continue
                mark = self.marks(p.symbol)
                if mark is None:
                    return None
                quote = self.instruments(p.symbol).quote_ccy
                total += float(p.qty) * mark * fx_rate(quote, account_ccy, rates)
        except (KeyError, LookupError, ValueError):
            return None
        return total

    def record_equity(self, equity: float) -> None:
        self.store.equity.add(self.venue, self.clock(), equity)


def _order_detail(order: Order) -> dict[str, Any]:
    return {
        "symbol": order.symbol,
        "side": str(order.side),
        "type": str(order.type),
        "qty": str(order.qty),
        "price": None if order.price is None else str(order.price),
        "stop": None if order.stop is None else str(order.stop),
        "tif": str(order.tif),
        "sl": None if order.sl is None else str(order.sl),
        "tp": None if order.tp is None else str(order.tp),
    }
