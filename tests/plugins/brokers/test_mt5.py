from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path

import pytest

from engine.model import Instrument, Order, OrderStatus, OrderType, Side
from engine.protocols import BrokerError, OrderRejected, ReconcilingBroker
from plugins.brokers.mt5 import Mt5Broker
from tests.fake_mt5 import C, Terminal, add_energy, demo_account, install
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.trading.broker_factory import open_broker
from workstation.trading.oms import OrderManager

EURUSD = Instrument("EURUSD", "mt5", D("0.00001"), D("1000"), "USD", "EUR")


@pytest.fixture
async def mt5(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Terminal, Mt5Broker]]:
    terminal = install(monkeypatch, demo_account())
    broker = Mt5Broker(login=123456, server="Fake-Server", magic=4242)
    yield terminal, broker
    await broker.close()


def order(cid: str, symbol: str = "EURUSD", qty: str = "10000", **kw: object) -> Order:
    kw.setdefault("side", Side.BUY)
    kw.setdefault("type", OrderType.MARKET)
    return Order(cid, symbol, qty=D(qty), **kw)  # type: ignore[arg-type]


def sends(t: Terminal) -> list[dict[str, object]]:
    return [args["request"] for name, args in t.calls if name == "order_send"]


async def test_market_order_is_a_deal_with_the_client_id_in_the_comment(
    mt5: tuple[Terminal, Mt5Broker],
) -> None:
    t, b = mt5
    assert isinstance(b, ReconcilingBroker)
    o = await b.submit(order("qws-m1"))
    assert o.status is OrderStatus.FILLED and o.filled_qty == D(10000)
    assert o.avg_price == D("1.0851")  # bought at the ask
    [req] = sends(t)
    assert req["action"] == C.TRADE_ACTION_DEAL and req["type"] == C.ORDER_TYPE_BUY
    assert req["volume"] == 0.1 and req["comment"] == "qws-m1" and req["magic"] == 4242
    assert req["type_filling"] == C.ORDER_FILLING_IOC
    assert ("initialize", {"login": 123456, "server": "Fake-Server"}) in t.calls
    [fill] = await b.fills()
    assert (fill.client_id, fill.qty, fill.price, fill.fee) == (
        "qws-m1",
        D(10000),
        D("1.0851"),
        D("0.25"),
    )
    [pos] = await b.positions()
    assert (pos.symbol, pos.qty) == ("EURUSD", D(10000))
    assert await b.balance() == {"USD": 10_000.0}


async def test_filling_mode_follows_the_symbol(mt5: tuple[Terminal, Mt5Broker]) -> None:
    t, b = mt5
    o = await b.submit(order("qws-x", symbol="XAUUSD", qty="1"))  # 0.01 lots of 100 oz
    assert o.status is OrderStatus.FILLED
    assert sends(t)[0]["type_filling"] == C.ORDER_FILLING_FOK


async def test_quantity_off_the_volume_step_is_rejected_unsent(
    mt5: tuple[Terminal, Mt5Broker],
) -> None:
    t, b = mt5
    with pytest.raises(OrderRejected, match="volume step"):
        await b.submit(order("qws-v", qty="1500"))
    assert sends(t) == []


async def test_pending_orders_rest_fill_and_cancel(mt5: tuple[Terminal, Mt5Broker]) -> None:
    t, b = mt5
    lim = await b.submit(order("qws-l", type=OrderType.LIMIT, price=D("1.08")))
    stop = await b.submit(order("qws-s", side=Side.SELL, type=OrderType.STOP, stop=D("1.07")))
    assert lim.status is OrderStatus.OPEN and stop.status is OrderStatus.OPEN
    reqs = sends(t)
    assert [r["action"] for r in reqs] == [C.TRADE_ACTION_PENDING] * 2
    assert [r["type"] for r in reqs] == [C.ORDER_TYPE_BUY_LIMIT, C.ORDER_TYPE_SELL_STOP]
    assert {o.client_id for o in await b.open_orders()} == {"qws-l", "qws-s"}
    t.trigger(int(lim.broker_id))  # type: ignore[arg-type]
    filled = await b.order("qws-l")
    assert filled is not None and filled.status is OrderStatus.FILLED
    assert filled.avg_price == D("1.08") and filled.filled_qty == D(10000)
    cancelled = await b.cancel("qws-s")
    assert cancelled.status is OrderStatus.CANCELLED
    assert sends(t)[-1] == {"action": C.TRADE_ACTION_REMOVE, "order": int(stop.broker_id)}  # type: ignore[arg-type]
    assert await b.open_orders() == []


