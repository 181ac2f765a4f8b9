"""``qws pnl --attribution`` and ``qws backtest ... --attribution``, in-process."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import pytest

from engine.model import Fill, Instrument, Side
from tests.helpers import T0, flat_bars, run_cli, store_filled_order, write_csv
from workstation.store import Store

DAY = 86_400_000_000_000
DATA = Path(__file__).resolve().parents[2] / "data"


def figures(text: str, first: str) -> list[str]:
    """The cells of the first line starting with ``first`` after a table header."""
    return next(line.split() for line in text.splitlines() if line.startswith(first + " "))


def test_attribution_of_paper_trades_adds_up_to_the_pnl(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = str(tmp_path / "q.db")
    for side, qty, symbol in (
        ("buy", "0.02", "BTC/USDT"),
        ("sell", "0.01", "BTC/USDT"),
        ("sell", "1", "ETH/USDT"),
    ):
        rc, out, _ = run_cli(capsys, "--db", db, "order", side, qty, symbol, "--yes")
        assert rc == 0 and "FILLED" in out
    rc, plain, _ = run_cli(capsys, "--db", db, "pnl")
    rc, text, _ = run_cli(capsys, "--db", db, "pnl", "--attribution")
    assert rc == 0
    for title in ("by strategy", "by symbol", "by side", "market vs the rest"):
        assert title in text
    net = figures(text, "manual")[-1]
    assert plain.splitlines()[-1].endswith(f" {net}")  # the same P&L, to the cent
    assert figures(text, "long")[1:] != figures(text, "short")[1:]
    assert "beta to BTC/USDT (the most traded symbol" in text
    rc, out, _ = run_cli(capsys, "--db", db, "pnl", "--attribution", "--json")
    data = json.loads(out)
    total = data["total"]
    assert D(total["net"]) == D(total["realised"]) + D(total["unrealised"]) - D(total["fees"])
    assert D(total["net"]) == (
        D(total["market"]) + D(total["rest"]) - D(total["slippage"]) - D(total["fees"])
    )
    for group in ("by_strategy", "by_symbol", "by_side"):
        assert sum(D(v["net"]) for v in data[group].values()) == D(total["net"])
    assert D(total["slippage"]) > 0  # bought at the ask, sold at the bid of the arrival mark
    assert data["no_arrival"] == [] and data["account_ccy"] == "USD"
    rc, _, err = run_cli(capsys, "--db", db, "pnl", "--json")
    assert rc == 2 and "--attribution" in err


@pytest.fixture
def stored(tmp_path: Path) -> str:
    """XYZ/USD: bought 10 @ 100 on day 0 (arrival 99.8, fee 1), 4 sold @ 108 on day 3
    (arrival 108.1, fee 0.5); daily closes 100, 104, 106, 107, 109 ...; the mark (the last
    1m close) is 112."""
    db = tmp_path / "q.db"
    with Store(db) as store:
        store.instruments.upsert(
            [Instrument("XYZ/USD", "test", D("0.01"), D("0.001"), "USD", "XYZ")]
        )
        store.candles.upsert(
            flat_bars([100, 104, 106, 107, 109, 110], DAY), "XYZ/USD", "1d", "test"
        )
        store.candles.upsert(
            flat_bars([112.0], 60_000_000_000, T0 + 6 * DAY), "XYZ/USD", "1m", "test"
        )
        for cid, side, qty, price, fee, day, arrival in (
            ("b1", Side.BUY, "10", "100", "1", 0.5, "99.8"),
            ("s1", Side.SELL, "4", "108", "0.5", 3.5, "108.1"),
        ):
            store_filled_order(
                store,
                cid,
                "XYZ/USD",
                side,
                qty,
                price,
                fee,
                int(T0 + day * DAY),
                arrival=arrival,
                strategy="swing" if cid == "b1" else "",
            )
    return str(db)


def test_since_starts_from_the_close_before_it(
    capsys: pytest.CaptureFixture[str], stored: str
) -> None:
    rc, out, err = run_cli(capsys, "--db", stored, "pnl", "--attribution", "--json")
    assert rc == 0, err
    data = json.loads(out)
    # swing: 10 @ 100 at 112: unrealised 120, fee 1, slippage 2; manual: -4 @ 108: -16
    assert data["by_strategy"]["swing"]["unrealised"] == "120"
    assert data["by_strategy"]["manual"]["unrealised"] == "-16"
    assert data["total"]["net"] == "102.5" and data["total"]["slippage"] == "2.4"
    rc, out, err = run_cli(capsys, "--db", stored, "pnl", "--attribution", "--since", "2024-01-03")
    assert rc == 0, err
    # swing enters at day 1's close (104, the last before Jan 3): 10 * (112 - 104) = 80;
    # manual sold on Jan 4: 4 * (108 - 112) - 0.5 = -16.5
    assert figures(out, "swing")[1:] == ["0.00", "80.00", "0.00", "0.00", "80.00"]
    assert figures(out, "manual")[1:] == ["0.00", "-16.00", "0.50", "0.40", "-16.50"]
    assert figures(out, "total")[1:] == ["0.00", "64.00", "0.50", "0.40", "63.50"]
    assert "since 2024-01-03 (1 fills)" in out
    rc, out, _ = run_cli(capsys, "--db", stored, "pnl", "--attribution", "--since", "2023-12-30")
    assert rc == 0 and figures(out, "total")[-1] == "102.50"  # nothing held then: all counts
    rc, out, _ = run_cli(capsys, "--db", stored, "pnl", "--attribution", "--since", "2024-02-01")
    assert rc == 0 and figures(out, "total")[-1] == "12.00"  # 10 and -4 held: 110 -> 112


def test_since_without_a_close_then_names_the_symbol(
    capsys: pytest.CaptureFixture[str], stored: str
) -> None:
    with Store(Path(stored)) as store:
        store.fills.add(
            Fill("b0", "XYZ/USD", Side.BUY, D(1), D(90), D(0), T0 - 5 * DAY, "b0", "USD"),
            "paper",
        )
    rc, _, err = run_cli(capsys, "--db", stored, "pnl", "--attribution", "--since", "2024-01-01")
    assert rc == 2
    assert "--since 2024-01-01: no stored close of XYZ/USD on or before 2024-01-01" in err


def test_backtest_attribution_adds_up_to_its_final_pnl(capsys: pytest.CaptureFixture[str]) -> None:
    csv = str(DATA / "wti_daily.csv")
    args = ["backtest", "--csv", csv, "--strategy", "sma_cross", "--param", "fast=10"]
    args += ["--param", "slow=40", "--commission", "0.001", "--slippage", "0.02"]
    rc, out, err = run_cli(capsys, *args, "--attribution", "--json")
    assert rc == 0, err
    report = json.loads(out)
    att = report["attribution"]
    final = report["stats"]["equity_final"] - report["config"]["cash"]
    assert float(att["final_pnl"]) == pytest.approx(final)
    net = D(att["total"]["net"])
    assert round(net, 2) == round(D(att["final_pnl"]), 2)
    assert float(att["total"]["slippage"]) == pytest.approx(0.02 * sum(
        abs(t["size"]) for t in report["trades"]) * 2 + 0.02 * sum(
        abs(t["size"]) for t in report["open_trades"]))  # fmt: skip
    assert set(att["by_side"]) == {"long", "short"} and att["beta"] == "1.0"
    rc, text, _ = run_cli(capsys, *args, "--attribution")
    assert f"final equity - cash = {D(att['final_pnl']):,.2f}" in text
    assert figures(text, "total")[-1] == f"{round(net, 2):,.2f}"
    rc, _, err = run_cli(capsys, *args, "--attribution", "--walk-forward", "2000:500")
    assert rc == 2 and "not --walk-forward" in err


def test_backtest_attribution_to_a_benchmark_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv = write_csv(tmp_path / "a.csv", 800, seed=4)
    bench = write_csv(tmp_path / "b.csv", 800, seed=5)
    args = ["backtest", "--csv", str(csv), "--strategy", "sma_cross", "--attribution"]
    rc, out, err = run_cli(capsys, *args, "--benchmark", str(bench), "--json")
    assert rc == 0, err
    att = json.loads(out)["attribution"]
    assert att["benchmark"] == str(bench) and att["beta"] is not None
    assert abs(float(att["beta"])) < 1  # two unrelated series
    total = att["total"]
    assert D(total["net"]) == (
        D(total["market"]) + D(total["rest"]) - D(total["slippage"]) - D(total["fees"])
    )
    rc, _, err = run_cli(capsys, *args, "--benchmark", "NOPE")
    assert rc == 2 and "needs --timeframe" not in err and "NOPE" in err
