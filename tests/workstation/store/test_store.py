from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from engine.model import Action, Cycle, Order, OrderType, Side, Signal
from tests.helpers import random_bars
from workstation.store.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    AmbiguousVenueError,
    Store,
    StoreError,
)


def test_new_file_gets_the_whole_schema(db_path: Path) -> None:
    with Store(db_path) as s:
        assert s.schema_version == SCHEMA_VERSION
        tables = {r[0] for r in s.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"candles", "orders", "fills", "alerts", "audit_log", "balances"} <= tables
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrates_from_the_previous_version_keeping_data(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("PRAGMA user_version=1")
    conn.execute("INSERT INTO candles VALUES ('import', 'X', '1h', 1, 1.0, 2.0, 0.5, 1.5, 10.0)")
    conn.commit()
    conn.close()
    with Store(db_path) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.last_bars("X", "1h")["close"].to_list() == [1.5]
        s.set_balance("paper", "USDT", Decimal("10000.5"))
        assert s.balances("paper") == {"USDT": Decimal("10000.5")}


def test_refuses_a_newer_schema(db_path: Path) -> None:
    Store(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(db_path)


def test_candle_upsert_is_idempotent_and_last_bars_is_ordered(store: Store) -> None:
    bars = random_bars(3000)
    store.upsert_candles(bars, "X", "1h", "import")
    store.upsert_candles(bars.tail(10).with_columns(pl.col("close") * 2), "X", "1h", "import")
    assert store.candle_count("X", "1h", "import") == 3000
    last = store.last_bars("X", "1h", 1000)
    assert last.height == 1000
    assert last["ts"].is_sorted()
    assert last["ts"][-1] == bars["ts"][-1]
    assert last["close"][-1] == pytest.approx(bars["close"][-1] * 2)
    assert store.bars("X", "1h", start=bars["ts"][10], end=bars["ts"][20]).height == 10


def test_failed_import_leaves_stored_bars_untouched(store: Store) -> None:
    store.upsert_candles(random_bars(10), "X", "1h", "import")
    bad = random_bars(10, seed=2).with_columns(pl.lit(None, dtype=pl.Float64).alias("close"))
    with pytest.raises(sqlite3.IntegrityError):
        store.upsert_candles(bad, "X", "1h", "import")
    assert store.last_bars("X", "1h")["close"].to_list() == random_bars(10)["close"].to_list()


def test_same_symbol_on_two_venues_needs_a_venue(store: Store) -> None:
    store.upsert_candles(random_bars(5), "BTC/USDT", "1h", "binance")
    store.upsert_candles(random_bars(5, seed=3), "BTC/USDT", "1h", "demo")
    with pytest.raises(AmbiguousVenueError, match="binance, demo"):
        store.last_bars("BTC/USDT", "1h")
    assert store.last_bars("BTC/USDT", "1h", venue="demo").height == 5


def test_orders_keep_exact_decimals(store: Store) -> None:
    order = Order(
        "c1", "BTC/USDT", Side.BUY, OrderType.LIMIT, Decimal("0.00123"), Decimal("64000.01")
    )
    with store.durable():
        store.save_order(order)
    got = store.order("c1")
    assert got is not None and got.qty == Decimal("0.00123") and got.price == Decimal("64000.01")
    assert store.orders(open_only=True)[0].client_id == "c1"


def test_signals_round_trip(store: Store) -> None:
    sig = Signal(
        5, "X", "1h", Action.OPEN_LONG, 0.8, 101.5, ("rsi low", "cycle trough"), Cycle(16.0, 0.4, 4)
    )
    store.add_signal(sig, "demo")
    assert store.signals(symbol="X") == [sig]


def test_watchlist_and_settings_persist(db_path: Path) -> None:
    with Store(db_path) as s:
        assert s.watchlist() is None
        s.set_watchlist(["EURUSD", "BTC/USDT", "EURUSD"])
        s.set_setting("signals.quality_gate", 0.8)
    with Store(db_path) as s:
        assert s.watchlist() == ["EURUSD", "BTC/USDT"]
        assert s.get_setting("signals.quality_gate") == 0.8
        assert s.audit_log()[0]["action"] == "setting"
