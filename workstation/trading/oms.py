"""Order management: the order state machine, persisted before every broker call, with
pre-trade risk, a kill switch, brackets, and reconciliation with the broker.

The rules that keep money safe:

- Every transition is written in a ``Store.durable()`` (synchronous=FULL) transaction, with
  its audit-log line, *before* the next step. The intent (NEW -> SUBMITTING) is on disk
  before the broker is called, so a crash at any point leaves either nothing at the broker
  or an order we know the client id of. The venue's answer, the fills it brought, the
  positions they move and the balances are gathered from the venue first and then written
  in one transaction (no store lock is held across a venue call): a crash leaves all of the
  answer or none of it, and none of it is only the intent, which reconcile settles from the
  venue by client id. That transaction is committed without its own fsync: a killed process
  loses nothing committed (WAL), and a power cut can lose only the newest commits, never one
  before a later FULL commit (the WAL is synced in order), so it can take back the answer
  but never the intent; the venue keeps the order and its fills, and reconcile restores
  them. So a submit pays two fsyncs (the intent here, the venue's own) and no more.
- Client ids are generated once and reused on every retry; brokers are idempotent on them,
  so a retried submit after a timeout never makes a second order.
- A broker failure whose outcome is unknown (timeout, 5xx) leaves the order SUBMITTING;
  :meth:`OrderManager.reconcile` (on start and after every reconnect) looks it up by client id.
- Fills are recorded once (``(venue, fill_id)`` is unique) and each new fill moves the local
  position in the same transaction, so replaying fills is harmless.
- Illegal transitions (e.g. FILLED -> OPEN) are refused and reported as discrepancies.
- A position opened by an order with a stop-loss/take-profit stays protected: after every
  update (and every restart) each open bracket's legs are brought to what is left of its
  position (placed, re-placed under a new client id, resized or cancelled), and the kill
  switch keeps them working. See :meth:`OrderManager._after_update`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import re
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from engine.model import (
    Alert,
    Fill,
    Instrument,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Severity,
    Side,
    TimeInForce,
    to_decimal,
)
from engine.protocols import Broker, BrokerError, BrokerUnavailable, OrderNotFound, OrderRejected
from engine.trading.portfolio import apply_fill, fx_rate
from engine.trading.risk import (
    RiskContext,
    RiskDecision,
    RiskLimits,
    check_order,
    protective_level_problem,
)
from workstation.runtime.processes import is_running, this_process
from workstation.runtime.secrets import redact
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
LEG = re.compile(r"(sl|tp|x)(?:\.([0-9]+))?")
"""A protective leg's client id is its parent's plus ``-sl``, ``-tp`` or ``-x`` (a market exit),
then ``.2``, ``.3``... for the ones placed after it."""
MAX_LEG_REFUSALS = 3
"""Refusals (by the risk check or the venue) of one kind of leg before the order manager stops
re-placing it and says the position cannot be protected."""
NEVER_SENT = "never reached the venue"
IN_FLIGHT_MAX_NS = 600 * 1_000_000_000
"""No submit takes longer (a venue's timeouts and the paper ledger's lock wait are far
shorter): past this, a SUBMITTING order is settled whichever process wrote it."""
RECENT_MAX = 500
"""The pre-trade check's order rate looks at no more than the newest orders of the last minute."""
STORE_ERRORS = (sqlite3.OperationalError,)
"""The store cannot be written (``database is locked`` after its busy timeout, disk full)."""


class OmsError(Exception):
    """An order the workstation refuses to send (kill switch, live trading off, unconfirmed)."""


class IllegalTransition(OmsError):
    pass


