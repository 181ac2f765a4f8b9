from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from engine.model import Order, OrderType, Side
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


def _chunks(bars: pl.DataFrame, size: int) -> list[pl.DataFrame]:
    return [bars.slice(i, size) for i in range(0, bars.height, size)]


def _leftovers(store: Store) -> tuple[int, int]:
    with store.reading() as conn:
        imports = conn.execute("SELECT count(*) FROM imports").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM import_rows").fetchone()[0]
    return int(imports), int(rows)


def test_an_order_write_completes_while_an_import_runs(db_path: Path) -> None:
    """Two connections to one file: the import gives the write lock back between chunks, so
    an order (saved and audited in one durable transaction) gets in before the import ends."""
    order = Order("c1", "BTC/USDT", Side.BUY, OrderType.LIMIT, Decimal("0.5"), Decimal("100"))
    events: list[str] = []
    order_done = threading.Event()
    importer, trader = Store(db_path), Store(db_path)

    def progress(phase: str, rows: int) -> None:
        if phase == "staged" and "import running" not in events:
            events.append("import running")
            order_done.wait(timeout=60)

    def run_import() -> None:
        importer.candles.import_bars(
            _chunks(random_bars(4000), 1000), "X", "1h", "import", on_progress=progress
        )
        events.append("import done")

    thread = threading.Thread(target=run_import)
    thread.start()
    try:
        while "import running" not in events and thread.is_alive():
            thread.join(timeout=0.01)
        with trader.durable():
            trader.orders.save(order)
            trader.audit.add("user", "order", "c1")
        events.append("order done")
    finally:
        order_done.set()
        thread.join(timeout=120)
    assert events == ["import running", "order done", "import done"]
    assert trader.orders.get("c1") is not None
    assert trader.candles.count("X", "1h", "import") == 4000
    assert _leftovers(trader) == (0, 0)
    importer.close()
    trader.close()


def test_a_bad_chunk_near_the_end_leaves_nothing_and_loses_nothing(store: Store) -> None:
    before = random_bars(50, seed=5)
    store.candles.upsert(before, "X", "1h", "import")
    new = random_bars(5000, seed=6)  # overlaps the 50 stored bars with other prices

    def chunks() -> Iterator[pl.DataFrame]:
        yield from _chunks(new.head(4500), 500)
        raise ValueError("line 4999: 'oops' is not a number")

    with pytest.raises(ValueError, match="oops"):
        store.candles.import_bars(chunks(), "X", "1h", "import")
    assert store.candles.last("X", "1h", 10_000).equals(before)
    assert _leftovers(store) == (0, 0)


IMPORT_THEN_STOP = """
import sys, os, time
import polars as pl
from tests.helpers import random_bars
from workstation.store import Store

path, stop_at = sys.argv[1], sys.argv[2]
store = Store(path)
bars = random_bars(6000, seed=6)

def progress(phase, rows):
    if phase == stop_at:
        print(phase, flush=True)
        time.sleep(600)

store.candles.import_bars((bars.slice(i, 1000) for i in range(0, 6000, 1000)), "X", "1h",
                          "import", on_progress=progress, publish_rows=1000)
"""


def _import_killed_at(db_path: Path, phase: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", IMPORT_THEN_STOP, str(db_path), phase],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[3],
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == phase
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)


def test_an_import_killed_while_staging_leaves_nothing(db_path: Path) -> None:
    before = random_bars(50, seed=5)
    with Store(db_path) as s:
        s.candles.upsert(before, "X", "1h", "import")
    _import_killed_at(db_path, "staged")
    with Store(db_path) as s:
        assert s.candles.last("X", "1h", 10_000).equals(before)


def test_an_import_killed_while_publishing_is_completed_on_next_open(db_path: Path) -> None:
    with Store(db_path) as s:
        s.candles.upsert(random_bars(50, seed=5), "X", "1h", "import")
    _import_killed_at(db_path, "published")
    with Store(db_path) as s:
        assert s.candles.last("X", "1h", 10_000).equals(random_bars(6000, seed=6))
        assert _leftovers(s) == (0, 0)
