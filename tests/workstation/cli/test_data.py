"""``qws import``: a file whose bars are further apart than ``--timeframe`` is caught."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from workstation.cli import main
from workstation.store import Store


def _write(path: Path, days: list[date]) -> Path:
    lines = ["Date,Open,High,Low,Close,Volume"]
    for i, day in enumerate(days):
        price = 100 + i
        lines.append(f"{day.isoformat()},{price},{price + 2},{price - 1},{price + 1},1000")
    path.write_text("\n".join(lines) + "\n")
    return path


def _monthly(path: Path, months: int = 48) -> Path:
    return _write(path, [date(2015 + i // 12, i % 12 + 1, 1) for i in range(months)])


def _stored(db: Path, symbol: str, timeframe: str) -> int:
    with Store(db) as store:
        return store.candles.last(symbol, timeframe, 10_000).height


@pytest.mark.parametrize("timeframe", ["1d", "1w"])
def test_a_monthly_file_is_refused_as_daily_or_weekly_and_nothing_is_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], timeframe: str
) -> None:
    csv, db = _monthly(tmp_path / "monthly.csv"), tmp_path / "q.db"
    rc = main(["--db", str(db), "import", str(csv), "--symbol", "X", "--timeframe", timeframe])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"{csv}: its bars are about 1 month apart (median gap), not {timeframe}" in err
    assert "there is no timeframe for that" in err and "--force" in err
    assert len(err.strip().splitlines()) == 1
    assert _stored(db, "X", timeframe) == 0


def test_force_stores_a_monthly_file_as_daily_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv, db = _monthly(tmp_path / "monthly.csv"), tmp_path / "q.db"
    argv = ["--db", str(db), "import", str(csv), "--symbol", "X", "--timeframe", "1d", "--force"]
    assert main(argv) == 0
    out = capsys.readouterr()
    assert "imported 48 1d bars of X" in out.out
    assert "warning:" in out.err and "about 1 month apart" in out.err
    assert "stored as 1d bars (--force)" in out.err
    assert _stored(db, "X", "1d") == 48


def test_a_weekly_file_as_daily_is_told_the_timeframe_it_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weeks = [date(2024, 1, 1) + timedelta(weeks=i) for i in range(30)]
    csv, db = _write(tmp_path / "weekly.csv", weeks), tmp_path / "q.db"
    argv = ["--db", str(db), "import", str(csv), "--symbol", "X", "--timeframe"]
    assert main([*argv, "1d"]) == 2
    assert "1w apart (median gap), not 1d: import it with --timeframe 1w" in capsys.readouterr().err
    assert main([*argv, "1w"]) == 0
    out = capsys.readouterr()
    assert "imported 30 1w bars" in out.out and "warning" not in out.err


def test_a_daily_file_with_weekends_and_holidays_is_daily(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(120)]
    trading = [d for d in days if d.weekday() < 5 and d.day != 15]
    csv, db = _write(tmp_path / "daily.csv", trading), tmp_path / "q.db"
    argv = ["--db", str(db), "import", str(csv), "--symbol", "X", "--timeframe", "1d"]
    assert main(argv) == 0
    out = capsys.readouterr()
    assert f"imported {len(trading)} 1d bars" in out.out and "warning" not in out.err
