"""A stand-in for the Windows-only ``MetaTrader5`` package, faked at the module boundary, for
the MT5 feed tests (``tests/feeds/mt5``) and the MT5 broker tests (``tests/plugins/brokers``).

Same function names, keyword arguments, constants and return shapes as the documented API
(www.mql5.com/en/docs/python_metatrader5):

- market data: ``copy_rates_*`` return numpy structured arrays with fields ``time, open, high,
  low, close, tick_volume, spread, real_volume``; ``copy_ticks_*`` with ``time, bid, ask, last,
  volume, time_msc, flags, volume_real``; ``symbol_info_tick`` returns a :class:`Tick`,
  ``symbol_info`` a :class:`SymbolInfo` and ``symbols_get`` a tuple of them (only the fields
  qws reads, under their real names);
- trading: ``order_send`` returns an :class:`OrderSendResult`; ``orders_get`` /
  ``history_orders_get`` :class:`TradeOrder`, ``positions_get`` :class:`TradePosition`,
  ``history_deals_get`` :class:`TradeDeal` tuples, ``account_info`` an :class:`AccountInfo`;
- failures return None/False and leave ``(code, description)`` in ``last_error()``; every
  function but ``initialize`` fails with "No IPC connection" before ``initialize``.

Behind the functions one :class:`Terminal` that tests drive: the market
(``add_symbol``, ``add_bar``, ``add_tick``; the last tick is the symbol's bid/ask) and a tiny
account: market deals fill at the bid/ask, pending orders rest until :meth:`Terminal.trigger`
fills them, one position per symbol (netting) or per opening deal (``hedging``). Queue retcodes
with :meth:`Terminal.script` to simulate requotes, timeouts and rejections. ``terminal.calls``
logs every call as ``(name, args)`` with the arguments the caller passed; ``terminal.threads``
the threads they ran on.

``install(monkeypatch, terminal=None)`` puts a fresh module for ``terminal`` into
``sys.modules["MetaTrader5"]`` and returns the terminal; :func:`demo_account` is the terminal
the broker tests trade on (EURUSD and XAUUSD quoted, 10 000 USD).
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
import types
from collections import deque
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np

# -- constants (values as in the MetaTrader5 package) ------------------------------------------
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
TRADING = {
    "TRADE_ACTION_DEAL": 1,
    "TRADE_ACTION_PENDING": 5,
    "TRADE_ACTION_SLTP": 6,
    "TRADE_ACTION_MODIFY": 7,
    "TRADE_ACTION_REMOVE": 8,
    "TRADE_ACTION_CLOSE_BY": 10,
    "ORDER_TYPE_BUY": 0,
    "ORDER_TYPE_SELL": 1,
    "ORDER_TYPE_BUY_LIMIT": 2,
    "ORDER_TYPE_SELL_LIMIT": 3,
    "ORDER_TYPE_BUY_STOP": 4,
    "ORDER_TYPE_SELL_STOP": 5,
    "ORDER_FILLING_FOK": 0,
    "ORDER_FILLING_IOC": 1,
    "ORDER_FILLING_RETURN": 2,
    "ORDER_FILLING_BOC": 3,
    "ORDER_TIME_GTC": 0,
    "ORDER_TIME_DAY": 1,
    "SYMBOL_FILLING_FOK": 1,
    "SYMBOL_FILLING_IOC": 2,
    "ORDER_STATE_STARTED": 0,
    "ORDER_STATE_PLACED": 1,
    "ORDER_STATE_CANCELED": 2,
    "ORDER_STATE_PARTIAL": 3,
    "ORDER_STATE_FILLED": 4,
    "ORDER_STATE_REJECTED": 5,
    "ORDER_STATE_EXPIRED": 6,
    "DEAL_TYPE_BUY": 0,
    "DEAL_TYPE_SELL": 1,
    "DEAL_ENTRY_IN": 0,
    "DEAL_ENTRY_OUT": 1,
    "DEAL_ENTRY_INOUT": 2,
    "POSITION_TYPE_BUY": 0,
    "POSITION_TYPE_SELL": 1,
    "ACCOUNT_MARGIN_MODE_RETAIL_NETTING": 0,
    "ACCOUNT_MARGIN_MODE_EXCHANGE": 1,
    "ACCOUNT_MARGIN_MODE_RETAIL_HEDGING": 2,
    "TRADE_RETCODE_REQUOTE": 10004,
    "TRADE_RETCODE_REJECT": 10006,
    "TRADE_RETCODE_CANCEL": 10007,
    "TRADE_RETCODE_PLACED": 10008,
    "TRADE_RETCODE_DONE": 10009,
    "TRADE_RETCODE_DONE_PARTIAL": 10010,
    "TRADE_RETCODE_ERROR": 10011,
    "TRADE_RETCODE_TIMEOUT": 10012,
    "TRADE_RETCODE_INVALID": 10013,
    "TRADE_RETCODE_INVALID_VOLUME": 10014,
    "TRADE_RETCODE_INVALID_PRICE": 10015,
    "TRADE_RETCODE_INVALID_STOPS": 10016,
    "TRADE_RETCODE_TRADE_DISABLED": 10017,
    "TRADE_RETCODE_MARKET_CLOSED": 10018,
    "TRADE_RETCODE_NO_MONEY": 10019,
    "TRADE_RETCODE_PRICE_CHANGED": 10020,
    "TRADE_RETCODE_PRICE_OFF": 10021,
    "TRADE_RETCODE_INVALID_EXPIRATION": 10022,
    "TRADE_RETCODE_ORDER_CHANGED": 10023,
    "TRADE_RETCODE_TOO_MANY_REQUESTS": 10024,
    "TRADE_RETCODE_NO_CHANGES": 10025,
    "TRADE_RETCODE_INVALID_FILL": 10030,
    "TRADE_RETCODE_CONNECTION": 10031,
    "TRADE_RETCODE_ONLY_REAL": 10032,
    "TRADE_RETCODE_LIMIT_ORDERS": 10033,
    "TRADE_RETCODE_LIMIT_VOLUME": 10034,
    "TRADE_RETCODE_INVALID_ORDER": 10035,
    "TRADE_RETCODE_POSITION_CLOSED": 10036,
}
C = types.SimpleNamespace(**TIMEFRAMES, **RES, **COPY_TICKS, **TRADING)

RATES_DTYPE = np.dtype(
    [("time", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"), ("close", "<f8"),
     ("tick_volume", "<u8"), ("spread", "<i4"), ("real_volume", "<u8")]
)  # fmt: skip
TICKS_DTYPE = np.dtype(
    [("time", "<i8"), ("bid", "<f8"), ("ask", "<f8"), ("last", "<f8"), ("volume", "<u8"),
     ("time_msc", "<i8"), ("flags", "<u4"), ("volume_real", "<f8")]
)  # fmt: skip

_INITIALIZE_KEYWORDS = frozenset({"login", "password", "server", "timeout", "portable"})
_NO_IPC = (-10004, "No IPC connection")


# -- return shapes -----------------------------------------------------------------------------
class Tick(NamedTuple):
    time: int
    bid: float
    ask: float
    last: float
    volume: int
    time_msc: int
    flags: int
    volume_real: float


class SymbolInfo(NamedTuple):
    name: str
    description: str
    path: str
    visible: bool
    select: bool
    digits: int
    point: float
    trade_tick_size: float
    trade_contract_size: float
    volume_min: float
    volume_max: float
    volume_step: float
    filling_mode: int
    currency_base: str
    currency_profit: str
    bid: float
    ask: float


class AccountInfo(NamedTuple):
    login: int
    trade_mode: int
    leverage: int
    limit_orders: int
    margin_so_mode: int
    trade_allowed: bool
    trade_expert: bool
    margin_mode: int
    currency_digits: int
    fifo_close: bool
    balance: float
    credit: float
    profit: float
    equity: float
    margin: float
    margin_free: float
    margin_level: float
    margin_so_call: float
    margin_so_so: float
    margin_initial: float
    margin_maintenance: float
    assets: float
    liabilities: float
    commission_blocked: float
    name: str
    server: str
    currency: str
    company: str


class OrderSendResult(NamedTuple):
    retcode: int
    deal: int
    order: int
    volume: float
    price: float
    bid: float
    ask: float
    comment: str
    request_id: int
    retcode_external: int
    request: Any


class TradeOrder(NamedTuple):
    ticket: int
    time_setup: int
    time_setup_msc: int
    time_done: int
    time_done_msc: int
    time_expiration: int
    type: int
    type_time: int
    type_filling: int
    state: int
    magic: int
    position_id: int
    position_by_id: int
    reason: int
    volume_initial: float
    volume_current: float
    price_open: float
    sl: float
    tp: float
    price_current: float
    price_stoplimit: float
    symbol: str
    comment: str
    external_id: str


class TradePosition(NamedTuple):
    ticket: int
    time: int
    time_msc: int
    time_update: int
    time_update_msc: int
    type: int
    magic: int
    identifier: int
    reason: int
    volume: float
    price_open: float
    sl: float
    tp: float
    price_current: float
    swap: float
    profit: float
    symbol: str
    comment: str
    external_id: str


class TradeDeal(NamedTuple):
    ticket: int
    order: int
    time: int
    time_msc: int
    type: int
    entry: int
    magic: int
    position_id: int
    reason: int
    volume: float
    price: float
    commission: float
    swap: float
    profit: float
    fee: float
    symbol: str
    comment: str
    external_id: str


class Call(NamedTuple):
    """One call of a module function: its name and the arguments the caller passed."""

    name: str
    args: dict[str, Any]


def _seconds(value: Any) -> int:
    return int(value.timestamp()) if isinstance(value, datetime) else int(value)


# -- the terminal ------------------------------------------------------------------------------
class Terminal:
    """The terminal behind the fake module's functions: the market and the logged-in account."""

    def __init__(self, hedging: bool = False, balance: float = 10_000.0) -> None:
        self.lock = threading.Lock()
        self.accounts: dict[int, tuple[str, str]] = {}  # login -> (password, server)
        self.symbols: dict[str, SymbolInfo] = {}
        self.rates: dict[tuple[str, int], list[tuple[Any, ...]]] = {}
        self.ticks: dict[str, list[tuple[Any, ...]]] = {}
        self.initialized = False
        self.error: tuple[int, str] = (1, "Success")
        self.calls: list[Call] = []
        self.threads: set[str] = set()
        # the account: netting keys positions by symbol, hedging by the opening order's ticket
        self.hedging = hedging
        self.balance = balance
        self.orders: dict[int, dict[str, Any]] = {}  # ticket -> order fields
        self.deals: list[TradeDeal] = []
        self.positions: dict[object, dict[str, Any]] = {}
        self.script_queue: deque[tuple[int, bool]] = deque()
        self._tickets = itertools.count(50_000_001)
        self._deals = itertools.count(80_000_001)

    @property
    def called(self) -> list[str]:
        """The names of the functions called, in order."""
        return [c.name for c in self.calls]

    # -- what tests drive --------------------------------------------------------------------
    def add_symbol(
        self,
        name: str,
        digits: int = 5,
        base: str = "EUR",
        profit: str = "USD",
        *,
        contract_size: float = 100_000.0,
        volume_min: float = 0.01,
        volume_max: float = 100.0,
        volume_step: float = 0.01,
        filling_mode: int = C.SYMBOL_FILLING_FOK | C.SYMBOL_FILLING_IOC,
        visible: bool = False,
        path: str = "Forex",
        description: str = "",
    ) -> None:
        point = 10.0**-digits
        self.symbols[name] = SymbolInfo(
            name=name,
            description=description or name,
            path=f"{path}\\{name}",
            visible=visible,
            select=visible,
            digits=digits,
            point=point,
            trade_tick_size=point,
            trade_contract_size=contract_size,
            volume_min=volume_min,
            volume_max=volume_max,
            volume_step=volume_step,
            filling_mode=filling_mode,
            currency_base=base,
            currency_profit=profit,
            bid=0.0,
            ask=0.0,
        )
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

    def script(self, retcode: int, executes: bool = False) -> None:
        """The next order_send answers ``retcode``; with ``executes`` the trade still happens
        (a timeout whose request reached the server)."""
        self.script_queue.append((retcode, executes))

    def trigger(self, ticket: int) -> None:
        """The market reached a pending order: it fills at its price."""
        order = self.orders[ticket]
        order["state"] = C.ORDER_STATE_FILLED
        vol = order["volume_current"]
        order["volume_current"] = 0.0
        self._deal(ticket, {}, order["price_open"], vol)

    # -- plumbing ----------------------------------------------------------------------------
    def _fail(self, code: int, text: str) -> None:
        self.error = (code, text)

    def _ok(self) -> None:
        self.error = (1, "Success")

    def _log(self, name: str, **args: Any) -> None:
        self.calls.append(Call(name, {k: dict(v) if isinstance(v, dict) else v
                                      for k, v in args.items()}))  # fmt: skip
        self.threads.add(threading.current_thread().name)

    def _ready(self, name: str, **args: Any) -> bool:
        self._log(name, **args)
        if not self.initialized:
            self._fail(*_NO_IPC)
            return False
        return True

    def _quote(self, symbol: str) -> tuple[float, float]:
        with self.lock:
            ticks = self.ticks.get(symbol) or [(0, 0.0, 0.0)]
            return ticks[-1][1], ticks[-1][2]

    # -- the module's functions: connection --------------------------------------------------
    def initialize(self, path: str | None = None, **kwargs: Any) -> bool:
        unknown = set(kwargs) - _INITIALIZE_KEYWORDS
        if unknown:
            raise TypeError(f"initialize() got unexpected keyword arguments {sorted(unknown)}")
        self._log("initialize", **({} if path is None else {"path": path}), **kwargs)
        login = kwargs.get("login")
        if login is not None:
            # no password: the terminal uses the one it saved for this account
            account = self.accounts.get(login)
            password, server = kwargs.get("password"), kwargs.get("server")
            if (
                account is None
                or (password is not None and password != account[0])
                or (server is not None and server != account[1])
            ):
                self._fail(-6, "Terminal: Authorization failed")
                return False
        self.initialized = True
        self._ok()
        return True

    def login(self, login: int, password: str = "", server: str = "", timeout: int = 0) -> bool:
        return self._ready("login", login=login)

    def shutdown(self) -> None:
        self._log("shutdown")
        self.initialized = False

    def last_error(self) -> tuple[int, str]:
        self._log("last_error")
        return self.error

    def version(self) -> tuple[int, int, str] | None:
        return (500, 4620, "15 Nov 2024") if self._ready("version") else None

    def account_info(self) -> AccountInfo | None:
        if not self._ready("account_info"):
            return None
        margin_mode = (
            C.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING
            if self.hedging
            else C.ACCOUNT_MARGIN_MODE_RETAIL_NETTING
        )
        return AccountInfo(
            123456, 0, 100, 200, 0, True, True, margin_mode, 2, False,
            self.balance, 0.0, 0.0, self.balance, 0.0, self.balance, 0.0, 50.0, 30.0, 0.0,
            0.0, 0.0, 0.0, 0.0, "Test", "Fake-Server", "USD", "Fake Broker Ltd",
        )  # fmt: skip

    # -- symbols -----------------------------------------------------------------------------
    def symbols_total(self) -> int:
        return len(self.symbols) if self._ready("symbols_total") else 0

    def symbols_get(self, group: str | None = None) -> tuple[SymbolInfo, ...] | None:
        if not self._ready("symbols_get"):
            return None
        self._ok()
        return tuple(self.symbols.values())

    def symbol_info(self, symbol: str) -> SymbolInfo | None:
        if not self._ready("symbol_info", symbol=symbol):
            return None
        info = self.symbols.get(symbol)
        if info is None:
            self._fail(-4, f"Terminal: Not found {symbol}")
            return None
        bid, ask = self._quote(symbol)
        return info._replace(bid=bid, ask=ask)

    def symbol_select(self, symbol: str, enable: bool = True) -> bool:
        if not self._ready("symbol_select", symbol=symbol, enable=enable):
            return False
        if symbol not in self.symbols:
            self._fail(-4, f"Terminal: Not found {symbol}")
            return False
        self.symbols[symbol] = self.symbols[symbol]._replace(select=enable, visible=enable)
        return True

    def symbol_info_tick(self, symbol: str) -> Tick | None:
        if not self._ready("symbol_info_tick", symbol=symbol):
            return None
        with self.lock:
            ticks = self.ticks.get(symbol)
            if ticks is None:
                self._fail(-4, f"Terminal: Not found {symbol}")
                return None
            return Tick(*ticks[-1]) if ticks else Tick(0, 0.0, 0.0, 0.0, 0, 0, 0, 0.0)

    # -- market data -------------------------------------------------------------------------
    def _rates(self, symbol: str, timeframe: int) -> list[tuple[Any, ...]] | None:
        if symbol not in self.symbols:
            self._fail(-4, f"Terminal: Not found {symbol}")
            return None
        if timeframe not in TF_SECONDS and timeframe != C.TIMEFRAME_MN1:
            self._fail(-2, "Terminal: Invalid params")
            return None
        with self.lock:
            return list(self.rates.get((symbol, timeframe), []))

    def copy_rates_from_pos(self, symbol: str, timeframe: int, start_pos: int, count: int) -> Any:
        if not self._ready("copy_rates_from_pos", symbol=symbol, timeframe=timeframe,
                           start_pos=start_pos, count=count):  # fmt: skip
            return None
        rows = self._rates(symbol, timeframe)
        if rows is None:
            return None
        end = len(rows) - start_pos
        self._ok()
        return np.array(rows[max(0, end - count) : max(0, end)], dtype=RATES_DTYPE)

    def copy_rates_from(self, symbol: str, timeframe: int, date_from: Any, count: int) -> Any:
        if not self._ready("copy_rates_from", symbol=symbol, timeframe=timeframe,
                           date_from=date_from, count=count):  # fmt: skip
            return None
        rows = self._rates(symbol, timeframe)
        if rows is None:
            return None
        upto = [r for r in rows if r[0] <= _seconds(date_from)]
        return np.array(upto[-count:], dtype=RATES_DTYPE)

    def copy_rates_range(self, symbol: str, timeframe: int, date_from: Any, date_to: Any) -> Any:
        if not self._ready("copy_rates_range", symbol=symbol, timeframe=timeframe,
                           date_from=date_from, date_to=date_to):  # fmt: skip
            return None
        rows = self._rates(symbol, timeframe)
        if rows is None:
            return None
        a, b = _seconds(date_from), _seconds(date_to)
        return np.array([r for r in rows if a <= r[0] <= b], dtype=RATES_DTYPE)

    def copy_ticks_from(self, symbol: str, date_from: Any, count: int, flags: int) -> Any:
        if not self._ready("copy_ticks_from", symbol=symbol, date_from=date_from, count=count,
                           flags=flags):  # fmt: skip
            return None
        with self.lock:
            ticks = self.ticks.get(symbol)
            if ticks is None:
                self._fail(-4, f"Terminal: Not found {symbol}")
                return None
            start = _seconds(date_from) * 1000
            rows = [t for t in ticks if t[5] >= start][:count]
        return np.array(rows, dtype=TICKS_DTYPE)

    def copy_ticks_range(self, symbol: str, date_from: Any, date_to: Any, flags: int) -> Any:
        if not self._ready("copy_ticks_range", symbol=symbol, date_from=date_from,
                           date_to=date_to, flags=flags):  # fmt: skip
            return None
        a, b = _seconds(date_from) * 1000, _seconds(date_to) * 1000
        with self.lock:
            rows = [t for t in self.ticks.get(symbol, []) if a <= t[5] <= b]
        return np.array(rows, dtype=TICKS_DTYPE)

    # -- trading -----------------------------------------------------------------------------
    def order_send(self, request: dict[str, Any]) -> OrderSendResult | None:
        if not self._ready("order_send", request=request):
            return None
        retcode, executes = self.script_queue.popleft() if self.script_queue else (None, True)
        sym = self.symbols.get(request.get("symbol", ""))
        if request["action"] == C.TRADE_ACTION_REMOVE:
            order = self.orders.get(request["order"])
            if order is None or order["state"] != C.ORDER_STATE_PLACED:
                return self._result(C.TRADE_RETCODE_INVALID_ORDER, request, comment="Invalid order")
            order["state"] = C.ORDER_STATE_CANCELED
            return self._result(C.TRADE_RETCODE_DONE, request, order=order["ticket"])
        if sym is None:
            return self._result(C.TRADE_RETCODE_INVALID, request, comment="Invalid request")
        vol = request["volume"]
        steps = round(vol / sym.volume_step)
        if abs(steps * sym.volume_step - vol) > 1e-9 or vol < sym.volume_min:
            return self._result(C.TRADE_RETCODE_INVALID_VOLUME, request, comment="Invalid volume")
        if request["action"] == C.TRADE_ACTION_DEAL:
            allowed = sym.filling_mode
            filling = request.get("type_filling", C.ORDER_FILLING_FOK)
            if (filling == C.ORDER_FILLING_IOC and not allowed & C.SYMBOL_FILLING_IOC) or (
                filling == C.ORDER_FILLING_FOK and not allowed & C.SYMBOL_FILLING_FOK
            ):
                return self._result(
                    C.TRADE_RETCODE_INVALID_FILL, request, comment="Unsupported filling mode"
                )
        if retcode is not None and not executes:
            return self._result(retcode, request, comment="scripted")
        if request["action"] == C.TRADE_ACTION_DEAL:
            bid, ask = self._quote(sym.name)
            if vol * sym.trade_contract_size * ask / 100 > self.balance:
                return self._result(C.TRADE_RETCODE_NO_MONEY, request, comment="No money")
            price = ask if request["type"] == C.ORDER_TYPE_BUY else bid
            ticket = self._new_order(request, C.ORDER_STATE_FILLED, price)
            deal = self._deal(ticket, request, price, vol)
            result = self._result(
                C.TRADE_RETCODE_DONE, request, order=ticket, deal=deal, volume=vol, price=price
            )
        else:
            ticket = self._new_order(request, C.ORDER_STATE_PLACED, request["price"])
            result = self._result(C.TRADE_RETCODE_PLACED, request, order=ticket, volume=vol)
        if retcode is not None:  # executed, but the answer says otherwise (e.g. a timeout)
            return self._result(retcode, request, comment="scripted")
        return result

    def _result(
        self,
        retcode: int,
        request: Any,
        order: int = 0,
        deal: int = 0,
        volume: float = 0.0,
        price: float = 0.0,
        comment: str = "Request executed",
    ) -> OrderSendResult:
        symbol = request.get("symbol", "")
        bid, ask = self._quote(symbol) if symbol in self.symbols else (0.0, 0.0)
        return OrderSendResult(
            retcode, deal, order, volume, price, bid, ask, comment, 1, 0, request
        )

    def _new_order(self, request: dict[str, Any], state: int, price: float) -> int:
        ticket = next(self._tickets)
        now = int(time.time())
        self.orders[ticket] = {
            "ticket": ticket,
            "time_setup": now,
            "type": request["type"],
            "state": state,
            "magic": request.get("magic", 0),
            "volume_initial": request["volume"],
            "volume_current": 0.0 if state == C.ORDER_STATE_FILLED else request["volume"],
            "price_open": price,
            "sl": request.get("sl", 0.0),
            "tp": request.get("tp", 0.0),
            "symbol": request["symbol"],
            "comment": request.get("comment", "")[:31],
            "type_filling": request.get("type_filling", 0),
        }
        return ticket

    def _deal(self, ticket: int, request: dict[str, Any], price: float, vol: float) -> int:
        order = self.orders[ticket]
        buy = order["type"] in (C.ORDER_TYPE_BUY, C.ORDER_TYPE_BUY_LIMIT, C.ORDER_TYPE_BUY_STOP)
        signed = vol if buy else -vol
        closing = request.get("position") if self.hedging else None
        key: object = ticket if self.hedging else order["symbol"]
        pos = self.positions.get(closing if self.hedging else key)
        if self.hedging and closing is not None:
            assert pos is not None and abs(pos["volume"] + signed) < 1e-12, "bad close"
            del self.positions[closing]
            entry = C.DEAL_ENTRY_OUT
        elif pos is None:
            self.positions[key] = {
                "symbol": order["symbol"],
                "volume": signed,
                "price": price,
                "ticket": ticket,
                "magic": order["magic"],
            }
            entry = C.DEAL_ENTRY_IN
        else:
            new = pos["volume"] + signed
            if pos["volume"] * signed > 0:
                pos["price"] = (abs(pos["volume"]) * pos["price"] + vol * price) / abs(new)
                entry = C.DEAL_ENTRY_IN
            else:
                entry = (
                    C.DEAL_ENTRY_OUT
                    if abs(new) < 1e-12 or new * pos["volume"] > 0
                    else C.DEAL_ENTRY_INOUT
                )
                if new * pos["volume"] < 0:
                    pos["price"] = price
            pos["volume"] = round(new, 8)
            if abs(pos["volume"]) < 1e-12:
                del self.positions[order["symbol"]]
        deal = next(self._deals)
        now = int(time.time())
        self.deals.append(
            TradeDeal(
                deal, ticket, now, now * 1000 + len(self.deals),
                C.DEAL_TYPE_BUY if buy else C.DEAL_TYPE_SELL, entry, order["magic"], ticket, 0,
                vol, price, -2.5 * vol, 0.0, 0.0, 0.0, order["symbol"], order["comment"], "",
            )
        )  # fmt: skip
        return deal

    def _order_tuple(self, o: dict[str, Any]) -> TradeOrder:
        return TradeOrder(
            o["ticket"], o["time_setup"], o["time_setup"] * 1000, 0, 0, 0, o["type"], 0,
            o["type_filling"], o["state"], o["magic"], 0, 0, 0, o["volume_initial"],
            o["volume_current"], o["price_open"], o["sl"], o["tp"], o["price_open"], 0.0,
            o["symbol"], o["comment"], "",
        )  # fmt: skip

    def orders_get(
        self, symbol: str | None = None, group: str | None = None, ticket: int | None = None
    ) -> tuple[TradeOrder, ...] | None:
        if not self._ready("orders_get", symbol=symbol, group=group, ticket=ticket):
            return None
        return tuple(
            self._order_tuple(o)
            for o in self.orders.values()
            if o["state"] == C.ORDER_STATE_PLACED
            and (symbol is None or o["symbol"] == symbol)
            and (ticket is None or o["ticket"] == ticket)
        )

    def history_orders_get(
        self,
        date_from: Any = None,
        date_to: Any = None,
        group: str = "",
        ticket: int | None = None,
        position: int | None = None,
    ) -> tuple[TradeOrder, ...] | None:
        if not self._ready("history_orders_get", ticket=ticket, position=position):
            return None
        return tuple(
            self._order_tuple(o)
            for o in self.orders.values()
            if o["state"] != C.ORDER_STATE_PLACED and (ticket is None or o["ticket"] == ticket)
        )

    def history_deals_get(
        self,
        date_from: Any = None,
        date_to: Any = None,
        group: str = "",
        ticket: int | None = None,
        position: int | None = None,
    ) -> tuple[TradeDeal, ...] | None:
        if not self._ready("history_deals_get", ticket=ticket, position=position):
            return None
        return tuple(d for d in self.deals if ticket is None or d.order == ticket)

    def positions_get(
        self, symbol: str | None = None, group: str | None = None, ticket: int | None = None
    ) -> tuple[TradePosition, ...] | None:
        if not self._ready("positions_get", symbol=symbol, group=group, ticket=ticket):
            return None
        out = []
        for p in self.positions.values():
            sym = p["symbol"]
            if symbol is not None and sym != symbol:
                continue
            now = int(time.time())
            out.append(
                TradePosition(
                    p["ticket"], now, now * 1000, now, now * 1000,
                    C.POSITION_TYPE_BUY if p["volume"] > 0 else C.POSITION_TYPE_SELL,
                    p["magic"], p["ticket"], 0, abs(p["volume"]), p["price"], 0.0, 0.0,
                    p["price"], 0.0, 0.0, sym, "", "",
                )
            )  # fmt: skip
        return tuple(out)


