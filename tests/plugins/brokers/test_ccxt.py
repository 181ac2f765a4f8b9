from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path

import pytest

from engine.model import Instrument, Order, OrderStatus, OrderType, Side
from engine.protocols import BrokerError, BrokerUnavailable, OrderRejected, ReconcilingBroker
from plugins.brokers.ccxt import CcxtBroker
from tests.plugins.fake_binance import FakeBinance
from workstation.store import Store
from workstation.trading.oms import OrderManager

BTC = Instrument("BTC/USDT", "binance", D("0.01"), D("0.00001"), "USDT", "BTC")
POST = ("POST", "/api/v3/order")


@dataclass
class Venue:
    server: FakeBinance
    broker: CcxtBroker


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    server = FakeBinance(timeout_s=0.6)
    base = await server.start()
    broker = CcxtBroker(
        "binance",
        api_key="test-key",
        secret="test-secret",
        urls={"public": base, "private": base},
        timeout_ms=300,
        retries=2,
        retry_delay_s=0.01,
        symbols=["BTC/USDT"],
        rate_limit_ms=5,
    )
    yield Venue(server, broker)
    await broker.close()
    await server.stop()


def order(cid: str, qty: str = "0.01", **kw: object) -> Order:
    kw.setdefault("side", Side.BUY)
    kw.setdefault("type", OrderType.MARKET)
    return Order(cid, "BTC/USDT", qty=D(qty), **kw)  # type: ignore[arg-type]


async def test_market_order_round_trip_in_binance_formats(venue: Venue) -> None:
    assert isinstance(venue.broker, ReconcilingBroker)
    o = await venue.broker.submit(order("qws-a1"))
    assert o.status is OrderStatus.FILLED and o.filled_qty == D("0.01")
    assert o.avg_price == D("60000") and o.broker_id == "1000"
    [(_, _, params)] = [r for r in venue.server.requests if r[:2] == POST]
    assert params["newClientOrderId"] == "qws-a1" and params["quantity"] == "0.01"
    assert params["type"] == "MARKET" and "signature" in params
    [fill] = await venue.broker.fills()
    assert (fill.client_id, fill.qty, fill.price) == ("qws-a1", D("0.01"), D("60000"))
    assert fill.fee_ccy == "BTC" and fill.fill_id == "BTC/USDT:5000"
    [pos] = await venue.broker.positions()
    assert pos.qty == D("1.01")
    assert (await venue.broker.balance())["USDT"] == pytest.approx(100_000 - 600)


async def test_off_grid_quantity_is_rejected_before_anything_is_sent(venue: Venue) -> None:
    with pytest.raises(OrderRejected, match="lot grid"):
        await venue.broker.submit(order("qws-g", qty="0.000015"))
    with pytest.raises(OrderRejected, match="tick grid"):
        await venue.broker.submit(order("qws-p", type=OrderType.LIMIT, price=D("60000.005")))
    assert venue.server.count(*POST) == 0


async def test_insufficient_funds_is_rejected_with_the_venue_message(venue: Venue) -> None:
    with pytest.raises(OrderRejected, match="insufficient balance"):
        await venue.broker.submit(order("qws-big", qty="100"))


async def test_502_after_the_venue_accepted_finds_the_order_instead_of_resending(
    venue: Venue,
) -> None:
    venue.server.fail("POST /api/v3/order", "accept_then_502")
    o = await venue.broker.submit(order("qws-502"))
    assert o.status is OrderStatus.FILLED and o.client_id == "qws-502"
    assert venue.server.count(*POST) == 1 and len(venue.server.orders) == 1


async def test_timeout_after_accept_is_resolved_by_client_id(venue: Venue) -> None:
    venue.server.fail("POST /api/v3/order", "timeout")
    o = await venue.broker.submit(order("qws-slow"))
    assert o.status is OrderStatus.FILLED
    assert len(venue.server.orders) == 1


async def test_500_before_accept_retries_with_the_same_client_id(venue: Venue) -> None:
    venue.server.fail("POST /api/v3/order", "500")
    o = await venue.broker.submit(order("qws-500"))
    assert o.status is OrderStatus.FILLED
    posts = [p for m, path, p in venue.server.requests if (m, path) == POST]
    assert [p["newClientOrderId"] for p in posts] == ["qws-500", "qws-500"]
    assert len(venue.server.orders) == 1


async def test_429_backs_off_and_retries_but_418_stops_at_once(venue: Venue) -> None:
    venue.server.fail("POST /api/v3/order", "429")
    assert (await venue.broker.submit(order("qws-429"))).status is OrderStatus.FILLED
    assert venue.server.count(*POST) == 2
    venue.server.fail("POST /api/v3/order", "418", "418", "418")
    with pytest.raises(BrokerUnavailable, match="banned"):
        await venue.broker.submit(order("qws-418"))
    assert venue.server.count(*POST) == 3
    assert "qws-418" not in venue.server.orders


async def test_resting_limit_cancel_open_orders_and_venue_side_fills(venue: Venue) -> None:
    o = await venue.broker.submit(
        order("qws-l1", qty="0.5", type=OrderType.LIMIT, price=D("59000"))
    )
    assert o.status is OrderStatus.OPEN and o.price == D("59000")
    await venue.broker.submit(order("qws-l2", qty="0.5", type=OrderType.LIMIT, price=D("58000")))
    assert {x.client_id for x in await venue.broker.open_orders()} == {"qws-l1", "qws-l2"}
    venue.server.fill_resting("qws-l1", "0.2", "59000")
    got = await venue.broker.order("qws-l1", "BTC/USDT")
    assert got is not None and got.status is OrderStatus.PARTIALLY_FILLED
    assert got.filled_qty == D("0.2")
    cancelled = await venue.broker.cancel("qws-l2")
    assert cancelled.status is OrderStatus.CANCELLED
    assert await venue.broker.order("qws-none", "BTC/USDT") is None


