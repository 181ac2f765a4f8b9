"""workstation/reports/backtest.py: a real backtest's report, rendered in headless Chromium."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from bokeh.models import ColumnDataSource
from selenium.webdriver.support.ui import WebDriverWait

from engine.backtest.backtester import BacktestConfig, BacktestResult, run_backtest
from engine.backtest.walkforward import walk_forward, window_runs
from plugins.strategies.rsi_reversion import RsiReversion
from plugins.strategies.sma_cross import SmaCross
from tests.browser import browser  # noqa: F401
from tests.engine.backtest.backtest_reference import to_polars
from workstation.reports.backtest import backtest_report, walk_forward_report
from workstation.reports.html import ReportError, write_html

RENDERED = (
    "return !!(window.Bokeh && Bokeh.documents.length &&"
    " Bokeh.documents[0].get_model_by_name('candles'))"
)
IN_PAGE = """
const doc = Bokeh.documents[0];
const data = (name) => doc.get_model_by_name(name).data;
const views = [...Bokeh.index].length;
return {
  candles: data('candles').close.length,
  closes: Array.from(data('candles').close),
  entries: Array.from(data('entries').price),
  exits: Array.from(data('exits').price),
  entry_x: Array.from(data('entries').x),
  resources: performance.getEntriesByType('resource').map((e) => e.name),
  page: location.protocol,
  views: views,
};
"""


ZOOM = """
const x = Bokeh.documents[0].get_model_by_name('bar_range');
x.start = arguments[0];
x.end = arguments[1];
"""
PRICE_RANGE = """
const y = Bokeh.documents[0].get_model_by_name('price_range');
return [y.start, y.end];
"""


@pytest.fixture(scope="module")
def goog() -> pl.DataFrame:
    from backtesting.test import GOOG

    return to_polars(GOOG)


def sources(layout: Any) -> dict[str, ColumnDataSource]:
    return {s.name: s for s in layout.select({"type": ColumnDataSource}) if s.name}


def rendered(driver: Any, path: Path) -> dict[str, Any]:
    """Open ``path`` and read the figures back from the page once Bokeh has drawn it."""
    driver.get(path.as_uri())
    WebDriverWait(driver, 120, poll_frequency=0.2).until(lambda b: b.execute_script(RENDERED))
    return driver.execute_script(IN_PAGE)


def test_the_report_of_a_backtest_in_chromium_shows_every_bar_and_trade_offline(
    browser: Any,  # noqa: F811
    goog: pl.DataFrame,
    tmp_path: Path,
) -> None:
    result = run_backtest(
        SmaCross(fast=10, slow=20), goog, BacktestConfig(cash=10_000, commission=0.002)
    )
    assert result.trades.height > 50
    path = write_html(
        backtest_report(result, goog, symbol="GOOG", title="sma_cross on GOOG"),
        tmp_path / "goog.html",
        "sma_cross on GOOG",
    )
    page = rendered(browser, path)
    assert page["page"] == "file:"
    assert page["candles"] == goog.height == len(result.equity)
    assert page["closes"] == goog["close"].to_list()
    assert page["entries"] == result.trades["entry_price"].to_list()
    assert page["exits"] == result.trades["exit_price"].to_list()
    assert page["entry_x"] == result.trades["entry_bar"].to_list()
    assert page["views"] > 0
    off = [r for r in page["resources"] if not r.startswith(("file:", "data:", "blob:"))]
    assert off == []  # nothing asked of the network
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    shots = Path(os.environ.get("QWS_SCREENSHOTS") or tmp_path)  # the README's come from here
    browser.save_screenshot(str(shots / "report.png"))

    whole = browser.execute_script(PRICE_RANGE)
    browser.execute_script(ZOOM, 1000, 1100)  # as a wheel zoom or pan would move it
    WebDriverWait(browser, 60, poll_frequency=0.1).until(
        lambda b: b.execute_script(PRICE_RANGE) != whole  # BokehJS runs the callback async
    )
    window = goog.slice(1000, 101)
    lo, hi = window["low"].min(), window["high"].max()
    pad = (hi - lo) * 0.05
    # the price axis follows the bars in view
    assert browser.execute_script(PRICE_RANGE) == pytest.approx([lo - pad, hi + pad])


def test_the_indicators_a_strategy_used_are_drawn_over_the_candles_or_below(
    goog: pl.DataFrame,
) -> None:
    sma = run_backtest(SmaCross(fast=10, slow=20), goog, BacktestConfig())
    found = sources(backtest_report(sma, goog, symbol="GOOG", title="sma"))
    assert {"overlay:sma(10)", "overlay:sma(20)"} <= set(found)
    assert not any(name.startswith("pane:") for name in found)
    np.testing.assert_array_equal(found["overlay:sma(20)"].data["y0"], sma.indicators[1].values[0])
    rsi = run_backtest(RsiReversion(), goog, BacktestConfig(vectorized=False))  # per bar
    found = sources(backtest_report(rsi, goog, symbol="GOOG", title="rsi"))
    assert "pane:rsi(14)" in found and not any(n.startswith("overlay:") for n in found)
    assert len(found["pane:rsi(14)"].data["y0"]) == goog.height
    assert len(found["entries"].data["x"]) == rsi.trades.height


def test_a_walk_forward_report_puts_each_windows_in_sample_beside_its_out_of_sample(
    goog: pl.DataFrame, tmp_path: Path
) -> None:
    config = BacktestConfig(cash=10_000, commission=0.002)
    wf = walk_forward(SmaCross, goog, 600, 300, config, max_evals=6)
    runs = window_runs(SmaCross, goog, wf, config)
    layout = walk_forward_report(wf, runs, goog, symbol="GOOG", title="walk-forward")
    found = sources(layout)
    assert len(found["candles"].data["x"]) == goog.height
    oos: list[BacktestResult] = [r.out_of_sample for r in runs if r.out_of_sample is not None]
    assert len(oos) == len(wf.windows) == 5
    assert len(found["entries"].data["x"]) == sum(r.trades.height for r in oos)
    for r in runs:
        k, w = r.window.index, r.window
        ins = found[f"window{k}:in_sample"].data
        out = found[f"window{k}:out_of_sample"].data
        assert list(ins["x"]) == list(range(w.train_start, w.train_end))
        assert list(out["x"]) == list(range(w.test_start, w.test_end))
        assert ins["return_pct"][0] == out["return_pct"][0] == 0
        assert out["return_pct"][-1] == pytest.approx(wf.windows[k].out_of_sample["return_pct"])
    entries = found["entries"].data["x"]
    assert min(entries) >= wf.windows[0].window.test_start  # out-of-sample trades only
    assert len(found["windows"].data["window"]) == 5
    path = write_html(layout, tmp_path / "wf.html", "walk-forward")
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_a_report_goes_only_to_a_file_in_a_folder_that_exists(
    goog: pl.DataFrame, tmp_path: Path
) -> None:
    small = goog.head(200)
    layout = backtest_report(
        run_backtest(SmaCross(), small, BacktestConfig()), small, symbol="GOOG", title="t"
    )
    with pytest.raises(ReportError, match="does not exist"):
        write_html(layout, tmp_path / "missing" / "r.html", "t")
    with pytest.raises(ReportError, match="is a folder"):
        write_html(layout, tmp_path, "t")
    (tmp_path / "r.html").write_text("old")
    write_html(layout, tmp_path / "r.html", "t")  # replaces the old file, leaves no temp file
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]
    assert "Bokeh" in (tmp_path / "r.html").read_text(encoding="utf-8")