def is_unknown(order: Order) -> bool:
    """The order may or may not be at the venue: its intent is stored, the answer is not
    (a timeout, a venue that did not answer, a store that could not record the answer)."""
    return order.status in (OrderStatus.NEW, OrderStatus.SUBMITTING)


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
VenueFills = tuple[list[Fill], dict[str, Decimal] | None, Any]
"""Read from the venue for :meth:`OrderManager._record_fills`: the fills not recorded yet,
the balances when there are any, and the venue's fill cursor after them (or None)."""
OrderEvent = Fill | Order | Alert
OrderListener = Callable[[OrderEvent], None]


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
        kill_flattens: bool = False,
    ) -> None:
        """``kill_flattens``: engaging the kill switch closes every position (and cancels all
        orders) instead of keeping the protective orders of open positions working."""
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
        self._kept: list[Order] = []
        self._closed: list[Order] = []
        self._protecting = False
        self._held: list[Callable[[], None]] | None = None  # run once _one_commit commits
        # fill ids known to be in the store (rows there are never deleted), with their time
        self._recorded: dict[str, int] = {}
        # a venue that lists its fills after a cursor (the paper account): where this process
        # has recorded them up to (None: not known yet, the time look-back is used)
        self._fill_cursor: Any = None
        self.kill_flattens = kill_flattens
        self.kill = kill_switch or KillSwitch(store)
        self.kill.register(self._on_kill)
        self.listeners: list[OrderListener] = []
        """Called with each new fill, each order that ends REJECTED, after it is on disk, and
        each :class:`~engine.model.Alert` about protection (a leg re-placed after a restart, a
        position closed because its stop was already crossed, one that cannot be protected).
        The screen's log and the Telegram relay hang here. A failing listener is logged."""

    def _emit(self, event: OrderEvent) -> None:
        self._after_commit(lambda: self._deliver(event))

    def _after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` now, or once the open :meth:`_one_commit` has committed."""
        if self._held is not None:
            self._held.append(action)
        else:
            action()

    def _deliver(self, event: OrderEvent) -> None:
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                log.exception("order listener %r failed", listener)

    @contextlib.contextmanager
    def _one_commit(self) -> Iterator[None]:
        """The writes of one venue answer share one transaction (a nested use joins it; the
        ``durable()`` blocks inside join it too); the events they raise reach the listeners
        after it commits, and none if it rolls back. Not fsynced on its own: the answer can
        be restored from the venue (see the module's docstring); the intent cannot."""
        if self._held is not None:
            yield
            return
        self._held = []
        try:
            with self.store.transaction():
                yield
            actions = self._held
        finally:
            self._held = None
        for action in actions:
            action()

    def _durable(self) -> contextlib.AbstractContextManager[object]:
        """``store.durable()``, or nothing inside :meth:`_one_commit`: its transaction is
        open, and a durable block there would only join it."""
        return contextlib.nullcontext() if self._held is not None else self.store.durable()

    # -- working orders ------------------------------------------------------------------------
    _working: bool = False
    _working_seen: tuple[int, int, int] | None = None

    def has_working_orders(self) -> bool:
        """Whether this venue has an order that is not final, placed by any process.

        Asked after every batch of quotes, so the answer is kept and the orders are read again
        only once :meth:`Store.stamp` has moved (another connection committed, or this
        process's writer wrote)."""
        stamp = self.store.stamp()
        if stamp is None or stamp != self._working_seen:
            self._working = bool(self.store.orders.find(open_only=True, venue=self.venue, limit=1))
            self._working_seen = stamp
        return self._working

    # -- kill switch ---------------------------------------------------------------------------
    @property
    def kill_switch(self) -> bool:
        return bool(self.store.settings.get(KILL_SWITCH_KEY, self._kill_default))

    async def set_kill_switch(self, on: bool, reason: str = "") -> list[Order]:
        """Engage (cancel the working entry orders, block new ones, keep the protective orders
        of open positions, or close everything when :attr:`kill_flattens`) or release the kill
        switch. Engaging through :attr:`kill` from elsewhere (Telegram, a key) does the same."""
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

    @property
    def last_kept(self) -> list[Order]:
        """The protective orders the last engagement of the kill switch left working."""
        return list(self._kept)

    @property
    def last_closed(self) -> list[Order]:
        """The orders that closed positions at the last engagement (``kill_flattens``)."""
        return list(self._closed)

    async def _on_kill(self, actor: str, reason: str) -> None:
        if self._engaging:  # engaged from inside a submit, which holds the lock already
            self._cancelled = await self._cancel_open()
            return
        async with self._lock:
            self._cancelled = await self._cancel_open()

    async def cancel_working(self) -> list[Order]:
        """What engaging the kill switch does here (it was engaged elsewhere, e.g. by another
        process: this process's hooks did not run)."""
        async with self._lock:
            self._cancelled = await self._cancel_open()
            return self._cancelled

    async def _cancel_open(self) -> list[Order]:
        """Cancel the working orders, except the legs that protect open positions; with
        :attr:`kill_flattens`, cancel everything and close the positions."""
        self._kept, self._closed = [], []
        if self.kill_flattens:
            out = await self._flatten(None, confirmed=True)  # engaging it asked to close
            self._closed = [o for o in out if o.type is OrderType.MARKET]
            return [o for o in out if o.status is S.CANCELLED]
        protective = self._protective_ids()
        cancelled = []
        for order in self.store.orders.find(open_only=True, venue=self.venue):
            if order.client_id in protective:
                self._kept.append(order)
            elif order.status is not S.SUBMITTING:
                cancelled.append(await self._cancel(order.client_id, "kill switch"))
        return cancelled

    def _protective_ids(self) -> set[str]:
        return {
            leg.client_id
            for parent in self.store.orders.open_brackets(self.venue)
            for _, _, leg in self._legs(parent)
            if not leg.status.is_final
        }

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
        strategy: str = "",
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
            strategy=strategy,
        )

    async def submit(self, order: Order, reduce_only: bool = False) -> Order:
        """Check, persist the intent, send, record the venue's answer. Idempotent on client id:
        a client id already in the store is never sent as a new order."""
        async with self._lock:
            return await self._submit(order, reduce_only)

    async def _submit(
        self, order: Order, reduce_only: bool = False, confirmed: bool = False
    ) -> Order:
        order = replace(order, venue=self.venue, status=S.NEW, ts_ns=order.ts_ns or self.clock())
        with self.store.reading():  # one snapshot: is it known, and the pre-trade check
            known = self.store.orders.get(order.client_id)
            decision = self._preview(order, reduce_only) if known is None else None
        if known is not None:
            return known
        assert decision is not None
        refusal = await self._refusal(order, reduce_only, confirmed, decision)
        if refusal:
            return self._reject(order, refusal)
        try:
            order = self._record_intent(order)
        except STORE_ERRORS as exc:
            raise OmsError(f"could not record the order ({exc}): nothing was sent") from exc
        # a venue's error text may echo a key: masked before it reaches a listener or the store
        try:
            remote = await self.broker.submit(order)
        except OrderRejected as exc:
            return self._save(order, S.REJECTED, reason=redact(str(exc)))
        except (BrokerUnavailable, OSError, TimeoutError) as exc:
            error = redact(str(exc))
            with contextlib.suppress(*STORE_ERRORS):
                self.store.audit.add(ACTOR, "order.unknown", order.client_id, {"error": error})
            return replace(order, reason=f"outcome unknown: {error}")
        except BrokerError as exc:  # the venue answered, with an error: nothing was placed
            return self._save(order, S.REJECTED, reason=redact(str(exc)))
        try:
            try:
                fills = await self._venue_fills()
            except BaseException:
                with self._one_commit():
                    self._bring(order, remote)
                raise
            with self._one_commit():
                done = self._bring(order, remote)[0]
                self._record_fills(*fills)
                # read under the answer's write lock: exactly the brackets it leaves open
                brackets = None if self._protecting else self.store.orders.open_brackets(self.venue)
            await self._after_update(brackets)
        except STORE_ERRORS as exc:
            # the venue has the order; the store still holds the intent (SUBMITTING), which
            # reconcile settles by its client id: say so, never leave a traceback
            log.error("%s: the venue answered %s, the store failed: %s", order.client_id,
                      remote.status, exc)  # fmt: skip
            return replace(
                order,
                reason=f"outcome unknown: the venue answered {remote.status} but the store could"
                f" not record it ({exc})",
            )
        return done

    def _record_intent(self, order: Order) -> Order:
        """NEW -> SUBMITTING, durably, with both audit lines: one row write and one audit
        statement in one FULL commit, which is on disk before the venue is called."""
        check_transition(order.status, S.SUBMITTING)
        submitting = replace(order, status=S.SUBMITTING)
        mark = self.marks(order.symbol)
        arrival = to_decimal(mark) if mark is not None and math.isfinite(mark) else None
        with self.store.durable():
            self.store.orders.save(submitting, owner=this_process(), arrival=arrival)
            self.store.audit.add_all(
                [
                    (self.actor, "order.intent", order.client_id, _order_detail(order)),
                    (
                        self.actor,
                        "order.status",
                        order.client_id,
                        _status_detail(order, S.SUBMITTING),
                    ),
                ]
            )
        return submitting

    def preview(self, order: Order, reduce_only: bool = False) -> RiskDecision:
        """The one pre-trade check: what :meth:`submit` will decide for ``order`` now, without
        sending, storing or asking anything. The ticket, the CLI, Telegram and strategies all
        ask here, so they give the same answer as the order manager itself.

        ``trip_kill_switch`` says the daily loss limit is reached (submit engages the switch).
        A live order that passes still needs its confirmation (``confirm_live``)."""
        with self.store.reading():  # one snapshot for every read of the check
            return self._preview(order, reduce_only)

    def _preview(self, order: Order, reduce_only: bool) -> RiskDecision:
        positions = self.store.positions.find(self.venue)
        position = next((p.qty for p in positions if p.symbol == order.symbol), Decimal(0))
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
        context = self._risk_context(positions)
        decision = check_order(order, inst, ref, self.limits, context, mark=mark)
        if not decision.ok and reduce_only and reduces and decision.trip_kill_switch:
            return RiskDecision(True, decision.reason, trip_kill_switch=True)
        return decision

    async def _refusal(
        self,
        order: Order,
        reduce_only: bool,
        confirmed: bool = False,
        decision: RiskDecision | None = None,
    ) -> str:
        decision = decision or self.preview(order, reduce_only)
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

    def _risk_context(self, stored: list[Position]) -> RiskContext:
        now = self.clock()
        positions = {p.symbol: float(p.qty) for p in stored if p.qty}
        marks = {s: m for s in positions if (m := self.marks(s)) is not None}
        # the times of the orders of the last minute (at most the newest 500), by an index; a
        # limit above 500 a minute cannot be reached by them, so they are not read for it
        recent = (
            self.store.orders.created_after(self.venue, now - 60_000_000_000, limit=RECENT_MAX)
            if self.limits.max_orders_per_minute <= RECENT_MAX
            else []
        )
        # a loss limit that is off cannot be reached: the equity curve is not read for it
        daily = self.daily_pnl() if math.isfinite(self.limits.daily_loss_limit) else 0.0
        return RiskContext(positions, marks, recent, daily, now)

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
        self.store.audit.add(
            self.actor, "order.status", order.client_id, _status_detail(order, status, **changes)
        )
        return new

    def _save(self, order: Order, status: OrderStatus, **changes: Any) -> Order:
        with self.store.durable():
            new = self._transition(order, status, **changes)
        if status is OrderStatus.REJECTED and order.status is not OrderStatus.REJECTED:
            self._emit(new)
        return new

    def _apply_remote(self, local: Order, remote: Order, why: str = "") -> Discrepancy | None:
        """Bring ``local`` to the venue's view of it. Returns a discrepancy if it was refused."""
        return self._bring(local, remote, why)[1]

    def _bring(
        self, local: Order, remote: Order, why: str = ""
    ) -> tuple[Order, Discrepancy | None]:
        """:meth:`_apply_remote`, with the order as it is stored after it."""
        same = (
            remote.status == local.status
            and remote.filled_qty == local.filled_qty
            and remote.broker_id == local.broker_id
        )
        if same:
            return local, None
        if remote.status != local.status and remote.status not in TRANSITIONS[local.status]:
            d = Discrepancy(
                "illegal_transition",
                local.client_id,
                f"venue reports {remote.status}, we have {local.status}; kept ours",
            )
            self._audit_discrepancy(d)
            return local, d
        changes = {
            "filled_qty": remote.filled_qty,
            "avg_price": remote.avg_price,
            "broker_id": remote.broker_id or local.broker_id,
            "reason": redact(remote.reason) or local.reason,  # as the store keeps it
        }
        with self._durable():
            new = self._transition(local, remote.status, **changes)
            if why:
                self.store.audit.add(ACTOR, "order.reconciled", local.client_id, {"why": why})
        if new.status is S.REJECTED and local.status is not S.REJECTED:
            self._emit(new)
        if why:
            return new, Discrepancy(
                "changed_while_away",
                local.client_id,
                f"{local.status} -> {remote.status} ({remote.filled_qty}/{remote.qty} filled)",
            )
        return new, None

    # -- fills and positions -------------------------------------------------------------------
    def _position_qty(self, symbol: str) -> Decimal:
        for p in self.store.positions.find(self.venue):
            if p.symbol == symbol:
                return p.qty
        return Decimal(0)

    def record_fill(self, fill: Fill, emit: bool = True) -> bool:
        """Record one fill and move the position, atomically; False if already recorded."""
        with self._durable():
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
        fills = await self._venue_fills()
        with self._one_commit():
            return self._record_fills(*fills)

    async def _venue_fills(self) -> VenueFills:
        """The venue's fills not recorded yet, and (when there are any) its balances now: read
        from the venue before anything is written, for :meth:`_record_fills`."""
        fetch = getattr(self.broker, "fills", None)
        if fetch is None:
            return [], None, None
        after = getattr(self.broker, "fills_after", None)
        start = getattr(self.broker, "fill_cursor", None)
        if after is not None and start is not None and self._fill_cursor is not None:
            fetched, cursor = await after(self._fill_cursor)
        else:
            # taken before the look-back: whatever it misses comes after the cursor
            cursor = await start() if after is not None and start is not None else None
            last = self.store.fills.last_ts(self.venue)
            # a margin for venue clocks that stamp late; recording a fill twice is a no-op
            since = last - FILL_LOOKBACK_NS if last is not None else None
            fetched = await fetch(since)
        # the look-back returns fills already recorded: skip them before any commit (those
        # this process knows of without asking the store); after a cursor, fills are new but
        # for one that another process recorded first, which the insert itself skips
        # (a membership test a fill: ``set - dict.keys()`` walks every id remembered)
        unseen = {i for f in fetched if (i := _fill_id(f)) not in self._recorded}
        asking = unseen if cursor is None or self._fill_cursor is None else set()
        known = self.store.fills.known_ids(self.venue, asking) if asking else set()
        self._remember([f for f in fetched if _fill_id(f) in known])
        unseen -= known
        fresh = [f for f in fetched if _fill_id(f) in unseen]
        if len(self._recorded) > 4096:
            newest = sorted(self._recorded.items(), key=lambda kv: kv[1])[-2048:]
            self._recorded = dict(newest)
        return fresh, (await self._venue_balances() if fresh else None), cursor

    def _remember(self, fills: list[Fill]) -> None:
        for f in fills:
            self._recorded[_fill_id(f)] = f.ts_ns

    def _record_fills(
        self, fresh: list[Fill], balances: dict[str, Decimal] | None, cursor: Any = None
    ) -> list[Fill]:
        """Record ``fresh`` (what another process recorded meanwhile is skipped) and, when any
        was new, the venue's ``balances`` (cash moved with the fills: listeners such as the
        equity marks must see them), in one transaction (see :meth:`_one_commit`); the
        venue's fill ``cursor`` moves once it has committed."""
        with self._one_commit():
            new = [f for f in fresh if self.record_fill(f, emit=False)]
            if new and balances is not None:
                self._write_balances(balances)
            for fill in new:
                self._emit(fill)
        # in the store once this commits (new) or already (recorded by another process)
        self._after_commit(lambda: self._remember(fresh))
        if cursor is not None:
            self._after_commit(lambda: setattr(self, "_fill_cursor", cursor))
        return new

    # -- cancel, flatten, sync -----------------------------------------------------------------
    async def cancel(self, client_id: str) -> Order:
        """Cancel an order; a protective leg cancelled by the user is not placed again."""
        async with self._lock:
            parent_id, _, suffix = client_id.rpartition("-")
            leg = LEG.fullmatch(suffix)
            parent = self.store.orders.get(parent_id) if leg and parent_id else None
            if leg and parent is not None and (parent.sl is not None or parent.tp is not None):
                self.store.audit.add(self.actor, "bracket.dropped", f"{parent_id}-{leg[1]}")
            return await self._cancel(client_id)

    async def _cancel(self, client_id: str, why: str = "") -> Order:
        """Cancel at the venue; ``why`` is recorded as the reason when the workstation (not
        the user) cancels: one-cancels-other, a resize, the kill switch."""
        local = self.store.orders.get(client_id)
        if local is None:
            raise OmsError(f"no order {client_id}")
        if local.status.is_final:
            return local
        self.store.audit.add(self.actor, "order.cancel_requested", client_id)
        try:
            remote = await self.broker.cancel(client_id)
        except OrderNotFound:
            if local.status is S.SUBMITTING and self._submitting_elsewhere(local):
                raise OmsError(
                    f"{client_id} is being submitted by another qws process: cancel it once"
                    " it is at the venue"
                ) from None
            if local.status is S.SUBMITTING:
                return self._save(local, S.CANCELLED, reason="cancelled before reaching the venue")
            raise
        except BrokerError as exc:
            raise OmsError(f"cancel {client_id} failed: {exc}") from exc
        await self._pull_fills()
        if why and remote.status is S.CANCELLED:
            remote = replace(remote, reason=why)
        self._apply_remote(local, remote)
        return self.store.orders.get(client_id) or local

    async def flatten(self, symbol: str | None = None) -> list[Order]:
        """Cancel open orders and close positions (all, or one symbol) with market orders."""
        async with self._lock:
            return await self._flatten(symbol)

    async def _flatten(self, symbol: str | None, confirmed: bool = False) -> list[Order]:
        out: list[Order] = []
        for o in self.store.orders.find(open_only=True, venue=self.venue):
            if (symbol is None or o.symbol == symbol) and o.status is not S.SUBMITTING:
                out.append(await self._cancel(o.client_id))
        # the user closes these positions: their brackets have nothing left to protect
        with self.store.durable():
            for parent in self.store.orders.open_brackets(self.venue):
                if symbol is None or parent.symbol == symbol:
                    self.store.orders.settle_bracket(parent.client_id)
        for p in self.store.positions.find(self.venue):
            if p.qty == 0 or (symbol is not None and p.symbol != symbol):
                continue
            side = Side.SELL if p.qty > 0 else Side.BUY
            order = self.build(p.symbol, side, abs(p.qty))
            out.append(await self._submit(order, reduce_only=True, confirmed=confirmed))
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
                in_flight = (
                    self.clock() - local.ts_ns < self._submit_grace_ns
                    or self._submitting_elsewhere(local)
                )
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
            changed = self._apply_remote(local, remote, "reconcile" if reconciling else "")
            if changed is not None:
                found.append(changed)
        return found

    def _submitting_elsewhere(self, order: Order) -> bool:
        """``order`` is SUBMITTING in another running process (the workstation and a CLI
        command on one account): its submitter settles it, not this process. A submit that
        has been under way for :data:`IN_FLIGHT_MAX_NS` has ended whatever its process does."""
        if order.status not in (S.SUBMITTING, S.NEW):
            return False
        found = self.store.orders.owner(order.client_id)
        if found is None or found[0] == this_process():
            return False
        owner, since_ns = found
        return time.time_ns() - since_ns < IN_FLIGHT_MAX_NS and is_running(owner)

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
        """Take the venue's position where ours differs, but only on a steady view: another
        process on the account may have a fill at the venue that it has not recorded yet (or
        record one while we look). So: the venue's fills and positions, our fills pulled, ours,
        the venue's again; compared only when the venue had no new fill and no position change
        meanwhile (a buy and the sell that closes it leave the position as it was: the fills
        tell), and written only if ours is still what we read."""
        for _ in range(3):
            last = self.store.fills.last_ts(self.venue)
            since = last - FILL_LOOKBACK_NS if last is not None else None
            fills_before = await self._venue_fill_ids(since)
            before = await self._venue_positions()
            await self._pull_fills()
            local = {p.symbol: p for p in self.store.positions.find(self.venue)}
            remote = await self._venue_positions()
            steady = await self._venue_fill_ids(since) == fills_before and {
                s: p.qty for s, p in remote.items()
            } == {s: p.qty for s, p in before.items()}
            if steady:
                return self._take_venue_positions(remote, local)
        log.info("%s: positions kept moving during reconcile; compared next time", self.venue)
        return []

    async def _venue_positions(self) -> dict[str, Position]:
        return {p.symbol: p for p in await self.broker.positions() if p.qty}

    async def _venue_fill_ids(self, since: int | None) -> set[str]:
        """The venue's fill ids since ``since`` (empty for a venue that lists no fills)."""
        fetch = getattr(self.broker, "fills", None)
        if fetch is None:
            return set()
        return {f.fill_id or f"{f.client_id}:{f.ts_ns}" for f in await fetch(since)}

    def _take_venue_positions(
        self, remote: Mapping[str, Position], local: Mapping[str, Position]
    ) -> list[Discrepancy]:
        found = []
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
                now = self.store.positions.find(self.venue)
                if next((p.qty for p in now if p.symbol == symbol), Decimal(0)) != lq:
                    continue  # a fill was recorded meanwhile: look again next time
                self.store.positions.save(fixed)
                self._audit_discrepancy(d)
            found.append(d)
        return found

    async def _copy_balances(self) -> None:
        self._write_balances(await self._venue_balances())

    async def _venue_balances(self) -> dict[str, Decimal]:
        exact = getattr(self.broker, "balances", None)
        values = exact() if callable(exact) else None
        if inspect.isawaitable(values):
            values = await values
        if values is None:
            values = {k: to_decimal(v) for k, v in (await self.broker.balance()).items()}
        return dict(values)

    def _write_balances(self, values: Mapping[str, Decimal]) -> None:
        with self._durable():
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
    async def _after_update(self, brackets: list[Order] | None = None) -> None:
        """Bring every open bracket's protection to what is left of its position.

        ``brackets``: the open brackets as just read (by the caller, under the write lock of
        the update itself); None reads them here. With none open there is nothing to keep,
        and the keeper's role is not claimed for it.

        A parent with a stop-loss/take-profit owns ``need`` = its filled quantity less what
        its legs have filled, capped by the position still open on its side (shared oldest
        parent first, so the legs never add up to more than the position: a stop that fires
        must not open the other way). Each level gets exactly one working leg of ``need``:
        missing (first fill, a leg lost in a crash or unknown at the venue) -> placed under
        the next client id; the wrong size (partial fills, the other leg partly filled) ->
        cancelled and placed again; ``need`` 0 -> the legs are cancelled (one-cancels-other)
        and, once the parent is final, the bracket is settled. A level the market has already
        crossed is not sent to execute at once: the position is closed at market instead
        and the user alerted. Re-entrant calls (a leg's own submit) return at once."""
        if self._protecting:
            return
        if brackets is None:
            brackets = self.store.orders.open_brackets(self.venue)
        if not brackets or not self._keeps_brackets():
            return
        self._protecting = True
        try:
            taken: dict[tuple[str, int], Decimal] = {}
            for parent in brackets:
                key = (parent.symbol, parent.side.sign)
                need = Decimal(0)
                for _ in range(3):  # a cancel may change what is left: look again, then act
                    done, need = await self._protect(parent, taken.get(key, Decimal(0)))
                    if done:
                        break
                taken[key] = taken.get(key, Decimal(0)) + need
        finally:
            self._protecting = False

    def _keeps_brackets(self) -> bool:
        """One process at a time keeps a venue's brackets: two would place the same leg twice
        or cancel the one the other just placed. Another process (the workstation beside a
        ``qws order``) keeps them while it runs; when it ends, the next to look takes over."""
        return self.store.settings.claim(
            f"brackets.keeper.{self.venue}", this_process(), lambda holder: not is_running(holder)
        )

    def _legs(self, parent: Order) -> list[tuple[str, int, Order]]:
        """``(kind, number, order)`` of each leg of ``parent``, oldest first."""
        out = []
        for o in self.store.orders.with_prefix(f"{parent.client_id}-"):
            found = LEG.fullmatch(o.client_id[len(parent.client_id) + 1 :])
            if found:
                out.append((found[1], int(found[2] or 1), o))
        return out

    async def _protect(self, parent: Order, taken: Decimal) -> tuple[bool, Decimal]:
        """One look at ``parent``'s bracket, ``taken`` of its side's position being owned by
        older parents: (True, need) when it is as it should be (or settled), False when a
        cancel was sent and the state must be read again."""
        legs = self._legs(parent)
        room = max(Decimal(0), self._position_qty(parent.symbol) * parent.side.sign - taken)
        exited = sum((o.filled_qty for _, _, o in legs), Decimal(0))
        need = max(Decimal(0), min(parent.filled_qty - exited, room))
        live = [o for _, _, o in legs if not o.status.is_final]
        if need <= 0:
            for o in live:
                await self._cancel_leg(o, "one-cancels-other: nothing left to protect")
            if not live and parent.status.is_final:
                with self.store.durable():
                    self.store.orders.settle_bracket(parent.client_id)
            return not live, need
        if any(kind == "x" and not o.status.is_final for kind, _, o in legs):
            return True, need  # a market exit is working: it closes what is left
        missing, cancelled = [], False
        for kind, level in (("sl", parent.sl), ("tp", parent.tp)):
            if level is None:
                continue
            working = [o for k, _, o in legs if k == kind and not o.status.is_final]
            keep = next(
                (o for o in working if o.qty - o.filled_qty == need and _at(o, kind, level)), None
            )
            for o in working:
                if o is not keep:
                    self.store.audit.add(ACTOR, "bracket.resize", o.client_id, {"to": str(need)})
                    await self._cancel_leg(o, f"resized to {need:f}")
                    cancelled = True
            if not working and not self._dropped(parent, kind):
                missing.append(kind)
        if cancelled or not missing:
            return not cancelled, need
        crossed = self._crossed(parent)
        if crossed:  # sent now, the leg would execute at once: close at market instead
            for o in live:
                await self._cancel_leg(o, f"closed at market: {crossed}")
            if live:
                return False, need
            await self._exit(parent, need, crossed, legs)
            return True, need
        for kind in missing:
            await self._place_leg(parent, kind, need, legs)
        return True, need

    def _dropped(self, parent: Order, kind: str) -> bool:
        """The user cancelled this level by hand: it is not placed again."""
        return self.store.audit.exists("bracket.dropped", f"{parent.client_id}-{kind}")

    def _crossed(self, parent: Order) -> str:
        """Why a leg of ``parent`` would execute at once at the market now ("" if none)."""
        mark = self.marks(parent.symbol)
        ref = mark if mark is not None else float(parent.avg_price or 0)
        if not ref > 0:
            return ""
        try:
            inst = self.instruments(parent.symbol)
        except (KeyError, LookupError, ValueError):
            return ""
        return protective_level_problem(
            parent.side, ref, parent.sl, parent.tp, inst, where="the market"
        )

    def _leg_id(self, parent: Order, kind: str, numbers: list[int]) -> str:
        n = max(numbers, default=0) + 1
        while True:
            cid = f"{parent.client_id}-{kind}" + (f".{n}" if n > 1 else "")
            if self.store.orders.get(cid) is None:
                return cid
            n += 1

    def _refused_too_often(self, parent: Order, kind: str, mine: list[Order]) -> bool:
        refused = [o for o in mine if o.status is S.REJECTED and o.reason != NEVER_SENT]
        if len(refused) < MAX_LEG_REFUSALS:
            return False
        if not self.store.audit.exists("bracket.unprotected", f"{parent.client_id}-{kind}"):
            what = {"sl": "stop-loss", "tp": "take-profit", "x": "market exit"}[kind]
            self.store.audit.add(
                ACTOR, "bracket.unprotected", f"{parent.client_id}-{kind}",
                {"reason": refused[-1].reason},
            )  # fmt: skip
            self._alert(
                parent,
                "Position not protected",
                f"the {what} of {parent.client_id} was refused {len(refused)} times"
                f" ({refused[-1].reason}); not placed again: protect or close it by hand",
            )
        return True

    async def _place_leg(
        self, parent: Order, kind: str, qty: Decimal, legs: list[tuple[str, int, Order]]
    ) -> Order | None:
        mine = [o for k, _, o in legs if k == kind]
        numbers = [n for k, n, _ in legs if k == kind]
        if self._refused_too_often(parent, kind, mine):
            return None
        sl = kind == "sl"
        child = self.build(
            parent.symbol,
            Side.SELL if parent.side is Side.BUY else Side.BUY,
            qty,
            OrderType.STOP if sl else OrderType.LIMIT,
            price=None if sl else parent.tp,
            stop=parent.sl if sl else None,
            client_id=self._leg_id(parent, kind, numbers),
            strategy=parent.strategy,
        )
        # the parent's confirmation covers its protective orders
        placed = await self._submit(child, reduce_only=True, confirmed=True)
        last = mine[-1] if mine else None
        if last is not None and not (
            last.status is S.CANCELLED and self.store.audit.exists("bracket.resize", last.client_id)
        ):
            what = "stop-loss" if sl else "take-profit"
            detail = {"previous": last.client_id, "was": str(last.status), "why": last.reason}
            self.store.audit.add(ACTOR, "bracket.replaced", placed.client_id, detail)
            self._alert(
                parent,
                "Protection restored",
                f"{parent.symbol}: the {what} {last.client_id} was lost ({last.status}:"
                f" {last.reason or 'no reason'}); re-placed as {placed.client_id},"
                f" {qty:f} at {(parent.sl if sl else parent.tp)}: {placed.status}",
            )
        return placed

    async def _exit(
        self, parent: Order, qty: Decimal, why: str, legs: list[tuple[str, int, Order]]
    ) -> None:
        mine = [o for k, _, o in legs if k == "x"]
        if self._refused_too_often(parent, "x", mine):
            return
        order = self.build(
            parent.symbol,
            Side.SELL if parent.side is Side.BUY else Side.BUY,
            qty,
            client_id=self._leg_id(parent, "x", [n for k, n, _ in legs if k == "x"]),
            strategy=parent.strategy,
        )
        self.store.audit.add(ACTOR, "bracket.crossed", parent.client_id, {"why": why})
        placed = await self._submit(order, reduce_only=True, confirmed=True)
        self._alert(
            parent,
            "Position closed: protection crossed",
            f"{parent.side} {parent.filled_qty:f} {parent.symbol} filled at"
            f" {parent.avg_price}; {why}: {qty:f} closed at market ({placed.client_id}:"
            f" {placed.status})",
        )

    async def _cancel_leg(self, leg: Order, why: str) -> None:
        """Cancel a leg; a failure is logged and retried on the next update."""
        try:
            await self._cancel(leg.client_id, why)
        except (OmsError, BrokerError, OSError) as exc:
            log.warning("could not cancel the leg %s: %s", leg.client_id, exc)

    def _alert(self, parent: Order, title: str, body: str) -> None:
        self._emit(Alert("risk", title, body, self.clock(), Severity.CRITICAL, parent.symbol))

    # -- amending protection ---------------------------------------------------------------
    async def amend_protection(
        self, symbol: str, sl: Decimal | None, tp: Decimal | None
    ) -> list[Order]:
        """Move the stop-loss and/or take-profit protecting the open position in ``symbol``;
        returns the legs of the moved levels as they stand after it.

        A working leg is replaced, never lost: the new leg at the new level is placed first,
        the parent's level moved once it works, and only then is the old leg cancelled (a new
        leg the venue refuses leaves the old one and its level as they were, and says why;
        a crash in between leaves the bracket keeper one leg at the parent's level to keep).
        A level with no leg yet is placed by the keeper. A position opened without a bracket
        is adopted by the newest orders that opened it. Refused: no position, a level on the
        wrong side of the market or off the tick grid, another process keeping the brackets."""
        if sl is None and tp is None:
            raise OmsError("amend what? a stop-loss and/or a take-profit level")
        async with self._lock:
            position = self._position_qty(symbol)
            if position == 0:
                raise OmsError(f"no open position in {symbol}: nothing to protect")
            side = Side.BUY if position > 0 else Side.SELL
            try:
                inst = self.instruments(symbol)
                for level in (sl, tp):
                    if level is not None:
                        inst.check_price(level)
            except (KeyError, LookupError, ValueError) as exc:
                raise OmsError(str(exc).strip("'\"")) from None
            mark = self.marks(symbol)
            if mark is None:
                raise OmsError(f"no quote for {symbol} yet: cannot check the levels")
            problem = protective_level_problem(side, mark, sl, tp, inst, where="the market")
            if problem:
                raise OmsError(f"{symbol}: {problem}")
            if not self._keeps_brackets():
                raise OmsError(
                    f"another qws process keeps the brackets of {self.venue}: amend them there"
                )
            parents = [
                p
                for p in self.store.orders.open_brackets(self.venue)
                if p.symbol == symbol and p.side is side
            ] or self._openers(symbol, side, abs(position))
            if not parents:
                raise OmsError(
                    f"the {symbol} position was not opened by a qws order: protect it at the venue"
                )
            self._protecting = True
            try:
                for parent in parents:
                    await self._amend(parent, sl, tp)
            finally:
                self._protecting = False
            await self._after_update()
            moved = [k for k, level in (("sl", sl), ("tp", tp)) if level is not None]
            out = []
            for parent in parents:
                legs = self._legs(parent)
                for kind in moved:
                    mine = [o for k, _, o in legs if k == kind]
                    if mine:
                        out.append(mine[-1])
            return out

    def _openers(self, symbol: str, side: Side, qty: Decimal) -> list[Order]:
        """The newest orders of ``side`` in ``symbol`` whose fills make up a position of ``qty``
        opened without a bracket, oldest first."""
        found: list[Order] = []
        covered = Decimal(0)
        for o in self.store.orders.find(venue=self.venue, limit=10_000):
            if covered >= qty:
                break
            if o.symbol != symbol or o.side is not side or o.filled_qty <= 0:
                continue
            if LEG.fullmatch(o.client_id.rpartition("-")[2]):
                continue
            found.append(o)
            covered += o.filled_qty
        return found[::-1]

    async def _amend(self, parent: Order, sl: Decimal | None, tp: Decimal | None) -> None:
        new_sl = parent.sl if sl is None else sl
        new_tp = parent.tp if tp is None else tp
        replaced: list[tuple[Order, Order]] = []
        for kind, level in (("sl", sl), ("tp", tp)):
            if level is None or level == (parent.sl if kind == "sl" else parent.tp):
                continue
            for old in [o for k, _, o in self._legs(parent) if k == kind]:
                if not old.status.is_final:
                    replaced.append((old, await self._replacement(parent, kind, level, old)))
        with self.store.durable():
            self.store.orders.set_levels(parent.client_id, new_sl, new_tp)
            self.store.audit.add(
                self.actor,
                "bracket.amended",
                parent.client_id,
                {"sl": _opt(new_sl), "tp": _opt(new_tp), "was_sl": _opt(parent.sl),
                 "was_tp": _opt(parent.tp)},
            )  # fmt: skip
        for old, new in replaced:
            await self._cancel_leg(old, f"replaced by {new.client_id}")

    async def _replacement(self, parent: Order, kind: str, level: Decimal, old: Order) -> Order:
        """A leg of ``kind`` at ``level`` for what ``old`` still protects, placed beside it;
        an OmsError (``old`` untouched) unless the venue works it."""
        legs = self._legs(parent)
        sl = kind == "sl"
        child = self.build(
            parent.symbol,
            Side.SELL if parent.side is Side.BUY else Side.BUY,
            old.qty - old.filled_qty,
            OrderType.STOP if sl else OrderType.LIMIT,
            price=None if sl else level,
            stop=level if sl else None,
            client_id=self._leg_id(parent, kind, [n for k, n, _ in legs if k == kind]),
            strategy=parent.strategy,
        )
        placed = await self._submit(child, reduce_only=True, confirmed=True)
        if placed.status in (S.OPEN, S.PARTIALLY_FILLED, S.FILLED):
            return placed
        what = "stop-loss" if sl else "take-profit"
        was = old.stop if sl else old.price
        why = placed.reason or "no answer"
        raise OmsError(
            f"the new {what} at {level:f} was not placed ({placed.status}: {why}); the"
            f" {what} {old.client_id} at {was} keeps working"
        )

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


def _at(leg: Order, kind: str, level: Decimal | None) -> bool:
    """Whether a leg of ``kind`` works at ``level`` (a stop-loss triggers at its stop)."""
    return (leg.stop if kind == "sl" else leg.price) == level


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _fill_id(fill: Fill) -> str:
    """The id a fill is stored under (a venue without fill ids: client id and time)."""
    return fill.fill_id or f"{fill.client_id}:{fill.ts_ns}"


def _status_detail(order: Order, status: OrderStatus, **changes: Any) -> dict[str, Any]:
    return {"from": str(order.status), "to": str(status), **changes}


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
        **({"strategy": order.strategy} if order.strategy else {}),
        **({"parent": order.parent} if order.parent else {}),
    }
