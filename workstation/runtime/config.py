"""Settings: one TOML file, every key with a default, any key overridable from the environment.

Lookup order for ``settings.get("feeds.binance.ws_url")``: environment variable
``QWS__FEEDS__BINANCE__WS_URL`` (double underscores walk the path), then the TOML file
(``QWS_CONFIG`` or the platformdirs config dir), then :data:`DEFAULTS`. Environment values are
read as TOML literals when they parse (``true``, ``0.8``, ``["a", "b"]``), else as strings.
Secrets never live here: see :mod:`workstation.runtime.secrets`.

Both the file and the environment are checked against :data:`DEFAULTS`, which is the schema:
a value of the wrong type, or a key no default has, is a :class:`ConfigError` of one line that
names the key and where it came from (the file's path or the variable's name). A scalar where
a list is expected becomes a one-element list; an integer where a number is expected becomes
a float. Free-form tables (:data:`FREE_FORM`) take any key, and the sections handed to a
plugin's constructor (:data:`PLUGIN_SECTIONS`) take keys the defaults do not know.
"""

from __future__ import annotations

import copy
import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "qws"
ENV_PREFIX = "QWS__"

DEFAULTS: dict[str, Any] = {
    "app": {"feed": "demo", "timeframe": "1m", "theme": "textual-dark", "engine_delay_s": 1.0},
    "keymap": {},  # binding id -> keys, e.g. {"dashboard.buy": "B"} (ids on the help screen)
    "demo": {"seed": 7, "tick_interval_s": 0.25, "history_bars": 2000},
    "replay": {"file": "", "symbol": "", "timeframe": "", "speed": 10.0},
    "watchlist": {
        "default": [
            "BTC/USDT",
            "ETH/USDT",
            "SOL/USDT",
            "EURUSD",
            "GBPUSD",
            "USDJPY",
            "XAUUSD",
            "US500",
            "WTI",
            "BRENT",
            "NATGAS",
            "BRENT-WTI",
        ]
    },
    "hub": {"queue_size": 10_000},
    # engine.signals.ensemble.EnsembleSettings: every field, with its documented default
    "signals": {
        "quality_gate": 0.75,
        "open_threshold": 0.6,
        "horizon_bars": 4,
        "cycle_window": 64,
        "false_alarm": 0.01,
        "z_scale": 1.0,
        "confirm_floor": 0.5,
        "close_within_bars": 1.0,
        "w_cycle": 3.0,
        "w_trend": 1.0,
        "w_momentum": 1.0,
        "w_volatility": 0.5,
        "w_levels": 0.5,
        "w_mtf": 1.0,
        "w_sentiment": 1.0,
        "sentiment_half_life_s": 21_600.0,
        "ema_n": 20,
        "slope_bars": 5,
        "adx_n": 14,
        "adx_trend": 25.0,
        "rsi_n": 14,
        "rsi_low": 30.0,
        "rsi_high": 70.0,
        "atr_n": 14,
        "bb_n": 20,
        "bb_k": 2.0,
        "regime_bars": 100,
        "zigzag_atr": 2.5,
        "level_tolerance_atr": 0.3,
    },
    "scan": {"timeframe": "1h", "bars": 256, "on_bar": True},
    # learnt signal confidence (workstation.trader.signal_pipeline.LearningSettings)
    "confidence": {
        "learnt": True,
        "history_bars": 5000,
        "refit_bars": 250,
        "min_train": 500,
        "block": 250,
    },
    # qws backtest and the backtest screen; lot 0: the instrument's lot size (else 1 unit)
    "backtest": {"cash": 10_000.0, "commission": 0.0, "lot": 0.0},
    # TWAP/VWAP children: market or limit (a limit ``limit_offset_ticks`` through the mark,
    # negative to rest behind it); VWAP's volume profile from this many earlier days
    "execution": {"child_type": "market", "limit_offset_ticks": 0, "profile_days": 20},
    "strategies": {"run": []},  # [[strategies.run]] tables, see workstation.trader.specs
    "cycles": {"window": 64, "backend": "statevector", "shots": 4096},
    "commands": {"aliases": {}},  # name -> symbol or base asset, e.g. {"bitcoin": "BTC"}
    "trading": {
        "live": False,
        "confirm_live": True,
        "broker": "paper",
        "kill_switch": False,
        "account_ccy": "USD",
        "fx_pegs": {"USDT/USD": 1.0, "USDC/USD": 1.0},
        "equity_every_s": 60.0,
        "confirm_timeout_s": 30.0,
        "poll_s": 2.0,
    },
    "risk": {
        "risk_per_trade": 0.01,
        "kelly_cap": 0.25,
        "atr_stop_multiple": 2.0,
        "max_position_notional": 250_000.0,
        "max_total_exposure": 1_000_000.0,
        "max_order_notional": 100_000.0,
        "max_orders_per_minute": 30,
        "daily_loss_limit": 5_000.0,
        "kill_flattens": False,
        "benchmark": "",  # `qws pnl --attribution`'s market benchmark ('' = the most traded symbol)
    },
    "feeds": {
        "binance": {
            "ws_url": "wss://stream.binance.com:9443/ws",
            "rest_url": "https://api.binance.com",
        },
        "bybit": {
            "ws_url": "wss://stream.bybit.com/v5/public/spot",
            "rest_url": "https://api.bybit.com",
        },
        "bridge": {"url": "ws://127.0.0.1:8765"},
        "mt5": {
            "poll_interval_s": 0.1,
            "server_utc_offset_s": 0,
            # qws symbol -> the broker's name for it (brokers add suffixes: "XTIUSD.m")
            "symbol_map": {"WTI": "XTIUSD", "BRENT": "XBRUSD", "NATGAS": "XNGUSD"},
        },
    },
    # news sources (qws.sources entry points) polled by the runtime and by `qws news fetch`
    "news": {
        "poll": True,
        "sources": ["rss"],
        "urls": [],  # RSS/Atom endpoints read by the first-party "rss" source
        "interval_s": 300.0,
        "timeout_s": 10.0,
        "aliases": {},  # name or ticker in a headline -> qws symbol, e.g. {"aramco": "BRENT"}
        "swing_threshold": 0.5,  # alert when a symbol's sentiment moves this much ...
        "swing_window_s": 21_600.0,  # ... within this window
    },
    "sources": {},  # [sources.<name>] tables: keyword arguments of that source plugin
    "bridge": {"listen": "127.0.0.1:8765"},
    "brokers": {
        "paper": {
            "state_file": "",
            "balances": {"USDT": 100_000, "USD": 100_000, "JPY": 10_000_000},
            "fees": {"default": {"maker": 0.0002, "taker": 0.0005}},
        },
        "ccxt": {
            "exchange": "binance",
            "sandbox": False,
            "urls": {},
            "timeout_ms": 10_000,
            "retries": 3,
        },
        "mt5": {"path": "", "server": "", "login": 0, "deviation": 20, "magic": 770_001},
    },
    "telegram": {
        "api_url": "https://api.telegram.org",
        "chat_ids": [],
        "user_ids": [],  # empty: any member of an allowed chat may command and confirm
        "timeout_s": 10.0,
        "poll_timeout_s": 20.0,
        "trading_commands": False,
        "confirm_timeout_s": 120.0,
        "relay": {
            "signals": True,
            "fills": True,
            "rejections": True,
            "risk": True,
            "feeds": True,
            "daily_summary": True,
            "news": True,  # a symbol's news sentiment swings (news.swing_threshold)
        },
        "summary_time_utc": "21:00",
        "rate_per_minute": 20,
        "rate_window_s": 60.0,
        "dedup_window_s": 300.0,
        "retry": {"base_s": 1.0, "max_s": 300.0, "max_attempts": 50},
    },
}


