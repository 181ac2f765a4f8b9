"""Execution through a MetaTrader 5 terminal (registered as ``qws.brokers:mt5``).

- Market orders go out as ``TRADE_ACTION_DEAL``, limit/stop orders as ``TRADE_ACTION_PENDING``;
  the filling mode comes from the symbol's ``filling_mode`` flags (FOK/IOC, else RETURN).
- The client id travels in ``comment`` (31 characters at most; ours are 24) with the
  configured ``magic``; before any send, the terminal is searched for that comment, so a
  resend after a timeout never opens a second position.
- Quantities are in the base unit like everywhere in qws; MT5 volume is in lots of
  ``trade_contract_size``, and a quantity that is not a whole number of ``volume_step`` lots is
  rejected with the reason, never rounded.
- Retcodes map to states: DONE -> FILLED, DONE_PARTIAL -> partially filled (rest cancelled),
  PLACED -> OPEN; REQUOTE/PRICE_CHANGED/PRICE_OFF are retried at the new price; TIMEOUT,
  CONNECTION, TOO_MANY_REQUESTS, ERROR and a ``None`` answer mean "unknown": look up by
  comment, retry, else :class:`BrokerUnavailable`; the rest reject with the terminal's comment.
- Symbols: ``symbol_map`` (the feed's setting ``feeds.mt5.symbol_map``, qws symbol -> the
  terminal's, e.g. WTI -> XTIUSD.m) translates both ways, as in the MT5 feed: orders go out
  under the terminal's name, and orders, deals and positions come back under the qws symbol.
- The MetaTrader5 package is Windows-only and not thread-safe: it is imported on first use and
  every call runs on one dedicated thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from engine.model import (
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
    SymbolMap,
    TimeInForce,
    to_decimal,
)
from engine.protocols import BrokerError, BrokerUnavailable, OrderNotFound, OrderRejected

T = TypeVar("T")
_RETRY_PRICE = ("TRADE_RETCODE_REQUOTE", "TRADE_RETCODE_PRICE_CHANGED", "TRADE_RETCODE_PRICE_OFF")
_UNKNOWN = (
    "TRADE_RETCODE_TIMEOUT",
    "TRADE_RETCODE_CONNECTION",
    "TRADE_RETCODE_TOO_MANY_REQUESTS",
    "TRADE_RETCODE_ERROR",
)


def _opened(position: Any) -> int:
    return int(position.time_msc)


def _dec(x: float) -> Decimal:
    return to_decimal(repr(float(x)))


class Mt5Broker:
    name = "mt5"
    live = True
    submit_grace_s = 60.0

    def __init__(
        self,
        path: str = "",
        login: int = 0,
        password: str | None = None,
        server: str = "",
        deviation: int = 20,
        magic: int = 770_001,
        retries: int = 3,
        history_days: int = 30,
        symbol_map: Mapping[str, str] | None = None,
        **_: object,
    ) -> None:
        self._opts = {
            "path": path,
            "login": int(login or 0),
            "password": password,
            "server": server,
        }
        self.deviation = int(deviation)
        self.magic = int(magic)
        self.retries = int(retries)
        self.history_days = int(history_days)
        self.symbol_map = SymbolMap.of(symbol_map)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mt5")
        self._mt5: Any = None

    # -- plumbing ------------------------------------------------------------------------------
    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    async def _connect(self) -> Any:
        if self._mt5 is not None:
            return self._mt5
        try:
            mt5 = importlib.import_module("MetaTrader5")
        except ImportError:
            raise BrokerError(
                "the MetaTrader5 package is not installed (Windows only: pip install qws[mt5])"
            ) from None
        kwargs = {k: v for k, v in self._opts.items() if v}
        ok = await self._run(mt5.initialize, **kwargs)
        if not ok:
            code, msg = await self._run(mt5.last_error)
            raise BrokerUnavailable(f"MetaTrader 5 did not start: {msg} ({code})")
        self._mt5 = mt5
        return mt5

    async def close(self) -> None:
        if self._mt5 is not None:
            await self._run(self._mt5.shutdown)
            self._mt5 = None
        self._pool.shutdown(wait=False)

    async def _symbol(self, symbol: str) -> Any:
        """The terminal's symbol_info for a qws symbol (its ``name`` is the terminal's)."""
        mt5 = await self._connect()
        info = await self._run(mt5.symbol_info, self.symbol_map.venue(symbol))
        if info is None:
            raise OrderRejected(f"MT5 has no symbol {self.symbol_map.describe(symbol)}")
        if not info.visible:
            await self._run(mt5.symbol_select, info.name, True)
        return info

    def _lots(self, order_qty: Decimal, info: Any) -> float:
        contract = _dec(info.trade_contract_size)
        step = _dec(info.volume_step)
        lots = order_qty / contract
        if lots % step != 0:
            raise OrderRejected(
                f"{info.name}: {order_qty} is {lots} lots, not a multiple of the volume step"
                f" {step} lots of {contract}"
            )
        if lots < _dec(info.volume_min) or lots > _dec(info.volume_max):
            raise OrderRejected(
                f"{info.name}: {lots} lots is outside [{info.volume_min}, {info.volume_max}]"
            )
        return float(lots)

    def _filling(self, info: Any, tif: TimeInForce) -> int:
        mt5 = self._mt5
        fok = bool(info.filling_mode & mt5.SYMBOL_FILLING_FOK)
        ioc = bool(info.filling_mode & mt5.SYMBOL_FILLING_IOC)
        if tif is TimeInForce.FOK and fok:
            return int(mt5.ORDER_FILLING_FOK)
        if ioc:
            return int(mt5.ORDER_FILLING_IOC)
        if fok:
            return int(mt5.ORDER_FILLING_FOK)
        return int(mt5.ORDER_FILLING_RETURN)

    def _code(self, name: str) -> int:
        return int(getattr(self._mt5, name))

    # -- the Broker protocol -------------------------------------------------------------------
    async def submit(self, order: Order) -> Order:
        existing = await self.order(order.client_id, order.symbol)
        if existing is not None:
            return existing
        info = await self._symbol(order.symbol)
        mt5 = self._mt5
        lots = self._lots(order.qty, info)
        request: dict[str, Any] = {
            "symbol": info.name,
            "volume": lots,
            "magic": self.magic,
            "comment": order.client_id,
            "deviation": self.deviation,
            "type_time": mt5.ORDER_TIME_DAY if order.tif is TimeInForce.DAY else mt5.ORDER_TIME_GTC,
        }
        if order.sl is not None:
            request["sl"] = float(order.sl)
        if order.tp is not None:
            request["tp"] = float(order.tp)
        buy = order.side is Side.BUY
        if order.type is OrderType.MARKET:
            request["action"] = mt5.TRADE_ACTION_DEAL
            request["type"] = mt5.ORDER_TYPE_BUY if buy else mt5.ORDER_TYPE_SELL
            request["type_filling"] = self._filling(info, order.tif)
            ticket = await self._position_to_close(info.name, buy, lots)
            if ticket is not None:
                request["position"] = ticket
        else:
            price = order.price if order.type is OrderType.LIMIT else order.stop
            if price is None:
                raise OrderRejected(f"{order.type} order without a price")
            request["action"] = mt5.TRADE_ACTION_PENDING
            request["price"] = float(price)
            request["type_filling"] = mt5.ORDER_FILLING_RETURN
            if order.type is OrderType.LIMIT:
                request["type"] = mt5.ORDER_TYPE_BUY_LIMIT if buy else mt5.ORDER_TYPE_SELL_LIMIT
            else:
                request["type"] = mt5.ORDER_TYPE_BUY_STOP if buy else mt5.ORDER_TYPE_SELL_STOP
        last = "no answer"
        for attempt in range(self.retries + 1):
            if request["action"] == mt5.TRADE_ACTION_DEAL:
                tick = await self._run(mt5.symbol_info_tick, info.name)
                if tick is not None:
                    request["price"] = tick.ask if buy else tick.bid
            result = await self._run(mt5.order_send, request)
            if result is None:
                code, msg = await self._run(mt5.last_error)
                last = f"{msg} ({code})"
            elif result.retcode == self._code("TRADE_RETCODE_DONE"):
                status = OrderStatus.FILLED
                return self._from_result(order, result, lots, status, info)
            elif result.retcode == self._code("TRADE_RETCODE_DONE_PARTIAL"):
                return self._from_result(order, result, lots, OrderStatus.CANCELLED, info)
            elif result.retcode == self._code("TRADE_RETCODE_PLACED"):
                return self._from_result(order, result, lots, OrderStatus.OPEN, info)
            elif result.retcode in [self._code(n) for n in _RETRY_PRICE]:
                last = f"{result.comment} ({result.retcode})"
                continue
            elif result.retcode in [self._code(n) for n in _UNKNOWN]:
                last = f"{result.comment} ({result.retcode})"
            else:
                raise OrderRejected(f"MT5 rejected the order: {result.comment} ({result.retcode})")
            found = await self.order(order.client_id, order.symbol)
            if found is not None:
                return found
            await asyncio.sleep(0.05 * 2**attempt)
        raise BrokerUnavailable(f"MT5 submit {order.client_id}: outcome unknown ({last})")

    async def _position_to_close(self, symbol: str, buy: bool, lots: float) -> int | None:
        """On a hedging account an opposite deal opens a second position unless it names the
        one it closes: the oldest opposite position of exactly this volume, if there is one.
        (Other volumes open a hedge, which :meth:`positions` nets, so the OMS stays right.)"""
        mt5 = self._mt5
        account = await self._run(mt5.account_info)
        if account is None or account.margin_mode != mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING:
            return None
        opposite = mt5.POSITION_TYPE_SELL if buy else mt5.POSITION_TYPE_BUY
        for p in sorted(await self._run(mt5.positions_get, symbol=symbol) or (), key=_opened):
            if p.type == opposite and abs(p.volume - lots) < 1e-9:
                return int(p.ticket)
        return None

    def _from_result(
        self, order: Order, result: Any, lots: float, status: OrderStatus, info: Any
    ) -> Order:
        filled = _dec(result.volume) * _dec(info.trade_contract_size) if result.deal else Decimal(0)
        if status is OrderStatus.OPEN:
            filled = Decimal(0)
        return Order(
            order.client_id,
            order.symbol,
            order.side,
            order.type,
            order.qty,
            order.price,
            order.stop,
            order.tif,
            status if status is not OrderStatus.CANCELLED or filled else OrderStatus.EXPIRED,
            self.name,
            filled,
            _dec(result.price) if filled else None,
            order.sl,
            order.tp,
            str(result.order),
            "" if status is not OrderStatus.CANCELLED else "rest of IOC cancelled",
            order.ts_ns or time.time_ns(),
        )

    async def _find_ticket(self, client_id: str) -> tuple[Any, bool] | None:
        """The terminal's order with this comment: (TradeOrder, is_open) or None."""
        mt5 = await self._connect()
        for o in await self._run(mt5.orders_get) or ():
            if o.comment == client_id and o.magic == self.magic:
                return o, True
        start, end = self._history_window()
        for o in await self._run(mt5.history_orders_get, start, end) or ():
            if o.comment == client_id and o.magic == self.magic:
                return o, False
        return None

    def _history_window(self) -> tuple[datetime, datetime]:
        now = datetime.now(UTC)
        return now - timedelta(days=self.history_days), now + timedelta(days=1)

    async def order(self, client_id: str, symbol: str | None = None) -> Order | None:
        found = await self._find_ticket(client_id)
        if found is None:
            return None
        return await self._to_order(*found)

    async def _to_order(self, o: Any, is_open: bool) -> Order:
        mt5 = self._mt5
        info = await self._run(mt5.symbol_info, o.symbol)
        contract = _dec(info.trade_contract_size) if info is not None else Decimal(1)
        deals = await self._run(mt5.history_deals_get, ticket=o.ticket) or ()
        filled = sum((_dec(d.volume) for d in deals), Decimal(0)) * contract
        value = sum((_dec(d.volume) * _dec(d.price) for d in deals), Decimal(0)) * contract
        qty = _dec(o.volume_initial) * contract
        states = {
            mt5.ORDER_STATE_STARTED: OrderStatus.OPEN,
            mt5.ORDER_STATE_PLACED: OrderStatus.OPEN,
            mt5.ORDER_STATE_PARTIAL: OrderStatus.PARTIALLY_FILLED,
            mt5.ORDER_STATE_FILLED: OrderStatus.FILLED,
            mt5.ORDER_STATE_CANCELED: OrderStatus.CANCELLED,
            mt5.ORDER_STATE_REJECTED: OrderStatus.REJECTED,
            mt5.ORDER_STATE_EXPIRED: OrderStatus.EXPIRED,
        }
        status = states.get(o.state, OrderStatus.OPEN if is_open else OrderStatus.CANCELLED)
        if status is OrderStatus.OPEN and filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
        buy = o.type in (mt5.ORDER_TYPE_BUY, mt5.ORDER_TYPE_BUY_LIMIT, mt5.ORDER_TYPE_BUY_STOP)
        if o.type in (mt5.ORDER_TYPE_BUY_LIMIT, mt5.ORDER_TYPE_SELL_LIMIT):
            otype, price, stop = OrderType.LIMIT, _dec(o.price_open), None
        elif o.type in (mt5.ORDER_TYPE_BUY_STOP, mt5.ORDER_TYPE_SELL_STOP):
            otype, price, stop = OrderType.STOP, None, _dec(o.price_open)
        else:
            otype, price, stop = OrderType.MARKET, None, None
        return Order(
            o.comment or f"mt5:{o.ticket}",
            self.symbol_map.ours(o.symbol),
            Side.BUY if buy else Side.SELL,
            otype,
            qty,
            price,
            stop,
            TimeInForce.GTC,
            status,
            self.name,
            filled,
            value / filled if filled else None,
            _dec(o.sl) if o.sl else None,
            _dec(o.tp) if o.tp else None,
            str(o.ticket),
            "",
            int(o.time_setup_msc) * 1_000_000,
        )

    async def cancel(self, client_id: str) -> Order:
        found = await self._find_ticket(client_id)
        if found is None:
            raise OrderNotFound(f"MT5 has no order {client_id}")
        o, is_open = found
        if not is_open:
            return await self._to_order(o, False)
        mt5 = self._mt5
        request = {"action": mt5.TRADE_ACTION_REMOVE, "order": o.ticket}
        result = await self._run(mt5.order_send, request)
        if result is None or result.retcode != self._code("TRADE_RETCODE_DONE"):
            again = await self._find_ticket(client_id)
            if again is not None and not again[1]:
                return await self._to_order(*again)
            why = "no answer" if result is None else f"{result.comment} ({result.retcode})"
            raise BrokerError(f"MT5 could not cancel {client_id}: {why}")
        again = await self._find_ticket(client_id)
        return await self._to_order(*again) if again else await self._to_order(o, False)

    async def open_orders(self) -> list[Order]:
        mt5 = await self._connect()
        return [await self._to_order(o, True) for o in await self._run(mt5.orders_get) or ()]

    async def fills(self, since_ns: int | None = None) -> list[Fill]:
        mt5 = await self._connect()
        start, end = self._history_window()
        if since_ns is not None:
            start = max(start, datetime.fromtimestamp(since_ns / 1e9, UTC))
        out = []
        orders = {}
        for o in await self._run(mt5.history_orders_get, start, end) or ():
            orders[o.ticket] = o
        for d in await self._run(mt5.history_deals_get, start, end) or ():
            if d.type not in (mt5.DEAL_TYPE_BUY, mt5.DEAL_TYPE_SELL):
                continue  # balance, credit, commission rows
            info = await self._run(mt5.symbol_info, d.symbol)
            contract = _dec(info.trade_contract_size) if info is not None else Decimal(1)
            parent = orders.get(d.order)
            comment = parent.comment if parent is not None else d.comment
            cid = comment if comment and d.magic == self.magic else f"mt5:{d.order}"
            out.append(
                Fill(
                    cid,
                    self.symbol_map.ours(d.symbol),
                    Side.BUY if d.type == mt5.DEAL_TYPE_BUY else Side.SELL,
                    _dec(d.volume) * contract,
                    _dec(d.price),
                    -(_dec(d.commission) + _dec(d.fee)),
                    int(d.time_msc) * 1_000_000,
                    f"deal:{d.ticket}",
                    info.currency_profit if info is not None else "",
                )
            )
        return out

    async def positions(self) -> list[Position]:
        mt5 = await self._connect()
        net: dict[str, tuple[Decimal, Decimal]] = {}
        for p in await self._run(mt5.positions_get) or ():
            info = await self._run(mt5.symbol_info, p.symbol)
            contract = _dec(info.trade_contract_size) if info is not None else Decimal(1)
            sign = 1 if p.type == mt5.POSITION_TYPE_BUY else -1
            qty = sign * _dec(p.volume) * contract
            symbol = self.symbol_map.ours(p.symbol)
            q0, cost0 = net.get(symbol, (Decimal(0), Decimal(0)))
            net[symbol] = (q0 + qty, cost0 + qty * _dec(p.price_open))
        return [
            Position(s, q, (cost / q) if q else Decimal(0), self.name)
            for s, (q, cost) in sorted(net.items())
            if q
        ]

    async def balance(self) -> dict[str, float]:
        mt5 = await self._connect()
        info = await self._run(mt5.account_info)
        if info is None:
            code, msg = await self._run(mt5.last_error)
            raise BrokerUnavailable(f"MT5 account_info failed: {msg} ({code})")
        return {str(info.currency): float(info.balance)}
