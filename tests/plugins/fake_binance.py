"""A Binance spot REST server on 127.0.0.1 for the ccxt broker tests.

It answers the routes ccxt calls (exchangeInfo, account, order POST/GET/DELETE, openOrders,
myTrades) with the JSON shapes of Binance's documentation, checks that signed requests carry
``timestamp`` and ``signature``, rejects a duplicate ``newClientOrderId`` with -2010 the way
Binance does, and can be told to misbehave per route: ``timeout`` (answer after the client
gave up, having accepted the order), ``accept_then_502`` (accept, then a 502 gateway error),
``429``/``418`` (rate limited / IP banned, with ``Retry-After``) and ``500`` (fail before
accepting).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict, deque
from decimal import Decimal
from typing import Any

from aiohttp import web

SYMBOL = "BTCUSDT"
FILL_PRICE = Decimal("60000.00")
UNKNOWN_ERROR = "An unknown error occurred while processing the request."


def _now_ms() -> int:
    return int(time.time() * 1000)


class FakeBinance:
    def __init__(self, timeout_s: float = 1.0, api_key: str = "test-key") -> None:
        self.timeout_s = timeout_s
        self.api_key = api_key
        self.faults: dict[str, deque[str]] = defaultdict(deque)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.orders: dict[str, dict[str, Any]] = {}  # by clientOrderId
        self.trades: list[dict[str, Any]] = []
        self.balances = {"BTC": Decimal("1"), "USDT": Decimal("100000"), "BNB": Decimal("0")}
        self._ids = itertools.count(1000)
        self._trade_ids = itertools.count(5000)
        self.runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/api/v3/exchangeInfo", self.exchange_info)
        app.router.add_get("/api/v3/account", self.account)
        app.router.add_post("/api/v3/order", self.create_order)
        app.router.add_get("/api/v3/order", self.get_order)
        app.router.add_delete("/api/v3/order", self.cancel_order)
        app.router.add_get("/api/v3/openOrders", self.open_orders)
        app.router.add_get("/api/v3/myTrades", self.my_trades)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{self.port}/api/v3"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def fail(self, route: str, *faults: str) -> None:
        """Queue faults for ``route`` like ``"POST /api/v3/order"``, used one per request."""
        self.faults[route].extend(faults)

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.requests if m == method and p == path)

    # -- helpers -----------------------------------------------------------------------------
    async def _params(self, request: web.Request, signed: bool) -> dict[str, str]:
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        self.requests.append((request.method, request.path, params))
        if signed and not ("timestamp" in params and "signature" in params):
            raise web.HTTPBadRequest(
                text='{"code":-1102,"msg":"Mandatory parameter \'signature\' was not sent."}',
                content_type="application/json",
            )
        if signed and request.headers.get("X-MBX-APIKEY") != self.api_key:
            raise web.HTTPUnauthorized(
                text='{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}',
                content_type="application/json",
            )
        return params

    def _fault(self, request: web.Request) -> str | None:
        queue = self.faults.get(f"{request.method} {request.path}")
        return queue.popleft() if queue else None

    @staticmethod
    def _error(status: int, code: int, msg: str) -> web.Response:
        return web.json_response({"code": code, "msg": msg}, status=status)

    @staticmethod
    def _limited(fault: str) -> web.Response:
        status = int(fault)
        msg = (
            "Way too much request weight used; IP banned until 1700000000000."
            if status == 418
            else "Too much request weight used; current limit is 6000 request weight per 1"
            " MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."
        )
        return web.json_response(
            {"code": -1003, "msg": msg}, status=status, headers={"Retry-After": "1"}
        )

    # -- public ------------------------------------------------------------------------------
    async def exchange_info(self, request: web.Request) -> web.Response:
        await self._params(request, signed=False)
        fault = self._fault(request)
        if fault in ("429", "418"):
            return self._limited(fault)
        return web.json_response(
            {
                "timezone": "UTC",
                "serverTime": _now_ms(),
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": 6000,
                    }
                ],
                "exchangeFilters": [],
                "symbols": [
                    {
                        "symbol": SYMBOL,
                        "status": "TRADING",
                        "baseAsset": "BTC",
                        "baseAssetPrecision": 8,
                        "quoteAsset": "USDT",
                        "quotePrecision": 8,
                        "quoteAssetPrecision": 8,
                        "baseCommissionPrecision": 8,
                        "quoteCommissionPrecision": 8,
                        "orderTypes": [
                            "LIMIT",
                            "LIMIT_MAKER",
                            "MARKET",
                            "STOP_LOSS",
                            "STOP_LOSS_LIMIT",
                            "TAKE_PROFIT",
                            "TAKE_PROFIT_LIMIT",
                        ],
                        "icebergAllowed": True,
                        "ocoAllowed": True,
                        "otoAllowed": True,
                        "quoteOrderQtyMarketAllowed": True,
                        "allowTrailingStop": True,
                        "cancelReplaceAllowed": True,
                        "isSpotTradingAllowed": True,
                        "isMarginTradingAllowed": False,
                        "filters": [
                            {
                                "filterType": "PRICE_FILTER",
                                "minPrice": "0.01000000",
                                "maxPrice": "1000000.00000000",
                                "tickSize": "0.01000000",
                            },
                            {
                                "filterType": "LOT_SIZE",
                                "minQty": "0.00001000",
                                "maxQty": "9000.00000000",
                                "stepSize": "0.00001000",
                            },
                            {
                                "filterType": "NOTIONAL",
                                "minNotional": "5.00000000",
                                "applyMinToMarket": True,
                                "maxNotional": "9000000.00000000",
                                "applyMaxToMarket": False,
                                "avgPriceMins": 5,
                            },
                        ],
                        "permissions": [],
                        "permissionSets": [["SPOT", "MARGIN"]],
                        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                        "allowedSelfTradePreventionModes": [
                            "EXPIRE_TAKER",
                            "EXPIRE_MAKER",
                            "EXPIRE_BOTH",
                        ],
                    }
                ],
            }
        )

    # -- private -----------------------------------------------------------------------------
    async def account(self, request: web.Request) -> web.Response:
        await self._params(request, signed=True)
        fault = self._fault(request)
        if fault in ("429", "418"):
            return self._limited(fault)
        return web.json_response(
            {
                "makerCommission": 10,
                "takerCommission": 10,
                "buyerCommission": 0,
                "sellerCommission": 0,
                "commissionRates": {
                    "maker": "0.00100000",
                    "taker": "0.00100000",
                    "buyer": "0.00000000",
                    "seller": "0.00000000",
                },
                "canTrade": True,
                "canWithdraw": True,
                "canDeposit": True,
                "brokered": False,
                "requireSelfTradePrevention": False,
                "preventSor": False,
                "updateTime": _now_ms(),
                "accountType": "SPOT",
                "balances": [
                    {"asset": a, "free": f"{v:.8f}", "locked": "0.00000000"}
                    for a, v in self.balances.items()
                ],
                "permissions": ["SPOT"],
                "uid": 354937868,
            }
        )

    def _accept(self, p: dict[str, str]) -> dict[str, Any]:
        qty = Decimal(p["quantity"])
        order = {
            "symbol": p["symbol"],
            "orderId": next(self._ids),
            "orderListId": -1,
            "clientOrderId": p["newClientOrderId"],
            "transactTime": _now_ms(),
            "price": p.get("price", "0.00000000"),
            "origQty": f"{qty:.8f}",
            "executedQty": "0.00000000",
            "cummulativeQuoteQty": "0.00000000",
            "status": "NEW",
            "timeInForce": p.get("timeInForce", "GTC"),
            "type": p["type"],
            "side": p["side"],
            "stopPrice": p.get("stopPrice", "0.00000000"),
            "workingTime": _now_ms(),
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "fills": [],
        }
        if p["type"] == "MARKET":
            self._fill(order, qty, FILL_PRICE)
        self.orders[order["clientOrderId"]] = order
        return order

    def _fill(self, order: dict[str, Any], qty: Decimal, price: Decimal) -> None:
        """Execute ``qty`` of ``order`` at ``price`` (market orders at once; tests call this
        for resting orders to simulate the market)."""
        executed = Decimal(order["executedQty"]) + qty
        order["executedQty"] = f"{executed:.8f}"
        order["cummulativeQuoteQty"] = f"{Decimal(order['cummulativeQuoteQty']) + qty * price:.8f}"
        order["status"] = "FILLED" if executed >= Decimal(order["origQty"]) else "PARTIALLY_FILLED"
        commission = qty * Decimal("0.001")
        trade_id = next(self._trade_ids)
        order["fills"].append(
            {
                "price": f"{price:.8f}",
                "qty": f"{qty:.8f}",
                "commission": f"{commission:.8f}",
                "commissionAsset": "BTC" if order["side"] == "BUY" else "USDT",
                "tradeId": trade_id,
            }
        )
        self.trades.append(
            {
                "symbol": order["symbol"],
                "id": trade_id,
                "orderId": order["orderId"],
                "orderListId": -1,
                "price": f"{price:.8f}",
                "qty": f"{qty:.8f}",
                "quoteQty": f"{qty * price:.8f}",
                "commission": f"{commission:.8f}",
                "commissionAsset": "BTC" if order["side"] == "BUY" else "USDT",
                "time": _now_ms(),
                "isBuyer": order["side"] == "BUY",
                "isMaker": order["type"] != "MARKET",
                "isBestMatch": True,
            }
        )
        sign = 1 if order["side"] == "BUY" else -1
        self.balances["BTC"] += sign * qty
        self.balances["USDT"] -= sign * qty * price

    def fill_resting(self, client_id: str, qty: str, price: str) -> None:
        self._fill(self.orders[client_id], Decimal(qty), Decimal(price))

    @staticmethod
    def _view(order: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in order.items() if k not in ("fills", "transactTime")}
        view.update(
            {
                "icebergQty": "0.00000000",
                "time": order["transactTime"],
                "updateTime": _now_ms(),
                "isWorking": True,
                "origQuoteOrderQty": "0.00000000",
            }
        )
        return view

    async def create_order(self, request: web.Request) -> web.Response:
        p = await self._params(request, signed=True)
        fault = self._fault(request)
        if fault in ("429", "418"):
            return self._limited(fault)
        if fault == "500":
            return self._error(
                500, -1000, "An unknown error occurred while processing the request."
            )
        existing = self.orders.get(p["newClientOrderId"])
        if existing is not None and existing["status"] in ("NEW", "PARTIALLY_FILLED"):
            return self._error(400, -2010, "Duplicate order sent.")
        if existing is not None:
            return self._error(400, -2010, "Duplicate order sent.")
        if p["side"] == "BUY" and p["type"] == "MARKET":
            cost = Decimal(p["quantity"]) * FILL_PRICE
            if cost > self.balances["USDT"]:
                return self._error(
                    400, -2010, "Account has insufficient balance for requested action."
                )
        if Decimal(p["quantity"]) % Decimal("0.00001") != 0:
            return self._error(400, -1013, "Filter failure: LOT_SIZE")
        order = self._accept(p)
        if fault == "timeout":
            await asyncio.sleep(self.timeout_s)
        if fault == "accept_then_502":
            return web.Response(status=502, text="<html><body>502 Bad Gateway</body></html>")
        return web.json_response(order)

    def _find(self, p: dict[str, str]) -> dict[str, Any] | None:
        if "origClientOrderId" in p:
            return self.orders.get(p["origClientOrderId"])
        if "orderId" in p:
            for o in self.orders.values():
                if str(o["orderId"]) == p["orderId"]:
                    return o
        return None

    async def get_order(self, request: web.Request) -> web.Response:
        p = await self._params(request, signed=True)
        fault = self._fault(request)
        if fault in ("429", "418"):
            return self._limited(fault)
        if fault == "500":
            return self._error(
                500, -1000, "An unknown error occurred while processing the request."
            )
        order = self._find(p)
        if order is None:
            return self._error(400, -2013, "Order does not exist.")
        return web.json_response(self._view(order))

    async def cancel_order(self, request: web.Request) -> web.Response:
        p = await self._params(request, signed=True)
        order = self._find(p)
        if order is None or order["status"] not in ("NEW", "PARTIALLY_FILLED"):
            return self._error(400, -2011, "Unknown order sent.")
        order["status"] = "CANCELED"
        view = self._view(order)
        view["origClientOrderId"] = order["clientOrderId"]
        return web.json_response(view)

    async def open_orders(self, request: web.Request) -> web.Response:
        p = await self._params(request, signed=True)
        return web.json_response(
            [
                self._view(o)
                for o in self.orders.values()
                if o["status"] in ("NEW", "PARTIALLY_FILLED")
                and ("symbol" not in p or o["symbol"] == p["symbol"])
            ]
        )

    async def my_trades(self, request: web.Request) -> web.Response:
        p = await self._params(request, signed=True)
        since = int(p.get("startTime", 0))
        return web.json_response(
            [t for t in self.trades if t["symbol"] == p["symbol"] and t["time"] >= since]
        )
