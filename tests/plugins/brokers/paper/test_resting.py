"""The working orders indexed by trigger: the orders a quote or trade moves are exactly those
``acts`` says, in arrival order, and the ledger's copy follows every connection's writes."""

from __future__ import annotations

import random
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.model import Order, OrderStatus, OrderType, Side
from plugins.brokers.paper.ledger import PaperLedger
from plugins.brokers.paper.resting import RestingOrders, acts

PRICES = [D(p) for p in ("99.98", "99.99", "100.00", "100.01", "100.02")]


def _order(i: int, kind: int, side: Side, level: D | None, symbol: str = "BTC/USDT") -> Order:
    type_ = (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP)[kind]
    price = level if type_ is OrderType.LIMIT else None
    stop = level if type_ is OrderType.STOP else None
    return Order(f"o{i}", symbol, side, type_, D(1), price, stop, status=OrderStatus.OPEN)


orders_st = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.one_of(st.none(), st.sampled_from(PRICES)),
        st.sampled_from(["BTC/USDT", "ETH/USDT"]),
    ),
    max_size=40,
)
quote_st = st.one_of(st.none(), st.tuples(st.sampled_from(PRICES), st.sampled_from(PRICES)))
trade_st = st.one_of(st.none(), st.tuples(st.sampled_from(PRICES), st.just(D(1))))


@settings(max_examples=300, deadline=None)
@given(orders_st, quote_st, trade_st, st.randoms(use_true_random=False))
def test_the_moved_orders_are_those_acts_names_in_arrival_order(
    specs: list[tuple[int, Side, D | None, str]],
    quote: tuple[D, D] | None,
    trade: tuple[D, D] | None,
    rnd: random.Random,
) -> None:
    orders = [_order(i, k, side, lv, sym) for i, (k, side, lv, sym) in enumerate(specs)]
    rows = list(enumerate(orders))
    index = RestingOrders(rows[: len(rows) // 2])
    for seq, o in rows[len(rows) // 2 :]:
        index.put(seq, o)
    # some finish (dropped), some are rewritten in place (a partial fill keeps its priority)
    final = set()
    for seq, o in rows:
        pick = rnd.random()
        if pick < 0.2:
            index.put(seq, Order(**{**_fields(o), "status": OrderStatus.FILLED}))
            final.add(o.client_id)
        elif pick < 0.4:
            index.put(seq, Order(**{**_fields(o), "status": OrderStatus.PARTIALLY_FILLED}))
    live = [o for o in orders if o.client_id not in final]
    for symbol in ("BTC/USDT", "ETH/USDT", "XRP/USDT"):
        expected = [o.client_id for o in live if o.symbol == symbol and acts(o, quote, trade)]
        moved = index.moved(symbol, quote, trade)
        assert [o.client_id for o in moved] == expected
        assert index.any_moved(symbol, quote, trade) == bool(expected)
        assert [o.client_id for o in index.working(symbol)] == [
            o.client_id for o in live if o.symbol == symbol
        ]
    assert [o.client_id for o in index.working()] == [o.client_id for o in live]


def _fields(o: Order) -> dict[str, object]:
    return {name: getattr(o, name) for name in Order.__slots__}


def test_a_limit_at_the_trade_price_and_a_stop_at_the_quote_are_told_apart() -> None:
    buy_at = _order(1, 1, Side.BUY, D("100.00"))
    buy_above = _order(2, 1, Side.BUY, D("100.01"))
    stop_at = _order(3, 2, Side.BUY, D("100.02"))
    index = RestingOrders([(1, buy_at), (2, buy_above), (3, stop_at)])
    trade = (D("100.00"), D(1))
    # a trade at the limit does not fill it (queue position unknown); through it does
    assert [o.client_id for o in index.moved("BTC/USDT", None, trade)] == ["o2"]
    # a buy stop triggers when the ask reaches it
    assert [o.client_id for o in index.moved("BTC/USDT", (D("100.01"), D("100.02")), None)] == [
        "o3"
    ]
    assert index.moved("BTC/USDT", (D("100.00"), D("100.01")), None) == []


def _limit(cid: str, price: str) -> Order:
    return Order(
        cid, "BTC/USDT", Side.BUY, OrderType.LIMIT, D(1), D(price), status=OrderStatus.OPEN
    )


def test_the_ledger_index_follows_its_writes_other_connections_and_rollbacks(
    tmp_path: Path,
) -> None:
    ledger, other = PaperLedger(tmp_path / "paper.db"), PaperLedger(tmp_path / "paper.db")
    trade = (D("99"), D(1))
    with ledger.transaction():
        ledger.put_order(_limit("a", "100"))
        ledger.put_order(_limit("b", "50"))
    assert [o.client_id for o in ledger.moved_orders("BTC/USDT", None, trade)] == ["a"]
    assert [o.client_id for o in other.moved_orders("BTC/USDT", None, trade)] == ["a"]
    with other.transaction():  # another process cancels it: this one must not fill it
        other.put_order(Order(**{**_fields(_limit("a", "100")), "status": OrderStatus.CANCELLED}))
    assert ledger.moved_orders("BTC/USDT", None, trade) == []
    assert not ledger.any_moved("BTC/USDT", None, trade)
    with pytest.raises(RuntimeError), ledger.transaction():
        ledger.put_order(_limit("c", "101"))
        assert ledger.any_moved("BTC/USDT", None, trade)  # its own write, in its transaction
        raise RuntimeError("rolled back")
    assert not ledger.any_moved("BTC/USDT", None, trade)  # the rollback took it away
    assert [o.client_id for o in ledger.working_orders()] == ["b"]
    ledger.close()
    other.close()
