"""Typed strategy parameters: defaults, types and search ranges (``Param``, ``Params``)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Self, overload

import numpy as np

from engine.strategy.errors import ParamError


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


def as_param(value: Any) -> Param:
    return value if isinstance(value, Param) else Param(value)


class Params(Mapping[str, Param]):
    """A strategy's parameter declaration (immutable, ordered):
    ``params = Params(fast=Param(10, low=2, high=100), slow=20)``; plain values become
    ``Param(value)``.

    Declared on a :class:`Strategy` class it is also the descriptor that gives the two sides
    of ``params`` their types: ``MyStrategy.params`` is this declaration, ``self.params`` on an
    instance is the ``dict[str, Any]`` of resolved values (``Strategy.__init__`` stores it on
    the instance, which takes precedence over this non-data descriptor)."""

    __slots__ = ("_spec",)

    def __init__(self, **spec: Any) -> None:
        self._spec = {k: as_param(v) for k, v in spec.items()}

    def __getitem__(self, key: str) -> Param:
        return self._spec[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._spec)

    def __len__(self) -> int:
        return len(self._spec)

    def __repr__(self) -> str:
        return f"Params({', '.join(f'{k}={v!r}' for k, v in self._spec.items())})"

    def defaults(self) -> dict[str, Any]:
        """Every parameter's default value."""
        return {k: p.default for k, p in self._spec.items()}

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> dict[str, Any]: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> Params | dict[str, Any]:
        # Reached on the class, or on an instance whose __init__ never stored its values (a
        # subclass that skipped super().__init__): that instance runs with the defaults.
        return self if obj is None else self.defaults()
