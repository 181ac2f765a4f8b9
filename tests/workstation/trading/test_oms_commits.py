"""What a submit writes and when: the intent durably before the venue is called, then the
venue's answer with its fills, positions and balances in one transaction (all or nothing, the
listeners told only once it has committed); fills after the paper account's cursor are read
without a look-back window, so none is missed whatever its time stamp."""

from __future__ import annotations

import sqlite3
from decimal import Decimal as D
from pathlib import Path

import pytest

from engine.model import Fill, Order, OrderStatus, OrderType, Side
from engine.trading.risk import RiskLimits
from plugins.brokers.paper import PaperBroker
from workstation.store import Store
from workstation.trading.oms import FILL_LOOKBACK_NS, OrderManager

from .test_oms import INSTRUMENTS, oms, paper, standard_book


def _writes(store: Store) -> list[str]:
    seen: list[str] = []
    store.conn.set_trace_callback(seen.append)
    return seen


async def test_a_filled_submit_is_two_commits_the_intent_durable_the_answer_whole(
    store: Store, tmp_path: Path
) -> None:
    m = oms(store, paper(tmp_path))
    await m.submit(m.build("BTC/USDT", Side.BUY, "1"))  # the first also claims the brackets
    seen = _writes(store)
    done = await m.submit(m.build("BTC/USDT", Side.SELL, "1"))
    store.conn.set_trace_callback(None)
    assert done.status is OrderStatus.FILLED
    commits = [i for i, s in enumerate(seen) if s == "COMMIT"]
    assert len(commits) == 2
    intent, answer = seen[: commits[0] + 1], seen[commits[0] + 1 : commits[1] + 1]
    assert intent[0] == "PRAGMA synchronous=FULL"  # on disk before the venue is called
    assert any("order.intent" in s for s in intent)
    tables = {t for s in answer for t in ("orders", "fills", "positions", "balances") if t in s}
    assert tables == {"orders", "fills", "positions", "balances"}
    [pos] = store.positions.find("paper")
    assert pos.qty == 0
    assert len(store.fills.find(venue="paper")) == 2


