"""The errors a strategy or its parameters raise."""

from __future__ import annotations


class StrategyError(Exception):
    """A strategy misbehaved (bad params, an order that cannot exist, an exception in a hook)."""


class ParamError(StrategyError, ValueError):
    pass
