from __future__ import annotations

from decimal import Decimal as D

import pytest

from engine.commands import Command, CommandError, parse, resolve_symbol

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "US500"]


@pytest.mark.parametrize(
    ("text", "intent", "entities"),
    [
        (
            "buy 0.1 BTC/USDT limit 60000 sl 58000 tp 65000",
            "order",
            {
                "side": "buy",
                "qty": D("0.1"),
                "symbol": "BTC/USDT",
                "type": "limit",
                "price": D("60000"),
                "sl": D("58000"),
                "tp": D("65000"),
            },
        ),
        (
            "buy 0.1 btc",
            "order",
            {"side": "buy", "qty": D("0.1"), "symbol": "BTC/USDT", "type": "market"},
        ),
        (
            "sell eurusd 10000",
            "order",
            {"side": "sell", "qty": D("10000"), "symbol": "EURUSD", "type": "market"},
        ),
        (
            "short 2 xau @ 2400",
            "order",
            {
                "side": "sell",
                "qty": D("2"),
                "symbol": "XAUUSD",
                "type": "limit",
                "price": D("2400"),
            },
        ),
        (
            "long 1 eth at 3100.5 tp 3300",
            "order",
            {
                "side": "buy",
                "qty": D("1"),
                "symbol": "ETH/USDT",
                "type": "limit",
                "price": D("3100.5"),
                "tp": D("3300"),
            },
        ),
        (
            "go long 0.5 of sol stop 160",
            "order",
            {
                "side": "buy",
                "qty": D("0.5"),
                "symbol": "SOL/USDT",
                "type": "stop",
                "price": D("160"),
            },
        ),
        (
            "BUY 5k EURUSD LIMIT 1.08 IOC",
            "order",
            {
                "side": "buy",
                "qty": D("5000"),
                "symbol": "EURUSD",
                "type": "limit",
                "price": D("1.08"),
                "tif": "IOC",
            },
        ),
        (
            ":sell 0.01 btcusdt market",
            "order",
            {"side": "sell", "qty": D("0.01"), "symbol": "BTC/USDT", "type": "market"},
        ),
        ("buy btc", "order", {"side": "buy", "symbol": "BTC/USDT", "type": "market"}),
        ("close EURUSD", "close", {"symbol": "EURUSD", "all": False}),
        ("close all", "close", {"symbol": None, "all": True}),
        ("exit the xau", "close", {"symbol": "XAUUSD", "all": False}),
        ("cancel all", "cancel", {"client_id": None, "all": True}),
        ("cancel abc123", "cancel", {"client_id": "abc123", "all": False}),
        ("chart XAUUSD 4h", "chart", {"symbol": "XAUUSD", "timeframe": "4h"}),
        ("show eth h1", "chart", {"symbol": "ETH/USDT", "timeframe": "1h"}),
        ("chart 15min", "chart", {"timeframe": "15m"}),
        ("usdjpy", "chart", {"symbol": "USDJPY"}),
        ("4h", "timeframe", {"timeframe": "4h"}),
        ("tf daily", "timeframe", {"timeframe": "1d"}),
        ("scan", "scan", {"symbols": []}),
        ("scan btc eth 5m", "scan", {"symbols": ["BTC/USDT", "ETH/USDT"], "timeframe": "5m"}),
        (
            "backtest sma_cross fast=10 slow=30",
            "backtest",
            {"strategy": "sma_cross", "params": {"fast": 10, "slow": 30}},
        ),
        (
            "bt sma_cross fast = 5 on xauusd 1h",
            "backtest",
            {"strategy": "sma_cross", "params": {"fast": 5}, "symbol": "XAUUSD", "timeframe": "1h"},
        ),
        (
            "backtest rsi level=0.5 long_only=yes",
            "backtest",
            {"strategy": "rsi", "params": {"level": 0.5, "long_only": True}},
        ),
        ("add gbp", "watch_add", {"symbol": "GBPUSD", "all": False}),
        ("remove US500", "watch_remove", {"symbol": "US500", "all": False}),
        ("search eth", "search", {"text": "eth"}),
        ("kill", "kill", {"on": True}),
        ("kill switch off", "kill", {"on": False}),
        ("help", "help", {}),
        ("?", "help", {}),
        ("settings", "settings", {}),
        ("theme Nord", "theme", {"theme": "nord"}),
        ("quit", "quit", {}),
        ("flatten", "flatten", {}),
    ],
)
def test_phrasings(text: str, intent: str, entities: dict | None) -> None:
    cmd = parse(text, SYMBOLS)
    assert isinstance(cmd, Command)
    assert cmd.intent == intent
    if entities is not None:
        assert _read(cmd) == entities


