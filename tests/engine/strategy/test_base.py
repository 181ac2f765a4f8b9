"""engine/strategy/base.py: the Strategy base class."""

from __future__ import annotations

import pytest

from engine.strategy import (
    INTERFACE_VERSION,
    Param,
    ParamError,
    Params,
    Strategy,
)


class Window(Strategy):
    name = "window"
    params = Params(length=Param(14, low=2, high=100), band=Param(0.5))


def test_hooks_accept_extra_keyword_arguments_and_version_is_declared() -> None:
    s = Strategy()
    assert s.on_bar(None, None, future_arg=1) is None  # type: ignore[arg-type]
    s.on_start(None, extra=True)  # type: ignore[arg-type]
    s.on_fill(None, None, extra=True)  # type: ignore[arg-type]
    assert isinstance(INTERFACE_VERSION, int) and Strategy.interface_version == INTERFACE_VERSION


def test_coerce_params_types_the_given_ones_and_leaves_the_rest_out() -> None:
    assert Window.coerce_params({"length": "20"}) == {"length": 20}
    assert Window(length="20").params == {"length": 20, "band": 0.5}


def test_coerce_params_refuses_unknown_names_and_bad_values() -> None:
    with pytest.raises(
        ParamError, match=r"window: unknown parameter\(s\) nope \(known: length, band\)"
    ):
        Window.coerce_params({"nope": 1, "length": 3})
    with pytest.raises(ParamError, match="'length' must be int"):
        Window.coerce_params({"length": "x"})
