"""The ``signal_models`` table: the learnt models behind signal confidences, one numbered version
per fit of an instrument's model for one horizon, with the report it was judged by.

A model and its report are JSON objects, written strictly (no NaN or infinity: they are not
JSON, and a report that holds one was computed wrongly) and read back strictly (a row that
does not parse is an error, never a model).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from workstation.store.errors import StoreError
from workstation.store.repository import Repository, now_ns

KEEP = 20
"""Versions kept per (venue, symbol, timeframe, horizon): enough history to compare a new fit
with the ones before it, without a table that grows by one row per refit for ever."""

_COLUMNS = (
    "venue, symbol, timeframe, horizon, version, spec, fitted_ns, through_ts_ns, bars, model,"
    " report"
)
_KEY = "venue = ? AND symbol = ? AND timeframe = ? AND horizon = ?"


@dataclass(frozen=True, slots=True)
class StoredModel:
    """One fit: ``spec`` names the kind of model and its settings, ``through_ts_ns`` the last
    bar it learnt from, ``bars`` how many it learnt from."""

    venue: str
    symbol: str
    timeframe: str
    horizon: int
    version: int
    spec: str
    fitted_ns: int
    through_ts_ns: int
    bars: int
    model: dict[str, Any]
    report: dict[str, Any]


def _dumps(value: dict[str, Any], what: str, symbol: str, timeframe: str, horizon: int) -> str:
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError as exc:
        raise ValueError(
            f"the {what} of the {symbol} {timeframe} model (horizon {horizon}) holds NaN or"
            f" infinity, which cannot be stored: {exc}"
        ) from exc


class ModelRepository(Repository):
    def save(
        self,
        venue: str,
        symbol: str,
        timeframe: str,
        horizon: int,
        *,
        spec: str,
        through_ts_ns: int,
        bars: int,
        model: dict[str, Any],
        report: dict[str, Any],
        fitted_ns: int | None = None,
    ) -> StoredModel:
        """Store a new version (one above the newest of this key, 1 for the first) and drop
        all but the newest :data:`KEEP` versions of the key. Raises ValueError, storing
        nothing, when ``model`` or ``report`` holds NaN or infinity."""
        model_json = _dumps(model, "model", symbol, timeframe, horizon)
        report_json = _dumps(report, "report", symbol, timeframe, horizon)
        fitted = now_ns() if fitted_ns is None else fitted_ns
        key = (venue, symbol, timeframe, horizon)
        with self._store.transaction() as conn:
            newest = conn.execute(
                f"SELECT max(version) FROM signal_models WHERE {_KEY}", key
            ).fetchone()[0]
            version = 1 if newest is None else int(newest) + 1
            conn.execute(
                f"INSERT INTO signal_models ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*key, version, spec, fitted, through_ts_ns, bars, model_json, report_json),
            )
            conn.execute(
                f"DELETE FROM signal_models WHERE {_KEY} AND version NOT IN"
                f" (SELECT version FROM signal_models WHERE {_KEY} ORDER BY version DESC LIMIT ?)",
                (*key, *key, KEEP),
            )
        return StoredModel(
            venue,
            symbol,
            timeframe,
            horizon,
            version,
            spec,
            fitted,
            through_ts_ns,
            bars,
            json.loads(model_json),
            json.loads(report_json),
        )

    def latest(
        self, venue: str, symbol: str, timeframe: str, horizon: int, spec: str | None = None
    ) -> StoredModel | None:
        """The newest version of the key (the newest of ``spec``, if given), or None."""
        where, args = (" AND spec = ?", [spec]) if spec is not None else ("", [])
        with self._store.reading() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM signal_models WHERE {_KEY}{where}"
                " ORDER BY version DESC LIMIT 1",
                (venue, symbol, timeframe, horizon, *args),
            ).fetchone()
        return None if row is None else _model(row)

    def versions(self, venue: str, symbol: str, timeframe: str, horizon: int) -> list[StoredModel]:
        """Every kept version of the key, newest first."""
        with self._store.reading() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM signal_models WHERE {_KEY} ORDER BY version DESC",
                (venue, symbol, timeframe, horizon),
            ).fetchall()
        return [_model(row) for row in rows]

    def get(
        self, venue: str, symbol: str, timeframe: str, horizon: int, version: int
    ) -> StoredModel | None:
        with self._store.reading() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM signal_models WHERE {_KEY} AND version = ?",
                (venue, symbol, timeframe, horizon, version),
            ).fetchone()
        return None if row is None else _model(row)


def _model(row: tuple[Any, ...]) -> StoredModel:
    venue, symbol, timeframe, horizon, version, spec, fitted, through, bars, model, report = row
    name = f"{venue} {symbol} {timeframe} horizon {horizon} version {version}"
    return StoredModel(
        venue,
        symbol,
        timeframe,
        int(horizon),
        int(version),
        spec,
        int(fitted),
        int(through),
        int(bars),
        _loads(model, "model", name),
        _loads(report, "report", name),
    )


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _loads(text: str, what: str, name: str) -> dict[str, Any]:
    try:
        value = json.loads(text, parse_constant=_refuse)
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"the stored signal model {name} is damaged: its {what} is not JSON"
        ) from exc
    if not isinstance(value, dict):
        raise StoreError(
            f"the stored signal model {name} is damaged: its {what} is not a JSON object"
        )
    return value
