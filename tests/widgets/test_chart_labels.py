"""What the chart writes around its candles: the header, the level labels, the price and time
axes. Each fits whole in the room it has (the chart is 44 cells wide in an 80x24 dashboard, 85
in a 160x50 one), and an empty chart draws without numpy."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from textual.app import App, ComposeResult

from engine.model import Tick
from engine.timeframes import OHLCV_SCHEMA
from widgets.chart import Chart, Line, Overlay, ReadoutBar, fit_readout, time_labels

ROOT = Path(__file__).resolve().parents[2]
HOUR_NS = 3_600 * 10**9
NOW_NS = 1_795_000_000_000_000_000  # 2026-11-18T11:06:40Z
WIDTHS = [44, 85]  # the chart's own width in the 80x24 and the 160x50 dashboard


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield Chart()


def _bars(n: int, base: float, swing: float, step_ns: int, volume: float) -> pl.DataFrame:
    close = base + swing * np.sin(np.arange(n) / 9.0) + swing * np.arange(n) / n
    open_ = np.roll(close, 1)
    open_[0] = close[0]
    last = NOW_NS - NOW_NS % step_ns
    columns = {
        "ts": last - np.arange(n, dtype=np.int64)[::-1] * step_ns,
        "open": open_,
        "high": np.maximum(open_, close) + swing / 10,
        "low": np.minimum(open_, close) - swing / 10,
        "close": close,
        "volume": np.full(n, volume),
    }
    return pl.DataFrame(columns, schema=OHLCV_SCHEMA)


def _text(chart: Chart) -> list[str]:
    return ["".join(s.text for s in chart.render_line(y)) for y in range(chart.size.height)]


def _price(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


@pytest.mark.parametrize("width", WIDTHS)
async def test_the_header_fits_whole_dropping_the_volume_first(width: int) -> None:
    frame = _bars(300, 64_000.0, 300.0, 60 * 10**9, 12_345.678)
    async with _Host().run_test(size=(width, 24)) as pilot:
        chart = pilot.app.query_one(Chart)
        chart.set_history("BTC/USDT", "1m", frame, 2)
        await pilot.pause()
        header = _text(chart)[0].rstrip()
    last = frame.row(-1, named=True)
    o, h, lo, c = (_price(last[k], 2) for k in ("open", "high", "low", "close"))
    chg = f"({(last['close'] / last['open'] - 1) * 100:+.2f}%)"
    moment = time.gmtime(last["ts"] / 1e9)
    if width == 85:
        stamp = time.strftime("%m-%d %H:%M", moment)
        assert header == f"BTC/USDT 1m  {stamp}  O {o} H {h} L {lo} C {c} {chg}"
    else:
        assert header == f"BTC/USDT 1m  {time.strftime('%H:%M', moment)}  C {c} {chg}"
    assert len(header) <= width and "V" not in header.split("  ")[-1]


def test_the_readout_s_shorter_forms_drop_whole_fields() -> None:
    bar = ReadoutBar("BTC/USDT 1m", NOW_NS, 60 * 10**9, 64_001.5, 64_010.25, 63_990.0, 64_002.0,
                     12_345.678)  # fmt: skip
    full = fit_readout(bar, 2)
    assert full == (
        "BTC/USDT 1m  11-18 11:06  O 64,001.50 H 64,010.25 L 63,990.00 C 64,002.00 (+0.00%) "
        "V 12,345.678"
    )
    assert fit_readout(bar, 2, len(full)) == full
    assert fit_readout(bar, 2, len(full) - 1).endswith("(+0.00%) V 12.3k")
    assert fit_readout(bar, 2, len(full) - 6).endswith("C 64,002.00 (+0.00%)")
    prices = {"64,001.50", "64,010.25", "63,990.00", "64,002.00"}
    for width in range(10, len(full) + 1):
        text = fit_readout(bar, 2, width)
        assert len(text) <= width
        numbers = re.findall(r"\b[OHLC] (\S+)", text)
        assert set(numbers) <= prices, (width, text)  # a price is shown whole or not at all


def test_a_small_volume_is_shown_exactly() -> None:
    bar = ReadoutBar("X 1m", NOW_NS, 60 * 10**9, 1.0, 1.0, 1.0, 1.0, 0.00012345)
    assert fit_readout(bar, 2).endswith("V 0.00012345")


@pytest.mark.parametrize("width", WIDTHS)
async def test_level_labels_are_whole_beside_the_price_axis(width: int) -> None:
    frame = _bars(200, 1.085, 0.004, 4 * HOUR_NS, 3.0)
    low = float(frame["low"].to_numpy()[-30:].min())
    high = float(frame["high"].to_numpy()[-30:].max())
    last = float(frame["close"].to_numpy()[-1])
    far = [p for p in np.linspace(low, high, 9) if abs(p - last) > (high - low) / 4]
    levels = [Line("fib 0.618", far[0]), Line("gann -45°", far[-1])]
    async with _Host().run_test(size=(width, 20)) as pilot:
        chart = pilot.app.query_one(Chart)
        chart.set_history("EURUSD", "4h", frame, 5)
        chart.set_levels(levels)
        await pilot.pause()
        lines = _text(chart)
    ends = [line.rstrip() for line in lines]
    assert any(end.endswith("┈ fib 0.618") for end in ends), lines
    assert any(end.endswith("┈ gann -45°") for end in ends), lines


async def test_axis_prices_are_whole_where_a_tick_gains_digits() -> None:
    frame = _bars(120, 990.0, 4.0, 60 * 10**9, 1.0)  # every bar below 1,000
    async with _Host().run_test(size=(60, 30)) as pilot:
        chart = pilot.app.query_one(Chart)
        chart.set_history("X", "1m", frame, 2)
        chart.set_overlays([Overlay("band", np.full(120, 1_000.4), "band")])
        await pilot.pause()
        lines = _text(chart)
    assert any(line.rstrip().endswith(" 1,000.00") for line in lines), lines


def _labels(axis: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group()) for m in re.finditer(r"\S+", axis)]


@pytest.mark.parametrize("width", WIDTHS)
async def test_a_4h_axis_shows_the_dates(width: int) -> None:
    frame = _bars(300, 1.085, 0.004, 4 * HOUR_NS, 3.0)
    async with _Host().run_test(size=(width, 20)) as pilot:
        chart = pilot.app.query_one(Chart)
        chart.set_history("EURUSD", "4h", frame, 5)
        await pilot.pause()
        axis = _text(chart)[-1]
        shown = frame["ts"].to_numpy()[-chart.visible_bars :]
    labels = _labels(axis)
    assert len(labels) >= 2
    for x, label in labels:
        assert label == time.strftime("%m-%d", time.gmtime(shown[x] / 1e9))
    texts = [label for _, label in labels]
    assert len(set(texts)) == len(texts)


async def test_a_1h_axis_shows_the_date_where_the_day_changes_and_times_between() -> None:
    frame = _bars(300, 1.085, 0.004, HOUR_NS, 3.0)
    async with _Host().run_test(size=(85, 20)) as pilot:
        chart = pilot.app.query_one(Chart)
        chart.set_history("EURUSD", "1h", frame, 5)
        await pilot.pause()
        axis = _text(chart)[-1]
        shown = frame["ts"].to_numpy()[-chart.visible_bars :]
    labels = _labels(axis)
    days = [time.gmtime(shown[x] / 1e9)[:3] for x, _ in labels]
    for i, (x, label) in enumerate(labels):
        moment = time.gmtime(shown[x] / 1e9)
        new_day = i == 0 or days[i] != days[i - 1]
        assert label == time.strftime("%m-%d" if new_day else "%H:%M", moment), axis
    assert any(":" in label for _, label in labels) and any("-" in label for _, label in labels)
    assert all(a[1] != b[1] for a, b in itertools.pairwise(labels))


def test_time_labels_of_seconds_and_of_days() -> None:
    seconds = [NOW_NS + i * 10**9 for i in range(40)]
    assert time_labels(seconds, 10**9, 40).split() == ["11-18", "11:06:52", "11:07:04"]
    day = 86_400 * 10**9
    new_year = 1_798_761_600 * 10**9  # 2027-01-01
    days = [new_year + (i - 20) * day for i in range(40)]
    assert time_labels(days, day, 40).split() == ["12-12", "12-24", "2027"]


async def test_switching_drops_the_old_bars_until_the_new_ones_come() -> None:
    async with _Host().run_test(size=(85, 20)) as pilot:
        chart = pilot.app.query_one(Chart)
        chart.set_history("BTC/USDT", "1m", _bars(300, 64_000.0, 300.0, 60 * 10**9, 1.0), 2)
        chart.set_levels([Line("fib 0.5", 64_000.0)])
        chart.switch_to("EURUSD", "4h", 5)
        await pilot.pause()
        lines = _text(chart)
        assert chart.bar_count == 0 and not chart.levels
        assert lines[0].startswith("EURUSD 4h  loading EURUSD 4h…")
        assert not any("64," in line for line in lines)
        assert not chart.add_tick(Tick(NOW_NS, "EURUSD", 1.08, 1.08, 1.08, 1.0))
        frame = _bars(200, 1.085, 0.004, 4 * HOUR_NS, 3.0)
        chart.set_history("EURUSD", "4h", frame, 5)
        await pilot.pause()
        assert chart.bar_count == 200
        assert _text(chart)[0].startswith("EURUSD 4h  11-18 08:00  O 1.0")
    with pytest.raises(ValueError):
        chart.switch_to("EURUSD", "4x", 5)


PROBE = """
import asyncio, sys
from textual.app import App
from widgets.chart import Chart


class Host(App):
    def compose(self):
        yield Chart()


async def main():
    async with Host().run_test(size=(60, 12)) as pilot:
        chart = pilot.app.query_one(Chart)
        chart.switch_to("BTC/USDT", "4h", 2)
        await pilot.pause()
        drawn = "".join(s.text for s in chart.render_line(0))
    print(chart.redraws > 0, "loading BTC/USDT 4h" in drawn, "numpy" in sys.modules)


asyncio.run(main())
"""


def test_an_empty_chart_draws_without_numpy() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["True", "True", "False"]


def _snapshot_app() -> _Host:
    """EURUSD at 4h, a fib and a Gann level: the header, the labels, the dated time axis."""

    class Loaded(_Host):
        def on_mount(self) -> None:
            chart = self.query_one(Chart)
            frame = _bars(300, 1.085, 0.004, 4 * HOUR_NS, 3.0)
            chart.set_history("EURUSD", "4h", frame, 5)
            chart.set_levels([Line("fib 0.618", 1.0875), Line("gann -45°", 1.0895)])

    return Loaded()


@pytest.mark.parametrize("size", [(44, 16), (85, 29)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_chart_labels_snapshot(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(_snapshot_app(), terminal_size=size)
