"""TWAP/VWAP parents worked by the desk on the paper broker over a replayed session."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.model import Bar, Instrument, OrderStatus, OrderType, Side, Tick
from engine.trading.schedule import DAY_NS, Algo, AlgoParams, AlgoStatus, ScheduleError
from plugins.brokers.paper import PaperBroker
from workstation.store import Store
from workstation.trading.algos import AlgoDesk, report
from workstation.trading.oms import OrderManager

MIN = 60_000_000_000
SYM = "ETH/USDT"
ETH = Instrument(SYM, "replay", D("0.01"), D("0.01"), "USDT", "ETH", min_qty=D("0.01"))
SESSION_START = 9 * 60 * MIN  # 09:00 UTC
SESSION_MIN = 120


def session_bars(day: int, seed: int) -> pl.DataFrame:
    """Two hours of 1m bars with the U-shaped volume of an open and a close."""
    rng = np.random.default_rng(seed)
    m = np.arange(SESSION_MIN)
    volume = (50 + 400 * ((m - 60) / 60) ** 2) * rng.uniform(0.8, 1.2, SESSION_MIN)
    close = 2000 + np.cumsum(rng.normal(0, 1.0, SESSION_MIN))
    close = np.round(close, 2)
    return pl.DataFrame(
        {
            "ts": day * DAY_NS + SESSION_START + m * MIN,
            "open": close,
            "high": close + 0.5,
            "low": close - 0.5,
            "close": close,
            "volume": np.round(volume, 3),
        }
    )


class Session:
    def __init__(self, store: Store, tmp_path: Path, days: int = 5) -> None:
        for day in range(1, days + 1):
            store.candles.upsert(session_bars(day, day), SYM, "1m", "replay")
        self.store = store
        self.broker = PaperBroker(
            tmp_path / "paper.db", {SYM: ETH}, starting_balances={"USDT": 10_000_000}
        )
        self.marks: dict[str, float] = {}
        self.now = 0
        self.oms = OrderManager(
            store,
            self.broker,
            {SYM: ETH}.__getitem__,
            marks=self.marks.get,
            clock=lambda: self.now,
        )
        self.desk = self.new_desk()
        self.today = session_bars(days + 1, 99)

    def new_desk(self) -> AlgoDesk:
        return AlgoDesk(self.store, self.oms, "1m", lambda: self.now, market_venue="replay")

    def quote(self, ts: int, price: float) -> None:
        self.now = ts
        self.marks[SYM] = price
        self.broker.on_tick(Tick(ts, SYM, price, price, price, 1.0))

    async def play(self, desk: AlgoDesk, bars: range) -> None:
        for i in bars:
            row = self.today.row(i, named=True)
            self.quote(row["ts"], row["close"])
            await self.oms.sync()
            bar = Bar(row["ts"], SYM, "1m", row["open"], row["high"], row["low"], row["close"],
                      row["volume"])  # fmt: skip
            self.now = row["ts"] + MIN
            await desk.on_bar(bar)


@pytest.fixture
def session(store: Store, tmp_path: Path) -> Session:
    return Session(store, tmp_path)


def vwap_params(cap: str | None = "0.1") -> AlgoParams:
    return AlgoParams(Algo.VWAP, 60 * MIN, 12, None if cap is None else D(cap))


async def test_vwap_children_follow_the_profile_within_the_participation_cap(
    session: Session,
) -> None:
    first = session.today.row(0, named=True)
    session.quote(first["ts"], first["close"])
    parent = session.desk.new(SYM, Side.BUY, D("30"), vwap_params("0.1"))
    await session.play(session.desk, range(SESSION_MIN))
    done = session.store.algos.get(parent.id)
    assert done is not None and done.status is AlgoStatus.DONE
    children = session.store.orders.children(parent.id)
    assert [c.client_id for c in children] == [f"{parent.id}.{i + 1}" for i in range(len(children))]
    assert all(c.parent == parent.id and c.status is OrderStatus.FILLED for c in children)
    filled = sum((c.filled_qty for c in children), start=D(0))
    assert filled == D("30")
    fills = [f for c in children for f in session.store.fills.find(client_id=c.client_id)]
    assert sum((f.qty for f in fills), start=D(0)) == filled
    # at each child, what was committed stays within 10 % of the volume traded since the start
    start = done.start_ns
    bars = session.today.filter(pl.col("ts") >= start)
    for c in children:
        traded = bars.filter(pl.col("ts") + MIN <= c.ts_ns)["volume"].sum()
        upto = sum((x.qty for x in children if x.ts_ns <= c.ts_ns), start=D(0))
        assert float(upto) <= 0.1 * traded + 1e-9
    # the plan follows the volume of the same five-minute intervals on the five days before
    edges = start + 5 * MIN * np.arange(13)
    usual = np.zeros(12)
    for day in range(1, 6):
        past = session_bars(day, day)
        k = np.searchsorted(edges - (6 - day) * DAY_NS, past["ts"].to_numpy(), side="right") - 1
        inside = (k >= 0) & (k < 12)
        usual += np.bincount(k[inside], weights=past["volume"].to_numpy()[inside], minlength=12)
    expected = 30 * np.cumsum(usual) / usual.sum()
    planned = np.array([float(s.cum_qty) for s in done.plan])
    assert np.all(np.abs(planned - expected) < 0.01 + 1e-9)
    assert planned[0] > planned[-1] - planned[-2]  # the open's heavy volume, then quieter
    r = report(session.store, done)
    assert r.filled == D("30") and r.avg_price is not None
    assert r.participation is not None and r.participation <= 0.1 + 1e-9
    assert r.slippage_arrival_bps is not None and r.slippage_vwap_bps is not None
    text = "\n".join(r.lines())
    assert "slippage vs arrival" in text and "participation" in text


async def test_a_binding_cap_leaves_the_rest_and_says_so(session: Session) -> None:
    first = session.today.row(0, named=True)
    session.quote(first["ts"], first["close"])
    parent = session.desk.new(SYM, Side.SELL, D("5000"), vwap_params("0.05"))
    assert any("can be filled" in n for n in session.store.algos.get(parent.id).notes) is False
    await session.play(session.desk, range(SESSION_MIN))
    done = session.store.algos.get(parent.id)
    assert done is not None and done.status is AlgoStatus.DONE
    assert "unfilled" in done.reason and "participation cap" in done.reason
    assert any("can be filled" in n for n in done.notes)
    r = report(session.store, done)
    assert r.filled < D("5000") and r.participation is not None and r.participation <= 0.05 + 1e-9


async def test_twap_is_even_and_a_restarted_desk_resumes_without_duplicates(
    session: Session,
) -> None:
    first = session.today.row(0, named=True)
    session.quote(first["ts"], first["close"])
    params = AlgoParams(Algo.TWAP, 30 * MIN, 10)
    parent = session.desk.new(SYM, Side.BUY, D("10"), params)
    await session.play(session.desk, range(12))
    sent = session.store.orders.children(parent.id)
    assert 0 < len(sent) < 10
    # the process dies; a new desk (another process, same store) takes the orphan parent over
    session.store.algos.claim(parent.id, "999999999", session.store.algos.owner(parent.id))
    second = session.new_desk()
    await session.play(second, range(40))  # the replay starts over: nothing is counted twice
    done = session.store.algos.get(parent.id)
    assert done is not None and done.status is AlgoStatus.DONE, done
    children = session.store.orders.children(parent.id)
    ids = [c.client_id for c in children]
    assert len(ids) == len(set(ids)) == 10
    assert [c.qty for c in children] == [D("1")] * 10
    assert sum((c.filled_qty for c in children), start=D(0)) == D("10")


async def test_the_kill_switch_stops_the_parent_and_cancels_its_children(
    session: Session,
) -> None:
    first = session.today.row(0, named=True)
    session.quote(first["ts"], first["close"])
    # limits 5.00 behind the mark rest (a passive child)
    params = AlgoParams(
        Algo.TWAP, 30 * MIN, 10, child_type=OrderType.LIMIT, limit_offset_ticks=-500
    )
    parent = session.desk.new(SYM, Side.BUY, D("10"), params)
    await session.play(session.desk, range(8))
    working = [c for c in session.store.orders.children(parent.id) if not c.status.is_final]
    assert len(working) == 1  # each new slice's child replaces the one resting before it
    await session.oms.set_kill_switch(True, "test")
    await session.play(session.desk, range(8, 20))
    done = session.store.algos.get(parent.id)
    assert done is not None and done.status is AlgoStatus.STOPPED
    assert "kill switch" in done.reason
    assert all(c.status.is_final for c in session.store.orders.children(parent.id))
    assert len(session.store.orders.children(parent.id)) == 2  # nothing sent after the kill


async def test_cancelling_the_parent_cancels_its_working_children(session: Session) -> None:
    first = session.today.row(0, named=True)
    session.quote(first["ts"], first["close"])
    params = AlgoParams(
        Algo.TWAP, 30 * MIN, 10, child_type=OrderType.LIMIT, limit_offset_ticks=-500
    )
    parent = session.desk.new(SYM, Side.BUY, D("10"), params)
    await session.play(session.desk, range(8))
    assert any(not c.status.is_final for c in session.store.orders.children(parent.id))
    ended = await session.desk.cancel(parent.id)
    assert ended.status is AlgoStatus.CANCELLED
    assert all(c.status.is_final for c in session.store.orders.children(parent.id))
    with pytest.raises(ScheduleError, match="already ended"):
        await session.desk.cancel(parent.id)


def test_vwap_without_history_of_the_time_of_day_is_refused(store: Store, tmp_path: Path) -> None:
    s = Session(store, tmp_path, days=0)
    s.quote(s.today["ts"][0], 2000.0)
    with pytest.raises(ScheduleError, match="same time of day"):
        s.desk.new(SYM, Side.BUY, D("1"), vwap_params())
    assert store.algos.find() == []