async def test_requote_is_retried_and_rejection_carries_the_terminal_comment(
    mt5: tuple[Terminal, Mt5Broker],
) -> None:
    t, b = mt5
    t.script(C.TRADE_RETCODE_REQUOTE)
    assert (await b.submit(order("qws-r"))).status is OrderStatus.FILLED
    assert len(sends(t)) == 2
    with pytest.raises(OrderRejected, match=r"No money \(10019\)"):
        await b.submit(order("qws-poor", qty="10000000"))


async def test_timeout_that_executed_is_found_by_comment_not_resent(
    mt5: tuple[Terminal, Mt5Broker],
) -> None:
    t, b = mt5
    t.script(C.TRADE_RETCODE_TIMEOUT, executes=True)
    o = await b.submit(order("qws-t"))
    assert o.status is OrderStatus.FILLED and len(sends(t)) == 1
    again = await b.submit(order("qws-t"))  # idempotent on the client id
    assert again.client_id == "qws-t" and len(sends(t)) == 1
    assert len(t.deals) == 1


async def test_netting_positions_flip_and_average(mt5: tuple[Terminal, Mt5Broker]) -> None:
    _, b = mt5
    await b.submit(order("qws-1", qty="20000"))
    await b.submit(order("qws-2", side=Side.SELL, qty="50000"))
    [pos] = await b.positions()
    assert pos.qty == D(-30000) and pos.avg_price == D("1.085")


async def test_missing_package_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "MetaTrader5", None)
    b = Mt5Broker()
    with pytest.raises(BrokerError, match="Windows only"):
        await b.positions()
    await b.close()


async def test_oms_reconciles_a_pending_order_filled_while_away(
    mt5: tuple[Terminal, Mt5Broker], tmp_path: Path
) -> None:
    t, b = mt5
    store = Store(tmp_path / "q.db")
    oms = OrderManager(
        store,
        b,
        {"EURUSD": EURUSD}.__getitem__,
        marks=lambda s: 1.085,
        live_enabled=True,
        confirm_live=False,
    )
    o = await oms.submit(oms.build("EURUSD", Side.BUY, "30000", OrderType.LIMIT, price="1.08"))
    assert o.status is OrderStatus.OPEN
    t.trigger(int(store.orders.get(o.client_id).broker_id))  # type: ignore[arg-type, union-attr]
    found = await oms.reconcile()
    assert store.orders.get(o.client_id).status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert [d.kind for d in found] == ["changed_while_away"]
    [pos] = store.positions.find("mt5")
    assert pos.qty == D(30000) and pos.avg_price == D("1.08")
    store.close()


async def test_hedging_account_closes_the_matching_position_instead_of_hedging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = install(monkeypatch, demo_account(hedging=True))
    b = Mt5Broker(magic=4242)
    await b.submit(order("qws-h1", qty="20000"))
    h2 = await b.submit(order("qws-h2", qty="10000"))
    assert len(t.positions) == 2
    await b.submit(order("qws-h3", side=Side.SELL, qty="10000"))  # closes the 0.1-lot one
    assert sends(t)[-1]["position"] == int(h2.broker_id)  # type: ignore[arg-type]
    assert len(t.positions) == 1
    [pos] = await b.positions()
    assert pos.qty == D(20000)
    await b.submit(order("qws-h4", side=Side.SELL, qty="5000"))  # no exact match: a hedge
    assert "position" not in sends(t)[-1] and len(t.positions) == 2
    [pos] = await b.positions()
    assert pos.qty == D(15000)  # netted
    await b.close()


# -- the symbol map (feeds.mt5.symbol_map) ----------------------------------------------------

ENERGY_MAP = {"WTI": "XTIUSD.m", "BRENT": "XBRUSD.m", "NATGAS": "XNGUSD.m"}


@pytest.fixture
async def energy(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Terminal, Mt5Broker]]:
    terminal = demo_account()
    add_energy(terminal, ".m")  # this broker suffixes its CFDs
    install(monkeypatch, terminal)
    broker = Mt5Broker(magic=4242, symbol_map=ENERGY_MAP)
    yield terminal, broker
    await broker.close()


