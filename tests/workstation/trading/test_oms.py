from __future__ import annotations

import os
import sqlite3
from decimal import Decimal as D
from pathlib import Path

import pytest

from engine.model import (
    BookLevel,
    Fill,
    Instrument,
    Order,
    OrderBook,
    OrderStatus,
    OrderType,
    Side,
    Tick,
)
from engine.protocols import BrokerUnavailable
from engine.trading.risk import RiskLimits
from plugins.brokers.paper import PaperBroker
from workstation.store import Store
from workstation.trading.oms import IllegalTransition, OrderManager, check_transition

BTC = Instrument("BTC/USDT", "demo", D("0.01"), D("0.001"), "USDT", "BTC")
INSTRUMENTS = {"BTC/USDT": BTC}


def standard_book() -> OrderBook:
    return OrderBook(
        0,
        "BTC/USDT",
        (BookLevel(99.0, 5.0), BookLevel(98.0, 5.0)),
        (BookLevel(101.0, 5.0), BookLevel(102.0, 5.0)),
    )


def paper(tmp_path: Path, cls: type[PaperBroker] = PaperBroker) -> PaperBroker:
    b = cls(tmp_path / "paper.db", INSTRUMENTS, starting_balances={"USDT": 100_000})
    b.on_book(standard_book())
    return b


def oms(store: Store, broker: PaperBroker, **kw: object) -> OrderManager:
    return OrderManager(store, broker, INSTRUMENTS.__getitem__, marks=lambda s: 100.0, **kw)  # type: ignore[arg-type]


def test_transitions_table_refuses_illegal_moves() -> None:
    check_transition(OrderStatus.NEW, OrderStatus.SUBMITTING)
    check_transition(OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED)
    for old, new in [
        (OrderStatus.FILLED, OrderStatus.OPEN),
        (OrderStatus.NEW, OrderStatus.FILLED),
        (OrderStatus.CANCELLED, OrderStatus.FILLED),
        (OrderStatus.PARTIALLY_FILLED, OrderStatus.OPEN),
    ]:
        with pytest.raises(IllegalTransition):
            check_transition(old, new)


async def test_intent_is_on_disk_before_the_broker_is_called(store: Store, tmp_path: Path) -> None:
    seen: list[str] = []

    class Spy(PaperBroker):
        async def submit(self, order: Order) -> Order:
            other = sqlite3.connect(store.path)  # a separate reader sees only committed data
            row = other.execute(
                "SELECT status FROM orders WHERE client_id = ?", (order.client_id,)
            ).fetchone()
            other.close()
            seen.append(row[0])
            return await super().submit(order)

    m = oms(store, paper(tmp_path, Spy))
    o = await m.submit(m.build("BTC/USDT", Side.BUY, "1"))
    assert seen == ["SUBMITTING"]
    assert o.status is OrderStatus.FILLED and o.avg_price == D(101)
    [pos] = store.positions.find("paper")
    assert (pos.qty, pos.avg_price) == (D(1), D(101))
    actions = [r["action"] for r in reversed(store.audit.recent(50)) if r["subject"] == o.client_id]
    assert actions[:3] == ["order.intent", "order.status", "order.status"]
    assert "fill" in actions


async def test_same_client_id_never_makes_a_second_order(store: Store, tmp_path: Path) -> None:
    b = paper(tmp_path)
    m = oms(store, b)
    o = m.build("BTC/USDT", Side.BUY, "1", OrderType.LIMIT, price="90")
    await m.submit(o)
    await m.submit(o)
    assert len(await b.open_orders()) == 1 and len(store.orders.find()) == 1


