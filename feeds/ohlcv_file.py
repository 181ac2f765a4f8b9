"""Reading OHLCV files (CSV or Parquet) into the one bar layout, with errors a person can act on.

Columns are found case-insensitively: a time column named ``date``, ``datetime``,
``timestamp``, ``time``, ``ts`` or ``open time`` (or an unnamed first column, as pandas writes
its index), and ``open high low close`` plus an optional ``volume``; a file of closes alone
(``date,close``, as central banks and statistics offices publish daily prices) is read with
each bar's open, high and low at its close (``OhlcvFile.close_only``). Times may be ISO strings
(with or without an offset; naive times are taken as UTC) or epoch numbers in s, ms, us or ns
(told apart by magnitude).

Every problem is reported with the file, the line (the header is line 1) and the column:
missing columns, non-numbers, NaN/inf, non-positive prices, high below low, duplicate or
out-of-order timestamps. A file sorted newest-first as a whole is accepted and reversed.

:class:`OhlcvStream` reads a file a chunk of lines at a time and checks each chunk (and its
seam with the one before) before it reads the next, so a bad line fails as soon as it is
reached and memory stays at one chunk; :func:`read_ohlcv` collects the chunks into one frame.
The kind of time column (epoch numbers or date text) is decided by the first chunk's
majority, so one stray line is the line named.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import polars as pl

from engine.timeframes import OHLCV_SCHEMA

TIME_NAMES = ("date", "datetime", "timestamp", "time", "ts", "open time", "open_time")
INDEX_NAMES = ("", "unnamed: 0", "__index_level_0__", "index", "column_1")
PRICE_COLUMNS = ("open", "high", "low", "close")
CHUNK_ROWS = 100_000
SHOWN_CHARS = 40


class OhlcvFileError(ValueError):
    """A file that cannot become bars; the message names the file, line and column."""


@dataclass(slots=True)
class OhlcvFile:
    frame: pl.DataFrame
    notes: list[str] = field(default_factory=list)
    close_only: bool = False
    """The file had closes only: every bar's open, high and low are its close, so a bar's
    range is zero and any range measured over bars (ATR, high-low bands) is close to close."""


def read_ohlcv(path: str | Path, chunk_rows: int = CHUNK_ROWS) -> OhlcvFile:
    stream = OhlcvStream(path, chunk_rows)
    frames = list(stream)
    frame = pl.concat(frames) if frames else pl.DataFrame(schema=OHLCV_SCHEMA)
    if stream.newest_first:
        frame = frame.reverse()
    return OhlcvFile(frame, stream.notes, stream.close_only)


def _shown(value: object) -> str:
    """A cell as quoted in a message, cut short."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 4] + "...'"


def _read_raw(path: Path) -> tuple[pl.DataFrame, int, str]:
    """The file as read (CSV cells as text), the line of its first row, and "line" or "row"."""
    if not path.exists():
        raise OhlcvFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            raw = pl.read_parquet(path)
            line_offset = 1  # parquet has no lines: report 1-based row numbers as "row"
            where = "row"
        elif suffix in (".csv", ".txt", ".tsv"):
            sep = "\t" if suffix == ".tsv" else ","
            raw = pl.read_csv(path, infer_schema=False, separator=sep, truncate_ragged_lines=False)
            line_offset = 2
            where = "line"
        else:
            raise OhlcvFileError(f"{path}: unsupported file type {suffix!r} (use .csv or .parquet)")
    except OhlcvFileError:
        raise
    except Exception as exc:
        raise OhlcvFileError(f"{path}: cannot be read as {suffix[1:]}: {exc}") from exc
    return raw, line_offset, where


