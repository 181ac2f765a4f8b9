"""engine/strategy/rules.py: crossings."""

from __future__ import annotations

import numpy as np

from engine.strategy import (
    crossed_above,
    crosses_above,
)


def test_crossings_scalar_and_vector_forms_agree() -> None:
    a = np.array([1.0, 2.0, 3.0, 2.0, 1.0, np.nan, 3.0])
    b = np.full(7, 2.5)
    vec = crosses_above(a, b)
    assert vec.tolist() == [False, False, True, False, False, False, False]
    assert [crossed_above(a[: t + 1], b[: t + 1]) for t in range(7)] == vec.tolist()
    assert crosses_above(-a, -2.5)[3]  # crossing below 2.5 at bar 3
