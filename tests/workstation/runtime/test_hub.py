from __future__ import annotations

import asyncio

from engine.model import Bar, Tick
from workstation.runtime.hub import Hub


def _tick(symbol: str, price: float) -> Tick:
    return Tick(0, symbol, price, price, price, 1.0)


def _bar(i: int) -> Bar:
    return Bar(i, "X", "1m", 1, 1, 1, 1, 1)


async def test_slow_screen_gets_newest_quote_per_symbol_and_store_loses_nothing() -> None:
    hub = Hub(maxsize=10)
    screen = hub.subscribe("screen")
    store = hub.subscribe("store", lossless=True)
    received: list[int] = []

    async def store_reader() -> None:
        async for event in store:
            if isinstance(event, Bar):
                received.append(event.ts_ns)
                await asyncio.sleep(0)
            if len(received) == 100:
                return

    reader = asyncio.create_task(store_reader())
    for i in range(100):
        await hub.publish(_tick("A", float(i)))
        await hub.publish(_tick("B", float(-i)))
        await hub.publish(_bar(i))
    await asyncio.wait_for(reader, 60)
    assert received == list(range(100))  # lossless: every bar, in order, publisher waited
    pending = screen.get_nowait_all()
    quotes = [e for e in pending if isinstance(e, Tick)]
    assert {q.symbol: q.last for q in quotes} == {"A": 99.0, "B": -99.0}
    assert screen.replaced == 198
    assert screen.dropped == 90  # 100 bars into a lossy mailbox of 10
    assert len([e for e in pending if isinstance(e, Bar)]) == 10


async def test_a_stuck_lossy_subscriber_never_blocks_the_publisher() -> None:
    hub = Hub(maxsize=5)
    hub.subscribe("stuck")
    await asyncio.wait_for(_publish_many(hub, 10_000), 2)
    assert hub.stats()[0].dropped == 10_000 - 5


async def _publish_many(hub: Hub, n: int) -> None:
    for i in range(n):
        await hub.publish(_bar(i))


async def test_close_wakes_readers() -> None:
    hub = Hub()
    sub = hub.subscribe("x")

    async def read() -> list[object]:
        return [e async for e in sub]

    task = asyncio.create_task(read())
    await asyncio.sleep(0)
    hub.close()
    assert await asyncio.wait_for(task, 60) == []
