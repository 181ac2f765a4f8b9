"""Reading OHLCV files (CSV or Parquet) into the one bar layout, with errors a person can act on.

Columns are found case-insensitively: a time column named ``date``, ``datetime``,
``timestamp``, ``time``, ``ts`` or ``open time`` (or an unnamed first column, as pandas writes
its index), and ``open high low close`` plus an optional ``volume``. Times may be ISO strings
(with or without an offset; naive times are taken as UTC) or epoch numbers in s, ms, us or ns
(told apart by magnitude).

Every problem is reported with the file, the line (the header is line 1) and the column:
missing columns, non-numbers, NaN/inf, non-positive prices, high below low, duplicate or
out-of-order timestamps. A file sorted newest-first as a whole is accepted and reversed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from engine.timeframes import OHLCV_SCHEMA

TIME_NAMES = ("date", "datetime", "timestamp", "time", "ts", "open time", "open_time")
INDEX_NAMES = ("", "unnamed: 0", "__index_level_0__", "index", "column_1")
PRICE_COLUMNS = ("open", "high", "low", "close")


class OhlcvFileError(ValueError):
    """A file that cannot become bars; the message names the file, line and column."""


@dataclass(slots=True)
class OhlcvFile:
    frame: pl.DataFrame
    notes: list[str] = field(default_factory=list)


def read_ohlcv(path: str | Path) -> OhlcvFile:
    path = Path(path)
    raw, line_offset, where = _read_raw(path)
    return _to_bars(raw, path, line_offset, where)


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
    missing = [n for n in ("ts", *PRICE_COLUMNS) if found[n] is None]
    if missing:
        label = [
            "a time column (Date, Datetime, Timestamp or Time)" if m == "ts" else m.title()
            for m in missing
        ]
        present = ", ".join(raw.columns) or "none"
        raise OhlcvFileError(f"{path}: missing column(s): {', '.join(label)}; found {present}")
    return found


def _bad_row(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def _parse_times(values: pl.Series) -> pl.Series:
    """UTC nanoseconds; nulls where a value cannot be read. Naive times are taken as UTC."""
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
    if numeric.null_count() == stripped.null_count() and stripped.len() > 0:
        mag = numeric.abs().max()
        scale = 1e9 if mag < 1e11 else 1e6 if mag < 1e14 else 1e3 if mag < 1e17 else 1.0  # type: ignore[operator]
        return (numeric * scale).round(0).cast(pl.Int64)
    import pandas as pd

    parsed = pd.to_datetime(stripped.to_pandas(), utc=True, errors="coerce", format="ISO8601")
    if parsed.isna().sum() > stripped.null_count():
        parsed = pd.to_datetime(stripped.to_pandas(), utc=True, errors="coerce", format="mixed")
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
        problem = "missing value" if not shown else f"{shown!r} is not a number"
        raise fail(bad, column.name, problem)
    arr = values.to_numpy()
    bad = _bad_row(~np.isfinite(arr))
    if bad is not None:
        raise fail(bad, column.name, f"{text[bad]!r} is not a finite number")
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
    ts = _parse_times(raw[time_col])
    bad = _bad_row(ts.is_null().to_numpy())
    if bad is not None:
        raise fail(bad, time_col, f"cannot read {raw[time_col][bad]!r} as a date/time")
    stamps = ts.to_numpy()
    back = _bad_row(np.diff(stamps) <= 0)
    if back is not None:
        raise fail(back + 1, time_col, "timestamps must increase; sort the file by time")
    return values, stamps


def _to_bars(raw: pl.DataFrame, path: Path, line_offset: int, where: str) -> OhlcvFile:
    cols = _find_columns(raw, path)
    notes: list[str] = []
    if raw.height == 0:
        raise OhlcvFileError(f"{path}: no data rows")

    fail = _failer(path, line_offset, where)
    ts_col = cols["ts"]
    assert ts_col is not None
    ts = _parse_times(raw[ts_col])
    bad = _bad_row(ts.is_null().to_numpy())
    if bad is not None:
        raise fail(bad, ts_col, f"cannot read {raw[ts_col][bad]!r} as a date/time")

    data: dict[str, np.ndarray] = {"ts": ts.to_numpy()}
    for name in (*PRICE_COLUMNS, "volume"):
        col = cols[name]
        if col is None:
            data[name] = np.zeros(raw.height)
            notes.append("no volume column: volume set to 0")
            continue
        data[name] = _numbers(raw[col], fail, allow_zero=name == "volume")
    bad = _bad_row(data["high"] < data["low"])
    if bad is not None:
        raise fail(bad, cols["high"], f"high {data['high'][bad]} is below low {data['low'][bad]}")

    stamps = data["ts"]
    if stamps.size > 1 and np.all(np.diff(stamps) < 0):
        data = {k: v[::-1].copy() for k, v in data.items()}
        stamps = data["ts"]
        notes.append("file is sorted newest first: reversed")
        line_of = lambda i: raw.height - 1 - i  # noqa: E731
    else:
        line_of = lambda i: i  # noqa: E731
    diffs = np.diff(stamps)
    dup = _bad_row(diffs == 0)
    if dup is not None:
        raise fail(
            line_of(dup + 1),
            ts_col,
            f"duplicate timestamp (same as {where} {line_of(dup) + line_offset})",
        )
    back = _bad_row(diffs < 0)
    if back is not None:
        raise fail(
            line_of(back + 1),
            ts_col,
            f"timestamp goes back in time (earlier than {where} {line_of(back) + line_offset});"
            " sort the file by time",
        )
    frame = pl.DataFrame(data, schema=OHLCV_SCHEMA)
    return OhlcvFile(frame, sorted(set(notes)))