FUNCTIONS = (
    "initialize", "login", "shutdown", "last_error", "version", "account_info",
    "symbols_total", "symbols_get", "symbol_info", "symbol_select", "symbol_info_tick",
    "copy_rates_from_pos", "copy_rates_from", "copy_rates_range", "copy_ticks_from",
    "copy_ticks_range", "order_send", "orders_get", "history_orders_get", "history_deals_get",
    "positions_get",
)  # fmt: skip
"""The module's functions (the documented names), each the terminal's method of that name."""


def make_module(terminal: Terminal) -> types.ModuleType:
    mt5 = types.ModuleType("MetaTrader5")
    mt5.__dict__.update(vars(C))
    for shape in (Tick, SymbolInfo, AccountInfo, OrderSendResult, TradeOrder, TradePosition,
                  TradeDeal):  # fmt: skip
        setattr(mt5, shape.__name__, shape)
    for name in FUNCTIONS:
        setattr(mt5, name, getattr(terminal, name))
    mt5.terminal = terminal  # type: ignore[attr-defined]
    return mt5


def install(monkeypatch: Any, terminal: Terminal | None = None) -> Terminal:
    """Put a fake ``MetaTrader5`` module for ``terminal`` (default: an empty one) into
    ``sys.modules``; returns the terminal."""
    terminal = terminal or Terminal()
    monkeypatch.setitem(sys.modules, "MetaTrader5", make_module(terminal))
    return terminal


