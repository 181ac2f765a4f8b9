"""MetaTrader 5 feed against a fake ``MetaTrader5`` module injected through sys.modules."""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Callable
from decimal import Decimal

import pytest

from engine.model import Bar, Tick
from feeds.errors import FeedError
from feeds.mt5.terminal import Mt5Feed
from tests import fake_mt5
from tests.fake_mt5 import Terminal, add_energy

T0 = 1_704_067_200  # 2024-01-01 00:00 UTC, seconds
NS = 1_000_000_000
M1 = 1
H1 = 16385


def market(monkeypatch: pytest.MonkeyPatch) -> Terminal:
    terminal = fake_mt5.install(monkeypatch)
    terminal.accounts[5001] = ("s3cret", "Demo-Server")
    terminal.add_symbol("EURUSD", digits=5)
    terminal.add_symbol("XAUUSD", digits=2, base="XAU")
    for i in range(10):  # bar 9 is the one still forming at T0 + 9m30s
        o = 1.1000 + i * 0.0001
        terminal.add_bar("EURUSD", M1, T0 + 60 * i, o, o + 0.0003, o - 0.0002, o + 0.0001, 50 + i)
    terminal.add_tick("EURUSD", (T0 + 570) * 1000, 1.10090, 1.10092)
    return terminal


def feed(**kw: object) -> Mt5Feed:
    opts: dict[str, object] = {
        "login": 5001, "password": "s3cret", "server": "Demo-Server",
        "poll_interval_s": 0.01, "clock": lambda: (T0 + 570) * NS,
    }  # fmt: skip
    opts.update(kw)
    return Mt5Feed(**opts)  # type: ignore[arg-type]


async def test_history_latest_closed_bars_from_copy_rates_from_pos(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = market(monkeypatch)
    f = feed()
    symbols = await f.connect()
    frame = await f.history("EURUSD", "1m", limit=5)
    await f.close()
    assert symbols == ["EURUSD", "XAUUSD"] and f.symbols() == symbols
    assert frame["ts"].to_list() == [(T0 + 60 * i) * NS for i in range(4, 9)]
    assert frame["open"][0] == pytest.approx(1.1004)
    assert frame["volume"].to_list() == [54.0, 55.0, 56.0, 57.0, 58.0]  # tick volume: no real
    assert terminal.called[0] == "initialize" and terminal.called[-1] == "shutdown"
    assert terminal.threads == {"mt5_0"}, "every MT5 call runs on the one worker thread"


async def test_history_range_uses_copy_rates_range_and_server_offset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = market(monkeypatch)
    # the broker's server clock runs at UTC+2: bar times are 2 h ahead of UTC
    for i in range(3):
        terminal.add_bar("XAUUSD", H1, T0 + 7200 + 3600 * i, 2050.0, 2052.0, 2049.0, 2051.0, 9, 7)
    f = feed(server_utc_offset_s=7200, clock=lambda: (T0 + 3 * 3600) * NS)
    frame = await f.history("XAUUSD", "1h", start=T0 * NS)
    await f.close()
    assert frame["ts"].to_list() == [T0 * NS, (T0 + 3600) * NS, (T0 + 7200) * NS]
    assert frame["volume"].to_list() == [7.0, 7.0, 7.0]  # real volume wins when reported
    assert "copy_rates_range" in terminal.called


async def test_stream_polls_ticks_and_closed_bars_on_the_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = market(monkeypatch)
    f = feed()
    stream = f.stream(["EURUSD"], "1m")
    got: list[object] = []

    async def consume() -> None:
        async for ev in stream:
            got.append(ev)
            if len(got) == 6:
                return

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    base = (T0 + 575) * 1000
    terminal.add_tick("EURUSD", base, 1.10093, 1.10095)
    terminal.add_tick("EURUSD", base, 1.10094, 1.10096)  # same millisecond: both delivered
    terminal.add_tick("EURUSD", base + 1, math.nan, 1.10096)  # dropped, counted
    terminal.add_tick("EURUSD", base + 2, 0.0, 0.0)  # dropped, counted
    terminal.add_tick("EURUSD", base + 3, 1.10097, 1.10099, volume=2.0)
    await asyncio.sleep(0.05)
    terminal.add_bar("EURUSD", M1, T0 + 600, 1.1010, 1.1014, 1.1009, 1.1012, 70)  # 9 closes
    terminal.add_bar("EURUSD", M1, T0 + 660, 1.1012, 1.1015, 1.1011, 1.1013, 71)  # 10 too
    terminal.add_tick("EURUSD", (T0 + 661) * 1000, 1.10120, 1.10122)
    await asyncio.wait_for(task, 30.0)
    await stream.aclose()
    await f.close()
    ticks = [e for e in got if isinstance(e, Tick)]
    bars = [e for e in got if isinstance(e, Bar)]
    assert [(t.bid, t.ask) for t in ticks] == [
        (1.10093, 1.10095), (1.10094, 1.10096), (1.10097, 1.10099), (1.10120, 1.10122),
    ]  # fmt: skip
    assert ticks[0].ts_ns == (T0 + 575) * NS and ticks[2].volume == 2.0
    assert [b.ts_ns for b in bars] == [(T0 + 540) * NS, (T0 + 600) * NS], "none skipped"
    assert bars[0].closed and bars[1].volume == 70.0
    assert f.health.drops() == {"nan_price": 1, "zero_price": 1}
    assert terminal.threads == {"mt5_0"}


async def test_wrong_password_is_a_clear_error_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market(monkeypatch)
    f = feed(password="wrong")
    with pytest.raises(FeedError, match="authorization failed") as info:
        await f.connect()
    assert "wrong" not in str(info.value) and "wrong" not in repr(f)
    await f.close()


async def test_unknown_symbol_and_timeframe(monkeypatch: pytest.MonkeyPatch) -> None:
    market(monkeypatch)
    f = feed()
    with pytest.raises(FeedError, match="no symbol 'NOPE'"):
        await f.history("NOPE", "1m")
    with pytest.raises(FeedError, match="no 7m bars"):
        await f.history("EURUSD", "7m")
    await f.close()


async def test_missing_package_says_to_use_the_bridge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "MetaTrader5", None)
    f = feed()
    with pytest.raises(FeedError, match="qws bridge mt5"):
        await f.connect()
    await f.close()


