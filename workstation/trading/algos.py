"""Working TWAP and VWAP parent orders through the order manager.

The desk owns the parents of its venue that no running process works (a parent names the
process working it, like an order being submitted): it starts each at the first market time it
sees, counts the market's volume of its symbol bar by bar, and at each slice's end sends the
child the plan has due (:mod:`engine.trading.schedule`) as an ordinary order of the order
manager, whose client id is the parent's plus ``.N``. Everything it knows is in the store: the
plan and the market counters in the parent's row, what was sent and filled in its children's
rows. So a process killed at any point is resumed by the next one without a duplicate: a child
whose intent is on disk counts as sent (reconcile settles it with the venue), and its number
is taken.

The kill switch stops every working parent (the order manager cancels their children with the
other working orders); cancelling a parent cancels its working children; a child the
pre-trade check or the venue refuses stops its parent with the reason, so nothing is retried
blindly.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import numpy as np

from engine.model import Bar, Instrument, ModelError, Order, OrderStatus, OrderType, Side
from engine.timeframes import parse
from engine.trading.schedule import (
    DAY_NS,
    Algo,
    AlgoOrder,
    AlgoParams,
    AlgoStatus,
    PlannedSlice,
    ScheduleError,
    child_qty,
    default_slices,
    limit_price,
    parse_duration,
    parse_participation,
    plan,
    target_by,
    volume_profile,
)
from workstation.runtime.processes import is_running, this_process
from workstation.store import Store
from workstation.trading.oms import OrderManager, is_unknown

log = logging.getLogger(__name__)
ACTOR = "algo"


def algo_params(
    settings: Any,
    algo: str,
    over: str,
    slices: int | None = None,
    max_participation: Decimal | str | None = None,
    child: str | None = None,
    offset_ticks: int | None = None,
    timeframe: str = "1m",
) -> AlgoParams:
    """A parent's parameters as the user gave them, the rest from ``[execution]``: the one
    place the CLI, the ticket, the command bar and Telegram build them. Without ``slices``,
    one child a bar of ``timeframe`` (the bars the desk is stepped on). Raises
    :class:`ScheduleError` saying what is wrong."""
    over_ns = parse_duration(over)
    cap = max_participation
    if isinstance(cap, str):
        cap = parse_participation(cap)
    try:
        kind = OrderType(child or str(settings.get("execution.child_type", "market")))
        offset = (
            int(settings.get("execution.limit_offset_ticks", 0))
            if offset_ticks is None
            else offset_ticks
        )
        return AlgoParams(
            Algo(algo),
            over_ns,
            slices or default_slices(over_ns, int(parse(timeframe).seconds * 1e9)),
            cap,
            kind,
            offset,
            int(settings.get("execution.profile_days", 20)),
        )
    except ValueError as exc:
        raise ScheduleError(str(exc)) from exc


def new_parent_id() -> str:
    """``algo-`` and 12 hex digits: with a child's ``.N`` it fits every venue's client id."""
    return f"algo-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class AlgoReport:
    """How a parent went: its children, what they filled, at what price against what."""

    parent: AlgoOrder
    children: tuple[Order, ...]
    filled: Decimal
    committed: Decimal
    avg_price: Decimal | None
    slippage_arrival_bps: float | None
    """Signed so that a cost is positive: a buy above the arrival price, a sell below it."""
    slippage_vwap_bps: float | None
    """The same against the market's VWAP over the bars counted so far."""
    participation: float | None
    """Filled quantity over the market's volume over the same bars."""

    def lines(self) -> list[str]:
        p = self.parent
        cap = p.params.max_participation
        head = (
            f"{p.id} {p.params.algo.upper()} {p.side} {p.qty:f} {p.symbol}: {p.status}"
            f" — filled {self.filled:f} of {p.qty:f} in {len(self.children)} child order(s)"
        )
        out = [head + (f" ({p.reason})" if p.reason else "")]
        if self.avg_price is not None:
            out.append(f"average price {self.avg_price:f}")
        if self.slippage_arrival_bps is not None and p.arrival is not None:
            out.append(
                f"slippage vs arrival {p.arrival:f}: {self.slippage_arrival_bps:+.1f} bps"
                " (positive = cost)"
            )
        vwap = p.market_vwap
        if self.slippage_vwap_bps is not None and vwap is not None:
            out.append(
                f"slippage vs the interval's market VWAP {vwap:.8g}:"
                f" {self.slippage_vwap_bps:+.1f} bps"
            )
        if self.participation is not None:
            out.append(
                f"participation {self.participation:.1%} of {float(p.market_volume):,.8g} traded"
                + (f" (cap {cap:.0%})" if cap is not None else "")
            )
        out.extend(p.notes)
        return out


