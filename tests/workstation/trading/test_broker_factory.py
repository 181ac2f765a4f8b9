from __future__ import annotations

import math
from pathlib import Path

import pytest

from plugins.brokers.paper import PaperBroker
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.trading.broker_factory import (
    BrokerConfigError,
    instrument_resolver,
    open_broker,
    open_oms,
    paper_state_path,
    risk_limits,
)


def test_paper_is_the_default_and_keeps_its_state_beside_the_database(
    store: Store, tmp_path: Path
) -> None:
    settings = Settings.load(environ={})
    broker = open_broker(settings, store, tmp_path / "qws.db")
    assert isinstance(broker, PaperBroker)
    assert (
        broker.state_path
        == tmp_path / "qws.paper.db"
        == paper_state_path(settings, tmp_path / "qws.db")
    )
    assert broker.balances()["USDT"] == 100_000
    oms = open_oms(settings, store, broker, marks=lambda s: None)
    assert not oms.live_enabled and oms.confirm_live and not oms.kill_switch
    broker.close()


def test_settings_drive_limits_broker_choice_and_live_flag(store: Store, tmp_path: Path) -> None:
    settings = Settings.load(
        environ={
            "QWS__RISK__MAX_ORDER_NOTIONAL": "0",
            "QWS__RISK__MAX_ORDERS_PER_MINUTE": "5",
            "QWS__TRADING__LIVE": "true",
            "QWS__TRADING__CONFIRM_LIVE": "false",
        }
    )
    limits = risk_limits(settings)
    assert limits.max_order_notional == math.inf and limits.max_orders_per_minute == 5
    oms = open_oms(settings, store, open_broker(settings, store, tmp_path / "q.db"), lambda s: 1)
    assert oms.live_enabled and not oms.confirm_live
    with pytest.raises(BrokerConfigError, match="unknown broker 'nope'"):
        open_broker(settings, store, tmp_path / "q.db", name="nope")


def test_instruments_come_from_the_store_before_the_demo_list(store: Store) -> None:
    resolve = instrument_resolver(store)
    assert resolve("EURUSD").venue == "demo"
    from engine.model import Instrument

    store.instruments.upsert([Instrument("EURUSD", "mt5", "0.00001", "1000", "USD", "EUR")])
    assert resolve("EURUSD").venue == "mt5"
    with pytest.raises(KeyError):
        resolve("NOPE")


def test_a_typed_symbol_is_resolved_as_the_command_bar_reads_it(store: Store) -> None:
    from decimal import Decimal as D

    from engine.commands import CommandError
    from engine.model import Instrument
    from workstation.trading.broker_factory import canonical_symbol, known_symbols

    assert canonical_symbol(store, "btc") == "BTC/USDT"
    assert canonical_symbol(store, "eurusd") == "EURUSD"
    store.instruments.upsert(
        [Instrument("SOLUSDT", "binance", D("0.01"), D("0.001"), "USDT", "SOL")]
    )
    assert known_symbols(store)[0] == "SOLUSDT" and "SOL/USDT" in known_symbols(store)
    assert canonical_symbol(store, "solusdt") == "SOLUSDT"
    with pytest.raises(CommandError, match="'sol' is ambiguous: SOLUSDT, SOL/USDT"):
        canonical_symbol(store, "sol")
    with pytest.raises(CommandError, match="unknown symbol 'xyzusd'"):
        canonical_symbol(store, "xyzusd")
    assert canonical_symbol(store, "xyzusd", also=["XYZ/USD"]) == "XYZ/USD"  # a held position
    resolve = instrument_resolver(store)
    with pytest.raises(KeyError, match=r"unknown instrument 'btc' \(did you mean BTC/USDT\?\)"):
        resolve("btc")
    with pytest.raises(KeyError, match=r"unknown instrument 'NOPE'\"?$"):
        resolve("NOPE")