async def test_timeout_after_the_venue_accepted_is_settled_by_reconcile(
    store: Store, tmp_path: Path
) -> None:
    class Flaky(PaperBroker):
        async def submit(self, order: Order) -> Order:
            await super().submit(order)  # the venue got it, the answer was lost
            raise BrokerUnavailable("read timeout")

    b = paper(tmp_path, Flaky)
    m = oms(store, b)
    o = await m.submit(m.build("BTC/USDT", Side.BUY, "2"))
    assert o.status is OrderStatus.SUBMITTING
    found = await m.reconcile()
    assert store.orders.get(o.client_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert any(d.kind == "changed_while_away" for d in found)
    assert len(await b.fills()) == 1 and store.positions.find("paper")[0].qty == D(2)


async def test_risk_rejection_never_reaches_the_broker(store: Store, tmp_path: Path) -> None:
    b = paper(tmp_path)
    m = oms(store, b, limits=RiskLimits(max_order_notional=500))
    o = await m.submit(m.build("BTC/USDT", Side.BUY, "10"))
    assert o.status is OrderStatus.REJECTED and "exceeds the limit" in o.reason
    assert await b.order(o.client_id) is None
    assert store.orders.get(o.client_id).status is OrderStatus.REJECTED  # type: ignore[union-attr]


async def test_kill_switch_cancels_and_blocks_but_lets_a_position_close(
    store: Store, tmp_path: Path
) -> None:
    b = paper(tmp_path)
    m = oms(store, b)
    await m.submit(m.build("BTC/USDT", Side.BUY, "1"))
    resting = await m.submit(m.build("BTC/USDT", Side.BUY, "1", OrderType.LIMIT, price="90"))
    cancelled = await m.set_kill_switch(True, "test")
    assert [o.client_id for o in cancelled] == [resting.client_id]
    assert (await b.order(resting.client_id)).status is OrderStatus.CANCELLED  # type: ignore[union-attr]
    blocked = await m.submit(m.build("BTC/USDT", Side.BUY, "1"))
    assert blocked.status is OrderStatus.REJECTED and "kill switch" in blocked.reason
    closed = await m.flatten()
    assert closed[-1].status is OrderStatus.FILLED
    assert store.positions.find("paper")[0].qty == 0
    await m.set_kill_switch(False)
    assert (await m.submit(m.build("BTC/USDT", Side.BUY, "1"))).status is OrderStatus.FILLED


async def test_daily_loss_limit_trips_the_kill_switch(store: Store, tmp_path: Path) -> None:
    m = oms(store, paper(tmp_path), limits=RiskLimits(daily_loss_limit=1_000))
    m.record_equity(100_000.0)
    m.clock = lambda: store.conn.execute("SELECT max(ts) FROM equity").fetchone()[0] + 10
    store.equity.add("paper", m.clock(), 98_500.0)
    o = await m.submit(m.build("BTC/USDT", Side.BUY, "1"))
    assert o.status is OrderStatus.REJECTED and "daily loss" in o.reason
    assert m.kill_switch


async def test_live_broker_needs_the_setting_and_a_confirmation(
    store: Store, tmp_path: Path
) -> None:
    class Live(PaperBroker):
        live = True

    b = paper(tmp_path, Live)
    off = oms(store, b)
    o = await off.submit(off.build("BTC/USDT", Side.BUY, "1"))
    assert o.status is OrderStatus.REJECTED and "trading.live" in o.reason
    asked: list[str] = []

    def no(order: Order) -> bool:
        asked.append(order.client_id)
        return False

    o = await oms(store, b, live_enabled=True, confirm=no).submit(
        off.build("BTC/USDT", Side.BUY, "1")
    )
    assert o.status is OrderStatus.REJECTED and "not confirmed" in o.reason and asked

    async def yes(order: Order) -> bool:
        return True

    o = await oms(store, b, live_enabled=True, confirm=yes).submit(
        off.build("BTC/USDT", Side.BUY, "1")
    )
    assert o.status is OrderStatus.FILLED
    o = await oms(store, b, live_enabled=True, confirm_live=False).submit(
        off.build("BTC/USDT", Side.BUY, "1")
    )
    assert o.status is OrderStatus.FILLED


async def test_reconcile_applies_what_changed_while_away(store: Store, tmp_path: Path) -> None:
    b = paper(tmp_path)
    m = oms(store, b)
    limit = await m.submit(m.build("BTC/USDT", Side.BUY, "1", OrderType.LIMIT, price="95"))
    # while qws is down: the market trades through the limit, and someone trades by hand
    b.on_tick(Tick(0, "BTC/USDT", 93.0, 94.0, 94.0, 3.0))
    await b.submit(Order("manual-1", "BTC/USDT", Side.BUY, OrderType.MARKET, D("0.5")))
    await b.submit(Order("manual-2", "BTC/USDT", Side.SELL, OrderType.LIMIT, D("1"), D("150")))
    found = await m.reconcile()
    kinds = sorted(d.kind for d in found)
    assert kinds == ["changed_while_away", "external_fill", "unknown_order_at_venue"]
    assert store.orders.get(limit.client_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert store.orders.get("manual-2").status is OrderStatus.OPEN  # type: ignore[union-attr]
    assert store.positions.find("paper")[0].qty == D("1.5")
    assert store.balances.get("paper")["USDT"] == b.balances()["USDT"]
    assert {r["action"] for r in m.discrepancies()} >= {
        "discrepancy.external_fill",
        "discrepancy.unknown_order_at_venue",
    }
    assert await m.reconcile() == []  # settled: nothing new the second time


async def test_reconcile_takes_the_venue_position_when_fills_are_missing(
    store: Store, tmp_path: Path
) -> None:
    b = paper(tmp_path)
    m = oms(store, b)
    await m.submit(m.build("BTC/USDT", Side.BUY, "1"))
    store.conn.execute("UPDATE positions SET qty = '3'")  # corrupted/stale local view
    found = await m.reconcile()
    assert [d.kind for d in found] == ["position_mismatch"]
    assert store.positions.find("paper")[0].qty == D(1)


async def test_brackets_are_placed_after_the_fill_and_cancel_each_other(
    store: Store, tmp_path: Path
) -> None:
    b = paper(tmp_path)
    m = oms(store, b)
    parent = await m.submit(m.build("BTC/USDT", Side.BUY, "1", sl="90", tp="110"))
    sl, tp = store.orders.get(f"{parent.client_id}-sl"), store.orders.get(f"{parent.client_id}-tp")
    assert sl is not None and sl.type is OrderType.STOP and sl.stop == D(90)
    assert tp is not None and tp.type is OrderType.LIMIT and tp.status is OrderStatus.OPEN
    b.on_tick(Tick(0, "BTC/USDT", 111.0, 112.0, 112.0, 5.0))  # trades through the take-profit
    await m.sync()
    assert store.orders.get(tp.client_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert store.orders.get(sl.client_id).status is OrderStatus.CANCELLED  # type: ignore[union-attr]
    assert store.positions.find("paper")[0].qty == 0


async def test_brackets_of_a_confirmed_live_order_are_not_asked_again(
    store: Store, tmp_path: Path
) -> None:
    class Live(PaperBroker):
        live = True

    asked: list[str] = []

    def yes(order: Order) -> bool:
        asked.append(order.client_id)
        return True

    m = oms(store, paper(tmp_path, Live), live_enabled=True, confirm=yes)
    parent = await m.submit(m.build("BTC/USDT", Side.BUY, "1", sl="90", tp="110"))
    assert asked == [parent.client_id]
    assert store.orders.get(f"{parent.client_id}-sl").status is OrderStatus.OPEN  # type: ignore[union-attr]


async def test_a_live_order_that_risk_rejects_is_never_put_to_the_user(
    store: Store, tmp_path: Path
) -> None:
    class Live(PaperBroker):
        live = True

    asked: list[str] = []
    m = oms(
        store,
        paper(tmp_path, Live),
        live_enabled=True,
        confirm=lambda o: asked.append(o.client_id) or True,
        limits=RiskLimits(max_order_notional=50),
    )
    o = await m.submit(m.build("BTC/USDT", Side.BUY, "1"))
    assert o.status is OrderStatus.REJECTED and "exceeds the limit" in o.reason and asked == []


async def test_equity_converts_cash_and_positions_with_live_rates(
    store: Store, tmp_path: Path
) -> None:
    usdjpy = Instrument("USDJPY", "demo", D("0.001"), D("1000"), "JPY", "USD")
    instruments = {"BTC/USDT": BTC, "USDJPY": usdjpy}
    b = PaperBroker(tmp_path / "p.db", instruments, starting_balances={"USDT": 1000, "JPY": 15000})
    b.on_book(standard_book())
    marks = {"BTC/USDT": 100.0, "USDJPY": 150.0}
    m = OrderManager(store, b, instruments.__getitem__, marks=marks.get)
    await m.submit(m.build("BTC/USDT", Side.BUY, "2"))
    await m.reconcile()
    rates = m.rates({"USDT/USD": 1.0})
    assert rates == {"USDT/USD": 1.0, "BTC/USDT": 100.0, "USD/JPY": 150.0}
    cash = float(b.balances()["USDT"])
    assert m.equity("USD", rates) == pytest.approx(cash + 2 * 100.0 + 15000 / 150)
    assert m.equity("USD", {}) is None  # no rate for USDT: no guess
    m.record_equity(1.0)
    assert store.conn.execute("SELECT count(*) FROM equity").fetchone()[0] == 1


async def test_partial_fill_then_the_rest_on_the_next_book(store: Store, tmp_path: Path) -> None:
    b = paper(tmp_path)
    m = oms(store, b)
    o = await m.submit(m.build("BTC/USDT", Side.BUY, "12"))
    assert o.status is OrderStatus.PARTIALLY_FILLED and o.filled_qty == D(10)
    b.on_book(standard_book())
    await m.sync()
    done = store.orders.get(o.client_id)
    assert done is not None and done.status is OrderStatus.FILLED and done.filled_qty == D(12)
    assert [f.qty for f in store.fills.find(client_id=o.client_id)] == [D(5), D(5), D(2)]
    assert store.positions.find("paper")[0].qty == D(12)
    statuses = [
        r["detail"]
        for r in reversed(store.audit.recent(100))
        if r["subject"] == o.client_id and r["action"] == "order.status"
    ]
    assert [s.split('"to": "')[1].split('"')[0] for s in statuses] == [
        "SUBMITTING",
        "PARTIALLY_FILLED",
        "FILLED",
    ]


async def test_in_flight_submit_gets_a_grace_period_and_a_late_arrival_is_revived(
    store: Store, tmp_path: Path
) -> None:
    class Slow(PaperBroker):
        submit_grace_s = 30.0

        async def submit(self, order: Order) -> Order:
            raise BrokerUnavailable("timeout")  # never arrives (yet)

    b = paper(tmp_path, Slow)
    now = [10**18]
    m = oms(store, b, clock=lambda: now[0])
    o = await m.submit(m.build("BTC/USDT", Side.BUY, "1", OrderType.LIMIT, price="90"))
    assert o.status is OrderStatus.SUBMITTING
    now[0] += 5 * 10**9
    assert await m.reconcile() == []  # still in flight: neither rejected nor duplicated
    assert store.orders.get(o.client_id).status is OrderStatus.SUBMITTING  # type: ignore[union-attr]
    now[0] += 60 * 10**9
    found = await m.reconcile()
    assert [d.kind for d in found] == ["never_reached_venue"]
    assert store.orders.get(o.client_id).status is OrderStatus.REJECTED  # type: ignore[union-attr]
    b.submit_now(o)  # the request arrives at the venue after all
    found = await m.reconcile()
    assert [d.kind for d in found] == ["revived"]
    revived = store.orders.get(o.client_id)
    assert revived is not None and revived.status is OrderStatus.OPEN
    assert [x.client_id for x in store.orders.find(open_only=True)] == [o.client_id]


async def test_a_kill_switch_engaged_elsewhere_cancels_through_the_oms(
    store: Store, tmp_path: Path
) -> None:
    from workstation.trading.killswitch import KillSwitch

    shared = KillSwitch(store)  # the one the Telegram controller and the app hold
    b = paper(tmp_path)
    m = oms(store, b, kill_switch=shared)
    resting = await m.submit(m.build("BTC/USDT", Side.BUY, "1", OrderType.LIMIT, price="90"))
    await shared.engage("telegram:42", "/kill")
    assert m.kill_switch
    assert (await b.order(resting.client_id)).status is OrderStatus.CANCELLED  # type: ignore[union-attr]
    assert store.orders.get(resting.client_id).status is OrderStatus.CANCELLED  # type: ignore[union-attr]
    blocked = await m.submit(m.build("BTC/USDT", Side.BUY, "1"))
    assert blocked.status is OrderStatus.REJECTED
    shared.release("telegram:42")
    assert (await m.submit(m.build("BTC/USDT", Side.BUY, "1"))).status is OrderStatus.FILLED


async def test_listeners_hear_each_fill_once_and_each_rejection_after_it_is_stored(
    store: Store, tmp_path: Path
) -> None:
    b = paper(tmp_path)
    m = oms(store, b, limits=RiskLimits(max_order_notional=500))
    heard: list[object] = []

    def listener(event: object) -> None:
        if isinstance(event, Order):  # the rejection is already on disk when we hear it
            assert store.orders.get(event.client_id).status is OrderStatus.REJECTED  # type: ignore[union-attr]
        heard.append(event)

    def broken(event: object) -> None:
        raise RuntimeError("a listener bug must not stop the order flow")

    m.listeners += [broken, listener]
    filled = await m.submit(m.build("BTC/USDT", Side.BUY, "2"))
    await m.reconcile()  # the same fills again: recorded once, heard once
    rejected = await m.submit(m.build("BTC/USDT", Side.BUY, "10"))
    fills = [e for e in heard if isinstance(e, Fill)]
    assert filled.status is OrderStatus.FILLED
    assert {f.client_id for f in fills} == {filled.client_id}
    assert sum(f.qty for f in fills) == D(2)
    assert [e.client_id for e in heard if isinstance(e, Order)] == [rejected.client_id]


# -- protective orders ---------------------------------------------------------------------------
def legs(store: Store, parent: Order) -> list[Order]:
    """The parent's protective orders, oldest first."""
    return sorted(
        (
            o
            for o in store.orders.find(limit=100_000)
            if o.client_id.startswith(f"{parent.client_id}-")
        ),
        key=lambda o: o.ts_ns,
    )


def working(store: Store) -> list[Order]:
    return store.orders.find(open_only=True, venue="paper")


def position(store: Store) -> D:
    return next((p.qty for p in store.positions.find("paper") if p.symbol == "BTC/USDT"), D(0))


async def test_a_stop_loss_on_the_wrong_side_is_refused_before_anything_is_sent(
    store: Store, tmp_path: Path
) -> None:
    b = paper(tmp_path)
    m = oms(store, b)
    order = m.build("BTC/USDT", Side.BUY, "1", sl="120")
    reason = "stop-loss 120 is above the entry 100.00 of a buy: it would fire at once"
    assert m.preview(order).reason == reason
    o = await m.submit(order)
    assert (o.status, o.reason) == (OrderStatus.REJECTED, reason)
    assert await b.order(o.client_id) is None and position(store) == 0
    tp = await m.submit(m.build("BTC/USDT", Side.SELL, "1", OrderType.LIMIT, price="105", tp="106"))
    assert tp.status is OrderStatus.REJECTED
    assert tp.reason == "take-profit 106 is above the entry 105.00 of a sell: it would fill at once"


async def test_a_parent_filled_past_its_stop_is_closed_at_market_and_the_user_alerted(
    store: Store, tmp_path: Path
) -> None:
    from engine.model import Alert, Severity

    class Gap(PaperBroker):
        async def submit(self, order: Order) -> Order:
            if order.sl is not None:  # the market gaps down while the entry is in flight
                self.on_book(
                    OrderBook(0, "BTC/USDT", (BookLevel(89.0, 5.0),), (BookLevel(91.0, 5.0),))
                )
            return await super().submit(order)

    b = paper(tmp_path, Gap)
    m = OrderManager(store, b, INSTRUMENTS.__getitem__, marks=lambda s: float(sum(b.quote(s)) / 2))  # type: ignore[arg-type]
    heard: list[object] = []
    m.listeners.append(heard.append)
    parent = await m.submit(m.build("BTC/USDT", Side.BUY, "1", sl="95", tp="110"))
    assert parent.status is OrderStatus.FILLED and parent.avg_price == D(91)
    # no stop at 95 was sent to fire at once below the market: the position was closed at market
    [exit_] = legs(store, parent)
    assert exit_.type is OrderType.MARKET and exit_.side is Side.SELL and exit_.qty == D(1)
    assert exit_.status is OrderStatus.FILLED and exit_.client_id == f"{parent.client_id}-x"
    assert position(store) == 0 and working(store) == []
    [alert] = [e for e in heard if isinstance(e, Alert)]
    assert alert.severity is Severity.CRITICAL and "stop-loss 95" in alert.body
    assert "closed at market" in alert.body
    assert store.audit.exists("bracket.crossed", parent.client_id)


async def test_brackets_do_not_depend_on_how_many_other_orders_exist(
    store: Store, tmp_path: Path
) -> None:
    b = paper(tmp_path)
    m = oms(store, b)
    parent = await m.submit(
        m.build("BTC/USDT", Side.BUY, "1", OrderType.LIMIT, price="95", sl="90", tp="110")
    )
    assert parent.status is OrderStatus.OPEN

    async def others(n: int) -> None:  # rejected on the grid: stored, never at the venue
        for _ in range(n):
            await m.submit(m.build("BTC/USDT", Side.BUY, "0.0001"))

    await others(201)
    b.on_tick(Tick(0, "BTC/USDT", 93.0, 94.0, 94.0, 3.0))  # trades through the entry
    await m.sync()
    assert store.orders.get(parent.client_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    sl, tp = (store.orders.get(f"{parent.client_id}-{k}") for k in ("sl", "tp"))
    assert sl is not None and sl.status is OrderStatus.OPEN and sl.qty == D(1)
    assert tp is not None and tp.status is OrderStatus.OPEN and tp.qty == D(1)
    await others(201)
    b.on_tick(Tick(0, "BTC/USDT", 111.0, 112.0, 112.0, 5.0))  # trades through the take-profit
    await m.sync()
    assert store.orders.get(tp.client_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert store.orders.get(sl.client_id).status is OrderStatus.CANCELLED  # type: ignore[union-attr]
    b.on_tick(Tick(0, "BTC/USDT", 80.0, 81.0, 81.0, 5.0))  # the old stop would open a short
    await m.sync()
    assert position(store) == 0 and working(store) == []
    assert store.orders.open_brackets("paper") == []


class Crash(BaseException):
    """The process dies here (SIGKILL): nothing after this line runs."""


async def test_a_leg_lost_in_a_crash_is_placed_again_on_restart_and_the_user_told(
    store: Store, tmp_path: Path
) -> None:
    from engine.model import Alert

    class Dies(PaperBroker):
        async def submit(self, order: Order) -> Order:
            if order.client_id.endswith("-sl"):
                raise Crash
            return await super().submit(order)

    b = paper(tmp_path, Dies)
    m = oms(store, b)
    with pytest.raises(Crash):
        await m.submit(m.build("BTC/USDT", Side.BUY, "2", sl="90"))
    b.close()
    [parent] = [o for o in store.orders.find() if o.sl is not None]
    assert store.orders.get(f"{parent.client_id}-sl").status is OrderStatus.SUBMITTING  # type: ignore[union-attr]

    restarted = paper(tmp_path)
    m2 = oms(store, restarted)
    heard: list[object] = []
    m2.listeners.append(heard.append)
    await m2.reconcile()
    lost, again = legs(store, parent)
    assert (lost.client_id, lost.status) == (f"{parent.client_id}-sl", OrderStatus.REJECTED)
    assert again.client_id == f"{parent.client_id}-sl.2" and again.status is OrderStatus.OPEN
    assert (again.type, again.side, again.stop, again.qty) == (
        OrderType.STOP, Side.SELL, D(90), D(2),
    )  # fmt: skip
    assert (await restarted.order(again.client_id)).status is OrderStatus.OPEN  # type: ignore[union-attr]
    assert store.audit.exists("bracket.replaced", again.client_id)
    [alert] = [e for e in heard if isinstance(e, Alert)]
    assert "stop-loss" in alert.body and again.client_id in alert.body
    await m2.reconcile()  # protected: nothing placed twice
    assert len(legs(store, parent)) == 2


async def test_a_partial_exit_resizes_the_other_leg_to_the_position_left(
    store: Store, tmp_path: Path
) -> None:
    b = paper(tmp_path)
    m = oms(store, b)
    parent = await m.submit(m.build("BTC/USDT", Side.BUY, "3", sl="90", tp="110"))
    b.on_tick(Tick(0, "BTC/USDT", 111.0, 112.0, 112.0, 1.0))  # 1 of the 3 trades at the target
    await m.sync()
    assert store.orders.get(f"{parent.client_id}-tp").filled_qty == D(1)  # type: ignore[union-attr]
    [sl] = [o for o in working(store) if o.type is OrderType.STOP]
    assert sl.client_id == f"{parent.client_id}-sl.2" and sl.qty == D(2)
    await m.flatten()  # the user closes by hand: nothing is left to protect, nothing re-placed
    assert position(store) == 0 and working(store) == []
    await m.reconcile()
    assert working(store) == []


async def test_the_kill_switch_keeps_the_protective_orders_of_open_positions(
    store: Store, tmp_path: Path
) -> None:
    b = paper(tmp_path)
    m = oms(store, b)
    parent = await m.submit(m.build("BTC/USDT", Side.BUY, "1", sl="90", tp="110"))
    entry = await m.submit(m.build("BTC/USDT", Side.BUY, "1", OrderType.LIMIT, price="90"))
    cancelled = await m.set_kill_switch(True, "test")
    assert [o.client_id for o in cancelled] == [entry.client_id]
    kept = {f"{parent.client_id}-sl", f"{parent.client_id}-tp"}
    assert {o.client_id for o in m.last_kept} == kept
    assert {o.client_id for o in working(store)} == kept
    assert {o.client_id for o in await b.open_orders()} == kept
    assert position(store) == D(1)
    b.on_tick(Tick(0, "BTC/USDT", 85.0, 86.0, 86.0, 5.0))  # the stop still protects the position
    await m.sync()
    assert position(store) == 0 and working(store) == []


async def test_a_kill_switch_set_to_flatten_closes_the_positions(
    store: Store, tmp_path: Path
) -> None:
    b = paper(tmp_path)
    m = oms(store, b, kill_flattens=True)
    parent = await m.submit(m.build("BTC/USDT", Side.BUY, "1", sl="90", tp="110"))
    await m.set_kill_switch(True, "test")
    assert position(store) == 0 and working(store) == [] and await b.open_orders() == []
    [closing] = m.last_closed
    assert closing.side is Side.SELL and closing.status is OrderStatus.FILLED
    assert {o.status for o in legs(store, parent)} == {OrderStatus.CANCELLED}


_SUBMITTER = """
import asyncio, sys
from decimal import Decimal
from engine.model import Side
from tests.workstation.trading.test_oms import INSTRUMENTS, paper, oms
from pathlib import Path
from workstation.store import Store

async def main() -> None:
    store = Store(sys.argv[1])
    manager = oms(store, paper(Path(sys.argv[2])))
    print("OPEN", flush=True)
    sys.stdin.readline()
    buy = manager.build("BTC/USDT", Side.BUY, Decimal("0.5"), client_id="x1")
    order = await manager.submit(buy)
    print(order.status, flush=True)

asyncio.run(main())
"""


async def test_an_order_another_process_is_submitting_is_not_settled_as_never_sent(
    store: Store, tmp_path: Path
) -> None:
    """The workstation reconciles while ``qws order`` waits on the paper account's lock: the
    order is the other process's to settle, not "never reached the venue"."""
    import subprocess
    import sys
    import time

    root = Path(__file__).parents[3]
    broker = paper(tmp_path)
    manager = oms(store, broker)
    proc = subprocess.Popen(
        [sys.executable, "-c", _SUBMITTER, str(store.path), str(tmp_path)],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    assert proc.stdout.readline().split() == ["OPEN"], proc.stderr
    lock = sqlite3.connect(tmp_path / "paper.db", isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    proc.stdin.write("go\n")
    proc.stdin.flush()
    try:
        deadline = time.monotonic() + 60
        while (o := store.orders.get("x1")) is None or o.status is not OrderStatus.SUBMITTING:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the other process never wrote its intent"
            time.sleep(0.05)
        await manager.reconcile()
        assert store.orders.get("x1").status is OrderStatus.SUBMITTING  # type: ignore[union-attr]
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.split() == ["FILLED"]
    await manager.reconcile()
    settled = store.orders.get("x1")
    assert settled is not None and settled.status is OrderStatus.FILLED
    assert not [d for d in manager.discrepancies() if d["subject"] == "x1"]


async def test_a_submitting_order_of_a_process_that_died_is_settled(
    store: Store, tmp_path: Path
) -> None:
    import subprocess
    import sys
    from dataclasses import replace

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    manager = oms(store, paper(tmp_path))
    order = manager.build("BTC/USDT", Side.BUY, "0.5", client_id="x2")
    with store.durable():
        store.orders.save(replace(order, status=OrderStatus.SUBMITTING), owner=gone)
    await manager.reconcile()
    settled = store.orders.get("x2")
    assert settled is not None and settled.status is OrderStatus.REJECTED
    assert settled.reason == "never reached the venue"


async def test_brackets_are_kept_by_one_process_at_a_time(store: Store, tmp_path: Path) -> None:
    """Two processes keeping one bracket would place its stop twice (or cancel the one the
    other placed): while another running process keeps the brackets, this one leaves them."""
    import subprocess
    import sys

    keeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        store.settings.set("brackets.keeper.paper", str(keeper.pid))
        m = oms(store, paper(tmp_path))
        parent = await m.submit(m.build("BTC/USDT", Side.BUY, "1", sl="90", tp="110"))
        assert parent.status is OrderStatus.FILLED
        assert store.orders.with_prefix(f"{parent.client_id}-") == []
    finally:
        keeper.kill()
        keeper.wait()
    await m.sync()  # the keeper is gone: this process takes over
    legs = {o.client_id: o.status for o in store.orders.with_prefix(f"{parent.client_id}-")}
    assert legs == {
        f"{parent.client_id}-sl": OrderStatus.OPEN,
        f"{parent.client_id}-tp": OrderStatus.OPEN,
    }
    assert store.settings.get("brackets.keeper.paper") == str(os.getpid())


async def test_a_venue_error_echoing_a_key_reaches_listeners_masked(
    store: Store, tmp_path: Path
) -> None:
    """The screen's log hears the rejected order from the OMS, not from the store."""
    from engine.protocols import OrderRejected
    from workstation.runtime.secrets import protect

    key = protect("Kx9-echoed-API-key-0001")

    class Echoing(PaperBroker):
        async def submit(self, order: Order) -> Order:
            raise OrderRejected(f"bad request; headers: x-mbx-apikey={key.lower()}")

    m = oms(store, paper(tmp_path, Echoing))
    heard: list[object] = []
    m.listeners.append(heard.append)
    rejected = await m.submit(m.build("BTC/USDT", Side.BUY, "1"))
    assert rejected.status is OrderStatus.REJECTED and "***" in rejected.reason
    assert key.lower() not in str(heard) and key.lower() not in rejected.reason
    assert [getattr(e, "reason", "") for e in heard] == [rejected.reason]