def committed_qty(children: list[Order]) -> Decimal:
    """What the children hold of the parent: filled for the ended ones, all of it for those
    still working or whose outcome is not known yet."""
    return sum((c.filled_qty if c.status.is_final else c.qty for c in children), start=Decimal(0))


def report(store: Store, parent: AlgoOrder) -> AlgoReport:
    children = store.orders.children(parent.id)
    filled = sum((c.filled_qty for c in children), start=Decimal(0))
    cost = sum(
        (c.filled_qty * c.avg_price for c in children if c.avg_price is not None),
        start=Decimal(0),
    )
    avg = cost / filled if filled > 0 else None
    sign = parent.side.sign

    def bps(ref: float | None) -> float | None:
        if avg is None or ref is None or ref <= 0:
            return None
        return sign * (float(avg) - ref) / ref * 1e4

    vol = parent.market_volume
    return AlgoReport(
        parent,
        tuple(children),
        filled,
        committed_qty(children),
        avg,
        bps(None if parent.arrival is None else float(parent.arrival)),
        bps(parent.market_vwap),
        float(filled / vol) if vol > 0 else None,
    )


@dataclass(slots=True)
class _Settled:
    """A parent's leading children that have ended, summed."""

    count: int = 0
    filled: Decimal = Decimal(0)
    refused: Order | None = None
    last_ts: int | None = None
    last_ids: set[str] = field(default_factory=set)
    """The ids created at ``last_ts``: read again by a query from that time, skipped."""

    def add(self, child: Order) -> None:
        self.count += 1
        self.filled += child.filled_qty
        if child.status is OrderStatus.REJECTED and self.refused is None:
            self.refused = child
        if child.ts_ns != self.last_ts:
            self.last_ts, self.last_ids = child.ts_ns, set()
        self.last_ids.add(child.client_id)


@dataclass(frozen=True, slots=True)
class _Children:
    settled: _Settled
    rest: list[Order]
    """The children after the settled ones, oldest first (working, unknown or ended)."""

    @property
    def count(self) -> int:
        return self.settled.count + len(self.rest)

    @property
    def filled(self) -> Decimal:
        return self.settled.filled + sum((c.filled_qty for c in self.rest), start=Decimal(0))

    @property
    def committed(self) -> Decimal:
        return self.settled.filled + committed_qty(self.rest)

    @property
    def refused(self) -> Order | None:
        later = (c for c in self.rest if c.status is OrderStatus.REJECTED)
        return self.settled.refused or next(later, None)

    @property
    def working(self) -> list[Order]:
        return [c for c in self.rest if not c.status.is_final]


