from __future__ import annotations

import numpy as np
import pytest

from engine.model import Tick
from engine.timeframes import (
    NS,
    BarBuilder,
    TimeframeError,
    bar_spacing,
    parse,
    resample,
    spacing_label,
    spacing_timeframe,
)
from tests.helpers import HOUR, T0, random_bars


@pytest.mark.parametrize(
    "text,seconds",
    [("1s", 1), ("1m", 60), ("15m", 900), ("4h", 14400), ("1d", 86400), ("1w", 604800)],
)
def test_parse(text: str, seconds: int) -> None:
    assert parse(text).seconds == seconds
    assert str(parse(text)) == text


@pytest.mark.parametrize("bad", ["", "1y", "0m", "m", "1.5h", "-1d", "fortnight"])
def test_unknown_timeframes_are_named(bad: str) -> None:
    with pytest.raises(TimeframeError, match="unknown timeframe"):
        parse(bad)


def test_weeks_start_on_monday() -> None:
    monday = 1_704_067_200_000_000_000  # 2024-01-01 was a Monday
    assert parse("1w").bucket(monday + 3 * 86_400 * 10**9) == monday


def test_resample_aggregates_ohlcv() -> None:
    bars = random_bars(48)
    daily = resample(bars, "1d")
    assert daily.height == 2
    first = bars.head(24)
    assert daily["open"][0] == first["open"][0]
    assert daily["high"][0] == first["high"].max()
    assert daily["low"][0] == first["low"].min()
    assert daily["close"][0] == first["close"][-1]
    assert np.isclose(daily["volume"][0], first["volume"].sum())
    assert daily["ts"][1] == T0 + 24 * HOUR


def test_bar_builder_closes_on_bucket_roll_and_ignores_late_ticks() -> None:
    b = BarBuilder("X", "1m")
    m = 60 * 10**9
    assert b.add(Tick(T0 + 1, "X", 1, 1, 10.0, 1)) is None
    assert b.add(Tick(T0 + 2, "X", 1, 1, 12.0, 2)) is None
    assert b.add(Tick(T0 + 3, "X", 1, 1, 9.0, 1)) is None
    closed = b.add(Tick(T0 + m, "X", 1, 1, 11.0, 5))
    assert closed is not None and closed.closed
    assert (closed.open, closed.high, closed.low, closed.close, closed.volume) == (10, 12, 9, 9, 4)
    assert b.add(Tick(T0 + 5, "X", 1, 1, 50.0, 1)) is None  # late: previous bar already closed
    current = b.current()
    assert current is not None and not current.closed and current.high == 11.0


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
