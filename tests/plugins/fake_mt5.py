"""A fake ``MetaTrader5`` module for the MT5 *broker* tests (the real one is Windows-only).

Same function names, constants and namedtuple return shapes as the MetaTrader5 package's
documentation (order_send/OrderSendResult, orders_get/TradeOrder, positions_get/TradePosition,
history_orders_get, history_deals_get/TradeDeal, symbol_info/SymbolInfo, symbol_info_tick/Tick,
account_info/AccountInfo, last_error). Behind them, a tiny netting account: market deals fill
at the bid/ask, pending orders rest until :meth:`FakeTerminal.trigger` fills them. Queue
retcodes with :meth:`FakeTerminal.script` to simulate requotes, timeouts and rejections.
"""

from __future__ import annotations

import itertools
import time
import types
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import pytest

# -- constants (values as in the MetaTrader5 package) ------------------------------------------
CONSTANTS = {
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
C = types.SimpleNamespace(**CONSTANTS)


# -- return shapes -----------------------------------------------------------------------------
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


class SymbolInfo(NamedTuple):
    name: str
    visible: bool
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


class Tick(NamedTuple):
    time: int
    bid: float
    ask: float
    last: float
    volume: int
    time_msc: int
    flags: int
    volume_real: float


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


class FakeTerminal:
    """The account behind the fake module's functions."""

    def __init__(self, hedging: bool = False) -> None:
        self.hedging = hedging
        self.connected = False
        self.calls: list[tuple[str, Any]] = []
        self.symbols = {
            "EURUSD": SymbolInfo(
                "EURUSD",
                True,
                5,
                1e-5,
                1e-5,
                100_000.0,
                0.01,
                100.0,
                0.01,
                C.SYMBOL_FILLING_FOK | C.SYMBOL_FILLING_IOC,
                "EUR",
                "USD",
                1.08500,
                1.08510,
            ),
            "XAUUSD": SymbolInfo(
                "XAUUSD",
                True,
                2,
                0.01,
                0.01,
                100.0,
                0.01,
                50.0,
                0.01,
                C.SYMBOL_FILLING_FOK,
                "XAU",
                "USD",
                2350.00,
                2350.30,
            ),
        }
        self.orders: dict[int, dict[str, Any]] = {}  # ticket -> order fields
        self.deals: list[TradeDeal] = []
        # netting: one position per symbol (keyed by symbol); hedging: one per opening deal
        self.positions: dict[object, dict[str, Any]] = {}
        self.balance = 10_000.0
        self._tickets = itertools.count(50_000_001)
        self._deals = itertools.count(80_000_001)
        self.script_queue: deque[tuple[int, bool]] = deque()
        self.error = (1, "Success")

    def script(self, retcode: int, executes: bool = False) -> None:
        """The next order_send answers ``retcode``; with ``executes`` the trade still happens
        (a timeout whose request reached the server)."""
        self.script_queue.append((retcode, executes))

    # -- the module's functions --------------------------------------------------------------
    def initialize(self, *args: Any, **kwargs: Any) -> bool:
        self.calls.append(("initialize", kwargs))
        self.connected = True
        return True

    def login(self, login: int, password: str = "", server: str = "", timeout: int = 0) -> bool:
        self.calls.append(("login", login))
        return True

    def shutdown(self) -> None:
        self.connected = False

    def last_error(self) -> tuple[int, str]:
        return self.error

    def account_info(self) -> AccountInfo:
        return AccountInfo(
            123456,
            0,
            100,
            200,
            0,
            True,
            True,
            C.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING
            if self.hedging
            else (C.ACCOUNT_MARGIN_MODE_RETAIL_NETTING),
            2,
            False,
            self.balance,
            0.0,
            0.0,
            self.balance,
            0.0,
            self.balance,
            0.0,
            50.0,
            30.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            "Test",
            "Fake-Server",
            "USD",
            "Fake Broker Ltd",
        )

    def symbol_info(self, symbol: str) -> SymbolInfo | None:
        return self.symbols.get(symbol)

    def symbol_select(self, symbol: str, enable: bool = True) -> bool:
        return symbol in self.symbols

    def symbol_info_tick(self, symbol: str) -> Tick | None:
        s = self.symbols.get(symbol)
        if s is None:
            return None
        now = int(time.time())
        return Tick(now, s.bid, s.ask, 0.0, 0, now * 1000, 6, 0.0)

    def _need(self) -> None:
        if not self.connected:
            self.error = (-10004, "No IPC connection")
            raise RuntimeError("not initialized")

    def order_send(self, request: dict[str, Any]) -> OrderSendResult | None:
        self.calls.append(("order_send", dict(request)))
        if not self.connected:
            self.error = (-10004, "No IPC connection")
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
            if vol * sym.trade_contract_size * sym.ask / 100 > self.balance:
                return self._result(C.TRADE_RETCODE_NO_MONEY, request, comment="No money")
            price = sym.ask if request["type"] == C.ORDER_TYPE_BUY else sym.bid
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
        sym = self.symbols.get(request.get("symbol", ""))
        return OrderSendResult(
            retcode,
            deal,
            order,
            volume,
            price,
            sym.bid if sym else 0.0,
            sym.ask if sym else 0.0,
            comment,
            1,
            0,
            request,
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
                    else (C.DEAL_ENTRY_INOUT)
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
                deal,
                ticket,
                now,
                now * 1000 + len(self.deals),
                C.DEAL_TYPE_BUY if buy else C.DEAL_TYPE_SELL,
                entry,
                order["magic"],
                ticket,
                0,
                vol,
                price,
                -2.5 * vol,
                0.0,
                0.0,
                0.0,
                order["symbol"],
                order["comment"],
                "",
            )
        )
        return deal

    def trigger(self, ticket: int) -> None:
        """The market reached a pending order: it fills at its price."""
        order = self.orders[ticket]
        order["state"] = C.ORDER_STATE_FILLED
        vol = order["volume_current"]
        order["volume_current"] = 0.0
        self._deal(ticket, {}, order["price_open"], vol)

    def _order_tuple(self, o: dict[str, Any]) -> TradeOrder:
        return TradeOrder(
            o["ticket"],
            o["time_setup"],
            o["time_setup"] * 1000,
            0,
            0,
            0,
            o["type"],
            0,
            o["type_filling"],
            o["state"],
            o["magic"],
            0,
            0,
            0,
            o["volume_initial"],
            o["volume_current"],
            o["price_open"],
            o["sl"],
            o["tp"],
            o["price_open"],
            0.0,
            o["symbol"],
            o["comment"],
            "",
        )

    def orders_get(
        self, symbol: str | None = None, group: str | None = None, ticket: int | None = None
    ) -> tuple[TradeOrder, ...] | None:
        self._need()
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
        self._need()
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
        self._need()
        return tuple(d for d in self.deals if ticket is None or d.order == ticket)

    def positions_get(
        self, symbol: str | None = None, group: str | None = None, ticket: int | None = None
    ) -> tuple[TradePosition, ...] | None:
        self._need()
        out = []
        for p in self.positions.values():
            sym = p["symbol"]
            if symbol is not None and sym != symbol:
                continue
            now = int(time.time())
            out.append(
                TradePosition(
                    p["ticket"],
                    now,
                    now * 1000,
                    now,
                    now * 1000,
                    C.POSITION_TYPE_BUY if p["volume"] > 0 else C.POSITION_TYPE_SELL,
                    p["magic"],
                    p["ticket"],
                    0,
                    abs(p["volume"]),
                    p["price"],
                    0.0,
                    0.0,
                    p["price"],
                    0.0,
                    0.0,
                    sym,
                    "",
                    "",
                )
            )
        return tuple(out)

    def module(self) -> types.ModuleType:
        mod = types.ModuleType("MetaTrader5")
        mod.__dict__.update(CONSTANTS)
        for name in (
            "initialize",
            "login",
            "shutdown",
            "last_error",
            "account_info",
            "symbol_info",
            "symbol_select",
            "symbol_info_tick",
            "order_send",
            "orders_get",
            "history_orders_get",
            "history_deals_get",
            "positions_get",
        ):
            setattr(mod, name, getattr(self, name))
        mod.__fake_terminal__ = self  # type: ignore[attr-defined]
        return mod


@contextmanager
def installed(monkeypatch: pytest.MonkeyPatch, hedging: bool = False) -> Iterator[FakeTerminal]:
    terminal = FakeTerminal(hedging)
    monkeypatch.setitem(__import__("sys").modules, "MetaTrader5", terminal.module())
    yield terminal
