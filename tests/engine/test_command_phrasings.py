"""The command language as a trader types it: one table of phrasings, each with the whole
Command it must read as, and one of phrasings it must refuse, each with what the refusal says.

``benchmarks/commands.py`` times the parser over these same phrasings.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal as D
from typing import Any

import pytest

from engine.commands import DEFAULT_ALIASES, Command, CommandError, parse

DEMO = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "US500"]
OIL = ["BTC/USDT", "ETH/USDT", "WTI", "XAGUSD", "XAUUSD", "XAUEUR", "US500"]

READ: list[tuple[str, list[str], str, dict[str, Any]]] = [
    (
        "buy 0.1 btc",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("0.1"),
            "symbol": "BTC/USDT",
            "understood": "buy 0.1 BTC/USDT market",
            "corrections": [],
        },
    ),
    (
        "buy 0.1 BTC/USDT",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("0.1"),
            "symbol": "BTC/USDT",
            "understood": "buy 0.1 BTC/USDT market",
            "corrections": [],
        },
    ),
    (
        "b 0.1 btc",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("0.1"),
            "symbol": "BTC/USDT",
            "understood": "buy 0.1 BTC/USDT market",
            "corrections": [],
        },
    ),
    (
        "s 2 eth",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "qty": D("2"),
            "symbol": "ETH/USDT",
            "understood": "sell 2 ETH/USDT market",
            "corrections": [],
        },
    ),
    (
        "long 1 sol",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("1"),
            "symbol": "SOL/USDT",
            "understood": "buy 1 SOL/USDT market",
            "corrections": [],
        },
    ),
    (
        "short 1 eth",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "qty": D("1"),
            "symbol": "ETH/USDT",
            "understood": "sell 1 ETH/USDT market",
            "corrections": [],
        },
    ),
    (
        "go short 0.5 btc",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "qty": D("0.5"),
            "symbol": "BTC/USDT",
            "understood": "sell 0.5 BTC/USDT market",
            "corrections": [],
        },
    ),
    (
        "sell 10000 eurusd",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "qty": D("10000"),
            "symbol": "EURUSD",
            "understood": "sell 10000 EURUSD market",
            "corrections": [],
        },
    ),
    (
        "buy 1,000 eurusd",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("1000"),
            "symbol": "EURUSD",
            "understood": "buy 1000 EURUSD market",
            "corrections": [],
        },
    ),
    (
        "buy 60,000 usdjpy",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("60000"),
            "symbol": "USDJPY",
            "understood": "buy 60000 USDJPY market",
            "corrections": [],
        },
    ),
    (
        "buy 1.5k eurusd",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("1500"),
            "symbol": "EURUSD",
            "understood": "buy 1500 EURUSD market",
            "corrections": [],
        },
    ),
    (
        "buy 2m eurusd",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("2000000"),
            "symbol": "EURUSD",
            "understood": "buy 2000000 EURUSD market",
            "corrections": [],
        },
    ),
    (
        "buy 10k gbpusd limit 1.25",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "limit",
            "qty": D("10000"),
            "symbol": "GBPUSD",
            "price": D("1.25"),
            "understood": "buy 10000 GBPUSD limit 1.25",
            "corrections": [],
        },
    ),
    (
        "buy 0.1 btc limit 60,000",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "limit",
            "qty": D("0.1"),
            "symbol": "BTC/USDT",
            "price": D("60000"),
            "understood": "buy 0.1 BTC/USDT limit 60000",
            "corrections": [],
        },
    ),
    (
        "buy 0.1 btc limit 60000 sl 58000 tp 65000",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "limit",
            "qty": D("0.1"),
            "symbol": "BTC/USDT",
            "price": D("60000"),
            "sl": D("58000"),
            "tp": D("65000"),
            "understood": "buy 0.1 BTC/USDT limit 60000 sl 58000 tp 65000",
            "corrections": [],
        },
    ),
    (
        "buy 0.1 btc @ 60000",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "limit",
            "qty": D("0.1"),
            "symbol": "BTC/USDT",
            "price": D("60000"),
            "understood": "buy 0.1 BTC/USDT limit 60000",
            "corrections": [],
        },
    ),
    (
        "buy 0.1 btc at 60000 sl 59000",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "limit",
            "qty": D("0.1"),
            "symbol": "BTC/USDT",
            "price": D("60000"),
            "sl": D("59000"),
            "understood": "buy 0.1 BTC/USDT limit 60000 sl 59000",
            "corrections": [],
        },
    ),
    (
        "sell 1 eth at 3500 tp 3000 sl 3600",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "limit",
            "qty": D("1"),
            "symbol": "ETH/USDT",
            "price": D("3500"),
            "tp": D("3000"),
            "sl": D("3600"),
            "understood": "sell 1 ETH/USDT limit 3500 sl 3600 tp 3000",
            "corrections": [],
        },
    ),
    (
        "sell 0.5 eth stop 2900",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "stop",
            "qty": D("0.5"),
            "symbol": "ETH/USDT",
            "price": D("2900"),
            "understood": "sell 0.5 ETH/USDT stop 2900",
            "corrections": [],
        },
    ),
    (
        "buy 1 btc stop 61000 sl 60000",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "stop",
            "qty": D("1"),
            "symbol": "BTC/USDT",
            "price": D("61000"),
            "sl": D("60000"),
            "understood": "buy 1 BTC/USDT stop 61000 sl 60000",
            "corrections": [],
        },
    ),
    (
        "buy 1 btc, sl 58000",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("1"),
            "symbol": "BTC/USDT",
            "sl": D("58000"),
            "understood": "buy 1 BTC/USDT market sl 58000",
            "corrections": [],
        },
    ),
    (
        "buy 1 btc, sl 58000, tp 65000",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("1"),
            "symbol": "BTC/USDT",
            "sl": D("58000"),
            "tp": D("65000"),
            "understood": "buy 1 BTC/USDT market sl 58000 tp 65000",
            "corrections": [],
        },
    ),
    (
        "buy 0.1 btc stop loss 58000 take profit 65000",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("0.1"),
            "symbol": "BTC/USDT",
            "sl": D("58000"),
            "tp": D("65000"),
            "understood": "buy 0.1 BTC/USDT market sl 58000 tp 65000",
            "corrections": [],
        },
    ),
    (
        "buy 0.1 btc sl=58000 tp=65000",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("0.1"),
            "symbol": "BTC/USDT",
            "sl": D("58000"),
            "tp": D("65000"),
            "understood": "buy 0.1 BTC/USDT market sl 58000 tp 65000",
            "corrections": [],
        },
    ),
    (
        "buy 0.1 btc at market",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("0.1"),
            "symbol": "BTC/USDT",
            "understood": "buy 0.1 BTC/USDT market",
            "corrections": [],
        },
    ),
    (
        "buy 0.1 btc mkt",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("0.1"),
            "symbol": "BTC/USDT",
            "understood": "buy 0.1 BTC/USDT market",
            "corrections": [],
        },
    ),
    (
        "buy 0.1 btc lmt 60000 ioc",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "limit",
            "qty": D("0.1"),
            "symbol": "BTC/USDT",
            "price": D("60000"),
            "tif": "IOC",
            "understood": "buy 0.1 BTC/USDT limit 60000 IOC",
            "corrections": [],
        },
    ),
    (
        "buy 1 xauusd limit 2400 gtc",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "limit",
            "qty": D("1"),
            "symbol": "XAUUSD",
            "price": D("2400"),
            "tif": "GTC",
            "understood": "buy 1 XAUUSD limit 2400 GTC",
            "corrections": [],
        },
    ),
    (
        "sell 2 us500 @ 5000 sl 5100 tp 4800",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "limit",
            "qty": D("2"),
            "symbol": "US500",
            "price": D("5000"),
            "sl": D("5100"),
            "tp": D("4800"),
            "understood": "sell 2 US500 limit 5000 sl 5100 tp 4800",
            "corrections": [],
        },
    ),
    (
        "please buy 0.1 btc",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("0.1"),
            "symbol": "BTC/USDT",
            "understood": "buy 0.1 BTC/USDT market",
            "corrections": [],
        },
    ),
    (
        "i want to sell 1 eth",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "qty": D("1"),
            "symbol": "ETH/USDT",
            "understood": "sell 1 ETH/USDT market",
            "corrections": [],
        },
    ),
    (
        "can you buy 0.2 sol",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("0.2"),
            "symbol": "SOL/USDT",
            "understood": "buy 0.2 SOL/USDT market",
            "corrections": [],
        },
    ),
    (
        "buy btc",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "symbol": "BTC/USDT",
            "understood": "buy BTC/USDT market",
            "corrections": [],
        },
    ),
    (
        "sell 0.25 of my btc",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "qty": D("0.25"),
            "symbol": "BTC/USDT",
            "understood": "sell 0.25 BTC/USDT market",
            "corrections": [],
        },
    ),
    (
        "buy $500 of btc",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "notional": D("500"),
            "notional_ccy": "USD",
            "symbol": "BTC/USDT",
            "understood": "buy 500 USD of BTC/USDT market",
            "corrections": [],
        },
    ),
    (
        "buy 500$ of btc",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "notional": D("500"),
            "notional_ccy": "USD",
            "symbol": "BTC/USDT",
            "understood": "buy 500 USD of BTC/USDT market",
            "corrections": [],
        },
    ),
    (
        "buy 500 usd of btc",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "notional": D("500"),
            "notional_ccy": "USD",
            "symbol": "BTC/USDT",
            "understood": "buy 500 USD of BTC/USDT market",
            "corrections": [],
        },
    ),
    (
        "buy 250 usdt worth of eth",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "notional": D("250"),
            "notional_ccy": "USDT",
            "symbol": "ETH/USDT",
            "understood": "buy 250 USDT of ETH/USDT market",
            "corrections": [],
        },
    ),
    (
        "buy 1k usd of gold",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "notional": D("1000"),
            "notional_ccy": "USD",
            "symbol": "XAUUSD",
            "understood": "buy 1000 USD of XAUUSD market",
            "corrections": [],
        },
    ),
    (
        "buy usd 1000 of eth",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "notional": D("1000"),
            "notional_ccy": "USD",
            "symbol": "ETH/USDT",
            "understood": "buy 1000 USD of ETH/USDT market",
            "corrections": [],
        },
    ),
    (
        "buy $1,000 of sol",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "notional": D("1000"),
            "notional_ccy": "USD",
            "symbol": "SOL/USDT",
            "understood": "buy 1000 USD of SOL/USDT market",
            "corrections": [],
        },
    ),
    (
        "buy 100 usdc of eth",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "notional": D("100"),
            "notional_ccy": "USDC",
            "symbol": "ETH/USDT",
            "understood": "buy 100 USDC of ETH/USDT market",
            "corrections": [],
        },
    ),
    (
        "sell 500 dollars of btc",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "notional": D("500"),
            "notional_ccy": "USD",
            "symbol": "BTC/USDT",
            "understood": "sell 500 USD of BTC/USDT market",
            "corrections": [],
        },
    ),
    (
        "buy $2.5k of xauusd limit 2400",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "limit",
            "notional": D("2500"),
            "notional_ccy": "USD",
            "symbol": "XAUUSD",
            "price": D("2400"),
            "understood": "buy 2500 USD of XAUUSD limit 2400",
            "corrections": [],
        },
    ),
    (
        "buy 100 bucks worth of btc",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "notional": D("100"),
            "notional_ccy": "USD",
            "symbol": "BTC/USDT",
            "understood": "buy 100 USD of BTC/USDT market",
            "corrections": [],
        },
    ),
    (
        "sell $300 of eth at 3500",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "limit",
            "notional": D("300"),
            "notional_ccy": "USD",
            "symbol": "ETH/USDT",
            "price": D("3500"),
            "understood": "sell 300 USD of ETH/USDT limit 3500",
            "corrections": [],
        },
    ),
    (
        "sell half my eth",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "fraction": D("0.5"),
            "symbol": "ETH/USDT",
            "understood": "sell 50% of ETH/USDT position market",
            "corrections": [],
        },
    ),
    (
        "sell half of my eth",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "fraction": D("0.5"),
            "symbol": "ETH/USDT",
            "understood": "sell 50% of ETH/USDT position market",
            "corrections": [],
        },
    ),
    (
        "sell all my sol",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "fraction": D("1"),
            "symbol": "SOL/USDT",
            "understood": "sell 100% of SOL/USDT position market",
            "corrections": [],
        },
    ),
    (
        "sell all of my sol",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "fraction": D("1"),
            "symbol": "SOL/USDT",
            "understood": "sell 100% of SOL/USDT position market",
            "corrections": [],
        },
    ),
    (
        "sell 25% of my btc",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "fraction": D("0.25"),
            "symbol": "BTC/USDT",
            "understood": "sell 25% of BTC/USDT position market",
            "corrections": [],
        },
    ),
    (
        "sell 25 % of my btc",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "fraction": D("0.25"),
            "symbol": "BTC/USDT",
            "understood": "sell 25% of BTC/USDT position market",
            "corrections": [],
        },
    ),
    (
        "sell 50 percent of my eth",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "fraction": D("0.5"),
            "symbol": "ETH/USDT",
            "understood": "sell 50% of ETH/USDT position market",
            "corrections": [],
        },
    ),
    (
        "sell a quarter of my btc",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "fraction": D("0.25"),
            "symbol": "BTC/USDT",
            "understood": "sell 25% of BTC/USDT position market",
            "corrections": [],
        },
    ),
    (
        "sell my eth",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "symbol": "ETH/USDT",
            "fraction": D("1"),
            "understood": "sell 100% of ETH/USDT position market",
            "corrections": [],
        },
    ),
    (
        "sell everything of my sol",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "fraction": D("1"),
            "symbol": "SOL/USDT",
            "understood": "sell 100% of SOL/USDT position market",
            "corrections": [],
        },
    ),
    (
        "sell half my eth limit 3500",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "limit",
            "fraction": D("0.5"),
            "symbol": "ETH/USDT",
            "price": D("3500"),
            "understood": "sell 50% of ETH/USDT position limit 3500",
            "corrections": [],
        },
    ),
    (
        "buy half my btc",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "fraction": D("0.5"),
            "symbol": "BTC/USDT",
            "understood": "buy 50% of BTC/USDT position market",
            "corrections": [],
        },
    ),
    (
        "sell 33.5% of my sol",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "fraction": D("0.335"),
            "symbol": "SOL/USDT",
            "understood": "sell 33.5% of SOL/USDT position market",
            "corrections": [],
        },
    ),
    (
        "by 0.1 btc",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("0.1"),
            "symbol": "BTC/USDT",
            "understood": "buy 0.1 BTC/USDT market",
            "corrections": ["by -> buy"],
        },
    ),
    (
        "buy 0.1 btc lmit 60000",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "limit",
            "qty": D("0.1"),
            "symbol": "BTC/USDT",
            "price": D("60000"),
            "understood": "buy 0.1 BTC/USDT limit 60000",
            "corrections": ["lmit -> limit"],
        },
    ),
    (
        "selll 0.5 eth",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "qty": D("0.5"),
            "symbol": "ETH/USDT",
            "understood": "sell 0.5 ETH/USDT market",
            "corrections": ["selll -> sell"],
        },
    ),
    (
        "cell 0.5 eth",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "qty": D("0.5"),
            "symbol": "ETH/USDT",
            "understood": "sell 0.5 ETH/USDT market",
            "corrections": ["cell -> sell"],
        },
    ),
    (
        "shrot 1 eth",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "qty": D("1"),
            "symbol": "ETH/USDT",
            "understood": "sell 1 ETH/USDT market",
            "corrections": ["shrot -> short"],
        },
    ),
    (
        "buyy 1 sol",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("1"),
            "symbol": "SOL/USDT",
            "understood": "buy 1 SOL/USDT market",
            "corrections": ["buyy -> buy"],
        },
    ),
    (
        "clsoe all",
        DEMO,
        "close",
        {"symbol": None, "all": True, "understood": "close all", "corrections": ["clsoe -> close"]},
    ),
    (
        "cloes btc",
        DEMO,
        "close",
        {
            "symbol": "BTC/USDT",
            "all": False,
            "understood": "close BTC/USDT",
            "corrections": ["cloes -> close"],
        },
    ),
    (
        "cancle all",
        DEMO,
        "cancel",
        {"client_id": None, "all": True, "corrections": ["cancle -> cancel"]},
    ),
    (
        "postions",
        DEMO,
        "query",
        {"what": "positions", "understood": "positions", "corrections": ["postions -> positions"]},
    ),
    (
        "show postions",
        DEMO,
        "query",
        {"what": "positions", "understood": "positions", "corrections": ["postions -> positions"]},
    ),
    (
        "ordres",
        DEMO,
        "query",
        {"what": "orders", "understood": "orders", "corrections": ["ordres -> orders"]},
    ),
    (
        "blaance",
        DEMO,
        "query",
        {"what": "balance", "understood": "balance", "corrections": ["blaance -> balance"]},
    ),
    ("hlep", DEMO, "help", {"corrections": ["hlep -> help"]}),
    ("seetings", DEMO, "settings", {"corrections": ["seetings -> settings"]}),
    (
        "sell hlaf my eth",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "fraction": D("0.5"),
            "symbol": "ETH/USDT",
            "understood": "sell 50% of ETH/USDT position market",
            "corrections": ["hlaf -> half"],
        },
    ),
    (
        "buy 0.1 bitcoin",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("0.1"),
            "symbol": "BTC/USDT",
            "understood": "buy 0.1 BTC/USDT market",
            "corrections": [],
        },
    ),
    (
        "buy 1 ether",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("1"),
            "symbol": "ETH/USDT",
            "understood": "buy 1 ETH/USDT market",
            "corrections": [],
        },
    ),
    (
        "buy 1 ethereum",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("1"),
            "symbol": "ETH/USDT",
            "understood": "buy 1 ETH/USDT market",
            "corrections": [],
        },
    ),
    (
        "buy 2 solana",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("2"),
            "symbol": "SOL/USDT",
            "understood": "buy 2 SOL/USDT market",
            "corrections": [],
        },
    ),
    (
        "buy 1 gold",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("1"),
            "symbol": "XAUUSD",
            "understood": "buy 1 XAUUSD market",
            "corrections": [],
        },
    ),
    (
        "buy 10000 cable",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("10000"),
            "symbol": "GBPUSD",
            "understood": "buy 10000 GBPUSD market",
            "corrections": [],
        },
    ),
    (
        "sell 10000 euro",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "qty": D("10000"),
            "symbol": "EURUSD",
            "understood": "sell 10000 EURUSD market",
            "corrections": [],
        },
    ),
    (
        "buy 10000 fiber",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("10000"),
            "symbol": "EURUSD",
            "understood": "buy 10000 EURUSD market",
            "corrections": [],
        },
    ),
    (
        "sell 100000 yen",
        DEMO,
        "order",
        {
            "side": "sell",
            "type": "market",
            "qty": D("100000"),
            "symbol": "USDJPY",
            "understood": "sell 100000 USDJPY market",
            "corrections": [],
        },
    ),
    (
        "buy 1 spx",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("1"),
            "symbol": "US500",
            "understood": "buy 1 US500 market",
            "corrections": [],
        },
    ),
    (
        "buy 1 s&p 500",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("1"),
            "symbol": "US500",
            "understood": "buy 1 US500 market",
            "corrections": [],
        },
    ),
    (
        "buy 1 sp500",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("1"),
            "symbol": "US500",
            "understood": "buy 1 US500 market",
            "corrections": [],
        },
    ),
    ("chart gold 4h", DEMO, "chart", {"symbol": "XAUUSD", "timeframe": "4h"}),
    ("bitcoin", DEMO, "chart", {"symbol": "BTC/USDT"}),
    ("show cable", DEMO, "chart", {"symbol": "GBPUSD"}),
    ("xbt", DEMO, "chart", {"symbol": "BTC/USDT"}),
    (
        "BUY 0.1 BITCOIN",
        DEMO,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("0.1"),
            "symbol": "BTC/USDT",
            "understood": "buy 0.1 BTC/USDT market",
            "corrections": [],
        },
    ),
    ("what is my pnl", DEMO, "query", {"what": "pnl", "understood": "pnl"}),
    ("pnl", DEMO, "query", {"what": "pnl", "understood": "pnl"}),
    ("my pnl", DEMO, "query", {"what": "pnl", "understood": "pnl"}),
    ("p&l", DEMO, "query", {"what": "pnl", "understood": "pnl"}),
    ("show pnl", DEMO, "query", {"what": "pnl", "understood": "pnl"}),
    ("how am i doing", DEMO, "query", {"what": "pnl", "understood": "pnl"}),
    ("show positions", DEMO, "query", {"what": "positions", "understood": "positions"}),
    ("positions", DEMO, "query", {"what": "positions", "understood": "positions"}),
    ("open positions", DEMO, "query", {"what": "positions", "understood": "positions"}),
    ("my positions", DEMO, "query", {"what": "positions", "understood": "positions"}),
    (
        "how many positions do i have",
        DEMO,
        "query",
        {"what": "positions", "understood": "positions"},
    ),
    ("my orders", DEMO, "query", {"what": "orders", "understood": "orders"}),
    ("open orders", DEMO, "query", {"what": "orders", "understood": "orders"}),
    ("show orders", DEMO, "query", {"what": "orders", "understood": "orders"}),
    ("orders", DEMO, "query", {"what": "orders", "understood": "orders"}),
    ("balance", DEMO, "query", {"what": "balance", "understood": "balance"}),
    ("how much cash do i have", DEMO, "query", {"what": "balance", "understood": "balance"}),
    ("what is my balance", DEMO, "query", {"what": "balance", "understood": "balance"}),
    ("equity", DEMO, "query", {"what": "balance", "understood": "balance"}),
    ("risk", DEMO, "query", {"what": "risk", "understood": "risk"}),
    ("what's my risk", DEMO, "query", {"what": "risk", "understood": "risk"}),
    ("show exposure", DEMO, "query", {"what": "risk", "understood": "risk"}),
    (
        "price of gold",
        DEMO,
        "query",
        {"what": "price", "symbol": "XAUUSD", "understood": "price XAUUSD"},
    ),
    (
        "how much is bitcoin",
        DEMO,
        "query",
        {"what": "price", "symbol": "BTC/USDT", "understood": "price BTC/USDT"},
    ),
    (
        "btc price",
        DEMO,
        "query",
        {"what": "price", "symbol": "BTC/USDT", "understood": "price BTC/USDT"},
    ),
    (
        "quote eth",
        DEMO,
        "query",
        {"what": "price", "symbol": "ETH/USDT", "understood": "price ETH/USDT"},
    ),
    (
        "what is the price of btc",
        DEMO,
        "query",
        {"what": "price", "symbol": "BTC/USDT", "understood": "price BTC/USDT"},
    ),
    (
        "what's eth at",
        DEMO,
        "query",
        {"what": "price", "symbol": "ETH/USDT", "understood": "price ETH/USDT"},
    ),
    (
        "price btc",
        DEMO,
        "query",
        {"what": "price", "symbol": "BTC/USDT", "understood": "price BTC/USDT"},
    ),
    (
        "gold price",
        DEMO,
        "query",
        {"what": "price", "symbol": "XAUUSD", "understood": "price XAUUSD"},
    ),
    (
        "how much btc do i have",
        DEMO,
        "query",
        {"what": "positions", "symbol": "BTC/USDT", "understood": "positions BTC/USDT"},
    ),
    (
        "my eth position",
        DEMO,
        "query",
        {"what": "positions", "symbol": "ETH/USDT", "understood": "positions ETH/USDT"},
    ),
    ("pnl btc", DEMO, "query", {"what": "pnl", "symbol": "BTC/USDT", "understood": "pnl BTC/USDT"}),
    (
        "set stop on btc to 58000",
        DEMO,
        "amend",
        {"symbol": "BTC/USDT", "sl": D("58000"), "understood": "amend BTC/USDT sl 58000"},
    ),
    (
        "move my eth stop to 3000",
        DEMO,
        "amend",
        {"symbol": "ETH/USDT", "sl": D("3000"), "understood": "amend ETH/USDT sl 3000"},
    ),
    (
        "tp sol 180",
        DEMO,
        "amend",
        {"symbol": "SOL/USDT", "tp": D("180"), "understood": "amend SOL/USDT tp 180"},
    ),
    (
        "sl btc 58000",
        DEMO,
        "amend",
        {"symbol": "BTC/USDT", "sl": D("58000"), "understood": "amend BTC/USDT sl 58000"},
    ),
    (
        "set tp on eth 4000 and sl 3000",
        DEMO,
        "amend",
        {
            "symbol": "ETH/USDT",
            "tp": D("4000"),
            "sl": D("3000"),
            "understood": "amend ETH/USDT sl 3000 tp 4000",
        },
    ),
    (
        "set btc sl 58,000 tp 65,000",
        DEMO,
        "amend",
        {
            "symbol": "BTC/USDT",
            "sl": D("58000"),
            "tp": D("65000"),
            "understood": "amend BTC/USDT sl 58000 tp 65000",
        },
    ),
    (
        "move the stop loss on gold to 2350",
        DEMO,
        "amend",
        {"symbol": "XAUUSD", "sl": D("2350"), "understood": "amend XAUUSD sl 2350"},
    ),
    (
        "change my sol target to 200",
        DEMO,
        "amend",
        {"symbol": "SOL/USDT", "tp": D("200"), "understood": "amend SOL/USDT tp 200"},
    ),
    (
        "stop-loss eth 2900",
        DEMO,
        "amend",
        {"symbol": "ETH/USDT", "sl": D("2900"), "understood": "amend ETH/USDT sl 2900"},
    ),
    (
        "set stpo on btc to 58000",
        DEMO,
        "amend",
        {
            "symbol": "BTC/USDT",
            "sl": D("58000"),
            "understood": "amend BTC/USDT sl 58000",
            "corrections": ["stpo -> stop"],
        },
    ),
    (
        "close btc",
        DEMO,
        "close",
        {"symbol": "BTC/USDT", "all": False, "understood": "close BTC/USDT"},
    ),
    ("close all", DEMO, "close", {"symbol": None, "all": True, "understood": "close all"}),
    (
        "close half my eth",
        DEMO,
        "close",
        {
            "symbol": "ETH/USDT",
            "all": False,
            "fraction": D("0.5"),
            "understood": "close 50% of ETH/USDT",
        },
    ),
    (
        "close 25% of btc",
        DEMO,
        "close",
        {
            "symbol": "BTC/USDT",
            "all": False,
            "fraction": D("0.25"),
            "understood": "close 25% of BTC/USDT",
        },
    ),
    ("close everything", DEMO, "close", {"symbol": None, "all": True, "understood": "close all"}),
    (
        "close all positions",
        DEMO,
        "close",
        {"symbol": None, "all": True, "understood": "close all"},
    ),
    (
        "close my sol",
        DEMO,
        "close",
        {"symbol": "SOL/USDT", "all": False, "understood": "close SOL/USDT"},
    ),
    (
        "close the gold",
        DEMO,
        "close",
        {"symbol": "XAUUSD", "all": False, "understood": "close XAUUSD"},
    ),
    (
        "close all my btc",
        DEMO,
        "close",
        {"symbol": "BTC/USDT", "all": False, "understood": "close BTC/USDT"},
    ),
    ("exit xau", DEMO, "close", {"symbol": "XAUUSD", "all": False, "understood": "close XAUUSD"}),
    (
        "close a quarter of my btc",
        DEMO,
        "close",
        {
            "symbol": "BTC/USDT",
            "all": False,
            "fraction": D("0.25"),
            "understood": "close 25% of BTC/USDT",
        },
    ),
    ("cancel all", DEMO, "cancel", {"client_id": None, "all": True}),
    ("cancel abc123", DEMO, "cancel", {"client_id": "abc123", "all": False}),
    ("cancel my orders", DEMO, "cancel", {"client_id": None, "all": True}),
    ("flatten", DEMO, "flatten", {}),
    ("flatten all", DEMO, "flatten", {}),
    ("kill", DEMO, "kill", {"on": True}),
    ("kill off", DEMO, "kill", {"on": False}),
    ("chart XAUUSD 4h", DEMO, "chart", {"symbol": "XAUUSD", "timeframe": "4h"}),
    ("show btc", DEMO, "chart", {"symbol": "BTC/USDT"}),
    ("show eth h1", DEMO, "chart", {"symbol": "ETH/USDT", "timeframe": "1h"}),
    ("btc 4h", DEMO, "chart", {"symbol": "BTC/USDT", "timeframe": "4h"}),
    ("usdjpy", DEMO, "chart", {"symbol": "USDJPY"}),
    ("4h", DEMO, "timeframe", {"timeframe": "4h"}),
    ("tf daily", DEMO, "timeframe", {"timeframe": "1d"}),
    ("scan", DEMO, "scan", {"symbols": []}),
    ("scan btc eth 5m", DEMO, "scan", {"symbols": ["BTC/USDT", "ETH/USDT"], "timeframe": "5m"}),
    (
        "backtest sma_cross fast=10 slow=30",
        DEMO,
        "backtest",
        {"strategy": "sma_cross", "params": {"fast": 10, "slow": 30}},
    ),
    ("add gold", DEMO, "watch_add", {"symbol": "XAUUSD", "all": False}),
    ("remove US500", DEMO, "watch_remove", {"symbol": "US500", "all": False}),
    ("search eth", DEMO, "search", {"text": "eth"}),
    ("help", DEMO, "help", {}),
    ("?", DEMO, "help", {}),
    ("settings", DEMO, "settings", {}),
    ("theme Nord", DEMO, "theme", {"theme": "nord"}),
    ("quit", DEMO, "quit", {}),
    (
        "strategy start sma_cross btc 1h",
        DEMO,
        "strategy",
        {"action": "start", "strategy": "sma_cross", "symbol": "BTC/USDT", "timeframe": "1h"},
    ),
    ("crude", OIL, "chart", {"symbol": "WTI"}),
    (
        "buy 10 crude oil",
        OIL,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("10"),
            "symbol": "WTI",
            "understood": "buy 10 WTI market",
            "corrections": [],
        },
    ),
    (
        "sell 5 oil limit 80 sl 82 tp 75",
        OIL,
        "order",
        {
            "side": "sell",
            "type": "limit",
            "qty": D("5"),
            "symbol": "WTI",
            "price": D("80"),
            "sl": D("82"),
            "tp": D("75"),
            "understood": "sell 5 WTI limit 80 sl 82 tp 75",
            "corrections": [],
        },
    ),
    (
        "buy 100 silver",
        OIL,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("100"),
            "symbol": "XAGUSD",
            "understood": "buy 100 XAGUSD market",
            "corrections": [],
        },
    ),
    ("chart wti 1h", OIL, "chart", {"symbol": "WTI", "timeframe": "1h"}),
    ("price of oil", OIL, "query", {"what": "price", "symbol": "WTI", "understood": "price WTI"}),
    (
        "how much is silver",
        OIL,
        "query",
        {"what": "price", "symbol": "XAGUSD", "understood": "price XAGUSD"},
    ),
    (
        "buy 1 xauusd",
        OIL,
        "order",
        {
            "side": "buy",
            "type": "market",
            "qty": D("1"),
            "symbol": "XAUUSD",
            "understood": "buy 1 XAUUSD market",
            "corrections": [],
        },
    ),
]

REFUSED: list[tuple[str, list[str], str]] = [
    ("", DEMO, "type a command"),
    ("dance", DEMO, "unknown command 'dance'"),
    ("buy 0.1", DEMO, "which symbol?"),
    ("buy 0.1 doge", DEMO, "unknown symbol 'doge'; known: BTC/USDT"),
    ("buy 0.1 us", DEMO, "'us' is ambiguous: USDJPY, US500"),
    ("buy 0.1 btc limit", DEMO, "a limit order needs a price"),
    ("buy -1 btc", DEMO, "the quantity must be a positive number, got '-1'"),
    ("buy 0 btc", DEMO, "the quantity must be a positive number, got '0'"),
    ("buy $0 of btc", DEMO, "the notional must be a positive number"),
    ("buy -$500 of btc", DEMO, "the notional must be a positive number, got '-500'"),
    ("buy 1 btc limit 60000 sl 61000", DEMO, "a buy's stop-loss goes below the entry price"),
    ("sell 1 btc limit 60000 sl 59000", DEMO, "a sell's stop-loss goes above the entry price"),
    ("buy 1 btc limit 60000 tp 59000", DEMO, "a buy's take-profit goes above the entry price"),
    ("sell 1 eth @ 3000 tp 3100", DEMO, "a sell's take-profit goes below the entry price"),
    ("buy 1 btc stop 61000 sl 62000", DEMO, "the stop-loss 62000 is on the wrong side"),
    ("buy 1 btc limit 60000 sl 60000", DEMO, "the stop-loss 60000 is on the wrong side"),
    ("buy 1 btc sl 65000 tp 60000", DEMO, "a buy's stop-loss goes below its take-profit"),
    ("sell 1 btc sl 55000 tp 60000", DEMO, "a sell's stop-loss goes above its take-profit"),
    ("sell 150% of my eth", DEMO, "more than 0% and at most 100%, got '150%'"),
    ("sell 0% of my eth", DEMO, "more than 0% and at most 100%, got '0%'"),
    ("close -5% of btc", DEMO, "more than 0% and at most 100%"),
    ("buy 0.1 bitcon", DEMO, "unknown symbol 'bitcon'; closest: BTC/USDT"),
    ("buy 0.1 ethh", DEMO, "unknown symbol 'ethh'; closest: ETH/USDT"),
    ("buy 1 gld", DEMO, "unknown symbol 'gld'; closest: XAUUSD"),
    ("sel 0.5 eth", DEMO, "'sel' could be 'sell' or 'set'"),
    ("buy 1000 usd", DEMO, "1000 USD of which symbol? (USD prices several)"),
    ("buy 1 lot eurusd", DEMO, "in units, not lots"),
    ("buy 1,5 btc", DEMO, "'1,5': write decimals with a point"),
    ("buy 1,000,00 btc", DEMO, "'1,000,00': write decimals with a point"),
    ("buy 0.1 btc and 0.2 eth", DEMO, "did not understand '0.2' in the order; give one amount"),
    ("buy 1 btc at 60000 stop 58000", DEMO, "one order type: limit or stop?"),
    ("buy 1 btc limit 60000 limit 61000", DEMO, "two entry prices (60000 and 61000)"),
    ("buy $500 of btc 0.1", DEMO, "did not understand '0.1' in the order; give one amount"),
    ("sell half my eth 0.5", DEMO, "did not understand '0.5' in the order; give one amount"),
    ("buy 60000 worth of btc", DEMO, "60000 worth in which currency?"),
    ("buy 250 eur of btc", DEMO, "BTC/USDT is quoted in USDT: give the notional in USDT, not EUR"),
    ("buy 1000 usd of usdjpy", DEMO, "USDJPY is quoted in JPY"),
    ("buy $ of btc", DEMO, "'$' needs an amount"),
    ("buy 1.5.2 btc", DEMO, "expected a number for the quantity, got '1.5.2'"),
    ("buy 99999999999999999999999 btc", DEMO, "has more digits than a price or amount can"),
    ("close 0.5 btc", DEMO, "close takes a fraction (half, 25%) or all, not '0.5'"),
    ("close half of all", DEMO, "a part of which position?"),
    ("close btc eth", DEMO, "close takes one symbol or 'all'"),
    ("close", DEMO, "close what?"),
    ("set stop to 58000", DEMO, "the stop or target of which symbol?"),
    ("set stop on btc", DEMO, "'stop' needs a price after it"),
    ("set tp on eth 4000 sl", DEMO, "'sl' needs a price after it"),
    ("move my eth stop to 3000 4000", DEMO, "which level is 4000 for?"),
    ("move stop on btc to breakeven", DEMO, "give the price, not 'breakeven'"),
    ("set sl 58000 sl 57000 on btc", DEMO, "two prices for the SL"),
    ("set", DEMO, "move which level, to what price?"),
    ("price", DEMO, "the price of which symbol?"),
    ("what is my", DEMO, "what about? pnl, positions, orders, balance, risk"),
    ("pnl and positions", DEMO, "one question at a time: pnl or positions?"),
    ("price of btc and eth", DEMO, "one symbol at a time: BTC/USDT or ETH/USDT?"),
    ("crude", DEMO, "'crude' means WTI, which is not among the symbols"),
    ("buy 10 oil", DEMO, "'oil' means WTI, which is not among the symbols"),
    ("buy 1 gold", OIL, "'gold' (XAU) is ambiguous: XAUUSD, XAUEUR"),
    ("clsoe 0.5 btc", DEMO, "(corrected: clsoe -> close)"),
    ("tf 7m", DEMO, "which timeframe?"),
    ("quit now", DEMO, "quit takes no arguments"),
]


@pytest.mark.parametrize(("text", "symbols", "intent", "entities"), READ, ids=[r[0] for r in READ])
def test_a_phrasing_reads_as_its_command(
    text: str, symbols: list[str], intent: str, entities: dict[str, Any]
) -> None:
    assert parse(text, symbols) == Command(intent, entities)


@pytest.mark.parametrize(("text", "symbols", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_phrasing_it_cannot_read_is_refused_saying_why(
    text: str, symbols: list[str], message: str
) -> None:
    with pytest.raises(CommandError) as err:
        parse(text, symbols)
    assert message in str(err.value)


def test_the_table_covers_every_intent_and_is_big_enough() -> None:
    intents = {intent for _, _, intent, _ in READ}
    assert intents >= {
        *("order", "close", "query", "amend", "cancel", "flatten", "kill", "chart"),
        *("timeframe", "scan", "backtest", "strategy", "watch_add", "watch_remove", "search"),
        *("help", "settings", "theme", "quit"),
    }
    assert {e["what"] for _, _, i, e in READ if i == "query"} == {
        *("pnl", "positions", "orders", "balance", "risk", "price"),
    }
    amounts = {
        k for _, _, i, e in READ if i == "order" for k in ("qty", "notional", "fraction") if k in e
    }
    assert amounts == {"qty", "notional", "fraction"}
    assert len(READ) + len(REFUSED) >= 150 and len(REFUSED) >= 25


def test_amounts_are_decimals_never_floats() -> None:
    for text, symbols, _, _ in READ:
        for value in parse(text, symbols).entities.values():
            assert not isinstance(value, float), text


def test_the_users_aliases_are_merged_over_the_built_in_ones() -> None:
    mine = {"Digital Gold": "BTC", "gold": "XAUEUR", "spoos": "US500"}
    assert parse("buy 1 digital gold", OIL, mine).entities["symbol"] == "BTC/USDT"
    assert parse("buy 1 gold", OIL, mine).entities["symbol"] == "XAUEUR"
    assert parse("short 2 spoos", OIL, mine).entities["symbol"] == "US500"
    assert parse("buy 1 silver", OIL, mine).entities["symbol"] == "XAGUSD"
    assert DEFAULT_ALIASES["gold"] == "XAU"
    with pytest.raises(CommandError, match="the alias 'x' must name a symbol"):
        parse("buy 1 btc", OIL, {"x": ""})


def test_a_base_asset_names_its_one_symbol_or_the_error_names_them_all() -> None:
    assert parse("buy 1 bitcoin", ["BTC/USDT", "ETH/USDT"]).entities["symbol"] == "BTC/USDT"
    with pytest.raises(CommandError, match=r"'bitcoin' \(BTC\) is ambiguous: BTC/USDT, BTC/USD"):
        parse("buy 1 bitcoin", ["BTC/USDT", "BTC/USD"])


def test_without_a_symbol_list_an_alias_gives_its_base_asset() -> None:
    assert parse("buy 1 bitcoin").entities["symbol"] == "BTC"
    assert parse("by 1 abc/xyz").entities == {
        "side": "buy",
        "type": "market",
        "qty": D("1"),
        "symbol": "ABC/XYZ",
        "understood": "buy 1 ABC/XYZ market",
        "corrections": ["by -> buy"],
    }


def test_a_known_word_or_a_symbol_is_never_corrected_into_another_word() -> None:
    symbols = [*DEMO, "SELLX/USDT", "STOPUSD"]
    assert parse("add sol", symbols).intent == "watch_add"  # "add" is a word, not "and"
    assert parse("sell 1 stopusd", symbols).entities["symbol"] == "STOPUSD"
    assert parse("sellx", symbols) == Command("chart", {"symbol": "SELLX/USDT"})
    assert parse("test sma_cross", symbols).intent == "backtest"  # not "set"
    with pytest.raises(CommandError, match="unknown command 'stp'"):
        parse("stp btc 58000", symbols)
    with pytest.raises(CommandError, match="unknown symbol '1e3'"):
        parse("buy 1e3 btc", symbols)  # a number is never read as a word, nor made one


def test_a_typo_in_an_order_is_echoed_with_what_was_understood() -> None:
    cmd = parse("by 0.1 btc lmit 60000 sl 58000", DEMO)
    assert cmd.entities["understood"] == "buy 0.1 BTC/USDT limit 60000 sl 58000"
    assert cmd.entities["corrections"] == ["by -> buy", "lmit -> limit"]
    assert parse("cancle all", DEMO).entities["corrections"] == ["cancle -> cancel"]


def test_every_prefix_as_typed_parses_or_is_refused_with_a_command_error() -> None:
    """The command bar parses at every keystroke: nothing typed may raise anything else."""
    texts = [(t, s) for t, s, _, _ in READ] + [(t, s) for t, s, _ in REFUSED]
    for text, symbols in texts:
        for n in range(1, len(text) + 1):
            with contextlib.suppress(CommandError):
                assert isinstance(parse(text[:n], symbols), Command)


def test_a_leading_slash_or_colon_and_a_polite_opening_are_dropped() -> None:
    want = parse("buy 0.1 btc", DEMO)
    for text in ("/buy 0.1 btc", ":buy 0.1 btc", "please buy 0.1 btc", "could you buy 0.1 btc"):
        assert parse(text, DEMO) == want
    assert parse("open long 1 eth", DEMO).entities["side"] == "buy"