def _find_columns(raw: pl.DataFrame, path: Path) -> dict[str, str | None]:
    by_name = {c.strip().lower(): c for c in raw.columns}
    found: dict[str, str | None] = {}
    time_col = next((by_name[n] for n in TIME_NAMES if n in by_name), None)
    if time_col is None and raw.columns and raw.columns[0].strip().lower() in INDEX_NAMES:
        time_col = raw.columns[0]
    found["ts"] = time_col
    for name in (*PRICE_COLUMNS, "volume"):
        found[name] = by_name.get(name) or by_name.get(name[0] if name != "volume" else "vol")
    needed = ("ts", "close") if _close_only(found) else ("ts", *PRICE_COLUMNS)
    missing = [n for n in needed if found[n] is None]
    if missing:
        label = [
            "a time column (Date, Datetime, Timestamp or Time)" if m == "ts" else m.title()
            for m in missing
        ]
        present = ", ".join(raw.columns) or "none"
        raise OhlcvFileError(f"{path}: missing column(s): {', '.join(label)}; found {present}")
    return found


def _close_only(found: dict[str, str | None]) -> bool:
    """A file with a close and none of open, high, low: a series of closes (a central bank's
    or a statistics office's daily price)."""
    return found["close"] is not None and all(found[n] is None for n in ("open", "high", "low"))


