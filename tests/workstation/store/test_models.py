from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from workstation.store import Store, StoreError
from workstation.store.models import KEEP, StoredModel

KEY = ("binance", "BTCUSDT", "1h", 4)


def _save(store: Store, key: tuple[str, str, str, int] = KEY, **kw: Any) -> StoredModel:
    args: dict[str, Any] = {
        "spec": "logit-v1",
        "through_ts_ns": 1_700_000_000_000_000_000,
        "bars": 5000,
        "model": {"weights": [0.25, -1.5], "bias": 0.1},
        "report": {"brier": 0.24, "cases": 412, "skill": None},
    }
    args.update(kw)
    return store.models.save(*key, **args)


def test_a_model_round_trips(store: Store) -> None:
    saved = _save(store, fitted_ns=123)
    assert saved == StoredModel(
        "binance",
        "BTCUSDT",
        "1h",
        4,
        1,
        "logit-v1",
        123,
        1_700_000_000_000_000_000,
        5000,
        {"weights": [0.25, -1.5], "bias": 0.1},
        {"brier": 0.24, "cases": 412, "skill": None},
    )
    assert store.models.get(*KEY, 1) == saved
    assert store.models.latest(*KEY) == saved
    assert store.models.get(*KEY, 2) is None


def test_fitted_time_defaults_to_now(store: Store) -> None:
    saved = _save(store)
    assert saved.fitted_ns > 1_700_000_000_000_000_000
    assert store.models.get(*KEY, 1) == saved


def test_versions_count_up_per_key(store: Store) -> None:
    assert [_save(store).version for _ in range(3)] == [1, 2, 3]
    assert _save(store, ("binance", "BTCUSDT", "1h", 8)).version == 1
    assert _save(store, ("binance", "ETHUSDT", "1h", 4)).version == 1
    assert _save(store, ("binance", "BTCUSDT", "4h", 4)).version == 1
    assert _save(store, ("demo", "BTCUSDT", "1h", 4)).version == 1
    assert _save(store).version == 4
    assert [m.version for m in store.models.versions(*KEY)] == [4, 3, 2, 1]
    assert [m.version for m in store.models.versions("binance", "BTCUSDT", "1h", 8)] == [1]
    assert store.models.versions("binance", "BTCUSDT", "1h", 2) == []
    assert store.models.latest("binance", "BTCUSDT", "1h", 2) is None


def test_latest_of_a_spec(store: Store) -> None:
    _save(store, spec="logit-v1", bars=1)
    _save(store, spec="logit-v1", bars=2)
    _save(store, spec="tree-v1", bars=3)
    newest = store.models.latest(*KEY)
    assert newest is not None and (newest.version, newest.spec) == (3, "tree-v1")
    logit = store.models.latest(*KEY, spec="logit-v1")
    assert logit is not None and (logit.version, logit.bars) == (2, 2)
    assert store.models.latest(*KEY, spec="other") is None


def test_keeps_only_the_newest_versions(store: Store) -> None:
    other = _save(store, ("binance", "ETHUSDT", "1h", 4))
    for _ in range(KEEP + 5):
        _save(store)
    assert KEEP == 20
    assert [m.version for m in store.models.versions(*KEY)] == list(range(KEEP + 5, 5, -1))
    assert store.models.get(*KEY, 5) is None
    assert store.models.get(*KEY, 6) is not None
    assert store.models.versions("binance", "ETHUSDT", "1h", 4) == [other]
    assert _save(store).version == KEEP + 6


def test_models_survive_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    with Store(path) as store:
        first = _save(store)
        second = _save(store, spec="tree-v1")
    with Store(path) as store:
        assert store.models.versions(*KEY) == [second, first]
        assert _save(store).version == 3


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_number_is_refused_and_nothing_stored(store: Store, bad: float) -> None:
    _save(store)
    with pytest.raises(ValueError, match="BTCUSDT"):
        _save(store, report={"brier": bad})
    with pytest.raises(ValueError, match="BTCUSDT"):
        _save(store, model={"weights": [1.0, bad]})
    assert [m.version for m in store.models.versions(*KEY)] == [1]


@pytest.mark.parametrize(
    ("column", "garbage"), [("report", "{not json"), ("model", "[1, 2]"), ("report", "NaN")]
)
def test_a_damaged_row_is_an_error(store: Store, column: str, garbage: str) -> None:
    _save(store)
    _save(store)
    with store.transaction() as conn:
        conn.execute(f"UPDATE signal_models SET {column} = ? WHERE version = 2", (garbage,))
    match = "BTCUSDT 1h horizon 4 version 2"
    with pytest.raises(StoreError, match=match):
        store.models.get(*KEY, 2)
    with pytest.raises(StoreError, match=match):
        store.models.latest(*KEY)
    with pytest.raises(StoreError, match=match):
        store.models.versions(*KEY)
    assert store.models.get(*KEY, 1) is not None