@dataclass(frozen=True, slots=True)
class BacktestDefaults:
    """The cash, commission and lot ``qws backtest`` and the backtest screen both start from:
    the ``[backtest]`` settings. ``lot`` 0 is the instrument's lot size."""

    cash: float
    commission: float
    lot: float

    @classmethod
    def of(cls, settings: Settings) -> BacktestDefaults:
        cash = float(settings.get("backtest.cash"))
        commission = float(settings.get("backtest.commission"))
        lot = float(settings.get("backtest.lot"))
        if not cash > 0:
            raise ConfigError(f"backtest.cash must be positive, not {cash!r}")
        if not lot >= 0:
            raise ConfigError(
                f"backtest.lot must be 0 (the instrument's lot size) or positive, not {lot!r}"
            )
        return cls(cash, commission, lot)

    def lot_for(self, instrument_lot: float | None) -> float:
        """The configured lot, else the instrument's (``None``: unknown), else 1 unit."""
        if self.lot > 0:
            return self.lot
        return instrument_lot if instrument_lot is not None and instrument_lot > 0 else 1.0


NUMBER = (int, float)

FREE_FORM: dict[str, type | tuple[type, ...] | None] = {
    "keymap": str,
    "commands.aliases": str,
    "trading.fx_pegs": NUMBER,
    "brokers.paper.balances": NUMBER,
    "brokers.paper.fees": None,
    "brokers.ccxt.urls": None,
    "feeds.mt5.symbol_map": str,
    "news.aliases": str,
}
"""Tables whose keys are the user's (binding ids, instrument aliases, currency pairs, assets,
fee tiers, URL names), with the kind of their values (None: anything)."""

