"""Live execution on any ccxt exchange (registered as ``qws.brokers:ccxt``).

- Keys come from the caller (the workstation reads them from the keyring or environment);
  they are never logged and never part of an error message.
- ccxt's rate limiter is on; ``sandbox=True`` switches to the venue's testnet when it has one;
  ``urls`` overrides the REST endpoints (proxies, regional hosts, and the tests' local server).
- Quantities and prices go through ``amount_to_precision``/``price_to_precision`` and are
  *compared*, not silently rounded: an order off the venue's grid is rejected with the reason.
- Errors: InsufficientFunds/InvalidOrder -> :class:`OrderRejected` with the venue's message;
  NetworkError/RequestTimeout/5xx -> look the order up by client id, then retry the submit with
  the *same* client id (the venue refuses a duplicate); still unknown after the retries ->
  :class:`BrokerUnavailable` and the order stays SUBMITTING until reconciliation. 429 backs off;
  418 (IP ban) stops at once, because every retry extends the ban.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from engine.model import (
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
    to_decimal,
)
from engine.protocols import BrokerError, BrokerUnavailable, OrderNotFound, OrderRejected

T = TypeVar("T")

_STATUS = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "cancelled": OrderStatus.CANCELLED,
    "rejected": OrderStatus.REJECTED,
    "expired": OrderStatus.EXPIRED,
}


def _dec(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(str(value))


class CcxtBroker:
    live = True
    submit_grace_s = 30.0  # longer than any recvWindow: a later arrival is refused by the venue

    def __init__(
        self,
        exchange: str = "binance",
        api_key: str | None = None,
        secret: str | None = None,
        password: str | None = None,
        sandbox: bool = False,
        urls: dict[str, Any] | None = None,
        timeout_ms: int = 10_000,
        retries: int = 3,
        retry_delay_s: float = 0.5,
        symbols: Sequence[str] = (),
        options: dict[str, Any] | None = None,
        rate_limit_ms: int | None = None,
        **_: object,
    ) -> None:
        import ccxt.async_support as ccxt_async

        try:
            cls = getattr(ccxt_async, exchange)
        except AttributeError:
            raise BrokerError(f"ccxt has no exchange {exchange!r}") from None
        config: dict[str, Any] = {
            "enableRateLimit": True,
            "timeout": int(timeout_ms),
            "options": {
                "fetchMarkets": {"types": ["spot"]},
                "fetchCurrencies": False,
                "fetchMargins": False,
                "warnOnFetchOpenOrdersWithoutSymbol": False,
                **(options or {}),
            },
        }
        if rate_limit_ms is not None:
            config["rateLimit"] = int(rate_limit_ms)
        for key, value in (("apiKey", api_key), ("secret", secret), ("password", password)):
            if value:
                config[key] = value
        self.exchange = cls(config)
        if sandbox:
            self.exchange.set_sandbox_mode(True)
        if urls:
            api = urls.get("api", urls)
            if isinstance(api, dict):
                self.exchange.urls["api"] = {**self.exchange.urls["api"], **api}
            else:
                self.exchange.urls["api"] = api
        self.name = exchange
        self.retries = int(retries)
        self.retry_delay_s = float(retry_delay_s)
        self._symbols: set[str] = set(symbols)
        self._symbol_of: dict[str, str] = {}  # client id -> symbol
        self._client_of: dict[str, str] = {}  # venue order id -> client id
        self._ccxt = ccxt_async

    async def close(self) -> None:
        await self.exchange.close()

    def _tracked(self) -> list[str]:
        """Tracked symbols this venue lists (a watchlist may hold FX or index symbols too)."""
        return sorted(s for s in self._symbols if s in (self.exchange.markets or {}))

    def track(self, symbols: Iterable[str]) -> None:
        """Symbols whose trades and holdings matter (venues like Binance list trades per
        symbol); the order manager passes every symbol it ever traded here."""
        self._symbols.update(symbols)

    # -- error mapping and retries -------------------------------------------------------------
    def _raise_unless_transient(self, exc: Exception, what: str = "") -> None:
        """Raise the broker error for a ccxt error that retrying cannot fix (a 418 ban, a
        refused key, a venue answer); return for a transient one (network, 429, 5xx) whose
        outcome is unknown, so the caller retries and then reconciles."""
        errors = self._ccxt
        if isinstance(exc, errors.DDoSProtection):
            if " 418 " in str(exc):
                raise BrokerUnavailable(f"{self.name} banned this IP for now{what}") from None
        elif isinstance(exc, (errors.NetworkError, errors.ExchangeNotAvailable)):
            return
        elif isinstance(exc, errors.AuthenticationError):
            raise BrokerError(f"{self.name} refused the API key ({type(exc).__name__})") from None
        elif not _unknown_outcome(exc):
            raise BrokerError(_message(exc)) from None

    async def _call(self, fn: Callable[[], Awaitable[T]], what: str) -> T:
        """Run a read-only call with retries on transient failures; map ccxt errors."""
        errors = self._ccxt
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                return await fn()
            except errors.OrderNotFound as exc:
                raise OrderNotFound(_message(exc)) from None
            except (errors.InsufficientFunds, errors.InvalidOrder, errors.BadRequest) as exc:
                raise OrderRejected(_message(exc)) from None
            except errors.BaseError as exc:
                self._raise_unless_transient(exc, f": {what}")
                last = exc
            if attempt < self.retries:
                await asyncio.sleep(self.retry_delay_s * 2**attempt)
        raise BrokerUnavailable(
            f"{what} failed after {self.retries + 1} attempts: {_message(last)}"
        )

    async def _markets(self) -> None:
        if not self.exchange.markets:
            await self._call(self.exchange.load_markets, "load markets")

    def _check_grid(self, order: Order) -> dict[str, Any]:
        ex = self.exchange
        if order.symbol not in ex.markets:
            raise OrderRejected(f"{self.name} has no market {order.symbol}")
        amount = Decimal(ex.amount_to_precision(order.symbol, float(order.qty)))
        if amount != order.qty:
            raise OrderRejected(
                f"{order.symbol}: quantity {order.qty} is not on {self.name}'s lot grid"
                f" (nearest below: {amount})"
            )
        out: dict[str, Any] = {"amount": float(amount), "price": None, "params": {}}
        if order.type is OrderType.LIMIT:
            if order.price is None:
                raise OrderRejected("limit order without a price")
            price = Decimal(ex.price_to_precision(order.symbol, float(order.price)))
            if price != order.price:
                raise OrderRejected(
                    f"{order.symbol}: price {order.price} is not on {self.name}'s tick grid"
                    f" (nearest: {price})"
                )
            out["price"] = float(price)
            out["params"]["timeInForce"] = str(order.tif)
        elif order.type is OrderType.STOP:
            if order.stop is None:
                raise OrderRejected("stop order without a stop price")
            out["params"]["stopLossPrice"] = ex.price_to_precision(order.symbol, float(order.stop))
        return out

    # -- the Broker protocol -------------------------------------------------------------------
    async def submit(self, order: Order) -> Order:
        await self._markets()
        req = self._check_grid(order)
        self._symbol_of[order.client_id] = order.symbol
        self._symbols.add(order.symbol)
        params = {**req["params"], "clientOrderId": order.client_id}
        ctype = "limit" if order.type is OrderType.LIMIT else "market"
        errors = self._ccxt
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                found = await self._lookup_quietly(order)
                if found is not None:
                    return found
                await asyncio.sleep(self.retry_delay_s * 2 ** (attempt - 1))
            try:
                raw = await self.exchange.create_order(
                    order.symbol, ctype, str(order.side), req["amount"], req["price"], params
                )
                return self._to_order(raw, order)
            except (errors.InsufficientFunds, errors.InvalidOrder, errors.BadRequest) as exc:
                if attempt:  # "Duplicate order sent.": an earlier attempt got through
                    found = await self._lookup_quietly(order)
                    if found is not None:
                        return found
                raise OrderRejected(_message(exc)) from None
            except errors.BaseError as exc:
                self._raise_unless_transient(exc)
                last = exc
        found = await self._lookup_quietly(order)
        if found is not None:
            return found
        raise BrokerUnavailable(
            f"submit {order.client_id}: outcome unknown after {self.retries + 1} attempts"
            f" ({_message(last)}); reconciliation will settle it"
        )

    async def _lookup_quietly(self, order: Order) -> Order | None:
        with contextlib.suppress(BrokerError):
            return await self.order(order.client_id, order.symbol)
        return None

    async def cancel(self, client_id: str) -> Order:
        await self._markets()
        symbol = self._symbol_of.get(client_id)
        if symbol is None:
            for o in await self.open_orders():
                if o.client_id == client_id:
                    symbol = o.symbol
            if symbol is None:
                raise OrderNotFound(f"{self.name}: no open order {client_id}")
        try:
            raw = await self._call(
                lambda: self.exchange.cancel_order(None, symbol, {"origClientOrderId": client_id}),
                f"cancel {client_id}",
            )
        except OrderNotFound:
            found = await self.order(client_id, symbol)
            if found is None:
                raise
            return found  # already final at the venue: cancelling a done order is a no-op
        return self._to_order(raw, None)

    async def order(self, client_id: str, symbol: str | None = None) -> Order | None:
        await self._markets()
        symbol = symbol or self._symbol_of.get(client_id)
        if symbol is None:
            return None
        try:
            raw = await self._call(
                lambda: self.exchange.fetch_order(None, symbol, {"origClientOrderId": client_id}),
                f"fetch order {client_id}",
            )
        except OrderNotFound:
            return None
        self._symbol_of[client_id] = symbol
        self._symbols.add(symbol)
        return self._to_order(raw, None)

    async def open_orders(self) -> list[Order]:
        """Open orders of the tracked symbols (cheap per-symbol calls), or of the whole account
        when none are tracked yet (Binance weighs that call 80 times heavier)."""
        await self._markets()
        tracked = self._tracked()
        if not tracked:
            raw = await self._call(self.exchange.fetch_open_orders, "fetch open orders")
            return [self._to_order(r, None) for r in raw]
        out: list[Order] = []
        for symbol in tracked:
            raw = await self._call(
                functools.partial(self.exchange.fetch_open_orders, symbol),
                f"fetch open orders {symbol}",
            )
            out.extend(self._to_order(r, None) for r in raw)
        return out

    async def fills(self, since_ns: int | None = None) -> list[Fill]:
        await self._markets()
        since_ms = None if since_ns is None else since_ns // 1_000_000
        out: list[Fill] = []
        for symbol in self._tracked():
            trades = await self._call(
                functools.partial(self.exchange.fetch_my_trades, symbol, since_ms),
                f"fetch trades {symbol}",
            )
            for t in trades:
                cid = await self._client_id(str(t["order"]), symbol)
                fee = t.get("fee") or {}
                out.append(
                    Fill(
                        cid,
                        symbol,
                        Side(t["side"]),
                        to_decimal(str(t["amount"])),
                        to_decimal(str(t["price"])),
                        to_decimal(str(fee.get("cost") or 0)),
                        int(t["timestamp"]) * 1_000_000,
                        f"{symbol}:{t['id']}",
                        str(fee.get("currency") or ""),
                    )
                )
        return out

    async def _client_id(self, venue_id: str, symbol: str) -> str:
        """The client id of a venue order id (trades only carry the latter)."""
        if venue_id not in self._client_of:
            raw = await self._call(
                lambda: self.exchange.fetch_order(venue_id, symbol), f"fetch order {venue_id}"
            )
            self._client_of[venue_id] = str(raw.get("clientOrderId") or f"{self.name}:{venue_id}")
        return self._client_of[venue_id]

    async def balance(self) -> dict[str, float]:
        return {k: float(v) for k, v in (await self.balances()).items()}

    async def balances(self) -> dict[str, Decimal]:
        raw = await self._call(self.exchange.fetch_balance, "fetch balance")
        totals = raw.get("total") or {}
        return {k: to_decimal(str(v)) for k, v in totals.items() if v}

    async def positions(self) -> list[Position]:
        """Spot holdings of the symbols traded through qws, as long positions."""
        await self._markets()
        totals = await self.balances()
        out = []
        for symbol in self._tracked():
            market = self.exchange.markets[symbol]
            qty = totals.get(market["base"], Decimal(0))
            if qty:
                out.append(Position(symbol, qty, Decimal(0), self.name))
        return out

    # -- mapping -------------------------------------------------------------------------------
    def _to_order(self, raw: dict[str, Any], sent: Order | None) -> Order:
        cid = str(raw.get("clientOrderId") or (sent.client_id if sent else raw["id"]))
        symbol = str(raw.get("symbol") or (sent.symbol if sent else ""))
        self._symbol_of[cid] = symbol
        if raw.get("id") is not None:
            self._client_of[str(raw["id"])] = cid
        filled = _dec(raw.get("filled")) or Decimal(0)
        status = _STATUS.get(str(raw.get("status")), OrderStatus.OPEN)
        if status is OrderStatus.OPEN and filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
        ctype = str(raw.get("type") or "").lower()
        otype = (
            OrderType.LIMIT
            if ctype == "limit"
            else OrderType.STOP
            if raw.get("triggerPrice") or "stop" in ctype
            else OrderType.MARKET
        )
        return Order(
            cid,
            symbol,
            Side(str(raw.get("side") or (sent.side if sent else "buy")).lower()),
            otype,
            _dec(raw.get("amount")) or (sent.qty if sent else Decimal(0)),
            _dec(raw.get("price")) if otype is OrderType.LIMIT else None,
            _dec(raw.get("triggerPrice")),
            sent.tif if sent else TimeInForce.GTC,
            status,
            self.name,
            filled,
            _dec(raw.get("average")) if filled else None,
            sent.sl if sent else None,
            sent.tp if sent else None,
            str(raw["id"]) if raw.get("id") is not None else None,
            "",
            int(raw.get("timestamp") or 0) * 1_000_000,
        )


_UNKNOWN_CODES = re.compile(r'"code":\s*(-1000|-1001|-1006|-1007|-1008)\b')


def _unknown_outcome(exc: BaseException) -> bool:
    """Binance's documented "execution status unknown" errors (UNKNOWN, DISCONNECTED,
    UNEXPECTED_RESP, TIMEOUT, SERVER_BUSY) arrive as HTTP 5xx with a JSON code; ccxt maps them
    to a plain ExchangeError, but they must be retried and looked up, never taken as a no."""
    return bool(_UNKNOWN_CODES.search(str(exc)))


def _message(exc: BaseException | None) -> str:
    """The venue's words without anything that could carry a secret (ccxt messages hold the
    exchange id and the response body, never the request or its headers)."""
    if exc is None:
        return "unknown error"
    text = str(exc)
    return text if len(text) < 500 else text[:500] + "…"
