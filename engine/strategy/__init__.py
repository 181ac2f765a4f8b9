"""The strategy plugin API: the one public package strategy authors import.

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

from engine.model import Action, Cycle, Signal
from engine.strategy.base import INTERFACE_VERSION, Strategy
from engine.strategy.context import Context, Indicators, PositionView, handle_result
from engine.strategy.errors import ParamError, StrategyError
from engine.strategy.orders import FULL_EQUITY, OrderIntent, VectorOrders
from engine.strategy.params import Param, Params
from engine.strategy.rules import StateFollower, crossed_above, crosses_above, follow_state

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
    "handle_result",
]
