"""workstation/reports/account.py through ``qws report``: a real store seeded as the order
manager writes it (orders, fills, equity marks), the report read back in headless Chromium."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.support.ui import WebDriverWait

from engine.model import Instrument, Side
from tests.browser import browser  # noqa: F401
from tests.helpers import T0, flat_bars, run_cli, store_filled_order
from workstation.store import Store

DAY = 86_400_000_000_000
MINUTE = 60_000_000_000
SINCE = "2024-01-03"
SINCE_NS = T0 + 2 * DAY
RENDERED = (
    "return !!(window.Bokeh && Bokeh.documents.length &&"
    " Bokeh.documents[0].get_model_by_name('equity'))"
)
IN_PAGE = """
const doc = Bokeh.documents[0];
const data = (name) => doc.get_model_by_name(name).data;
const column = (name, key) => Array.from(data(name)[key]);
return {
  equity: column('equity', 'equity'),
  by_symbol: Object.fromEntries(column('pnl_by_symbol', 'key').map(
    (k, i) => [k, data('pnl_by_symbol').net_exact[i]])),
  by_strategy: Object.fromEntries(column('pnl_by_strategy', 'key').map(
    (k, i) => [k, data('pnl_by_strategy').net_exact[i]])),
  fills: column('fills', 'client_id'),
  strategies: column('fills', 'strategy'),
  resources: performance.getEntriesByType('resource').map((e) => e.name),
};
"""


@pytest.fixture
def account(tmp_path: Path) -> Path:
    """Two symbols on the paper venue: XYZ/USD bought by the strategy "swing" on day 0.5 and
    partly sold by hand on day 3.5, ABC/USD bought by hand on day 4.5; daily closes for both,
    their marks (the last 1m close: 112 and 56), and an equity mark every day from day 0 to 6."""
    db = tmp_path / "qws.db"
    with Store(db) as store:
        store.instruments.upsert(
            [
                Instrument("XYZ/USD", "test", D("0.01"), D("0.001"), "USD", "XYZ"),
                Instrument("ABC/USD", "test", D("0.01"), D("0.001"), "USD", "ABC"),
            ]
        )
        for symbol, closes, mark in (
            ("XYZ/USD", [100, 104, 106, 107, 109, 110], 112.0),
            ("ABC/USD", [50, 51, 52, 53, 54, 55], 56.0),
        ):
            store.candles.upsert(flat_bars(closes, DAY), symbol, "1d", "test")
            store.candles.upsert(flat_bars([mark], MINUTE, T0 + 6 * DAY), symbol, "1m", "test")
        for cid, symbol, side, qty, price, fee, day, arrival, strategy in (
            ("b1", "XYZ/USD", Side.BUY, "10", "100", "1", 0.5, "99.8", "swing"),
            ("s1", "XYZ/USD", Side.SELL, "4", "108", "0.5", 3.5, "108.1", ""),
            ("b2", "ABC/USD", Side.BUY, "20", "54", "0.2", 4.5, "53.9", ""),
        ):
            store_filled_order(
                store,
                cid,
                symbol,
                side,
                qty,
                price,
                fee,
                int(T0 + day * DAY),
                arrival=arrival,
                strategy=strategy,
            )
        for day, equity in enumerate((10_000, 10_040, 10_060, 10_070, 10_090, 10_100, 10_120)):
            store.equity.add("paper", T0 + day * DAY, float(equity))
    return db


def test_the_account_report_in_chromium_shows_the_equity_pnl_and_fills_since_the_date(
    browser: Any,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    account: Path,
    tmp_path: Path,
) -> None:
    html = tmp_path / "account.html"
    rc, out, err = run_cli(
        capsys, "--db", str(account), "report", "--since", SINCE, "--html", str(html)
    )
    assert rc == 0, err
    assert out.splitlines()[-1] == f"report written: {html}"
    rc, text, err = run_cli(
        capsys, "--db", str(account), "pnl", "--attribution", "--since", SINCE, "--json"
    )
    assert rc == 0, err
    pnl = json.loads(text)
    with Store(account) as store:
        points = store.equity.points("paper", SINCE_NS)
        since = [f.client_id for f in store.fills.find(venue="paper") if f.ts_ns >= SINCE_NS]
    assert since == ["s1", "b2"] and len(points) >= 5  # days 2..6, and any mark of the command

    browser.get(html.as_uri())
    WebDriverWait(browser, 120, poll_frequency=0.2).until(lambda b: b.execute_script(RENDERED))
    page = browser.execute_script(IN_PAGE)
    assert page["equity"] == [e for _, e in points]
    assert page["by_symbol"] == {
        **{k: v["net"] for k, v in pnl["by_symbol"].items()},
        "total": pnl["total"]["net"],
    }
    assert page["by_strategy"] == {
        **{k: v["net"] for k, v in pnl["by_strategy"].items()},
        "total": pnl["total"]["net"],
    }
    assert set(page["by_strategy"]) == {"swing", "manual", "total"}
    assert set(page["by_symbol"]) == {"XYZ/USD", "ABC/USD", "total"}
    assert D(page["by_symbol"]["total"]) != 0
    assert page["fills"] == since and page["strategies"] == ["manual", "manual"]
    assert [r for r in page["resources"] if not r.startswith(("file:", "data:", "blob:"))] == []
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_without_html_the_report_is_a_summary_here(
    capsys: pytest.CaptureFixture[str], account: Path
) -> None:
    rc, out, err = run_cli(capsys, "--db", str(account), "report", "--since", SINCE)
    assert rc == 0, err
    assert "equity paper: 10,060.00 (2024-01-03) -> " in out
    assert "2 fills since 2024-01-03" in out
    for title in ("by strategy", "by symbol"):
        assert title in out
    assert "--html FILE" in err


def test_an_empty_account_still_gets_a_report_that_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db, html = tmp_path / "empty.db", tmp_path / "empty.html"
    rc, out, err = run_cli(capsys, "--db", str(db), "report", "--since", "7d", "--html", str(html))
    assert rc == 0, err
    assert "nothing on paper since " in out and f"report written: {html}" in out
    text = html.read_text(encoding="utf-8")
    assert "nothing on paper since" in text and "no fills" in text
    rc, out, _ = run_cli(capsys, "--db", str(db), "report", "--since", "2024-01-01")
    assert rc == 0 and out.startswith("nothing on paper since 2024-01-01")


@pytest.mark.parametrize("since", ["yesterday", "2024-13-01", "7x", "-3d", ""])
def test_a_bad_date_is_one_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, since: str
) -> None:
    rc, out, err = run_cli(capsys, "--db", str(tmp_path / "q.db"), "report", f"--since={since}")
    assert rc == 2 and out == ""
    assert err.strip() == (
        "qws: error: --since wants a date (YYYY-MM-DD, UTC) or a duration back from now such as"
        f" 7d or 12h, got {since!r}"
    )


def test_a_date_in_the_future_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rc, _, err = run_cli(capsys, "--db", str(tmp_path / "q.db"), "report", "--since", "2999-01-01")
    assert rc == 2 and err.strip() == "qws: error: --since 2999-01-01 is in the future"


def test_a_report_into_a_missing_folder_is_refused_before_any_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "q.db"
    html = tmp_path / "nowhere" / "r.html"
    rc, _, err = run_cli(capsys, "--db", str(db), "report", "--since", "7d", "--html", str(html))
    assert rc == 2 and err.startswith("qws: error: --html: cannot write ") and "does not" in err
    assert not db.exists()  # refused before the store was opened
