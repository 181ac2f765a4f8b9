"""``qws risk --stress / --shock / --propagate`` on the paper broker and the demo feed's marks
(BTC/USDT's mid is 64,000, EURUSD's 1.085), with a real database file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.timeframes import OHLCV_SCHEMA
from engine.trading.stress import DAY_NS, day_ns
from workstation.cli import main
from workstation.store import Store


def run(capsys: pytest.CaptureFixture[str], db: Path, *args: str) -> tuple[int, str, str]:
    rc = main(["--db", str(db), *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def rows(out: str, title: str) -> dict[str, list[str]]:
    """The table printed under the line ``title``: first cell -> the row's cells."""
    lines = out.splitlines()
    at = lines.index(title)
    found = {}
    for line in lines[at + 2 :]:
        if not line.strip():
            break
        cells = line.split()
        found[cells[0]] = cells
    return found


@pytest.fixture
def db(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    path = tmp_path / "q.db"
    assert run(capsys, path, "order", "buy", "0.1", "BTC/USDT", "--yes")[0] == 0
    assert run(capsys, path, "order", "sell", "1000", "EURUSD", "--yes")[0] == 0
    return path


def test_a_shock_gives_the_hand_computed_pnl_to_the_cent(
    capsys: pytest.CaptureFixture[str], db: Path
) -> None:
    rc, out, _ = run(capsys, db, "risk", "--shock", "BTC/USDT=-30%,fx=+2%", "--shock", "XAU=-5%")
    assert rc == 0
    assert [line.split()[0] for line in out.splitlines() if "VaR" in line] == ["95%", "99%"]
    table = rows(out, "shock BTC/USDT=-30%,fx=+2%,XAU=-5%")
    # 0.1 x 64,000 x -30 % and -1,000 x 1.085 x +2 %
    assert table["BTC/USDT"][1:6] == ["0.1", "64,000", "-30.00%", "-1,920.00", "BTC/USDT=-30%"]
    assert table["EURUSD"][1:6] == ["-1000", "1.085", "+2.00%", "-21.70", "fx=+2%"]
    assert table["total"][:2] == ["total", "-1,941.70"]
    assert "shock XAU=-5% moves no position: it names no open position" in out
    assert "worst 1-day move" not in out  # the historical scenarios only with --stress


def test_stress_reads_the_stored_daily_history(
    capsys: pytest.CaptureFixture[str], db: Path
) -> None:
    start = day_ns(date(2022, 4, 20))
    closes = np.array([40_000.0] * 19 + [30_000.0] * 41)  # a 25 % fall on 2022-05-09
    with Store(db) as store:
        store.candles.upsert(
            pl.DataFrame(
                {
                    "ts": start + DAY_NS * np.arange(60, dtype=np.int64),
                    "open": closes,
                    "high": closes,
                    "low": closes,
                    "close": closes,
                    "volume": np.ones(60),
                },
                schema=OHLCV_SCHEMA,
            ),
            "BTC/USDT",
            "1d",
            "demo",
        )
    rc, out, _ = run(capsys, db, "risk", "--days", "1,5", "--shock", "BTC=-50%")
    assert rc == 0
    assert "daily closes: BTC/USDT 60 (2022-04-20 → 2022-06-18), EURUSD" in out
    title = (
        "worst 1-day move (each position under the worst move in its own history: a long's"
        " fall, a short's rise, not at the same time)"
    )
    worst = rows(out, title)
    assert worst["BTC/USDT"][3:5] == ["-25.00%", "-1,600.00"]  # 0.1 x 64,000 x -25 %
    assert worst["BTC/USDT"][5:] == ["worst", "fall", "2022-05-08", "→", "2022-05-09"]
    assert worst["EURUSD"][5:7] == ["worst", "rise"]  # a short, from the demo feed's history
    luna = rows(out, "2022-05 Terra/LUNA collapse (2022-05-07 → 2022-05-12)")
    assert luna["BTC/USDT"][3:] == ["-25.00%", "-1,600.00", "2022-05-06", "→", "2022-05-12"]
    assert "not covered (history 2022-04-20 → 2022-06-18)" in out.split("2022-11 FTX")[1]
    assert rows(out, "shock BTC=-50%")["BTC/USDT"][3:5] == ["-50.00%", "-3,200.00"]


def test_propagation_moves_the_unshocked_position_by_correlation(
    capsys: pytest.CaptureFixture[str], db: Path
) -> None:
    rc, out, _ = run(capsys, db, "risk", "--shock", "BTC/USDT=-30%", "--propagate")
    assert rc == 0
    table = rows(out, "shock BTC/USDT=-30% (the unshocked positions moved by their correlation)")
    assert table["BTC/USDT"][4] == "-1,920.00"
    assert table["EURUSD"][5:8] == ["propagated:", "β", table["EURUSD"][7]]
    assert " ".join(table["EURUSD"][8:]).startswith("to BTC/USDT (")
    pnl = [float(table[s][4].replace(",", "")) for s in ("BTC/USDT", "EURUSD")]
    assert float(table["total"][1].replace(",", "")) == pytest.approx(sum(pnl), abs=0.011)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shock", "BTC=-0.3"], "--shock: shock 'BTC=-0.3': write the move as a percentage"),
        (["--shock", "BTC=-30%,btc=-1%"], "btc is already shocked (BTC=-30%)"),
        (["--propagate"], "--propagate moves the unshocked positions by a shock: add --shock"),
        (["--days", "0"], "--days wants positive whole numbers of days, e.g. 1,5,20; got '0'"),
        (["--days", "five"], "--days wants positive whole numbers of days"),
    ],
)
def test_bad_stress_options_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    rc, out, err = run(capsys, tmp_path / "q.db", "risk", *args)
    assert rc == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1
