"""What a strategy sees and can do on each bar: the ``Context`` each runner subclasses, the
``Indicators`` view that never shows the future, and the net ``PositionView``."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from engine.model import Action, Cycle, Signal
from engine.strategy.errors import StrategyError
from engine.strategy.orders import FULL_EQUITY, OrderIntent
from engine.trading.risk import RiskError, fixed_fraction_size


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


@dataclass(frozen=True, slots=True)
class IndicatorSeries:
    """One indicator a strategy asked for, over every bar: ``name`` in
    ``engine.signals.indicators``, the bar columns it read (``inputs``), its other arguments,
    and its full-length output arrays (one, or several for ``macd``, ``bollinger`` ...)."""

    name: str
    inputs: tuple[str, ...]
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...]
    values: tuple[np.ndarray, ...]

    @property
    def label(self) -> str:
        """``sma(20)``, ``macd(12, 26, 9)``; inputs are named only where they are not the ones
        ``ctx.indicators.<name>`` reads by default (``sma(high, 20)``)."""
        own = [] if self.inputs == Indicators.default_inputs(self.name) else list(self.inputs)
        parts = [*own, *(repr(a) for a in self.args), *(f"{k}={v!r}" for k, v in self.kwargs)]
        return f"{self.name}({', '.join(parts)})"


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
        self._asked: dict[tuple[Any, ...], tuple[str, tuple[Any, ...], dict[str, Any]]] = {}

    @classmethod
    def default_inputs(cls, name: str) -> tuple[str, ...]:
        """The bar columns ``ctx.indicators.<name>(...)`` hands the indicator."""
        if name in cls._HLC:
            return ("high", "low", "close")
        if name in cls._HLCV:
            return ("high", "low", "close", "volume")
        return ("close",)

    def used(self) -> tuple[IndicatorSeries, ...]:
        """Every indicator computed over the bar columns so far, in the order first asked
        for, with its full-length arrays (what a report draws). One over an array of the
        strategy's own is not kept, so it is not listed."""
        column: dict[int, str] = {}
        for k, v in self._cols.items():
            column.setdefault(id(v), k)  # one array under two names: the first name
        out = []
        for key, (name, args, kwargs) in self._asked.items():
            value = self._cache[key]
            inputs = tuple(column[id(a)] for a in args if isinstance(a, np.ndarray))
            rest = tuple(a for a in args if not isinstance(a, np.ndarray))
            values = value if isinstance(value, tuple) else (value,)
            out.append(IndicatorSeries(name, inputs, rest, tuple(sorted(kwargs.items())), values))
        return tuple(out)

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
            self._asked[key] = (name, args, kwargs)
        return self._cut(value)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        inputs = tuple(self._cols[k] for k in self.default_inputs(name))
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
    (cash the strategy may lose on one trade). Act: ``buy``, ``sell``, ``close``; ``buy`` and
    ``sell`` size by ``size`` (margin fraction or whole units), ``qty`` (units) or ``risk``
    (the fraction of equity lost at ``sl``).
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
        risk: float | None = None,
    ) -> OrderIntent:
        """Go long at the next fill price. Sizes as :class:`OrderIntent`; default all margin.

        ``risk`` (in (0, 1], with ``sl``; not with ``size`` or ``qty``) sizes the order so that
        a fill at ``limit``/``stop`` (else ``price``) stopped out at ``sl`` loses that fraction
        of ``equity``; the runner rounds the quantity down to its lot.
        """
        return self._entry(+1, size, qty, sl, tp, limit, stop, tag, risk)

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
        risk: float | None = None,
    ) -> OrderIntent:
        """Go short (or reduce a long) at the next fill price; ``risk`` sizes as in ``buy``."""
        return self._entry(-1, size, qty, sl, tp, limit, stop, tag, risk)

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
        risk: float | None = None,
    ) -> OrderIntent:
        if risk is not None:
            if size is not None or qty is not None:
                raise StrategyError("give one of size, qty or risk, not several")
            if not 0 < risk <= 1:
                raise StrategyError(f"risk must be a fraction of equity in (0, 1], got {risk}")
            if sl is None:
                raise StrategyError("risk= sizes from the stop loss: give sl= too")
        if size is not None and qty is not None:
            raise StrategyError("give either size (fraction or whole units) or qty, not both")
        if size is None and qty is None and risk is None:
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
        if risk is not None and sl is not None:
            equity = self.equity
            try:
                qty = fixed_fraction_size(equity, risk, ref, sl)
            except RiskError as exc:
                raise StrategyError(
                    f"cannot size risk={risk:g} of equity {equity:g}: {exc}"
                ) from exc
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
            risk=None if risk is None else float(risk),
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