PLUGIN_SECTIONS = (
    "demo",
    "replay",
    "feeds",
    "feeds.*",
    "brokers",
    "brokers.*",
    "sources",
    "sources.*",
)
"""Sections passed to a plugin's constructor as keyword arguments: the keys with a default are
checked, the others are the plugin's own (a third-party feed or broker has its own section)."""

LIST_ITEMS: dict[str, type] = {
    "telegram.chat_ids": int,
    "telegram.user_ids": int,
    "strategies.run": dict,
    "news.urls": str,
}
"""The item kind of lists whose default is empty (others follow their default's items)."""

_KIND_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
_ITEM_NAMES = {int: "integers", float: "numbers", str: "strings", dict: "tables"}


class ConfigError(ValueError):
    pass


class _WrongType(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Layer:
    """One source of settings being checked: the file, or the environment (where each key
    remembers its variable and the text it was set to)."""

    where: str
    variables: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    def key(self, dotted: str) -> str:
        """The whole key that was set at or under ``dotted`` (a variable names a leaf)."""
        return next((k for k in self.variables if k.startswith(f"{dotted}.")), dotted)

    def origin(self, dotted: str) -> str:
        parts = self.key(dotted).split(".")
        for n in range(len(parts), 0, -1):
            found = self.variables.get(".".join(parts[:n]))
            if found is not None:
                return found
        return self.where

    def error(self, dotted: str, message: str) -> ConfigError:
        return ConfigError(f"{self.origin(dotted)}: {message}")


def _is_plugin_section(dotted: str) -> bool:
    parent = dotted.rpartition(".")[0]
    return dotted in PLUGIN_SECTIONS or (bool(parent) and f"{parent}.*" in PLUGIN_SECTIONS)


def _scalar(value: Any, kind: type | tuple[type, ...]) -> Any:
    if kind is bool or kind is str:
        if isinstance(value, kind):
            return value
    elif isinstance(value, bool):
        pass
    elif kind is float or kind == NUMBER:
        if isinstance(value, NUMBER):
            return float(value) if kind is float else value
    elif kind is int and isinstance(value, int):
        return value
    raise _WrongType


def _item(value: Any, kind: type) -> Any:
    if kind is dict:
        if isinstance(value, dict):
            return value
        raise _WrongType
    if kind is int and isinstance(value, str):  # ids are often pasted quoted
        try:
            return int(value)
        except ValueError:
            raise _WrongType from None
    return _scalar(value, kind)


def _table(value: Any, dotted: str, layer: _Layer) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise layer.error(dotted, f"{dotted} must be a table, not {value!r}")
    return value


def _checked(value: Any, default: Any, dotted: str, layer: _Layer) -> Any:
    """``value`` for the key ``dotted`` whose default is ``default``, in the default's type."""
    if dotted in FREE_FORM:
        table = _table(value, dotted, layer)
        kind = FREE_FORM[dotted]
        for key, item in table.items():
            if kind is not None:
                try:
                    _scalar(item, kind)
                except _WrongType:
                    name = "a number" if kind == NUMBER else _KIND_NAMES[kind]  # type: ignore[index]
                    raise layer.error(
                        dotted, f"{dotted}.{key} must be {name}, not {item!r}"
                    ) from None
        return table
    if isinstance(default, dict):
        table = _table(value, dotted, layer) if dotted else value
        out: dict[str, Any] = {}
        for key, item in table.items():
            path = f"{dotted}.{key}" if dotted else key
            if key in default:
                out[key] = _checked(item, default[key], path, layer)
            elif _is_plugin_section(dotted):
                out[key] = item
            else:
                near = difflib.get_close_matches(key, list(default), n=1, cutoff=0.75)
                hint = f" (did you mean {dotted + '.' if dotted else ''}{near[0]}?)" if near else ""
                raise layer.error(path, f"unknown setting {layer.key(path)}{hint}")
        return out
    if isinstance(default, list):
        items = value if isinstance(value, list) else [value]
        kind = LIST_ITEMS.get(dotted) or (type(default[0]) if default else None)
        if kind is None:
            return items
        try:
            return [_item(item, kind) for item in items]
        except _WrongType:
            raise layer.error(
                dotted, f"{dotted} must be a list of {_ITEM_NAMES[kind]}, not {value!r}"
            ) from None
    kind = type(default)
    if kind is str and not isinstance(value, str) and dotted in layer.texts:
        return layer.texts[dotted]  # QWS__BROKERS__MT5__SERVER=12345 is the text "12345"
    try:
        return _scalar(value, kind)
    except _WrongType:
        raise layer.error(dotted, f"{dotted} must be {_KIND_NAMES[kind]}, not {value!r}") from None


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME))