async def test_an_answer_the_store_cannot_write_leaves_only_the_intent_and_tells_no_one(
    store: Store, tmp_path: Path
) -> None:
    broker = paper(tmp_path)
    m = oms(store, broker)
    heard: list[object] = []
    m.listeners.append(heard.append)
    real = store.balances.set

    def full_disk(*a: object, **k: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    store.balances.set = full_disk  # type: ignore[method-assign]
    out = await m.submit(m.build("BTC/USDT", Side.BUY, "1", client_id="c1"))
    assert out.reason.startswith("outcome unknown")
    # the fill, the position and the status went with the balances: nothing half-written
    stored = store.orders.get("c1")
    assert stored is not None and stored.status is OrderStatus.SUBMITTING
    assert store.fills.find(venue="paper") == [] and store.positions.find("paper") == []
    assert heard == []
    store.balances.set = real  # type: ignore[method-assign]
    await m.reconcile()
    settled = store.orders.get("c1")
    assert settled is not None and settled.status is OrderStatus.FILLED
    [fill] = store.fills.find(venue="paper")
    assert fill.client_id == "c1"
    assert [type(e) for e in heard].count(Fill) == 1
    assert store.balances.get("paper") == broker.balances()


async def test_a_fill_stamped_before_the_look_back_is_still_recorded(
    store: Store, tmp_path: Path
) -> None:
    now = [10**18]
    broker = PaperBroker(
        tmp_path / "paper.db",
        INSTRUMENTS,
        starting_balances={"USDT": 100_000},
        clock=lambda: now[0],
    )
    broker.on_book(standard_book())
    m = OrderManager(store, broker, INSTRUMENTS.__getitem__, marks=lambda s: 100.0)
    await m.submit(m.build("BTC/USDT", Side.BUY, "1"))
    now[0] -= 2 * FILL_LOOKBACK_NS  # the venue's clock stepped back past the look-back
    second = await m.submit(m.build("BTC/USDT", Side.BUY, "1"))
    assert second.status is OrderStatus.FILLED
    assert [f.client_id for f in store.fills.find(venue="paper")].count(second.client_id) == 1
    [pos] = store.positions.find("paper")
    assert pos.qty == D(2)


async def test_fills_another_process_made_are_recorded_once_after_the_cursor(
    store: Store, tmp_path: Path
) -> None:
    mine = paper(tmp_path)
    m = oms(store, mine)
    await m.submit(m.build("BTC/USDT", Side.BUY, "1"))
    other = paper(tmp_path)  # another process on the same account file
    placed = await other.submit(Order("ext1", "BTC/USDT", Side.BUY, OrderType.MARKET, D(1)))
    assert placed.status is OrderStatus.FILLED
    await m.submit(m.build("BTC/USDT", Side.SELL, "1"))
    await m.sync()
    ids = [f.fill_id for f in store.fills.find(venue="paper")]
    assert sorted(ids) == sorted({f.fill_id for f in await mine.fills()})
    assert len(ids) == len(set(ids)) == 3
    other.close()


@pytest.mark.parametrize("n", [0, 3])
async def test_recent_order_times_for_the_pre_trade_check(store: Store, n: int) -> None:
    with store.durable():
        for i in range(n):
            store.orders.save(
                Order(f"o{i}", "BTC/USDT", Side.BUY, OrderType.MARKET, D(1), ts_ns=100 + i)
            )
        store.orders.save(Order("old", "BTC/USDT", Side.BUY, OrderType.MARKET, D(1), ts_ns=5))
    got = store.orders.created_after("paper", 50, limit=2)
    assert got == [100 + i for i in range(n)][::-1][:2]
    assert store.orders.created_after("paper", 0, limit=10)[-1:] == [5]


async def test_the_order_rate_limit_counts_the_orders_of_the_last_minute(
    store: Store, tmp_path: Path
) -> None:
    from engine.trading.risk import RiskLimits

    now = [10**18]
    m = OrderManager(
        store,
        paper(tmp_path),
        INSTRUMENTS.__getitem__,
        marks=lambda s: 100.0,
        limits=RiskLimits(max_orders_per_minute=2),
        clock=lambda: now[0],
    )
    for _ in range(2):
        assert (await m.submit(m.build("BTC/USDT", Side.BUY, "0.01"))).status is OrderStatus.FILLED
    third = await m.submit(m.build("BTC/USDT", Side.BUY, "0.01"))
    assert third.status is OrderStatus.REJECTED
    assert third.reason == "2 orders in the last minute (limit 2)"
    now[0] += 61 * 10**9  # a minute on: none of the three counts any more
    assert (await m.submit(m.build("BTC/USDT", Side.BUY, "0.01"))).status is OrderStatus.FILLED


async def test_a_submit_answers_the_order_exactly_as_stored(store: Store, tmp_path: Path) -> None:
    """The answer is the row the submit wrote, not a read-back: filled, resting, refused by
    the venue and rejected before it, each equal in full to what the store holds."""
    m = oms(store, paper(tmp_path))
    answers = [
        await m.submit(m.build("BTC/USDT", Side.BUY, "1")),
        await m.submit(m.build("BTC/USDT", Side.BUY, "1", OrderType.LIMIT, price="90")),
        await m.submit(m.build("BTC/USDT", Side.BUY, "100000")),  # the venue: no funds
        await m.submit(m.build("ETH/USDT", Side.BUY, "1")),  # unknown here: never sent
    ]
    assert [a.status for a in answers] == [
        OrderStatus.FILLED,
        OrderStatus.OPEN,
        OrderStatus.REJECTED,
        OrderStatus.REJECTED,
    ]
    assert answers == [store.orders.get(a.client_id) for a in answers]
    assert answers[2].reason.startswith("insufficient funds")


async def test_the_intent_is_one_row_and_its_two_audit_lines_in_one_durable_commit(
    store: Store, tmp_path: Path
) -> None:
    m = oms(store, paper(tmp_path))
    seen = _writes(store)
    done = await m.submit(m.build("BTC/USDT", Side.BUY, "1"))
    store.conn.set_trace_callback(None)
    intent = seen[: seen.index("COMMIT") + 1]
    assert intent[:2] == ["PRAGMA synchronous=FULL", "BEGIN IMMEDIATE"]
    assert [s.split(" (")[0] for s in intent[2:-1]] == [
        "INSERT INTO orders",
        "INSERT INTO audit_log",
    ]
    assert "'SUBMITTING'" in intent[2] and intent[3].count("'order.") == 2
    lines = [r for r in store.audit.recent(10) if r["subject"] == done.client_id][::-1]
    assert [r["action"] for r in lines][:2] == ["order.intent", "order.status"]
    assert lines[1]["detail"] == '{"from": "NEW", "to": "SUBMITTING"}'
    assert store.orders.owner(done.client_id) is not None


async def test_with_no_bracket_open_a_submit_neither_claims_the_brackets_nor_reads_equity(
    store: Store, tmp_path: Path
) -> None:
    """Nothing to keep, nothing claimed; a loss limit that is off needs no equity curve. Both
    come back the moment they matter."""
    m = oms(store, paper(tmp_path))
    reads: list[str] = []
    with store.reading() as reader:
        reader.set_trace_callback(reads.append)
    await m.submit(m.build("BTC/USDT", Side.BUY, "1"))
    await m.submit(m.build("BTC/USDT", Side.SELL, "1"))
    assert not [s for s in reads if "equity" in s or "settings WHERE key = 'brackets" in s]
    assert store.settings.get("brackets.keeper.paper") is None
    parent = await m.submit(m.build("BTC/USDT", Side.BUY, "1", sl="90", tp="110"))
    assert store.settings.get("brackets.keeper.paper") is not None
    assert {o.client_id for o in store.orders.find(open_only=True, venue="paper")} == {
        f"{parent.client_id}-sl",
        f"{parent.client_id}-tp",
    }
    limited = oms(store, paper(tmp_path / "b"), limits=RiskLimits(daily_loss_limit=1_000))
    await limited.submit(limited.build("BTC/USDT", Side.BUY, "0.01"))
    assert [s for s in reads if "FROM equity" in s]
    with store.reading() as reader:
        reader.set_trace_callback(None)


async def test_a_plain_order_that_shrinks_a_bracketed_position_resizes_its_legs_at_once(
    store: Store, tmp_path: Path
) -> None:
    """The brackets are read with the answer of every submit, whatever it was: a market sell
    without a bracket of its own takes part of a protected long, and the legs follow."""
    m = oms(store, paper(tmp_path))
    parent = await m.submit(m.build("BTC/USDT", Side.BUY, "3", sl="90", tp="110"))
    await m.submit(m.build("BTC/USDT", Side.SELL, "1"))
    legs = {
        o.client_id: o.qty
        for o in store.orders.find(open_only=True, venue="paper")
        if o.client_id.startswith(parent.client_id)
    }
    assert legs == {f"{parent.client_id}-sl.2": D(2), f"{parent.client_id}-tp.2": D(2)}
    await m.submit(m.build("BTC/USDT", Side.SELL, "2"))  # flat: nothing left to protect
    assert store.orders.find(open_only=True, venue="paper") == []
