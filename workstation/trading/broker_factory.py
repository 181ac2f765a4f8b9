"""Builds the configured broker and the order manager around it, the same way for the app and
the CLI. Brokers come from the ``qws.brokers`` entry points; keys from
:mod:`workstation.runtime.secrets`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.commands import CommandError, resolve_symbol
from engine.model import Instrument
from engine.protocols import Broker
from engine.trading.risk import RiskLimits
from workstation.runtime import registry
from workstation.runtime.config import Settings
from workstation.runtime.secrets import get_secret
from workstation.store import Store, StoreDamagedError, check_file
from workstation.trading.killswitch import KillSwitch
from workstation.trading.oms import ConfirmFn, OrderManager


class BrokerConfigError(ValueError):
    pass


class BrokerStateDamaged(BrokerConfigError):
    """The paper account's state file is damaged: said once, with what to do."""


def broker_class(name: str) -> Any:
    try:
        return registry.load("qws.brokers", name)
    except registry.PluginNotFound as exc:
        raise BrokerConfigError(str(exc)) from exc


def paper_state_path(settings: Settings, db_path: Path) -> Path:
    configured = settings.get("brokers.paper.state_file", "")
    return Path(configured) if configured else db_path.with_name(db_path.stem + ".paper.db")


def known_symbols(store: Store) -> list[str]:
    """The symbols an instrument is known for: the store's (any venue), then the demo feed's."""
    from feeds.demo import DEMO_INSTRUMENTS

    return list(dict.fromkeys([*store.instruments.symbols(), *DEMO_INSTRUMENTS]))


def canonical_symbol(store: Store, token: str, also: Sequence[str] = ()) -> str:
    """The known symbol a typed ``token`` names (``btc`` -> ``BTC/USDT``), by the command bar's
    rules (:func:`engine.commands.resolve_symbol`), among the known ones and ``also`` (a
    venue's positions); a CommandError names the candidates."""
    return resolve_symbol(token, list(dict.fromkeys([*known_symbols(store), *also])))


def instrument_resolver(store: Store) -> Callable[[str], Instrument]:
    """Instruments from the store (any venue), then the demo feed's, by their exact symbol;
    a typed name (``btc``) is resolved first with :func:`canonical_symbol`, and the error for
    one says so."""

    def resolve(symbol: str) -> Instrument:
        venue = store.instruments.venue_of(symbol)
        if venue is not None:
            found = store.instruments.get(symbol, venue)
            if found is not None:
                return found
        from feeds.demo import DEMO_INSTRUMENTS

        if symbol in DEMO_INSTRUMENTS:
            return DEMO_INSTRUMENTS[symbol].instrument
        try:
            meant = canonical_symbol(store, symbol)
        except CommandError:
            meant = symbol
        hint = f" (did you mean {meant}?)" if meant != symbol else ""
        raise KeyError(f"unknown instrument {symbol!r}{hint}")

    return resolve


def risk_limits(settings: Settings) -> RiskLimits:
    r = settings.section("risk")

    def num(key: str) -> float:
        value = r.get(key)
        return math.inf if value in (None, 0, "") else float(value)

    return RiskLimits(
        max_position_notional=num("max_position_notional"),
        max_total_exposure=num("max_total_exposure"),
        max_order_notional=num("max_order_notional"),
        max_orders_per_minute=int(r.get("max_orders_per_minute") or 1_000_000),
        daily_loss_limit=num("daily_loss_limit"),
    )


def open_broker(
    settings: Settings,
    store: Store,
    db_path: Path,
    name: str | None = None,
    clock: Callable[[], int] | None = None,
) -> Broker:
    """``clock`` (the paper broker's time) follows the market when a replay drives it."""
    name = name or str(settings.get("trading.broker", "paper"))
    cls = broker_class(name)
    options = settings.section(f"brokers.{name}")
    if name == "paper":
        state_path = paper_state_path(settings, db_path)
        try:
            check_file(state_path, what="paper account")
        except StoreDamagedError as exc:
            raise BrokerStateDamaged(str(exc)) from exc
        return cls(
            state_path=state_path,
            instruments=instrument_resolver(store),
            fees=options.get("fees"),
            starting_balances=options.get("balances"),
            **({"clock": clock} if clock is not None else {}),
        )
    service = str(options.get("exchange") or name)
    options.setdefault("symbols", list(settings.get("watchlist.default", [])))
    if name == "mt5":  # the feed's symbol names, so orders and positions use the same ones
        options.setdefault("symbol_map", dict(settings.get("feeds.mt5.symbol_map", {})))
    return cls(
        api_key=get_secret(service, "api_key"),
        secret=get_secret(service, "secret"),
        password=get_secret(service, "password"),
        **options,
    )


def open_oms(
    settings: Settings,
    store: Store,
    broker: Broker,
    marks: Callable[[str], float | None],
    confirm: ConfirmFn | None = None,
    kill_switch: KillSwitch | None = None,
    clock: Callable[[], int] | None = None,
) -> OrderManager:
    return OrderManager(
        store,
        broker,
        instrument_resolver(store),
        marks=marks,
        limits=risk_limits(settings),
        live_enabled=bool(settings.get("trading.live", False)),
        confirm_live=bool(settings.get("trading.confirm_live", True)),
        confirm=confirm,
        kill_switch_default=bool(settings.get("trading.kill_switch", False)),
        kill_switch=kill_switch,
        clock=clock or time.time_ns,
        kill_flattens=bool(settings.get("risk.kill_flattens", False)),
    )
