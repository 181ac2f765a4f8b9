from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from feeds.ohlcv_file import (
    OhlcvFileError,
    OhlcvStream,
    _parse_text_times,
    _parse_text_times_pandas,
    read_ohlcv,
    read_series,
)
from tests.helpers import T0, random_bars, write_csv


def _edit_line(path: Path, line: int, column: int, value: str) -> None:
    lines = path.read_text().splitlines()
    cells = lines[line - 1].split(",")
    cells[column] = value
    lines[line - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


def test_reads_a_pandas_style_csv(tmp_path: Path) -> None:
    result = read_ohlcv(write_csv(tmp_path / "a.csv", 50))
    expected = random_bars(50)
    assert result.frame["ts"].to_list() == expected["ts"].to_list()
    assert result.frame["close"].to_list() == pytest.approx(expected["close"].to_list())


def test_unnamed_index_epoch_ms_and_lowercase_columns(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text(
        f",open,high,low,close\n{T0 // 10**6},1,2,0.5,1.5\n{T0 // 10**6 + 60_000},1.5,2,1,1.8\n"
    )
    result = read_ohlcv(path)
    assert result.frame["ts"].to_list() == [T0, T0 + 60 * 10**9]
    assert result.frame["volume"].to_list() == [0.0, 0.0]
    assert any("volume" in n for n in result.notes)


def test_parquet_with_offsets_in_the_time_column(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    pl.DataFrame(
        {
            "Datetime": ["2024-01-01T01:00:00+01:00", "2024-01-01T01:00:00+00:00"],
            "Open": [1.0, 2.0],
            "High": [2.0, 3.0],
            "Low": [0.5, 1.5],
            "Close": [1.5, 2.5],
            "Volume": [1.0, 2.0],
        }
    ).write_parquet(path)
    assert read_ohlcv(path).frame["ts"].to_list() == [T0, T0 + 3_600 * 10**9]


def test_newest_first_file_is_reversed(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", 20)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    result = read_ohlcv(path)
    assert result.frame["ts"].is_sorted()
    assert "newest first" in " ".join(result.notes)


@pytest.mark.parametrize(
    "line,column,value,message",
    [
        (1234, 4, "abc", r"line 1234, column 'Close': 'abc' is not a number"),
        (77, 2, "nan", r"line 77, column 'High': 'nan' is not a finite number"),
        (78, 1, "", r"line 78, column 'Open': missing value"),
        (90, 3, "-1", r"line 90, column 'Low': -1.0 is not positive"),
        (500, 0, "2024-01-01 00:00:00", r"line 500, column 'Date': timestamp goes back in time"),
        (3, 0, "not a date", r"line 3, column 'Date': cannot read 'not a date'"),
    ],
)
def test_bad_cells_name_file_line_and_column(
    tmp_path: Path, line: int, column: int, value: str, message: str
) -> None:
    path = write_csv(tmp_path / "bad.csv", 2000)
    _edit_line(path, line, column, value)
    with pytest.raises(OhlcvFileError, match=message) as info:
        read_ohlcv(path)
    assert str(path) in str(info.value)


def test_duplicate_timestamp(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dup.csv", 100)
    lines = path.read_text().splitlines()
    lines[50] = lines[49]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        OhlcvFileError, match=r"line 51, column 'Date': duplicate timestamp .*line 50"
    ):
        read_ohlcv(path)


def test_missing_column_and_unsupported_type(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("Date,Open,High,Low\n2024-01-01,1,2,0.5\n")
    with pytest.raises(OhlcvFileError, match=r"missing column.*Close"):
        read_ohlcv(path)
    other = tmp_path / "x.xlsx"
    other.write_text("nope")
    with pytest.raises(OhlcvFileError, match="unsupported file type"):
        read_ohlcv(other)
    with pytest.raises(OhlcvFileError, match="no such file"):
        read_ohlcv(tmp_path / "absent.csv")


def test_read_series_takes_any_column_and_checks_it(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("time,Adj Close\n2024-01-01,10\n2024-01-02,11\n2024-01-03,12.5\n")
    values, stamps = read_series(path, "adj close")
    assert values.tolist() == [10.0, 11.0, 12.5]
    assert stamps is not None and stamps[0] == T0
    path.write_text("time,Adj Close\n2024-01-01,10\n2024-01-01,11\n")
    with pytest.raises(OhlcvFileError, match=r"line 3, column 'time': timestamps must increase"):
        read_series(path, "Adj Close")
    path.write_text("price\n1\n-2\n")
    with pytest.raises(OhlcvFileError, match=r"line 3, column 'price': -2.0 is not positive"):
        read_series(path, "price")


def _epoch_csv(path: Path, n: int) -> list[str]:
    lines = ["ts,open,high,low,close,volume"] + [
        f"{T0 // 10**6 + i * 60_000},1,2,0.5,1.5,3" for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n")
    return lines


def test_a_text_line_among_epoch_timestamps_is_named(tmp_path: Path) -> None:
    path = tmp_path / "epoch.csv"
    lines = _epoch_csv(path, 2000)
    lines[1499] = "closed for holiday" + "!" * 200 + ",1,2,0.5,1.5,3"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(OhlcvFileError) as info:
        read_ohlcv(path)
    message = str(info.value)
    assert "line 1500, column 'ts': cannot read 'closed for holiday" in message
    assert len(message) < len(str(path)) + 150  # the line's text is cut short


def test_a_bad_line_early_fails_before_the_rest_of_the_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    lines = _epoch_csv(path, 150_000)
    lines[3] = lines[3].replace(",1.5,", ",oops,")
    # past the first chunk, bytes that are not text at all: reading them is another error
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe,\x00\x81\n" * 50_000)
    with pytest.raises(OhlcvFileError, match=r"line 4, column 'close': 'oops' is not a number"):
        read_ohlcv(path)


def test_the_stream_hands_out_bounded_checked_chunks_in_file_order(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", 2500)
    stream = OhlcvStream(path, chunk_rows=1000)
    chunks = list(stream)
    assert [c.height for c in chunks] == [1000, 1000, 500]
    assert pl.concat(chunks)["ts"].to_list() == random_bars(2500)["ts"].to_list()
    assert stream.rows == 2500


@pytest.mark.parametrize("line", [1000, 1001, 1002])
def test_order_is_checked_across_chunk_boundaries(tmp_path: Path, line: int) -> None:
    path = write_csv(tmp_path / "b.csv", 2500)
    lines = path.read_text().splitlines()
    lines[line - 1] = lines[line - 2]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(OhlcvFileError, match=rf"line {line}, column 'Date': duplicate timestamp"):
        list(OhlcvStream(path, chunk_rows=1000))


@pytest.mark.parametrize(
    "cells",
    [
        ["2004-08-19", "2004-08-20", None],
        ["2004-08-19 10:00:00", "2020-02-29 23:59:59"],
        ["2004-08-19T10:00:00", "2004-08-19T10:00:01"],
        ["2004-08-19 10:00", "1969-07-20 20:17"],
        ["2004-08-19", "2004-02-30"],  # no such day: null, both ways
        ["2004-08-19", "2004-08-19 10:00:00+02:00"],  # one offset: every cell by pandas
        ["2004-08-19 10:00:00.5"],
        ["1999-12-31", "19/08/2004"],
        ["2004-8-1"],
        ["2262-04-11", "1677-09-22"],
    ],
)
def test_times_read_by_polars_equal_pandas_iso_reading(cells: list[str | None]) -> None:
    text = pl.Series("time", cells, dtype=pl.String).str.strip_chars()
    assert _parse_text_times(text).to_list() == _parse_text_times_pandas(text).to_list()


DATA = Path(__file__).parents[1] / "data"


def _day_ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()) * 10**9


def test_a_real_close_only_file_reads_as_bars_at_their_close() -> None:
    """WTI crude, daily closes (EIA via FRED): open = high = low = close, and the reader says so."""
    path = DATA / "wti_daily.csv"
    lines = path.read_text().splitlines()
    first, last = lines[1].split(","), lines[-1].split(",")
    got = read_ohlcv(path)
    frame = got.frame
    assert got.close_only and any("close-only" in n for n in got.notes)
    assert frame.height == len(lines) - 1 == 4771
    assert frame["ts"][0] == _day_ns(first[0]) == _day_ns("2000-01-04")
    assert frame["ts"][-1] == _day_ns(last[0]) == _day_ns("2019-01-03")
    assert frame["close"][0] == float(first[1]) and frame["close"][-1] == float(last[1])
    for col in ("open", "high", "low"):
        assert frame[col].to_list() == frame["close"].to_list()
    assert (frame["volume"] == 0).all()


def test_a_close_only_stream_is_close_only_in_every_chunk(tmp_path: Path) -> None:
    path = DATA / "wti_daily.csv"
    stream = OhlcvStream(path, chunk_rows=1000)
    assert stream.close_only
    chunks = list(stream)
    assert [c.height for c in chunks] == [1000] * 4 + [771]
    assert all((c["open"] == c["close"]).all() and (c["low"] == c["high"]).all() for c in chunks)
    with_volume = tmp_path / "v.csv"
    with_volume.write_text("Date,Close,Volume\n2024-01-01,10,5\n2024-01-02,11,0\n")
    got = read_ohlcv(with_volume)
    assert got.close_only and got.frame["volume"].to_list() == [5.0, 0.0]
    assert not any("volume" in n for n in got.notes)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "date,close\n2024-01-01,10\n2024-01-02,11\n2024-01-03,NaN\n",
            r"line 4, column 'close': 'NaN' is not a finite number",
        ),
        (
            "date,close\n2024-01-01,10\n2024-01-02,0\n",
            r"line 3, column 'close': 0.0 is not positive",
        ),
        (
            "date,close\n2024-01-02,10\n2024-01-01,11\n2024-01-03,12\n",
            r"line 4, column 'date': timestamp goes forward",
        ),
        ("date,open,close\n2024-01-01,10,10\n", r"missing column\(s\): High, Low; found date"),
        ("date,high,low\n2024-01-01,10,10\n", r"missing column\(s\): Open, Close;"),
    ],
)
def test_a_close_only_file_is_checked_like_any_other(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "closes.csv"
    path.write_text(text)
    with pytest.raises(OhlcvFileError, match=message):
        read_ohlcv(path)
    assert not read_ohlcv(write_csv(tmp_path / "bars.csv", 5)).close_only