def _read(cmd: Command) -> dict:
    """The entities without the echo of what was read (checked in test_command_phrasings)."""
    return {k: v for k, v in cmd.entities.items() if k not in ("understood", "corrections")}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "type a command"),
        ("dance", "unknown command 'dance'"),
        ("buy 0.1", "which symbol"),
        ("buy 0.1 doge", "unknown symbol 'doge'"),
        ("buy 0.1 us", "ambiguous: USDJPY, US500"),
        ("buy 0.1 btc limit", "limit order needs a price"),
        ("buy -1 btc", "the quantity must be a positive number"),
        ("buy 0.1 btc sl", "'sl' needs a price"),
        ("buy 0.1 btc sl abc", "expected a number for the SL price"),
        ("buy 0.1 btc 2 3", "did not understand '2'"),
        ("tf 7m", "which timeframe"),
        ("close", "close what"),
        ("close btc eth", "close takes one symbol"),
        ("cancel", "cancel what"),
        ("backtest", "which strategy"),
        ("backtest fast=10", "which strategy"),
        ("chart", "chart what"),
        ("kill maybe", "kill on|off"),
        ("help me now", "help takes no arguments"),
    ],
)
def test_what_it_cannot_parse_gets_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(CommandError) as err:
        parse(text, SYMBOLS)
    assert message in str(err.value)


def test_without_a_symbol_list_symbols_are_taken_as_typed() -> None:
    assert parse("buy 1 abc/xyz").entities["symbol"] == "ABC/XYZ"
    assert resolve_symbol("eur", None) == "EUR"


def test_resolution_prefers_exact_then_squashed_then_unique_prefix() -> None:
    assert resolve_symbol("US500", SYMBOLS) == "US500"
    assert resolve_symbol("eth-usdt", SYMBOLS) == "ETH/USDT"
    assert resolve_symbol("gbp", SYMBOLS) == "GBPUSD"


def test_strategy_start_and_stop_keep_the_parameters_and_the_timeframe() -> None:
    symbols = ["BTC/USDT", "ETH/USDT"]
    cmd = parse("strategy start sma_cross:fast=5,slow=20 btc 1h", symbols)
    assert cmd.intent == "strategy"
    assert cmd.entities == {
        "action": "start",
        "strategy": "sma_cross:fast=5,slow=20",
        "symbol": "BTC/USDT",
        "timeframe": "1h",
    }
    stop = parse("strategy stop sma_cross ETH/USDT", symbols)
    assert stop.entities["action"] == "stop" and stop.entities["timeframe"] is None


def test_strategy_needs_an_action_a_name_and_one_symbol() -> None:
    for text in ("strategy", "strategy run x BTC/USDT", "strategy start x", "strategy start x a b"):
        with pytest.raises(CommandError, match="strategy start"):
            parse(text, ["BTC/USDT"])


def test_protective_levels_may_be_written_as_key_value() -> None:
    command = parse(":buy 1000 EURUSD sl=1.2 tp = 1.3", ["EURUSD", "BTC/USDT"])
    assert _read(command) == {
        "side": "buy",
        "qty": D("1000"),
        "symbol": "EURUSD",
        "type": "market",
        "sl": D("1.2"),
        "tp": D("1.3"),
    }
    with pytest.raises(CommandError, match="expected a number for the SL price"):
        parse("buy 1000 EURUSD sl=abc", ["EURUSD"])


def test_resolution_ignores_case_on_both_sides() -> None:
    mixed = ["btc/usdt", "EURUSD", "Us500"]
    assert resolve_symbol("BTC/USDT", mixed) == "btc/usdt"
    assert resolve_symbol("us500", mixed) == "Us500"
    assert resolve_symbol("eurusd", mixed) == "EURUSD"
    assert resolve_symbol("btc", mixed) == "btc/usdt"


def test_a_long_list_of_candidates_is_cut_short() -> None:
    many = [f"SYM{i:02d}/USD" for i in range(40)]
    with pytest.raises(CommandError) as err:
        resolve_symbol("doge", many)
    assert str(err.value).startswith("unknown symbol 'doge'; known: SYM00/USD, SYM01/USD")
    assert str(err.value).endswith("... (40 in all)")
    with pytest.raises(CommandError, match=r"'sym' is ambiguous: SYM00/USD.*\(40 in all\)"):
        resolve_symbol("sym", many)


def test_a_currency_that_begins_one_symbol_and_prices_others_names_none_of_them() -> None:
    """ "usd" begins USDJPY but EURUSD, GBPUSD and XAUUSD are priced in it: never a USDJPY
    order by a prefix; a symbol that is the only one with its letters still resolves."""
    with pytest.raises(CommandError, match=r"'usd' is ambiguous: USDJPY, EURUSD, GBPUSD, XAUUSD"):
        resolve_symbol("usd", SYMBOLS)
    with pytest.raises(CommandError, match=r"1 USD of which symbol\? \(USD prices several\)"):
        parse("buy 1 usd", SYMBOLS)
    with pytest.raises(CommandError, match=r"'btc' is ambiguous: BTC/USDT, ETH/BTC"):
        resolve_symbol("btc", [*SYMBOLS, "ETH/BTC"])
    assert resolve_symbol("usdjpy", SYMBOLS) == "USDJPY"
    assert resolve_symbol("btc", SYMBOLS) == "BTC/USDT"
    assert resolve_symbol("eur", SYMBOLS) == "EURUSD"
