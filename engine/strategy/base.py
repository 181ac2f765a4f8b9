"""The ``Strategy`` base class every strategy plugin derives from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import polars as pl

from engine.strategy.context import Context, Indicators
from engine.strategy.errors import ParamError
from engine.strategy.orders import VectorOrders
from engine.strategy.params import Param, Params, as_param

INTERFACE_VERSION = 1


class Strategy:
    """Base class of every strategy. Subclass it, set the class attributes, write ``on_bar``.

    ``params`` on the class is a :class:`Params` declaration (a mapping of names to
    :class:`Param` or plain defaults); on an instance, ``self.params`` is the
    ``dict[str, Any]`` of resolved values (``Strategy(fast=5)`` overrides one), so the
    instance satisfies :class:`engine.protocols.Strategy`. Type checkers see both sides, as
    ``Params`` is a descriptor. ``warmup`` is the number of bars before the first ``on_bar``
    call; it may depend on the params (override ``warmup`` as a property).
    """

    name: ClassVar[str] = ""
    params = Params()
    timeframe: str = "1m"
    warmup: int = 1
    interface_version: ClassVar[int] = INTERFACE_VERSION
    description: ClassVar[str] = ""

    def __init__(self, **overrides: Any) -> None:
        given = self.coerce_params(overrides)
        values = {
            k: given[k] if k in given else p.coerce(k, p.default)
            for k, p in self.param_spec().items()
        }
        problem = self.check_params(values)
        if problem:
            raise ParamError(f"{self.name or type(self).__name__}: {problem}")
        vars(self)["params"] = values  # the instance's values shadow the class's Params

    @classmethod
    def param_spec(cls) -> dict[str, Param]:
        raw = cls.__dict__.get("params")
        if raw is None:
            for base in cls.__mro__[1:]:
                if "params" in base.__dict__:
                    raw = base.__dict__["params"]
                    break
        return {k: as_param(v) for k, v in dict(raw or {}).items()}

    @classmethod
    def coerce_params(cls, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """``overrides`` coerced to their params' types (the others left out); an unknown name
        or a bad value is a :class:`ParamError`."""
        spec = cls.param_spec()
        unknown = sorted(set(overrides) - set(spec))
        if unknown:
            raise ParamError(
                f"{cls.name or cls.__name__}: unknown parameter(s) {', '.join(unknown)}"
                f" (known: {', '.join(spec) or 'none'})"
            )
        return {k: spec[k].coerce(k, v) for k, v in overrides.items()}

    @classmethod
    def check_params(cls, values: dict[str, Any]) -> str | None:
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