async def _oms(store: Store, broker: CcxtBroker) -> OrderManager:
    return OrderManager(
        store,
        broker,
        {"BTC/USDT": BTC}.__getitem__,
        marks=lambda s: 60_000.0,
        live_enabled=True,
        confirm_live=False,
    )


async def test_oms_keeps_an_unknown_outcome_submitting_then_reconciles(
    venue: Venue, tmp_path: Path
) -> None:
    store = Store(tmp_path / "q.db")
    oms = await _oms(store, venue.broker)
    # every attempt reaches the venue but every answer is lost, and lookups fail too
    venue.server.fail("POST /api/v3/order", "accept_then_502", "500", "500")
    venue.server.fail("GET /api/v3/order", *["500"] * 12)
    o = await oms.submit(oms.build("BTC/USDT", Side.BUY, "0.01"))
    assert o.status is OrderStatus.SUBMITTING
    assert len(venue.server.orders) == 1  # one order at the venue, however many attempts
    venue.server.faults.clear()
    found = await oms.reconcile()
    assert store.orders.get(o.client_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert [f.client_id for f in store.fills.find()] == [o.client_id]
    assert any(d.kind == "changed_while_away" for d in found)
    assert "test-secret" not in str(store.audit.recent(100))
    store.close()


async def test_oms_reconcile_after_a_restart_sees_fills_made_while_away(
    venue: Venue, tmp_path: Path
) -> None:
    store = Store(tmp_path / "q.db")
    oms = await _oms(store, venue.broker)
    o = await oms.submit(oms.build("BTC/USDT", Side.SELL, "0.3", OrderType.LIMIT, price="61000"))
    assert o.status is OrderStatus.OPEN
    venue.server.fill_resting(o.client_id, "0.3", "61000")
    base = venue.broker.exchange.urls["api"]["public"]
    fresh = CcxtBroker(  # a restarted process: no memory of symbols or order ids
        "binance",
        api_key="test-key",
        secret="test-secret",
        urls={"public": base, "private": base},
        rate_limit_ms=5,
    )
    try:
        oms2 = await _oms(store, fresh)
        found = await oms2.reconcile()
        assert store.orders.get(o.client_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
        [fill] = store.fills.find(venue="binance")
        assert fill.client_id == o.client_id and fill.price == D("61000")
        kinds = {d.kind for d in found}
        assert "changed_while_away" in kinds and "external_fill" not in kinds
        assert store.balances.get("binance")["BTC"] == D("0.7")
    finally:
        await fresh.close()
        store.close()


async def test_a_refused_key_rejects_the_order_without_leaking_it(
    venue: Venue, tmp_path: Path
) -> None:
    base = venue.broker.exchange.urls["api"]["public"]
    wrong = CcxtBroker(
        "binance",
        api_key="stolen-key",
        secret="s3cr3t-value",
        urls={"public": base, "private": base},
        rate_limit_ms=5,
    )
    store = Store(tmp_path / "q.db")
    try:
        oms = await _oms(store, wrong)
        o = await oms.submit(oms.build("BTC/USDT", Side.BUY, "0.01"))
        assert o.status is OrderStatus.REJECTED and "refused the API key" in o.reason
        assert "s3cr3t" not in o.reason and "stolen-key" not in str(store.audit.recent(50))
        assert venue.server.orders == {}
    finally:
        await wrong.close()
        store.close()


async def test_sandbox_switches_to_the_testnet_and_urls_still_override() -> None:
    sandbox = CcxtBroker("binance", sandbox=True)
    assert sandbox.exchange.urls["api"]["private"].startswith("https://testnet.binance.vision")
    assert sandbox.exchange.enableRateLimit and sandbox.live
    await sandbox.close()
    proxied = CcxtBroker("binance", urls={"api": {"private": "http://127.0.0.1:9/api/v3"}})
    assert proxied.exchange.urls["api"]["private"] == "http://127.0.0.1:9/api/v3"
    assert proxied.exchange.urls["api"]["public"] == "https://api.binance.com/api/v3"
    await proxied.close()
    with pytest.raises(BrokerError, match="no exchange 'nosuch'"):
        CcxtBroker("nosuch")


async def test_a_twap_parent_works_through_the_exchange_child_by_child(
    venue: Venue, tmp_path: Path
) -> None:
    from engine.trading.schedule import Algo, AlgoParams, AlgoStatus
    from workstation.trading.algos import AlgoDesk, report

    store = Store(tmp_path / "q.db")
    now = [1_700_000_000_000_000_000]
    oms = OrderManager(
        store,
        venue.broker,
        {"BTC/USDT": BTC}.__getitem__,
        marks=lambda s: 60_000.0,
        live_enabled=True,
        confirm_live=False,
        clock=lambda: now[0],
    )
    desk = AlgoDesk(store, oms, "1m", lambda: now[0])
    parent = desk.new("BTC/USDT", Side.BUY, D("0.04"), AlgoParams(Algo.TWAP, 4 * 60 * 10**9, 4))
    await desk.step()
    for _ in range(4):
        now[0] += 60 * 10**9
        await desk.step()
    done = store.algos.get(parent.id)
    assert done is not None and done.status is AlgoStatus.DONE
    posted = [r[2] for r in venue.server.requests if r[:2] == POST]
    assert [p["newClientOrderId"] for p in posted] == [f"{parent.id}.{n}" for n in range(1, 5)]
    assert [p["quantity"] for p in posted] == ["0.01"] * 4
    r = report(store, done)
    assert r.filled == D("0.04") and r.avg_price == D("60000")
    assert r.slippage_arrival_bps == 0.0
    store.close()