ENERGY_CFDS = {  # name: (description, digits, base, contract size, first bid, first ask)
    "XTIUSD": ("WTI crude oil CFD", 2, "XTI", 100.0, 75.00, 75.04),
    "XBRUSD": ("Brent crude oil CFD", 2, "XBR", 100.0, 79.00, 79.04),
    "XNGUSD": ("Henry Hub natural gas CFD", 3, "XNG", 10_000.0, 2.800, 2.806),
}
"""The oil and gas CFDs as MT5 brokers list them: 0.01 lots steps, 0.01 lots minimum, crudes
in lots of 100 barrels quoted to the cent, gas in lots of 10,000 MMBtu to a tenth of a cent."""


def add_energy(terminal: Terminal, suffix: str = "") -> None:
    """Quote XTIUSD, XBRUSD and XNGUSD (with the broker's ``suffix``, e.g. ".m") now."""
    now_ms = int(time.time() * 1000)
    for name, (description, digits, base, contract, bid, ask) in ENERGY_CFDS.items():
        symbol = name + suffix
        terminal.add_symbol(symbol, digits, base, "USD", contract_size=contract,
                            volume_max=100.0, path="Energies", description=description,
                            visible=True)  # fmt: skip
        terminal.add_tick(symbol, now_ms, bid, ask)


def demo_account(hedging: bool = False) -> Terminal:
    """The terminal the broker tests trade on: logged-in account 123456 on ``Fake-Server``
    (10 000 USD, netting unless ``hedging``), EURUSD 1.08500/1.08510 and XAUUSD
    2350.00/2350.30 quoted."""
    terminal = Terminal(hedging)
    terminal.accounts[123456] = ("", "Fake-Server")
    now_ms = int(time.time() * 1000)
    terminal.add_symbol("EURUSD", 5, "EUR", "USD", visible=True)
    terminal.add_tick("EURUSD", now_ms, 1.08500, 1.08510)
    terminal.add_symbol("XAUUSD", 2, "XAU", "USD", contract_size=100.0, volume_max=50.0,
                        filling_mode=C.SYMBOL_FILLING_FOK, visible=True)  # fmt: skip
    terminal.add_tick("XAUUSD", now_ms, 2350.00, 2350.30)
    return terminal
