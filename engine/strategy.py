"""The strategy plugin API: the one public module strategy authors import.

A strategy is a class deriving from :class:`Strategy` with a ``name``, typed ``params``
(defaults and search ranges), a ``timeframe`` and a ``warmup`` (bars before the first
``on_bar``). The same object runs unchanged in the backtester, against the paper broker and
live: every runner hands it a :class:`Context` and a polars frame of the bars so far, and turns
what the strategy asks for (``ctx.buy``/``ctx.sell``/``ctx.close`` or a returned ``Signal``)
into orders. Optional hooks (``on_start``, ``on_fill``, ``on_stop``) have defaults and accept
``**kwargs`` so a hook argument added later breaks no one.

A strategy that can express its decisions as arrays may also implement ``vectorized``; the
backtester then skips the per-bar Python loop entirely (the results are identical; a test
holds the first-party strategies to that).

Compatibility: ``INTERFACE_VERSION`` is bumped on a breaking change; a strategy declares the
version it was written for in ``interface_version`` and the loader refuses newer ones.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import polars as pl

from engine.model import Action, Cycle, Signal

INTERFACE_VERSION = 1

FULL_EQUITY = 1.0 - sys.float_info.epsilon
"""Default order size: (almost) all available margin, as backtesting.py's default."""

__all__ = [
    "FULL_EQUITY",
    "INTERFACE_VERSION",
    "Action",
    "Context",
    "Cycle",
    "Indicators",
    "OrderIntent",
    "Param",
    "ParamError",
    "Params",
    "PositionView",
    "Signal",
    "StateFollower",
    "Strategy",
    "StrategyError",
    "VectorOrders",
    "crossed_above",
    "crosses_above",
    "follow_state",
]


class StrategyError(Exception):
    """A strategy misbehaved (bad params, an order that cannot exist, an exception in a hook)."""


class ParamError(StrategyError, ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Param:
    """A typed parameter: its default fixes the type; ``low``/``high``/``step`` or ``choices``
    give the range the optimiser and walk-forward search over."""

    default: Any
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] = ()
    doc: str = ""

    @property
    def type(self) -> type:
        return type(self.default)

    def coerce(self, name: str, value: Any) -> Any:
        """``value`` (possibly text from the command line) as this parameter's type, in range."""
        kind = self.type
        try:
            if kind is bool and isinstance(value, str):
                if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(value)
                out: Any = value.lower() in ("1", "true", "yes", "on")
            elif kind is int and isinstance(value, float):
                if not value.is_integer():
                    raise ValueError(value)
                out = int(value)
            else:
                out = kind(value)
        except (TypeError, ValueError):
            raise ParamError(f"parameter {name!r} must be {kind.__name__}, got {value!r}") from None
        if isinstance(out, float) and not math.isfinite(out):
            raise ParamError(f"parameter {name!r} must be finite, got {value!r}")
        if self.choices and out not in self.choices:
            raise ParamError(f"parameter {name!r} must be one of {list(self.choices)}, got {out!r}")
        if self.low is not None and out < self.low:
            raise ParamError(f"parameter {name!r} must be >= {self.low}, got {out!r}")
        if self.high is not None and out > self.high:
            raise ParamError(f"parameter {name!r} must be <= {self.high}, got {out!r}")
        return out

    def grid(self, points: int = 10) -> list[Any]:
        """The values a grid search tries: ``choices``, else ``low..high`` by ``step`` (or
        ``points`` evenly spaced values), else just the default."""
        if self.choices:
            return list(self.choices)
        if self.type is bool:
            return [False, True]
        if self.low is None or self.high is None:
            return [self.default]
        if self.step:
            values = np.arange(self.low, self.high + self.step / 2, self.step)
        else:
            values = np.linspace(self.low, self.high, points)
        if self.type is int:
            return sorted({round(v) for v in values})
        return [float(v) for v in values]


def _as_param(value: Any) -> Param:
    return value if isinstance(value, Param) else Param(value)