async def test_mapped_orders_go_out_under_the_terminals_name_and_come_back_as_ours(
    energy: tuple[Terminal, Mt5Broker],
) -> None:
    t, b = energy
    o = await b.submit(order("qws-wti1", "WTI", qty="200"))  # 2 lots of 100 bbl
    assert (o.symbol, o.status, o.filled_qty, o.avg_price) == (
        "WTI", OrderStatus.FILLED, D(200), D("75.04"),
    )  # fmt: skip
    [req] = sends(t)
    assert (req["symbol"], req["volume"], req["price"]) == ("XTIUSD.m", 2.0, 75.04)
    gas = await b.submit(order("qws-ng1", "NATGAS", qty="5000", side=Side.SELL))  # 0.5 lots
    assert (gas.symbol, gas.filled_qty, gas.avg_price) == ("NATGAS", D(5000), D("2.8"))
    assert sends(t)[-1]["symbol"] == "XNGUSD.m"
    rest = await b.submit(
        order("qws-br1", "BRENT", qty="100", type=OrderType.LIMIT, price=D("78.50"))
    )
    assert rest.status is OrderStatus.OPEN and sends(t)[-1]["symbol"] == "XBRUSD.m"
    assert [(x.symbol, x.client_id) for x in await b.open_orders()] == [("BRENT", "qws-br1")]
    found = await b.order("qws-wti1")
    assert found is not None and found.symbol == "WTI"
    assert sorted((f.symbol, f.qty) for f in await b.fills()) == [("NATGAS", D(5000)),
                                                                 ("WTI", D(200))]  # fmt: skip
    assert sorted((p.symbol, p.qty) for p in await b.positions()) == [
        ("NATGAS", D(-5000)), ("WTI", D(200)),
    ]  # fmt: skip
    await b.submit(order("qws-wti2", "WTI", qty="200", side=Side.SELL))  # closes it by name
    assert [p.symbol for p in await b.positions()] == ["NATGAS"]
    assert {s for s, _ in t.positions.items()} == {"XNGUSD.m"}


async def test_unmapped_symbols_pass_unchanged(energy: tuple[Terminal, Mt5Broker]) -> None:
    t, b = energy
    o = await b.submit(order("qws-eu1"))
    assert o.symbol == "EURUSD" and sends(t)[-1]["symbol"] == "EURUSD"
    [pos] = await b.positions()
    assert pos.symbol == "EURUSD"


async def test_energy_quantity_off_the_volume_step_is_rejected_unsent(
    energy: tuple[Terminal, Mt5Broker],
) -> None:
    t, b = energy
    with pytest.raises(OrderRejected, match=r"XTIUSD\.m: 0\.5 is 0\.005 lots"):
        await b.submit(order("qws-wti-bad", "WTI", qty="0.5"))
    assert sends(t) == []


async def test_a_mapped_symbol_the_terminal_lacks_is_rejected_naming_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = demo_account()
    add_energy(terminal)  # no suffix here, but the map says ".pro"
    install(monkeypatch, terminal)
    b = Mt5Broker(symbol_map={"WTI": "XTIUSD.pro"})
    with pytest.raises(OrderRejected, match=r"no symbol XTIUSD\.pro \(WTI in the symbol map\)"):
        await b.submit(order("qws-x1", "WTI", qty="100"))
    assert sends(terminal) == []
    await b.close()


async def test_the_broker_factory_hands_the_feeds_symbol_map_to_the_mt5_broker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "qws.toml"
    config.write_text('[feeds.mt5.symbol_map]\nWTI = "XTIUSD.m"\n', encoding="utf-8")
    settings = Settings.load(config, environ={})
    terminal = demo_account()
    add_energy(terminal, ".m")
    install(monkeypatch, terminal)
    store = Store(tmp_path / "q.db")
    broker = open_broker(settings, store, tmp_path / "q.db", name="mt5")
    assert isinstance(broker, Mt5Broker)
    assert broker.symbol_map.venue("WTI") == "XTIUSD.m"
    assert broker.symbol_map.venue("NATGAS") == "XNGUSD"  # the defaults stay
    o = await broker.submit(order("qws-f1", "WTI", qty="100"))
    assert o.symbol == "WTI" and sends(terminal)[-1]["symbol"] == "XTIUSD.m"
    await broker.close()
    store.close()