def config_path() -> Path:
    override = os.environ.get("QWS_CONFIG")
    return Path(override) if override else config_dir() / "config.toml"


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def default_db_path() -> Path:
    override = os.environ.get("QWS_DB")
    return Path(override) if override else data_dir() / "qws.db"


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, Any], _Layer]:
    out: dict[str, Any] = {}
    layer = _Layer("environment")
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if not path:
            continue
        node = out
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = _parse_env_value(raw)
        layer.variables[".".join(path)] = name
        layer.texts[".".join(path)] = raw
    return out, layer


def leaves(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every setting of ``tree`` by dotted key: its values that are not tables (an empty
    table is a value)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping) and value:
            out.update(leaves(value, dotted))
        else:
            out[dotted] = value
    return out


DEFAULT_SOURCE = "default"


class Settings:
    """Merged settings, read once. ``get`` takes a dotted path; ``source`` says where a
    setting's value came from."""

    def __init__(
        self,
        data: dict[str, Any],
        path: Path | None = None,
        sources: Mapping[str, str] | None = None,
    ) -> None:
        self._data = data
        self.path = path
        self._sources = dict(sources or {})

    @classmethod
    def load(cls, path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        path = path or config_path()
        data = copy.deepcopy(DEFAULTS)
        sources: dict[str, str] = {}
        if path.exists():
            try:
                loaded = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
            from_file = _checked(loaded, DEFAULTS, "", _Layer(str(path)))
            _merge(data, from_file)
            sources.update(dict.fromkeys(leaves(from_file), f"file {path}"))
        overrides, layer = _env_overrides(os.environ if environ is None else environ)
        from_env = _checked(overrides, DEFAULTS, "", layer)
        _merge(data, from_env)
        sources.update({key: f"env {layer.origin(key)}" for key in leaves(from_env)})
        return cls(data, path, sources)

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self._data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def section(self, dotted: str) -> dict[str, Any]:
        value = self.get(dotted, {})
        return dict(value) if isinstance(value, dict) else {}

    def as_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._data)

    def source(self, dotted: str) -> str:
        """``default``, ``file PATH``, ``env VARIABLE`` or ``command line``: where the value of
        the setting ``dotted`` (a leaf of :func:`leaves`) came from."""
        return self._sources.get(dotted, DEFAULT_SOURCE)

    def with_values(self, values: Mapping[str, Any]) -> Settings:
        """A copy with dotted keys set (a command-line override such as ``--broker``)."""
        data = copy.deepcopy(self._data)
        sources = dict(self._sources)
        for dotted, value in values.items():
            node = data
            *parents, last = dotted.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = value
            sources.update(dict.fromkeys(leaves({dotted: value}), "command line"))
        return Settings(data, self.path, sources)
