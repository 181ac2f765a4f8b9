"""The runtime's side of the command language, with its real parts (a store on a file, the
paper broker, the order manager): the answers to questions, an order's size from a notional or
a part of the position, a partial close, and moving the protection of an open position (the
new leg placed before the old one is cancelled, never a level on the wrong side)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from engine.commands import Command
from engine.model import OrderStatus, OrderType, Side
from tests.workstation.trader.test_runtime import SYMBOL, Live, start_live, until
from workstation.store import Store
from workstation.trader.runtime import Runtime, TradingUnavailable


@pytest.fixture
async def desk(store: Store) -> AsyncIterator[Live]:
    """A runtime whose mark of TEST is 100 (a lot of 1, a tick of 0.01, quoted in USD)."""
    live = await start_live(store, {"risk.max_orders_per_minute": 1000})
    await live.quote(99.0, 101.0, 100.0, 1.0)
    await until(lambda: live.runtime.quotes == 1, "the first quote")
    try:
        yield live
    finally:
        await live.runtime.shutdown()


def order(**entities: object) -> Command:
    return Command("order", {"side": "buy", "symbol": SYMBOL, "type": "market", **entities})


async def long_position(rt: Runtime, qty: str, **levels: str) -> str:
    parent = await rt.submit(rt.build(SYMBOL, Side.BUY, qty, **levels))
    assert parent.status is OrderStatus.FILLED, parent.reason
    return parent.client_id


def audit_actions(store: Store, subject_prefix: str) -> list[tuple[str, str]]:
    rows = store.audit.recent(10_000)
    return [
        (str(r["action"]), str(r["subject"]))
        for r in reversed(rows)
        if str(r["subject"]).startswith(subject_prefix)
    ]


# -- sizes ------------------------------------------------------------------------------------
async def test_a_notional_is_sized_at_the_mark_rounded_down_to_the_lot(desk: Live) -> None:
    rt = desk.runtime
    sized = rt.size_order(order(notional=Decimal("250"), notional_ccy="USD"))
    assert sized.qty == Decimal("2")  # 2.5 at 100, down to the lot of 1
    assert sized.text == "250 USD at 100.00 = 2 TEST (lot 1)"
    assert rt.order_qty(order(notional=Decimal("250"), notional_ccy="USD")) == Decimal("2")
    # a limit price sizes at that price, not the mark
    at = rt.size_order(order(notional=Decimal("1000"), notional_ccy="USD", price=Decimal("80")))
    assert at.qty == Decimal("12") and "at 80.00" in at.text
    # USDT is pegged to USD in the default settings: converted, and the rate is said
    pegged = rt.size_order(order(notional=Decimal("300"), notional_ccy="USDT"))
    assert pegged.qty == Decimal("3") and "= 300.0 USD at 1.0" in pegged.text
    with pytest.raises(TradingUnavailable, match="no EUR/USD rate"):
        rt.size_order(order(notional=Decimal("300"), notional_ccy="EUR"))
    with pytest.raises(TradingUnavailable, match="less than one lot"):
        rt.size_order(order(notional=Decimal("50"), notional_ccy="USD"))
    assert rt.size_order(order(qty=Decimal("0.5"))).qty == Decimal("0.5")  # as typed


async def test_a_part_of_the_position_reduces_it_and_is_refused_otherwise(desk: Live) -> None:
    rt = desk.runtime
    with pytest.raises(TradingUnavailable, match="no open position in TEST"):
        rt.size_order(order(side="sell", fraction=Decimal("0.5")))
    await long_position(rt, "3")
    half = rt.size_order(order(side="sell", fraction=Decimal("0.5")))
    assert half.qty == Decimal("1") and half.text == "50% of 3 TEST = 1 TEST (lot 1)"
    every = rt.size_order(order(side="sell", fraction=Decimal("1")))
    assert every.qty == Decimal("3") and every.text.startswith("all of 3 TEST")
    with pytest.raises(TradingUnavailable, match="would not reduce the long 3 TEST"):
        rt.size_order(order(side="buy", fraction=Decimal("0.5")))
    with pytest.raises(TradingUnavailable, match="less than one lot"):
        rt.size_order(order(side="sell", fraction=Decimal("0.25")))


async def test_closing_half_a_position_resizes_its_protection(desk: Live, store: Store) -> None:
    rt = desk.runtime
    parent = await long_position(rt, "4", sl="90", tp="110")
    [closing] = await rt.close(SYMBOL, Decimal("0.5"))
    assert closing.status is OrderStatus.FILLED and closing.qty == Decimal("2")
    assert closing.side is Side.SELL
    assert [p.qty for p in store.positions.find("paper") if p.symbol == SYMBOL] == [Decimal(2)]
    legs = [o for o in rt.working_orders() if o.client_id.startswith(parent)]
    assert sorted(o.qty for o in legs) == [Decimal(2), Decimal(2)]
    await rt.close(SYMBOL, Decimal("1"))  # all of it: the legs go with it
    assert rt.working_orders() == []


# -- answers ----------------------------------------------------------------------------------
async def test_the_answers_to_questions(desk: Live) -> None:
    rt = desk.runtime
    assert rt.answer(Command("query", {"what": "price", "symbol": SYMBOL})) == "TEST: 100.00 (mid)"
    assert rt.answer(Command("query", {"what": "positions"})) == "No open positions."
    await long_position(rt, "2", sl="90")
    positions = rt.answer(Command("query", {"what": "positions"})).splitlines()
    assert positions[0] == "Positions" and positions[1].startswith("paper TEST: 2 @ ")
    orders = rt.answer(Command("query", {"what": "orders"})).splitlines()
    assert orders[0] == "Working orders" and "sell 2 TEST stop @ 90 [OPEN]" in orders[1]
    risk = rt.answer(Command("query", {"what": "risk"})).splitlines()
    assert risk[0] == "Risk" and risk[1] == "kill switch: off · paused: no"
    assert "TEST: 2 = 200.00 USD (limit 250,000.00 USD)" in risk
    assert "exposure: 200.00 USD (limit 1,000,000.00 USD)" in risk
    assert rt.answer(Command("query", {"what": "balance"})).startswith("Balances\npaper ")
    assert rt.answer(Command("query", {"what": "pnl"})).startswith("PnL, last day\npaper: ")
    with pytest.raises(TradingUnavailable, match="price of what"):
        rt.answer(Command("query", {"what": "price"}))


# -- amending protection ----------------------------------------------------------------------
async def test_moving_the_stop_places_the_new_leg_before_cancelling_the_old(
    desk: Live, store: Store
) -> None:
    rt = desk.runtime
    parent = await long_position(rt, "1", sl="90", tp="110")
    text = await rt.amend_protection(SYMBOL, Decimal("95"), None)
    assert text == f"TEST: stop-loss 95 ({parent}-sl.2 OPEN)"
    new, old = store.orders.get(f"{parent}-sl.2"), store.orders.get(f"{parent}-sl")
    assert new is not None and new.status is OrderStatus.OPEN and new.stop == Decimal(95)
    assert new.type is OrderType.STOP and new.qty == Decimal(1)
    assert old is not None and old.status is OrderStatus.CANCELLED
    kept = store.orders.get(parent)
    assert kept is not None and kept.sl == Decimal(95) and kept.tp == Decimal(110)
    # the order of events: the new leg's intent is on disk before the old one's cancel
    actions = audit_actions(store, parent)
    placed = actions.index(("order.intent", f"{parent}-sl.2"))
    assert placed < actions.index(("order.cancel_requested", f"{parent}-sl"))
    # the keeper leaves it so (exactly one stop, at the new level) and it protects
    assert rt.oms is not None
    await rt.oms.sync()
    working = {o.client_id for o in rt.working_orders()}
    assert working == {f"{parent}-sl.2", f"{parent}-tp"}
    await desk.quote(94.0, 94.5, 94.2, 1.0)
    await until(lambda: rt.working_orders() == [], "the moved stop to fire")
    assert [p.qty for p in store.positions.find("paper") if p.symbol == SYMBOL] == [0]


async def test_a_level_on_the_wrong_side_of_the_market_is_refused(desk: Live, store: Store) -> None:
    rt = desk.runtime
    parent = await long_position(rt, "1", sl="90", tp="110")
    with pytest.raises(TradingUnavailable, match=r"stop-loss 101 is above the market 100\.00"):
        await rt.amend_protection(SYMBOL, Decimal("101"), None)
    with pytest.raises(TradingUnavailable, match="take-profit 99 is below the market"):
        await rt.amend_protection(SYMBOL, None, Decimal("99"))
    with pytest.raises(TradingUnavailable, match="not a multiple of the tick size"):
        await rt.amend_protection(SYMBOL, Decimal("95.001"), None)
    assert {o.client_id for o in rt.working_orders()} == {f"{parent}-sl", f"{parent}-tp"}
    kept = store.orders.get(parent)
    assert kept is not None and kept.sl == Decimal(90) and kept.tp == Decimal(110)


async def test_the_old_leg_keeps_working_when_the_new_one_is_refused(store: Store) -> None:
    live = await start_live(store, {"risk.max_orders_per_minute": 3})
    rt = live.runtime
    try:
        await live.quote(99.0, 101.0, 100.0, 1.0)
        await until(lambda: rt.quotes == 1, "the first quote")
        parent = await long_position(rt, "1", sl="90", tp="110")  # 3 orders this minute
        with pytest.raises(TradingUnavailable) as refused:
            await rt.amend_protection(SYMBOL, Decimal("95"), None)
        assert "the new stop-loss at 95 was not placed (REJECTED" in str(refused.value)
        assert f"the stop-loss {parent}-sl at 90 keeps working" in str(refused.value)
        old = store.orders.get(f"{parent}-sl")
        assert old is not None and old.status is OrderStatus.OPEN
        kept = store.orders.get(parent)
        assert kept is not None and kept.sl == Decimal(90)
        assert rt.oms is not None
        await rt.oms.sync()  # the keeper does not take the refusal for a lost leg
        assert {o.client_id for o in rt.working_orders()} == {f"{parent}-sl", f"{parent}-tp"}
    finally:
        await rt.shutdown()


async def test_a_position_without_protection_gets_a_stop_and_none_is_refused(
    desk: Live, store: Store
) -> None:
    rt = desk.runtime
    with pytest.raises(TradingUnavailable, match="no open position in TEST"):
        await rt.amend_protection(SYMBOL, Decimal("95"), None)
    first = await long_position(rt, "1")
    second = await long_position(rt, "2")
    text = await rt.amend_protection(SYMBOL, Decimal("95"), None)
    assert f"{first}-sl OPEN" in text and f"{second}-sl OPEN" in text
    legs = sorted(rt.working_orders(), key=lambda o: o.qty)
    assert [(o.qty, o.stop, o.side) for o in legs] == [
        (Decimal(1), Decimal(95), Side.SELL),
        (Decimal(2), Decimal(95), Side.SELL),
    ]
    # a take-profit added later joins the stop, which stays as it is
    await rt.amend_protection(SYMBOL, None, Decimal("120"))
    working = rt.working_orders()
    assert sorted(o.client_id for o in working) == sorted(
        [f"{first}-sl", f"{second}-sl", f"{first}-tp", f"{second}-tp"]
    )


# -- orders worked over time ---------------------------------------------------------------------
async def test_a_twap_said_as_a_command_is_worked_by_the_runtime(desk: Live) -> None:
    """Telegram and the command bar carry out ``buy 4 test twap 4h``: a parent the runtime
    works on the bars it plays (one an hour here), a child at each slice's end."""
    from engine.trading.schedule import AlgoStatus

    rt = desk.runtime
    text = await rt.carry_out(order(qty=Decimal("4"), algo="twap", over="4h"), "telegram")
    assert "TWAP buy 4 TEST over 4h" in text and "working, 4 slices" in text
    [parent] = rt.algo_orders()
    for _ in range(6):
        await desk.bar(100.0)
    await until(lambda: rt.store.algos.get(parent.id).status is AlgoStatus.DONE, "the parent")  # type: ignore[union-attr]
    children = rt.store.orders.children(parent.id)
    assert [c.qty for c in children] == [Decimal(1)] * 4
    assert all(c.status is OrderStatus.FILLED for c in children)
    refused = await rt.carry_out(order(qty=Decimal("4.5"), algo="twap", over="1h"), "telegram")
    assert refused.startswith("Refused:") and "lot size" in refused


async def test_a_twap_is_refused_up_front_while_the_kill_switch_is_on(desk: Live) -> None:
    rt = desk.runtime
    await rt.set_kill(True, "test")
    text = await rt.carry_out(order(qty=Decimal("4"), algo="twap", over="4h"), "telegram")
    assert text.startswith("Refused:") and "kill switch" in text
    assert rt.algo_orders() == []
