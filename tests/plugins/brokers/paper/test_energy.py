"""The energy instruments on the paper broker, as the app opens it (default settings, the demo
instruments, USD from brokers.paper.balances): tick and lot rules, and a tick's worth."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import pytest

from engine.model import Order, OrderStatus, OrderType, Side, Tick
from feeds.demo import DEMO_INSTRUMENTS
from plugins.brokers.paper import PaperBroker
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.trading.broker_factory import open_broker

QUOTES = {"WTI": (75.00, 75.04), "NATGAS": (2.800, 2.804), "BRENT-WTI": (4.00, 4.02)}


@pytest.fixture
def paper(store: Store, tmp_path: Path) -> Iterator[PaperBroker]:
    broker = open_broker(Settings.load(environ={}), store, tmp_path / "qws.db")
    assert isinstance(broker, PaperBroker)
    for symbol, (bid, ask) in QUOTES.items():
        broker.on_tick(Tick(1, symbol, bid, ask, ask, 100.0))
    yield broker
    broker.close()


def order(cid: str, symbol: str, side: Side, qty: str, price: str | None = None) -> Order:
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    return Order(cid, symbol, side, kind, D(qty), None if price is None else D(price))


async def test_usd_is_the_cash_the_energy_contracts_settle_in(paper: PaperBroker) -> None:
    assert paper.balances()["USD"] == 100_000
    assert {DEMO_INSTRUMENTS[s].instrument.quote_ccy for s in QUOTES} == {"USD"}


@pytest.mark.parametrize(
    ("symbol", "price", "nearest"),
    [("WTI", "74.013", "74.01"), ("NATGAS", "2.7016", "2.702"), ("BRENT-WTI", "3.987", "3.99")],
)
async def test_a_price_off_the_tick_grid_is_rejected_naming_the_nearest(
    paper: PaperBroker, symbol: str, price: str, nearest: str
) -> None:
    lot = str(DEMO_INSTRUMENTS[symbol].instrument.lot_size)
    o = await paper.submit(order(f"off-{symbol}", symbol, Side.BUY, lot, price))
    assert o.status is OrderStatus.REJECTED
    assert "not a multiple of the tick size" in o.reason and f"(nearest: {nearest})" in o.reason
    assert await paper.fills() == [] and paper.balances()["USD"] == 100_000


@pytest.mark.parametrize(
    ("symbol", "qty", "below"), [("WTI", "150", "100"), ("NATGAS", "2500", "2000"),
                                 ("BRENT-WTI", "50", "0")],
)  # fmt: skip
async def test_a_quantity_off_the_lot_is_rejected(
    paper: PaperBroker, symbol: str, qty: str, below: str
) -> None:
    o = await paper.submit(order(f"lot-{symbol}", symbol, Side.BUY, qty))
    assert o.status is OrderStatus.REJECTED
    assert "not a multiple of the lot size" in o.reason and f"largest below: {below}" in o.reason
    assert await paper.positions() == []


async def test_valid_orders_fill_on_the_grid(paper: PaperBroker) -> None:
    wti = await paper.submit(order("wti-1", "WTI", Side.BUY, "200"))
    gas = await paper.submit(order("gas-1", "NATGAS", Side.SELL, "3000"))
    spread = await paper.submit(order("spr-1", "BRENT-WTI", Side.BUY, "100", "4.02"))
    assert [(o.status, o.filled_qty, o.avg_price) for o in (wti, gas, spread)] == [
        (OrderStatus.FILLED, D(200), D("75.04")),  # at the ask
        (OrderStatus.FILLED, D(3000), D("2.8")),  # at the bid
        (OrderStatus.FILLED, D(100), D("4.02")),
    ]
    positions = {p.symbol: p.qty for p in await paper.positions()}
    assert positions == {"WTI": D(200), "NATGAS": D(-3000), "BRENT-WTI": D(100)}


@pytest.mark.parametrize(("symbol", "lots", "ticks"), [("WTI", 3, 7), ("NATGAS", 2, 15),
                                                       ("BRENT-WTI", 4, 3)])  # fmt: skip
async def test_a_tick_is_worth_the_tick_value_per_lot(
    paper: PaperBroker, symbol: str, lots: int, ticks: int
) -> None:
    inst = DEMO_INSTRUMENTS[symbol].instrument
    assert inst.tick_value == D(1)  # the micro contracts: 1 USD a tick a lot
    qty = str(inst.lot_size * lots)
    cash0 = paper.balances()["USD"]
    bought = await paper.submit(order(f"pnl-b-{symbol}", symbol, Side.BUY, qty))
    assert bought.status is OrderStatus.FILLED and bought.avg_price is not None
    bid = bought.avg_price + ticks * inst.tick_size  # the market rose: sell at that bid
    paper.on_tick(Tick(2, symbol, float(bid), float(bid + 4 * inst.tick_size), float(bid), 1.0))
    sold = await paper.submit(order(f"pnl-s-{symbol}", symbol, Side.SELL, qty))
    assert sold.status is OrderStatus.FILLED and sold.avg_price == bid
    fees = sum((f.fee for f in await paper.fills()), D(0))
    assert fees > 0  # charged in USD, apart from the price move
    assert paper.balances()["USD"] - cash0 + fees == ticks * inst.tick_value * lots
    assert await paper.positions() == []