def test_symbols_and_instrument_are_synchronous_for_the_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = market(monkeypatch)
    f = feed()
    assert f.symbols() == ["EURUSD", "XAUUSD"]  # connects on the worker thread when asked
    inst = f.instrument("EURUSD")
    assert str(inst.tick_size) == "0.00001" and inst.price_decimals == 5
    # the lot in the base unit, like every qws quantity: 0.01 lots of 100,000 EUR
    assert (inst.quote_ccy, inst.base_ccy, str(inst.lot_size)) == ("USD", "EUR", "1000")
    assert str(inst.min_qty) == "1000"
    with pytest.raises(KeyError, match="no symbol 'NOPE'"):
        f.instrument("NOPE")
    assert terminal.threads == {"mt5_0"}
    asyncio.run(f.close())


# -- the symbol map (feeds.mt5.symbol_map) ----------------------------------------------------

ENERGY_MAP = {"WTI": "XTIUSD.m", "BRENT": "XBRUSD.m", "NATGAS": "XNGUSD.m"}


def energy_market(monkeypatch: pytest.MonkeyPatch, suffix: str = ".m") -> Terminal:
    terminal = market(monkeypatch)
    add_energy(terminal, suffix)
    for i in range(5):
        o = 75.00 + i * 0.05
        terminal.add_bar(f"XTIUSD{suffix}", M1, T0 + 60 * i, o, o + 0.08, o - 0.03, o + 0.02)
    return terminal


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_symbol_map_asks_the_terminal_its_names_and_reports_ours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = energy_market(monkeypatch)
    f = feed(symbol_map=ENERGY_MAP, clock=lambda: (T0 + 330) * NS)
    symbols = await f.connect()
    assert symbols == ["EURUSD", "XAUUSD", "WTI", "BRENT", "NATGAS"]  # unmapped pass unchanged
    frame = await f.history("WTI", "1m", limit=3)
    assert frame["open"].to_list() == pytest.approx([75.05, 75.10, 75.15])  # 4 is forming
    asked = [c.args["symbol"] for c in terminal.calls if c.name == "copy_rates_from_pos"]
    assert asked == ["XTIUSD.m"]
    eur = await f.history("EURUSD", "1m", limit=2)  # not in the map: its own name
    assert eur.height == 2

    stream = f.stream(["WTI", "EURUSD"], "1m")
    got: list[Tick] = []

    async def consume() -> None:
        async for ev in stream:
            if isinstance(ev, Tick):
                got.append(ev)
                if len(got) == 2:
                    return

    task = asyncio.create_task(consume())
    polls = len([c for c in terminal.calls if c.name == "copy_ticks_from"])
    await _until(lambda: len([c for c in terminal.calls if c.name == "copy_ticks_from"]) > polls)
    now_ms = int(time.time() * 1000) + 1000
    terminal.add_tick("XTIUSD.m", now_ms, 75.21, 75.25)
    terminal.add_tick("EURUSD", (T0 + 600) * 1000, 1.10100, 1.10102)
    await asyncio.wait_for(task, 30.0)
    await stream.aclose()
    await f.close()
    assert sorted((t.symbol, t.bid, t.ask) for t in got) == [
        ("EURUSD", 1.101, 1.10102), ("WTI", 75.21, 75.25),
    ]  # fmt: skip
    tick_symbols = {c.args["symbol"] for c in terminal.calls if c.name == "copy_ticks_from"}
    assert tick_symbols == {"XTIUSD.m", "EURUSD"}


def test_mapped_instruments_take_tick_and_lot_from_symbol_info(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    energy_market(monkeypatch)
    f = feed(symbol_map=ENERGY_MAP)
    wti, gas = f.instrument("WTI"), f.instrument("NATGAS")
    asyncio.run(f.close())
    # 0.01 lots of 100 bbl / of 10,000 MMBtu: the CFDs' steps, in the unit
    assert (wti.symbol, wti.tick_size, wti.lot_size, wti.min_qty) == (
        "WTI", Decimal("0.01"), Decimal("1"), Decimal("1"),
    )  # fmt: skip
    assert (gas.symbol, gas.tick_size, gas.lot_size, gas.quote_ccy) == (
        "NATGAS", Decimal("0.001"), Decimal("100"), "USD",
    )  # fmt: skip
    assert gas.tick_value == Decimal("0.1")


async def test_a_mapped_symbol_the_terminal_lacks_names_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    energy_market(monkeypatch, suffix="")  # this broker has no suffix, the map says ".pro"
    f = feed(symbol_map={"WTI": "XTIUSD.pro"})
    with pytest.raises(FeedError, match=r"no symbol 'XTIUSD\.pro \(WTI in the symbol map\)'"):
        await f.history("WTI", "1m")
    with pytest.raises(KeyError, match=r"XTIUSD\.pro \(WTI in the symbol map\)"):
        await asyncio.to_thread(f.instrument, "WTI")
    await f.close()