def _bad_row(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


class _TimeReader:
    """Time cells to UTC nanoseconds (nulls where a cell cannot be read; naive times are UTC).
    The first cells it sees fix the kind for the rest of the file: epoch numbers (and their
    unit, by magnitude) when most are numbers, date/time text otherwise."""

    def __init__(self) -> None:
        self.scale: float | None = None  # set: epoch numbers; None: text (or not yet known)
        self.decided = False

    def parse(self, values: pl.Series) -> pl.Series:
        if values.dtype == pl.Date:
            values = values.cast(pl.Datetime("ns"))
        if isinstance(values.dtype, pl.Datetime):
            if values.dtype.time_zone is not None:
                values = values.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            return values.dt.epoch("ns")
        if values.dtype != pl.String:
            values = values.cast(pl.String)
        stripped = values.str.strip_chars()
        numeric = stripped.cast(pl.Float64, strict=False)
        if not self.decided:
            self.decided = True
            present = stripped.len() - stripped.null_count()
            numbers = numeric.len() - numeric.null_count()
            if present and numbers * 2 > present:
                mag = float(numeric.abs().max())  # type: ignore[arg-type]
                self.scale = (
                    1e9 if mag < 1e11 else 1e6 if mag < 1e14 else 1e3 if mag < 1e17 else 1.0
                )
        if self.scale is not None:
            return (numeric * self.scale).round(0).cast(pl.Int64)
        return _parse_text_times(stripped)


# The spellings of naive ISO times files mostly use: read by polars when every cell of a chunk
# has one of them (pandas, and its import, only for the rest).
_FAST_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")


def _parse_text_times(stripped: pl.Series) -> pl.Series:
    present = stripped.len() - stripped.null_count()
    for fmt in _FAST_FORMATS:
        parsed = stripped.str.to_datetime(fmt, strict=False, exact=True, time_unit="ns")
        if parsed.len() - parsed.null_count() == present:
            return parsed.dt.epoch("ns").alias("ts")
    return _parse_text_times_pandas(stripped)


def _parse_text_times_pandas(stripped: pl.Series) -> pl.Series:
    import pandas as pd

    text = stripped.to_pandas()
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    missed = parsed.isna() & text.notna()
    if missed.any():  # other spellings, cell by cell (slow, so only for the cells ISO missed)
        parsed[missed] = pd.to_datetime(text[missed], utc=True, errors="coerce", format="mixed")
    ns = parsed.dt.as_unit("ns").astype("int64").to_numpy()
    return pl.Series("ts", ns, dtype=pl.Int64).scatter(np.flatnonzero(parsed.isna()), None)


Fail = Callable[[int, str | None, str], OhlcvFileError]


def _numbers(column: pl.Series, fail: Fail, allow_zero: bool = False) -> np.ndarray:
    """A column as finite positive floats (>= 0 with ``allow_zero``), or the first bad cell."""
    text = column.str.strip_chars() if column.dtype == pl.String else column.cast(pl.String)
    values = text.cast(pl.Float64, strict=False)
    bad = _bad_row(values.is_null().to_numpy())
    if bad is not None:
        shown = text[bad]
        problem = "missing value" if not shown else f"{_shown(shown)} is not a number"
        raise fail(bad, column.name, problem)
    arr = values.to_numpy()
    bad = _bad_row(~np.isfinite(arr))
    if bad is not None:
        raise fail(bad, column.name, f"{_shown(text[bad])} is not a finite number")
    bad = _bad_row(arr < 0 if allow_zero else arr <= 0)
    if bad is not None:
        raise fail(bad, column.name, f"{arr[bad]} is not {'>= 0' if allow_zero else 'positive'}")
    return arr


def _failer(path: Path, line_offset: int, where: str) -> Fail:
    def fail(row: int, column: str | None, problem: str) -> OhlcvFileError:
        col = f", column {column!r}" if column else ""
        return OhlcvFileError(f"{path}: {where} {row + line_offset}{col}: {problem}")

    return fail


def read_series(path: str | Path, column: str) -> tuple[np.ndarray, np.ndarray | None]:
    """One price column of any CSV/Parquet file (found case-insensitively), with its
    timestamps when the file has a time column. For tools that need a series, not bars."""
    path = Path(path)
    raw, line_offset, where = _read_raw(path)
    by_name = {c.strip().lower(): c for c in raw.columns}
    name = by_name.get(column.strip().lower())
    if name is None:
        present = ", ".join(raw.columns) or "none"
        raise OhlcvFileError(f"{path}: no column {column!r}; found {present}")
    if raw.height == 0:
        raise OhlcvFileError(f"{path}: no data rows")
    fail = _failer(path, line_offset, where)
    values = _numbers(raw[name], fail)
    time_col = next((by_name[n] for n in TIME_NAMES if n in by_name), None)
    if time_col is None:
        return values, None
    ts = _TimeReader().parse(raw[time_col])
    bad = _bad_row(ts.is_null().to_numpy())
    if bad is not None:
        raise fail(bad, time_col, f"cannot read {_shown(raw[time_col][bad])} as a date/time")
    stamps = ts.to_numpy()
    back = _bad_row(np.diff(stamps) <= 0)
    if back is not None:
        raise fail(back + 1, time_col, "timestamps must increase; sort the file by time")
    return values, stamps


class OhlcvStream:
    """The checked bars of a CSV or Parquet file, ``chunk_rows`` at a time, in file order.

    The header (columns) is checked on construction; each chunk when it is reached, before
    the next is read. ``newest_first`` tells a file sorted newest-first (its chunks come
    newest first too); ``close_only`` a file of closes alone (known from the header);
    ``notes``, ``rows``, ``first_ts`` and ``last_ts`` describe what has been read so far.
    """

    def __init__(self, path: str | Path, chunk_rows: int = CHUNK_ROWS) -> None:
        self.path = Path(path)
        self.chunk_rows = chunk_rows
        self.notes: list[str] = []
        self.rows = 0
        self.newest_first = False
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        if not self.path.exists():
            raise OhlcvFileError(f"{self.path}: no such file")
        suffix = self.path.suffix.lower()
        if suffix in (".parquet", ".pq"):
            self._where, self._first_line = "row", 1
            try:
                import pyarrow.parquet as pq

                self._parquet = pq.ParquetFile(self.path)
                columns = list(self._parquet.schema_arrow.names)
            except Exception as exc:
                raise OhlcvFileError(f"{self.path}: cannot be read as parquet: {exc}") from exc
        elif suffix in (".csv", ".txt", ".tsv"):
            self._where, self._first_line = "line", 2
            self._sep = "\t" if suffix == ".tsv" else ","
            with self.path.open("rb") as f:
                self._header = f.readline()
            columns = self._read_csv_block(self._header, 1).columns
        else:
            raise OhlcvFileError(
                f"{self.path}: unsupported file type {suffix!r} (use .csv or .parquet)"
            )
        self._cols = _find_columns(
            pl.DataFrame(schema=dict.fromkeys(columns, pl.String)), self.path
        )
        self.close_only = _close_only(self._cols)
        if self.close_only:
            self.notes.append(
                "close-only file: open, high and low set to the close (ranges are close to close)"
            )
        if self._cols["volume"] is None:
            self.notes.append("no volume column: volume set to 0")
        self._times = _TimeReader()
        self._direction = 0  # +1 oldest first, -1 newest first, 0 not known yet

    def _read_csv_block(self, data: bytes, line: int) -> pl.DataFrame:
        try:
            return pl.read_csv(
                io.BytesIO(data),
                infer_schema=False,
                separator=self._sep,
                truncate_ragged_lines=False,
            )
        except Exception as exc:
            raise OhlcvFileError(
                f"{self.path}: cannot be read as csv (from line {line}): {exc}"
            ) from exc

    def _raw_chunks(self) -> Iterator[tuple[pl.DataFrame, int]]:
        """Raw chunks (cells as read) and the line (or row) number of their first row."""
        first = self._first_line
        if self._where == "row":
            for batch in self._parquet.iter_batches(batch_size=self.chunk_rows):
                raw = pl.from_arrow(batch)
                assert isinstance(raw, pl.DataFrame)
                yield raw, first
                first += raw.height
            return
        with self.path.open("rb") as f:
            f.readline()
            while lines := list(islice(f, self.chunk_rows)):
                if not lines[-1].endswith(b"\n"):
                    lines[-1] += b"\n"
                yield self._read_csv_block(self._header + b"".join(lines), first), first
                first += len(lines)

    def __iter__(self) -> Iterator[pl.DataFrame]:
        prev_ts: int | None = None
        for raw, first in self._raw_chunks():
            if raw.height == 0:
                continue
            frame = self._check(raw, first, prev_ts)
            stamps = frame["ts"]
            self.first_ts = self.first_ts if self.first_ts is not None else int(stamps[0])
            prev_ts = self.last_ts = int(stamps[-1])
            self.rows += frame.height
            yield frame
        if self.rows == 0:
            raise OhlcvFileError(f"{self.path}: no data rows")
        if self.newest_first:
            self.notes.append("file is sorted newest first: reversed")

    def _check(self, raw: pl.DataFrame, first: int, prev_ts: int | None) -> pl.DataFrame:
        cols, where = self._cols, self._where
        fail = _failer(self.path, first, where)
        ts_col = cols["ts"]
        assert ts_col is not None
        ts = self._times.parse(raw[ts_col])
        bad = _bad_row(ts.is_null().to_numpy())
        if bad is not None:
            cell = raw[ts_col][bad]
            problem = "missing time" if not cell else f"cannot read {_shown(cell)} as a date/time"
            raise fail(bad, ts_col, problem)
        data: dict[str, np.ndarray] = {"ts": ts.to_numpy()}
        for name in (*PRICE_COLUMNS, "volume"):
            col = cols[name]
            if col is None:
                data[name] = np.zeros(raw.height)
                continue
            data[name] = _numbers(raw[col], fail, allow_zero=name == "volume")
        if self.close_only:
            for name in ("open", "high", "low"):
                data[name] = data["close"]
        bad = _bad_row(data["high"] < data["low"])
        if bad is not None:
            raise fail(
                bad, cols["high"], f"high {data['high'][bad]} is below low {data['low'][bad]}"
            )
        stamps = data["ts"]
        joined = stamps if prev_ts is None else np.concatenate(([prev_ts], stamps))
        diffs = np.diff(joined)
        shift = 0 if prev_ts is None else 1  # diffs[i] leads to row i + 1 - shift
        if self._direction == 0 and diffs.size:
            self._direction = -1 if diffs[0] < 0 else 1
            self.newest_first = self._direction < 0
        dup = _bad_row(diffs == 0)
        wrong = _bad_row(diffs * self._direction < 0)
        if dup is not None and (wrong is None or dup < wrong):
            row = dup + 1 - shift
            raise fail(row, ts_col, f"duplicate timestamp (same as {where} {first + row - 1})")
        if wrong is not None:
            row = wrong + 1 - shift
            if self.newest_first:
                problem = (
                    f"timestamp goes forward in time (later than {where} {first + row - 1}) in"
                    " a file sorted newest first; sort the file by time"
                )
            else:
                problem = (
                    f"timestamp goes back in time (earlier than {where} {first + row - 1});"
                    " sort the file by time"
                )
            raise fail(row, ts_col, problem)
        return pl.DataFrame(data, schema=OHLCV_SCHEMA)