class Params(Mapping[str, Param]):
    """A strategy's parameter declaration (immutable, ordered):
    ``params = Params(fast=Param(10, low=2, high=100), slow=20)``; plain values become
    ``Param(value)``."""

    __slots__ = ("_spec",)

    def __init__(self, **spec: Any) -> None:
        self._spec = {k: _as_param(v) for k, v in spec.items()}

    def __getitem__(self, key: str) -> Param:
        return self._spec[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._spec)

    def __len__(self) -> int:
        return len(self._spec)

    def __repr__(self) -> str:
        return f"Params({', '.join(f'{k}={v!r}' for k, v in self._spec.items())})"


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What a strategy asked for on one bar; the runner turns it into a broker order.

    ``kind`` is ``"entry"`` (``side`` +1 buy / -1 sell) or ``"close"`` (``portion`` of every
    open trade). ``size`` in (0, 1) is a fraction of the available margin, ``size >= 1`` a whole
    number of units (backtesting.py's convention); ``qty`` is an absolute quantity in units.
    ``sl``/``tp`` are absolute prices of the protective orders attached to the trade.
    """

    kind: str
    side: int = 0
    size: float | None = None
    qty: float | None = None
    sl: float | None = None
    tp: float | None = None
    limit: float | None = None
    stop: float | None = None
    portion: float = 1.0
    tag: str = ""


@dataclass(frozen=True, slots=True)
class VectorOrders:
    """A strategy's decisions for every bar at once (the fast path).

    At the close of bar ``t``: if ``close[t]`` the open trades are closed (like ``ctx.close()``),
    then if ``side[t]`` is +1/-1 an entry is placed (like ``ctx.buy``/``ctx.sell``) of ``size``
    (scalar or per-bar), with optional per-bar ``sl``/``tp`` prices (NaN = none).
    ``direction`` (+1/-1/0 per bar, default ``side``) and ``confidence`` (in [0, 1]) are the
    signal itself, for the signal accuracy report.
    """

    side: np.ndarray
    close: np.ndarray | None = None
    size: float | np.ndarray = FULL_EQUITY
    sl: np.ndarray | None = None
    tp: np.ndarray | None = None
    direction: np.ndarray | None = None
    confidence: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class PositionView:
    """The net position in the strategy's symbol (signed size; ``pl`` at the last close)."""

    size: float = 0.0
    avg_price: float = math.nan
    pl: float = 0.0
    trades: int = 0

    def __bool__(self) -> bool:
        return self.size != 0

    @property
    def is_long(self) -> bool:
        return self.size > 0

    @property
    def is_short(self) -> bool:
        return self.size < 0


class Indicators:
    """Indicators over the bars the strategy may see, computed once per series and sliced.

    ``ctx.indicators.sma(20)`` is :func:`engine.signals.indicators.sma` of the closes; ``atr``,
    ``rsi`` and friends take their price inputs from the bars the same way
    (``ctx.indicators.rsi(14)``, ``ctx.indicators.atr(14)``); anything else in
    ``engine.signals.indicators`` is reachable as ``ctx.indicators.call("name", array, ...)``.
    The full-length arrays are cached, and each call returns a read-only view ending at the
    current bar, so nothing from the future leaks in (the indicators are causal: a prefix's
    indicator is the indicator's prefix).
    """

    _HLC: ClassVar[frozenset[str]] = frozenset({"atr", "adx", "stochastic"})
    _HLCV: ClassVar[frozenset[str]] = frozenset({"vwap"})

    def __init__(self, columns: Mapping[str, np.ndarray], end: Callable[[], int]) -> None:
        self._cols = columns
        self._end = end
        self._cache: dict[tuple[Any, ...], Any] = {}

    def _cut(self, value: Any) -> Any:
        stop = self._end() + 1
        if isinstance(value, tuple):
            return tuple(v[:stop] for v in value)
        return value[:stop]

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """``engine.signals.indicators.<name>(*args, **kwargs)`` cut at the current bar.
        Results over the bar columns are cached; over any other array they are computed each
        call (the array is the caller's: it may change)."""
        from engine.signals import indicators

        own = [id(c) for c in self._cols.values()]
        if any(isinstance(a, np.ndarray) and id(a) not in own for a in args):
            return self._cut(getattr(indicators, name)(*args, **kwargs))
        key = (name, *(id(a) if isinstance(a, np.ndarray) else a for a in args))
        if kwargs:
            key += tuple(sorted(kwargs.items()))
        value = self._cache.get(key)
        if value is None:
            value = getattr(indicators, name)(*args, **kwargs)
            for arr in value if isinstance(value, tuple) else (value,):
                arr.flags.writeable = False  # every view handed out is read-only too
            self._cache[key] = value
        return self._cut(value)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        c = self._cols
        if name in self._HLC:
            inputs: tuple[np.ndarray, ...] = (c["high"], c["low"], c["close"])
        elif name in self._HLCV:
            inputs = (c["high"], c["low"], c["close"], c["volume"])
        else:
            inputs = (c["close"],)
        cache = self._cache
        end = self._end
        keys = (name, *(id(x) for x in inputs))

        def bound(*args: Any, **kwargs: Any) -> Any:
            if not kwargs:
                value = cache.get((*keys, *args))
                if value is not None:
                    stop = end() + 1
                    if isinstance(value, tuple):
                        return tuple(v[:stop] for v in value)
                    return value[:stop]
            return self.call(name, *inputs, *args, **kwargs)

        self.__dict__[name] = bound  # later lookups skip __getattr__
        return bound


class Context:
    """What a strategy sees and can do on each bar; each runner provides a subclass.

    Read: ``bar_index``, ``ts_ns``, ``price`` (last close), ``indicators``, ``levels``,
    ``cycles`` (latest detected cycles), ``position``, ``equity``, ``cash``, ``risk_budget``
    (cash the strategy may lose on one trade). Act: ``buy``, ``sell``, ``close``.
    """

    symbol: str = ""
    timeframe: str = ""
    risk_per_trade: float = 0.01

    def __init__(self) -> None:
        self.intents: list[OrderIntent] = []
        self.levels: dict[str, float] = {}

    # -- what the runner supplies -------------------------------------------------------
    @property
    def bar_index(self) -> int:
        raise NotImplementedError

    @property
    def ts_ns(self) -> int:
        raise NotImplementedError

    @property
    def price(self) -> float:
        raise NotImplementedError

    @property
    def indicators(self) -> Indicators:
        raise NotImplementedError

    @property
    def cycles(self) -> Sequence[Cycle]:
        return ()

    @property
    def position(self) -> PositionView:
        raise NotImplementedError

    @property
    def equity(self) -> float:
        raise NotImplementedError

    @property
    def cash(self) -> float:
        return self.equity

    # -- derived ------------------------------------------------------------------------
    @property
    def risk_budget(self) -> float:
        """Cash at risk allowed on one trade: ``equity * risk_per_trade``."""
        return max(0.0, self.equity * self.risk_per_trade)

    def size_for_risk(self, stop_distance: float) -> float:
        """Units such that hitting a stop ``stop_distance`` away loses ``risk_budget``."""
        if not stop_distance > 0:
            raise StrategyError(f"stop distance must be positive, got {stop_distance}")
        return self.risk_budget / stop_distance

    # -- orders -------------------------------------------------------------------------
    def buy(
        self,
        *,
        size: float | None = None,
        qty: float | None = None,
        sl: float | None = None,
        tp: float | None = None,
        limit: float | None = None,
        stop: float | None = None,
        tag: str = "",
    ) -> OrderIntent:
        """Go long at the next fill price. Sizes as :class:`OrderIntent`; default all margin."""
        return self._entry(+1, size, qty, sl, tp, limit, stop, tag)

    def sell(
        self,
        *,
        size: float | None = None,
        qty: float | None = None,
        sl: float | None = None,
        tp: float | None = None,
        limit: float | None = None,
        stop: float | None = None,
        tag: str = "",
    ) -> OrderIntent:
        """Go short (or reduce a long) at the next fill price."""
        return self._entry(-1, size, qty, sl, tp, limit, stop, tag)

    def close(self, portion: float = 1.0) -> OrderIntent:
        """Close ``portion`` of every open trade at the next fill price."""
        if not 0 < portion <= 1:
            raise StrategyError(f"portion must be in (0, 1], got {portion}")
        intent = OrderIntent("close", portion=float(portion))
        self.submit(intent)
        return intent

    def _entry(
        self,
        side: int,
        size: float | None,
        qty: float | None,
        sl: float | None,
        tp: float | None,
        limit: float | None,
        stop: float | None,
        tag: str,
    ) -> OrderIntent:
        if size is not None and qty is not None:
            raise StrategyError("give either size (fraction or whole units) or qty, not both")
        if size is None and qty is None:
            size = FULL_EQUITY
        if size is not None and not (0 < size < 1 or (size >= 1 and float(size).is_integer())):
            raise StrategyError(
                f"size must be a fraction in (0, 1) or a whole number of units, got {size}"
            )
        if qty is not None and not qty > 0:
            raise StrategyError(f"qty must be positive, got {qty}")
        ref = limit or stop or self.price
        lo, hi = (sl, tp) if side > 0 else (tp, sl)
        if not (lo if lo is not None else -math.inf) < ref < (hi if hi is not None else math.inf):
            which = "SL < price < TP" if side > 0 else "TP < price < SL"
            raise StrategyError(
                f"{'long' if side > 0 else 'short'} order needs {which}; got sl={sl}, "
                f"price={ref}, tp={tp}"
            )
        intent = OrderIntent(
            "entry",
            side=side,
            size=None if size is None else float(size),
            qty=None if qty is None else float(qty),
            sl=None if sl is None else float(sl),
            tp=None if tp is None else float(tp),
            limit=None if limit is None else float(limit),
            stop=None if stop is None else float(stop),
            tag=tag,
        )
        self.submit(intent)
        return intent

    def submit(self, intent: OrderIntent) -> None:
        """Queue an intent; runners override to act on it (e.g. exclusive orders)."""
        self.intents.append(intent)

    def take_intents(self) -> list[OrderIntent]:
        out, self.intents = self.intents, []
        return out

    def apply_signal(self, signal: Signal) -> None:
        """Act on a returned Signal: OPEN_LONG buys, OPEN_SHORT sells, CLOSE closes."""
        if signal.action is Action.OPEN_LONG:
            self.buy()
        elif signal.action is Action.OPEN_SHORT:
            self.sell()
        elif signal.action is Action.CLOSE:
            self.close()


class Strategy:
    """Base class of every strategy. Subclass it, set the class attributes, write ``on_bar``.

    ``params`` on the class is a :class:`Params` declaration (a mapping of names to
    :class:`Param` or plain defaults); on an instance,
    ``self.params`` is the dict of resolved values (``Strategy(fast=5)`` overrides one), so the
    instance satisfies :class:`engine.protocols.Strategy`. ``warmup`` is the number of bars
    before the first ``on_bar`` call; it may depend on the params (override ``warmup`` as a
    property).
    """

    name: ClassVar[str] = ""
    params: Any = Params()
    timeframe: str = "1m"
    warmup: int = 1
    interface_version: ClassVar[int] = INTERFACE_VERSION
    description: ClassVar[str] = ""

    def __init__(self, **overrides: Any) -> None:
        spec = self.param_spec()
        unknown = sorted(set(overrides) - set(spec))
        if unknown:
            raise ParamError(
                f"{self.name or type(self).__name__}: unknown parameter(s) {', '.join(unknown)}"
                f" (known: {', '.join(spec) or 'none'})"
            )
        values = {k: p.coerce(k, overrides.get(k, p.default)) for k, p in spec.items()}
        problem = self.check_params(values)
        if problem:
            raise ParamError(f"{self.name or type(self).__name__}: {problem}")
        self.params: dict[str, Any] = values  # type: ignore[misc]

    @classmethod
    def param_spec(cls) -> dict[str, Param]:
        raw = cls.__dict__.get("params")
        if raw is None:
            for base in cls.__mro__[1:]:
                if "params" in base.__dict__:
                    raw = base.__dict__["params"]
                    break
        return {k: _as_param(v) for k, v in dict(raw or {}).items()}

    @classmethod
    def check_params(cls, values: Mapping[str, Any]) -> str | None:
        """A message if this combination is invalid (e.g. fast >= slow), else None."""
        return None

    def __getattr__(self, name: str) -> Any:
        params = self.__dict__.get("params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    # -- hooks --------------------------------------------------------------------------
    def on_start(self, ctx: Context, **kwargs: Any) -> None:
        """Called once before the first bar."""

    def on_bar(self, ctx: Context, bars: pl.DataFrame, **kwargs: Any) -> Any:
        """Called at the close of each bar after ``warmup``: act through ``ctx`` or return a
        :class:`Signal`, an :class:`OrderIntent` or a list of them (or None)."""
        return None

    def on_fill(self, ctx: Context, fill: Any, **kwargs: Any) -> None:
        """Called for each fill of this strategy's orders."""

    def on_stop(self, ctx: Context, **kwargs: Any) -> None:
        """Called once after the last bar."""

    def vectorized(self, bars: pl.DataFrame, indicators: Indicators) -> VectorOrders | None:
        """Decisions for all bars at once, or None to use ``on_bar`` (the default)."""
        return None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def crossed_above(a: np.ndarray, b: np.ndarray | float) -> bool:
    """True if ``a`` crossed above ``b`` on the last bar: ``a[-2] < b[-2]`` and ``a[-1] > b[-1]``
    (backtesting.py's ``crossover``; NaN never crosses)."""
    if len(a) < 2:
        return False
    if isinstance(b, np.ndarray):
        return bool(a[-2] < b[-2] and a[-1] > b[-1])
    return bool(a[-2] < b and a[-1] > b)


def crosses_above(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """Per bar ``t``: did ``a`` cross above ``b`` at ``t`` (the vector form of
    :func:`crossed_above`; False at bar 0)."""
    bb = np.broadcast_to(np.asarray(b, dtype=np.float64), np.shape(a))
    out = np.zeros(len(a), dtype=np.bool_)
    with np.errstate(invalid="ignore"):
        out[1:] = (a[:-1] < bb[:-1]) & (a[1:] > bb[1:])
    return out


def follow_state(desired: np.ndarray, short: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Orders that hold the position ``desired`` asks for: ``desired[t]`` is +1 (long), -1
    (short), 0 (flat) or NaN (no opinion: keep the last state). Returns ``(side, close)`` for
    :class:`VectorOrders`: on each change of state, close and enter the new side (a short
    state is flat when ``short`` is False). The per-bar form is :class:`StateFollower`."""
    state = np.zeros(len(desired))
    current = 0.0
    for t, d in enumerate(desired):
        if d == d:  # not NaN
            current = d if (d >= 0 or short) else 0.0
        state[t] = current
    prev = np.r_[0.0, state[:-1]]
    change = state != prev
    side = np.where(change, state, 0).astype(np.int8)
    return side, change


class StateFollower:
    """The per-bar twin of :func:`follow_state`: ``update(ctx, desired)`` acts on a change."""

    def __init__(self, short: bool = True) -> None:
        self.short = short
        self.state = 0.0

    def update(self, ctx: Context, desired: float) -> None:
        if desired != desired:
            return
        new = desired if (desired >= 0 or self.short) else 0.0
        if new == self.state:
            return
        self.state = new
        ctx.close()
        if new > 0:
            ctx.buy()
        elif new < 0:
            ctx.sell()


def handle_result(ctx: Context, result: Any) -> None:
    """Apply what ``on_bar`` returned: a Signal, an intent not yet submitted, or a list."""
    if result is None:
        return
    if isinstance(result, Signal):
        ctx.apply_signal(result)
    elif isinstance(result, OrderIntent):
        if not any(result is i for i in ctx.intents):
            ctx.submit(result)
    elif isinstance(result, Iterable) and not isinstance(result, str | bytes):
        for item in result:
            handle_result(ctx, item)
    else:
        raise StrategyError(
            f"on_bar returned {type(result).__name__}; expected a Signal, an "
            "OrderIntent, a list of them or None"
        )
