"""How far apart a file's bars are, in words and as a timeframe."""

from __future__ import annotations

import numpy as np

from engine.timeframes import NS
from workstation.cli.common import bar_spacing, spacing_label, spacing_timeframe

DAY = NS["d"]


def test_the_spacing_is_the_median_gap_either_way_round() -> None:
    weekdays = np.cumsum([0, 1, 1, 1, 1, 3, 1, 1, 1, 1, 3, 1]) * DAY
    assert bar_spacing(weekdays) == DAY
    assert bar_spacing(weekdays[::-1]) == DAY
    assert bar_spacing(np.array([5, 5, 5])) is None
    assert bar_spacing(np.array([7])) is None


def test_a_spacing_is_named_as_a_timeframe_or_in_words() -> None:
    assert spacing_timeframe(7 * DAY) == "1w" and spacing_label(7 * DAY) == "1w"
    assert spacing_timeframe(4 * NS["h"]) == "4h"
    assert spacing_timeframe(90 * NS["m"]) == "90m"
    assert spacing_timeframe(1_500_000_000) is None
    assert spacing_label(31 * DAY) == "about 1 month"
    assert spacing_label(91 * DAY) == "about 3 months"
    assert spacing_label(365 * DAY) == "about 1 year"
    assert spacing_label(int(1.5 * NS["h"]) + 7) == "about 1.5h"
