"""engine/strategy/params.py: typed parameters."""

from __future__ import annotations

import pytest

from engine.strategy import (
    Param,
    ParamError,
    Params,
    Strategy,
)


def test_param_coerces_text_and_checks_range_and_choices() -> None:
    assert Param(3, low=1, high=5).coerce("n", "4") == 4
    assert Param(0.5).coerce("x", "0.25") == 0.25
    assert Param(True).coerce("b", "off") is False
    assert Param("ema", choices=("ema", "sma")).coerce("k", "sma") == "sma"
    for param, value, msg in [
        (Param(3, low=1, high=5), 9, "<= 5"),
        (Param(3), 2.5, "must be int"),
        (Param(True), "maybe", "must be bool"),
        (Param("ema", choices=("ema", "sma")), "wma", "one of"),
        (Param(1.0), "nan", "finite"),
    ]:
        with pytest.raises(ParamError, match=msg):
            param.coerce("p", value)
    assert Param(2, low=2, high=10, step=4).grid() == [2, 6, 10]
    assert Param(1.0, low=0.0, high=1.0).grid(3) == [0.0, 0.5, 1.0]
    assert Param(True).grid() == [False, True] and Param(7).grid() == [7]


def test_params_is_the_declaration_on_the_class_and_the_values_on_an_instance() -> None:
    class Two(Strategy):
        name = "two"
        params = Params(n=Param(3, low=1, high=9), k=1.5)

    class NoInit(Two):
        def __init__(self) -> None:  # skips Strategy.__init__: runs with the defaults
            pass

    assert isinstance(Two.params, Params) and Two.params["n"].default == 3
    two = Two(n="5")
    assert two.params == {"n": 5, "k": 1.5} and type(two.params) is dict
    assert two.n == 5 and Two.params["n"].default == 3  # the declaration is untouched
    assert Two(k=2).params == {"n": 3, "k": 2.0}
    assert NoInit().params == {"n": 3, "k": 1.5}
