"""A stand-in for the Windows-only ``MetaTrader5`` package, faked at the module boundary.

Same function names, keyword arguments, constants and return shapes as the documented API
(www.mql5.com/en/docs/python_metatrader5): ``copy_rates_*`` return numpy structured arrays
with fields ``time, open, high, low, close, tick_volume, spread, real_volume``; ``copy_ticks_*``
with ``time, bid, ask, last, volume, time_msc, flags, volume_real``; ``symbol_info_tick``
returns a ``Tick`` namedtuple and ``symbols_get`` a tuple of ``SymbolInfo`` namedtuples (only
the fields qws reads, under their real names); failures return None/False and leave
``(code, description)`` in ``last_error()``. The market lives in a :class:`Terminal` that
tests drive: ``terminal.add_tick(...)``, ``terminal.add_bar(...)``.

``install(monkeypatch)`` puts a fresh module into ``sys.modules["MetaTrader5"]``.
"""

from __future__ import annotations

import sys
import threading
import types
from collections import namedtuple
from datetime import datetime
from typing import Any

import numpy as np

TIMEFRAMES = {
    "TIMEFRAME_M1": 1, "TIMEFRAME_M2": 2, "TIMEFRAME_M3": 3, "TIMEFRAME_M4": 4,
    "TIMEFRAME_M5": 5, "TIMEFRAME_M6": 6, "TIMEFRAME_M10": 10, "TIMEFRAME_M12": 12,
    "TIMEFRAME_M15": 15, "TIMEFRAME_M20": 20, "TIMEFRAME_M30": 30, "TIMEFRAME_H1": 16385,
    "TIMEFRAME_H2": 16386, "TIMEFRAME_H3": 16387, "TIMEFRAME_H4": 16388,
    "TIMEFRAME_H6": 16390, "TIMEFRAME_H8": 16392, "TIMEFRAME_H12": 16396,
    "TIMEFRAME_D1": 16408, "TIMEFRAME_W1": 32769, "TIMEFRAME_MN1": 49153,
}  # fmt: skip
TF_SECONDS = {
    1: 60, 2: 120, 3: 180, 4: 240, 5: 300, 6: 360, 10: 600, 12: 720, 15: 900, 20: 1200,
    30: 1800, 16385: 3600, 16386: 7200, 16387: 10800, 16388: 14400, 16390: 21600,
    16392: 28800, 16396: 43200, 16408: 86400, 32769: 604800,
}  # fmt: skip
RES = {
    "RES_S_OK": 1, "RES_E_FAIL": -1, "RES_E_INVALID_PARAMS": -2, "RES_E_NO_MEMORY": -3,
    "RES_E_NOT_FOUND": -4, "RES_E_INVALID_VERSION": -5, "RES_E_AUTH_FAILED": -6,
    "RES_E_UNSUPPORTED": -7, "RES_E_AUTO_TRADING_DISABLED": -8,
    "RES_E_INTERNAL_FAIL": -10000, "RES_E_INTERNAL_FAIL_SEND": -10001,
    "RES_E_INTERNAL_FAIL_RECEIVE": -10002, "RES_E_INTERNAL_FAIL_INIT": -10003,
    "RES_E_INTERNAL_FAIL_CONNECT": -10004, "RES_E_INTERNAL_FAIL_TIMEOUT": -10005,
}  # fmt: skip
COPY_TICKS = {"COPY_TICKS_ALL": -1, "COPY_TICKS_INFO": 1, "COPY_TICKS_TRADE": 2}