class AlgoDesk:
    """Works the parents of one order manager's venue, in one event loop."""

    def __init__(
        self,
        store: Store,
        oms: OrderManager,
        timeframe: str,
        clock: Callable[[], int],
        on_change: Callable[[AlgoOrder, str], None] | None = None,
        market_venue: str | None = None,
    ) -> None:
        """``timeframe``: the bars whose volume is counted (the runtime's), stored under
        ``market_venue`` (the feed's); ``on_change`` hears each parent that starts, sends a
        child or ends, with a line saying what."""
        self.market_venue = market_venue
        self.store = store
        self.oms = oms
        self.venue = oms.venue
        self.bar_ns = int(parse(timeframe).seconds * 1_000_000_000)
        self.timeframe = timeframe
        self.clock = clock
        self.on_change = on_change
        self._owned: set[str] = set()
        self._settled: dict[str, _Settled] = {}
        """Each parent's leading children that have ended, read once (see :meth:`_children`)."""
        self._plans: dict[str, tuple[PlannedSlice, ...]] = {}
        """Each started parent's plan, read once (see :meth:`working`)."""
        oms.kill.register(self._on_kill)

    # -- parents -------------------------------------------------------------------------------
    def new(
        self,
        symbol: str,
        side: Side,
        qty: Decimal,
        params: AlgoParams,
        strategy: str = "",
        parent_id: str | None = None,
        now_ns: int | None = None,
        work: bool = True,
    ) -> AlgoOrder:
        """Check the parent can be planned at ``now_ns`` (the clock's) and store it, unstarted:
        worked by this desk (``work``), or left for the first desk that takes it (a command
        that only queues it for the running workstation). Raises :class:`ScheduleError`
        (nothing stored) when it cannot be worked."""
        parent = AlgoOrder(
            parent_id or new_parent_id(),
            self.venue,
            symbol,
            side,
            qty,
            params,
            strategy=strategy,
        )
        known = self.store.algos.get(parent.id)
        if known is not None:
            return known
        self.planned(parent, self.clock() if now_ns is None else now_ns)
        with self.store.durable():
            stored = self.store.algos.create(parent, this_process() if work else None)
            self.store.audit.add(
                self.oms.actor,
                "algo.created",
                stored.id,
                {
                    "symbol": symbol,
                    "side": str(side),
                    "qty": str(qty),
                    "algo": str(params.algo),
                    "over_s": params.over_ns / 1e9,
                    "slices": params.slices,
                    "max_participation": None
                    if params.max_participation is None
                    else str(params.max_participation),
                    "child_type": str(params.child_type),
                },
            )
        if work:
            self._owned.add(stored.id)
        return stored

    def planned(self, parent: AlgoOrder, now_ns: int) -> AlgoOrder:
        """``parent`` started at ``now_ns``: its plan, arrival price and planning notes."""
        try:
            inst = self.oms.instruments(parent.symbol)
        except (KeyError, LookupError, ValueError) as exc:
            raise ScheduleError(f"unknown instrument {parent.symbol}: {exc}") from exc
        p = parent.params
        mark = self.oms.marks(parent.symbol)
        notes: list[str] = []
        if p.algo is Algo.VWAP:
            weights, mean, days = self._profile(parent.symbol, now_ns, p)
            if days == 0:
                raise ScheduleError(
                    f"VWAP needs the volume of the same time of day on earlier days: no stored"
                    f" {self.timeframe} bars of {parent.symbol} in the {p.profile_days} days"
                    " before (fetch history first, or use --algo twap)"
                )
            notes.append(f"volume profile from {days} earlier day(s) of {self.timeframe} bars")
            usual = Decimal(repr(float(mean.sum())))
            cap = p.max_participation
            if cap is not None and parent.qty > cap * usual:
                notes.append(
                    f"at {cap:.0%} of the usual volume over the horizon ({usual:.6g}) about"
                    f" {cap * usual:.6g} can be filled: the rest may be left at the end"
                )
        else:
            weights = np.ones(p.slices)
        arrival = None if mark is None else Decimal(repr(mark))
        steps = plan(parent.qty, inst, now_ns, p.slice_ns, weights, mark)
        return replace(parent, start_ns=now_ns, plan=steps, arrival=arrival, notes=tuple(notes))

    def _profile(
        self, symbol: str, now_ns: int, p: AlgoParams
    ) -> tuple[np.ndarray, np.ndarray, int]:
        frame = self.store.candles.between(
            symbol, self.timeframe, now_ns - p.profile_days * DAY_NS, now_ns, self.market_venue
        )
        return volume_profile(
            frame["ts"].to_numpy(),
            frame["volume"].to_numpy(),
            now_ns,
            p.slice_ns,
            p.slices,
            p.profile_days,
        )

    def owns(self, parent_id: str) -> bool:
        """Whether this desk works ``parent_id`` (it took it and it has not ended)."""
        return parent_id in self._owned

    def working(self) -> list[AlgoOrder]:
        """The venue's working parents; a started one's plan read once and kept (it never
        changes), so a step does not parse a thousand slices again."""
        out = []
        for parent in self.store.algos.find(self.venue, working_only=True, plan=False):
            if parent.started:
                steps = self._plans.get(parent.id)
                if steps is None:
                    full = self.store.algos.get(parent.id)
                    steps = self._plans[parent.id] = full.plan if full is not None else ()
                parent = replace(parent, plan=steps)
            out.append(parent)
        return out

    def take(self, working: list[AlgoOrder] | None = None) -> list[AlgoOrder]:
        """Claim the working parents that no running process works (new ones, and those of
        a process that died); the ones this desk owns already are kept."""
        me = this_process()
        taken = []
        for parent in self.working() if working is None else working:
            if parent.id in self._owned:
                continue
            owner = self.store.algos.owner(parent.id)
            if owner is not None and owner != me and is_running(owner):
                continue
            if self.store.algos.claim(parent.id, me, owner):
                self._owned.add(parent.id)
                taken.append(parent)
                if parent.started:
                    self._changed(parent, "resumed")
        return taken

    def _children(self, parent_id: str) -> _Children:
        """The parent's children: the leading ones that have ended are summed once and kept
        (an ended order never changes), so a step reads and adds up only the rest."""
        done = self._settled.setdefault(parent_id, _Settled())
        rest = [
            c
            for c in self.store.orders.children(parent_id, done.last_ts)
            if c.client_id not in done.last_ids
        ]
        while rest and rest[0].status.is_final:
            done.add(rest.pop(0))
        return _Children(done, rest)

    # -- the market ----------------------------------------------------------------------------
    async def on_bar(self, bar: Bar) -> list[Order]:
        """Count a closed bar of the desk's timeframe into the parents of its symbol, then
        send what has come due."""
        if bar.timeframe != self.timeframe or not bar.closed:
            return []
        for parent in self.working():
            if parent.id not in self._owned or parent.symbol != bar.symbol or not parent.started:
                continue
            if parent.start_ns <= bar.ts_ns < parent.end_ns:
                typical = (
                    Decimal(repr(bar.high)) + Decimal(repr(bar.low)) + Decimal(repr(bar.close))
                ) / 3
                volume = Decimal(repr(bar.volume))
                self.store.algos.count_bar(parent.id, bar.ts_ns, volume, typical * volume)
        return await self.step(max(self.clock(), bar.ts_ns + self.bar_ns))

    async def step(self, now_ns: int | None = None) -> list[Order]:
        """Start, feed and end the parents this desk works, at ``now_ns`` (the clock's)."""
        now = self.clock() if now_ns is None else now_ns
        working = self.working()
        self.take(working)
        sent: list[Order] = []
        for parent in working:
            if parent.id not in self._owned:
                continue
            try:
                sent.extend(await self._work(parent, now))
            except ScheduleError as exc:
                await self._end(parent, AlgoStatus.STOPPED, str(exc))
        still = {p.id for p in working}
        for pid in list(self._owned - still):  # ended elsewhere (cancelled by another process)
            stored = self.store.algos.get(pid)
            if stored is None or stored.status.is_final:
                self._forget(pid)
                if stored is not None and stored.status is AlgoStatus.CANCELLED:
                    await self._cancel_children(stored, "parent cancelled")
        return sent

    def _forget(self, parent_id: str) -> None:
        self._owned.discard(parent_id)
        self._settled.pop(parent_id, None)
        self._plans.pop(parent_id, None)

    async def _work(self, parent: AlgoOrder, now: int) -> list[Order]:
        if self.oms.kill_switch:
            await self._end(parent, AlgoStatus.STOPPED, "kill switch is on")
            return []
        if not parent.started:
            if self.oms.marks(parent.symbol) is None:
                return []  # starts at its symbol's first quote: the arrival price is known
            parent = self.planned(parent, now)
            self.store.algos.start(parent)
            self.store.audit.add(
                ACTOR,
                "algo.started",
                parent.id,
                {"slices": len(parent.plan), "arrival": str(parent.arrival), "notes": parent.notes},
            )
            self._changed(parent, "started")
        kids = self._children(parent.id)
        refused = kids.refused
        if refused is not None:
            why = f"child {refused.client_id} refused: {refused.reason}"
            await self._end(parent, AlgoStatus.STOPPED, why)
            return []
        if kids.filled >= parent.qty:
            await self._end(parent, AlgoStatus.DONE, "")
            return []
        inst = self.oms.instruments(parent.symbol)
        p = parent.params
        due = target_by(parent.plan, now)
        if p.child_type is OrderType.LIMIT and due > kids.committed:
            await self._cancel_children(parent, "next slice")  # its rest goes with the new child
            kids = self._children(parent.id)
        qty = child_qty(
            parent.plan, now, kids.committed, inst, parent.market_volume, p.max_participation
        )
        sent = []
        if qty > 0 and now < parent.end_ns + p.slice_ns:
            child = await self._send(parent, inst, qty, kids.count + 1)
            sent.append(child)
            kids = _Children(kids.settled, [*kids.rest, child])
        if now >= parent.end_ns:
            working = kids.working
            if p.child_type is OrderType.LIMIT and working and now >= parent.end_ns + p.slice_ns:
                await self._cancel_children(parent, "horizon ended")
                kids = self._children(parent.id)
                working = [c for c in kids.working if not is_unknown(c)]
            if not working:
                short = parent.qty - kids.filled
                why = "" if short <= 0 else (
                    f"horizon ended with {short:f} of {parent.qty:f} unfilled"
                    + (" (participation cap)" if p.max_participation is not None else "")
                )  # fmt: skip
                await self._end(parent, AlgoStatus.DONE, why)
        return sent

    async def _send(self, parent: AlgoOrder, inst: Instrument, qty: Decimal, n: int) -> Order:
        p = parent.params
        price = None
        if p.child_type is OrderType.LIMIT:
            mark = self.oms.marks(parent.symbol)
            if mark is None:
                raise ScheduleError(f"no price of {parent.symbol} to set a limit child at")
            price = limit_price(inst, parent.side, mark, p.limit_offset_ticks)
        try:
            order = self.oms.build(
                parent.symbol,
                parent.side,
                qty,
                p.child_type,
                price=price,
                client_id=f"{parent.id}.{n}",
            )
        except ModelError as exc:
            raise ScheduleError(str(exc)) from exc
        order = replace(order, parent=parent.id, strategy=parent.strategy)
        done = await self.oms.submit(order)
        self._changed(parent, f"child {done.client_id} {done.side} {done.qty:f} {done.status}")
        return done

    async def _cancel_children(self, parent: AlgoOrder, why: str) -> None:
        for child in self._children(parent.id).rest:
            if not child.status.is_final and not is_unknown(child):
                try:
                    await self.oms.cancel(child.client_id)
                except Exception as exc:  # the venue may have filled it meanwhile
                    log.warning(
                        "%s: cancelling %s (%s) failed: %s", parent.id, child.client_id, why, exc
                    )

    async def _end(
        self, parent: AlgoOrder, status: AlgoStatus, why: str, cancel: bool = True
    ) -> None:
        if cancel and status is not AlgoStatus.DONE:
            await self._cancel_children(parent, why)
        if self.store.algos.finish(parent.id, status, why):
            self.store.audit.add(ACTOR, f"algo.{status}", parent.id, {"reason": why})
            ended = self.store.algos.get(parent.id)
            self._changed(ended or parent, f"{status}" + (f": {why}" if why else ""))
        self._forget(parent.id)

    # -- the user's -----------------------------------------------------------------------------
    async def cancel(self, parent_id: str, why: str = "cancelled by the user") -> AlgoOrder:
        """End a working parent (whichever process works it) and cancel its working children."""
        parent = self.store.algos.get(parent_id)
        if parent is None:
            raise ScheduleError(f"no algorithm order {parent_id}")
        if parent.status.is_final:
            raise ScheduleError(f"{parent_id} has already ended ({parent.status})")
        await self._end(parent, AlgoStatus.CANCELLED, why)
        ended = self.store.algos.get(parent_id)
        assert ended is not None
        return ended

    async def _on_kill(self, actor: str, reason: str) -> None:
        """The kill switch: every working parent of the venue ends. Its children are left to
        the order manager's own hook, which cancels them with the other working orders (this
        may run inside a submit that holds the order manager's lock)."""
        for parent in self.working():
            await self._end(parent, AlgoStatus.STOPPED, "kill switch", cancel=False)

    def _changed(self, parent: AlgoOrder, what: str) -> None:
        if self.on_change is not None:
            try:
                self.on_change(parent, what)
            except Exception:
                log.exception("algo listener failed")
