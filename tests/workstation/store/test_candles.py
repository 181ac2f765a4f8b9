from __future__ import annotations

import sqlite3

import polars as pl
import pytest

from tests.helpers import random_bars
from workstation.store import AmbiguousVenueError, Store


def test_candle_upsert_is_idempotent_and_last_bars_is_ordered(store: Store) -> None:
    bars = random_bars(3000)
    store.candles.upsert(bars, "X", "1h", "import")
    store.candles.upsert(bars.tail(10).with_columns(pl.col("close") * 2), "X", "1h", "import")
    assert store.candles.count("X", "1h", "import") == 3000
    last = store.candles.last("X", "1h", 1000)
    assert last.height == 1000
    assert last["ts"].is_sorted()
    assert last["ts"][-1] == bars["ts"][-1]
    assert last["close"][-1] == pytest.approx(bars["close"][-1] * 2)
    assert store.candles.between("X", "1h", start=bars["ts"][10], end=bars["ts"][20]).height == 10


def test_failed_import_leaves_stored_bars_untouched(store: Store) -> None:
    store.candles.upsert(random_bars(10), "X", "1h", "import")
    bad = random_bars(10, seed=2).with_columns(pl.lit(None, dtype=pl.Float64).alias("close"))
    with pytest.raises(sqlite3.IntegrityError):
        store.candles.upsert(bad, "X", "1h", "import")
    assert store.candles.last("X", "1h")["close"].to_list() == random_bars(10)["close"].to_list()


def test_same_symbol_on_two_venues_needs_a_venue(store: Store) -> None:
    store.candles.upsert(random_bars(5), "BTC/USDT", "1h", "binance")
    store.candles.upsert(random_bars(5, seed=3), "BTC/USDT", "1h", "demo")
    with pytest.raises(AmbiguousVenueError, match="binance, demo"):
        store.candles.last("BTC/USDT", "1h")
    assert store.candles.last("BTC/USDT", "1h", venue="demo").height == 5