RATES_DTYPE = np.dtype(
    [("time", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"), ("close", "<f8"),
     ("tick_volume", "<u8"), ("spread", "<i4"), ("real_volume", "<u8")]
)  # fmt: skip
TICKS_DTYPE = np.dtype(
    [("time", "<i8"), ("bid", "<f8"), ("ask", "<f8"), ("last", "<f8"), ("volume", "<u8"),
     ("time_msc", "<i8"), ("flags", "<u4"), ("volume_real", "<f8")]
)  # fmt: skip

Tick = namedtuple("Tick", "time bid ask last volume time_msc flags volume_real")
SymbolInfo = namedtuple(
    "SymbolInfo",
    "name description path visible select digits point trade_tick_size volume_min"
    " volume_step currency_base currency_profit",
)


def _seconds(value: Any) -> int:
    return int(value.timestamp()) if isinstance(value, datetime) else int(value)


class Terminal:
    """The fake terminal's market: symbols, rates per (symbol, timeframe), ticks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accounts: dict[int, tuple[str, str]] = {}
        self.symbols: dict[str, SymbolInfo] = {}
        self.rates: dict[tuple[str, int], list[tuple[Any, ...]]] = {}
        self.ticks: dict[str, list[tuple[Any, ...]]] = {}
        self.initialized = False
        self.error: tuple[int, str] = (1, "Success")
        self.calls: list[str] = []
        self.threads: set[str] = set()

    def add_symbol(
        self, name: str, digits: int = 5, base: str = "EUR", profit: str = "USD"
    ) -> None:
        point = 10.0**-digits
        self.symbols[name] = SymbolInfo(
            name, name, f"Forex\\{name}", False, False, digits, point, point, 0.01, 0.01,
            base, profit,
        )  # fmt: skip
        self.ticks.setdefault(name, [])

    def add_bar(self, symbol: str, timeframe: int, time_s: int, o: float, h: float, lo: float,
                c: float, tick_volume: int = 100, real_volume: int = 0) -> None:  # fmt: skip
        with self.lock:
            rows = self.rates.setdefault((symbol, timeframe), [])
            rows.append((time_s, o, h, lo, c, tick_volume, 10, real_volume))
            rows.sort(key=lambda r: r[0])

    def add_tick(self, symbol: str, time_msc: int, bid: float, ask: float, last: float = 0.0,
                 volume: float = 0.0, flags: int = 6) -> None:  # fmt: skip
        with self.lock:
            self.ticks[symbol].append(
                (time_msc // 1000, bid, ask, last, int(volume), time_msc, flags, volume)
            )


def make_module(terminal: Terminal) -> types.ModuleType:
    mt5 = types.ModuleType("MetaTrader5")
    mt5.__dict__.update(TIMEFRAMES)
    mt5.__dict__.update(RES)
    mt5.__dict__.update(COPY_TICKS)
    mt5.Tick = Tick  # type: ignore[attr-defined]
    mt5.SymbolInfo = SymbolInfo  # type: ignore[attr-defined]

    def fail(code: int, text: str) -> None:
        terminal.error = (code, text)

    def ok() -> None:
        terminal.error = (1, "Success")

    def ready(name: str) -> bool:
        terminal.calls.append(name)
        terminal.threads.add(threading.current_thread().name)
        if not terminal.initialized:
            fail(-10004, "No IPC connection")
            return False
        return True

    def initialize(path: str | None = None, *, login: int | None = None,
                   password: str | None = None, server: str | None = None,
                   timeout: int | None = None, portable: bool = False) -> bool:  # fmt: skip
        terminal.calls.append("initialize")
        if login is not None and terminal.accounts.get(login) != (password, server):
            fail(-6, "Terminal: Authorization failed")
            return False
        terminal.initialized = True
        ok()
        return True

    def shutdown() -> None:
        terminal.calls.append("shutdown")
        terminal.initialized = False

    def last_error() -> tuple[int, str]:
        return terminal.error

    def version() -> tuple[int, int, str] | None:
        return (500, 4620, "15 Nov 2024") if ready("version") else None

    def symbols_total() -> int:
        return len(terminal.symbols) if ready("symbols_total") else 0

    def symbols_get(group: str | None = None) -> tuple[SymbolInfo, ...] | None:
        if not ready("symbols_get"):
            return None
        ok()
        return tuple(terminal.symbols.values())

    def symbol_info(symbol: str) -> SymbolInfo | None:
        if not ready("symbol_info"):
            return None
        info = terminal.symbols.get(symbol)
        if info is None:
            fail(-4, f"Terminal: Not found {symbol}")
        return info

    def symbol_select(symbol: str, enable: bool = True) -> bool:
        if not ready("symbol_select"):
            return False
        if symbol not in terminal.symbols:
            fail(-4, f"Terminal: Not found {symbol}")
            return False
        terminal.symbols[symbol] = terminal.symbols[symbol]._replace(select=enable, visible=enable)
        return True

    def symbol_info_tick(symbol: str) -> Tick | None:
        if not ready("symbol_info_tick"):
            return None
        with terminal.lock:
            ticks = terminal.ticks.get(symbol)
            if ticks is None:
                fail(-4, f"Terminal: Not found {symbol}")
                return None
            return Tick(*ticks[-1]) if ticks else Tick(0, 0.0, 0.0, 0.0, 0, 0, 0, 0.0)

    def _rates(symbol: str, timeframe: int) -> list[tuple[Any, ...]] | None:
        if symbol not in terminal.symbols:
            fail(-4, f"Terminal: Not found {symbol}")
            return None
        if timeframe not in TF_SECONDS and timeframe != 49153:
            fail(-2, "Terminal: Invalid params")
            return None
        with terminal.lock:
            return list(terminal.rates.get((symbol, timeframe), []))

    def copy_rates_from_pos(symbol: str, timeframe: int, start_pos: int, count: int) -> Any:
        if not ready("copy_rates_from_pos"):
            return None
        rows = _rates(symbol, timeframe)
        if rows is None:
            return None
        end = len(rows) - start_pos
        ok()
        return np.array(rows[max(0, end - count) : max(0, end)], dtype=RATES_DTYPE)

    def copy_rates_from(symbol: str, timeframe: int, date_from: Any, count: int) -> Any:
        if not ready("copy_rates_from"):
            return None
        rows = _rates(symbol, timeframe)
        if rows is None:
            return None
        upto = [r for r in rows if r[0] <= _seconds(date_from)]
        return np.array(upto[-count:], dtype=RATES_DTYPE)

    def copy_rates_range(symbol: str, timeframe: int, date_from: Any, date_to: Any) -> Any:
        if not ready("copy_rates_range"):
            return None
        rows = _rates(symbol, timeframe)
        if rows is None:
            return None
        a, b = _seconds(date_from), _seconds(date_to)
        return np.array([r for r in rows if a <= r[0] <= b], dtype=RATES_DTYPE)

    def copy_ticks_from(symbol: str, date_from: Any, count: int, flags: int) -> Any:
        if not ready("copy_ticks_from"):
            return None
        with terminal.lock:
            ticks = terminal.ticks.get(symbol)
            if ticks is None:
                fail(-4, f"Terminal: Not found {symbol}")
                return None
            start = _seconds(date_from) * 1000
            rows = [t for t in ticks if t[5] >= start][:count]
        return np.array(rows, dtype=TICKS_DTYPE)

    def copy_ticks_range(symbol: str, date_from: Any, date_to: Any, flags: int) -> Any:
        if not ready("copy_ticks_range"):
            return None
        a, b = _seconds(date_from) * 1000, _seconds(date_to) * 1000
        with terminal.lock:
            rows = [t for t in terminal.ticks.get(symbol, []) if a <= t[5] <= b]
        return np.array(rows, dtype=TICKS_DTYPE)

    for fn in (initialize, shutdown, last_error, version, symbols_total, symbols_get,
               symbol_info, symbol_select, symbol_info_tick, copy_rates_from_pos,
               copy_rates_from, copy_rates_range, copy_ticks_from, copy_ticks_range):  # fmt: skip
        setattr(mt5, fn.__name__, fn)
    mt5.terminal = terminal  # type: ignore[attr-defined]
    return mt5


def install(monkeypatch: Any, terminal: Terminal | None = None) -> Terminal:
    terminal = terminal or Terminal()
    monkeypatch.setitem(sys.modules, "MetaTrader5", make_module(terminal))
    return terminal
