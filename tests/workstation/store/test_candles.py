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


def _series(store: Store) -> None:
    """Symbols on two venues and two timeframes, one symbol on both venues."""
    for i, (venue, symbol, tf) in enumerate(
        [
            ("binance", "BTC/USDT", "1h"),
            ("binance", "ETH/USDT", "1h"),
            ("binance", "ETH/USDT", "4h"),
            ("demo", "BTC/USDT", "1h"),
            ("demo", "EURUSD", "1m"),
            ("import", "AAPL", "4h"),
        ]
    ):
        store.candles.upsert(random_bars(30, seed=i), symbol, tf, venue)


def _distinct(store: Store, sql: str, params: tuple[str, ...]) -> list[str]:
    with store.reading() as conn:
        return [r[0] for r in conn.execute(sql, params).fetchall()]


def test_venues_and_symbols_match_a_full_scan(store: Store) -> None:
    _series(store)
    for symbol in ("BTC/USDT", "ETH/USDT", "EURUSD", "AAPL", "NONE"):
        for tf in ("1m", "1h", "4h", "1d"):
            assert store.candles.venues(symbol, tf) == _distinct(
                store,
                "SELECT DISTINCT venue FROM candles WHERE symbol = ? AND timeframe = ?"
                " ORDER BY venue",
                (symbol, tf),
            )
    for tf in ("1m", "1h", "4h", "1d"):
        assert store.candles.symbols(tf) == _distinct(
            store,
            "SELECT DISTINCT symbol FROM candles WHERE timeframe = ? ORDER BY symbol",
            (tf,),
        )
        for venue in ("binance", "demo", "import", "nowhere"):
            assert store.candles.symbols(tf, venue) == _distinct(
                store,
                "SELECT DISTINCT symbol FROM candles WHERE timeframe = ? AND venue = ?"
                " ORDER BY symbol",
                (tf, venue),
            )
    assert store.candles.symbols("1h") == ["BTC/USDT", "ETH/USDT"]
    assert store.candles.venues("BTC/USDT", "1h") == ["binance", "demo"]


def test_a_symbols_venue_and_bars_are_found_by_key_seeks_never_a_table_scan(
    store: Store,
) -> None:
    """What a scan without --venue runs per symbol (and once for the symbol list): every
    statement the store executes, planned by SQLite, reads candles by its primary key."""
    _series(store)
    executed: list[str] = []
    with store.reading() as conn:
        conn.set_trace_callback(executed.append)
        try:
            store.candles.symbols("1h")
            store.candles.symbols("1h", "binance")
            store.candles.venues("ETH/USDT", "1h")
            store.candles.last("ETH/USDT", "1h", 10)
        finally:
            conn.set_trace_callback(None)
        queries = [sql for sql in executed if sql.lstrip().upper().startswith(("SELECT", "WITH"))]
        assert len(queries) == 5  # symbols x2, venues x2 (one inside last), the bars
        for sql in queries:
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()]
            on_candles = [step for step in plan if " candles " in f" {step} "]
            assert on_candles, (sql, plan)
            seeks = [step.startswith("SEARCH candles USING PRIMARY KEY") for step in on_candles]
            assert all(seeks), (sql, plan)


@pytest.mark.parametrize("rows", [1, 63, 64, 65, 200])
def test_upsert_and_import_store_every_row_exactly_across_statement_boundaries(
    store: Store, rows: int
) -> None:
    bars = random_bars(rows, seed=rows)
    store.candles.upsert(bars, "X", "1h", "a", chunk=50)
    assert store.candles.last("X", "1h", 10_000, venue="a").equals(bars)
    store.candles.import_bars(_chunks(bars, 70), "X", "1h", "b", publish_rows=33)
    assert store.candles.last("X", "1h", 10_000, venue="b").equals(bars)
    changed = bars.with_columns(pl.col("close") + 1.0)
    store.candles.upsert(changed, "X", "1h", "a")
    assert store.candles.last("X", "1h", 10_000, venue="a").equals(changed)
    assert store.candles.count("X", "1h", "a") == rows


def test_upsert_of_a_frame_with_a_repeated_ts_keeps_the_later_row(store: Store) -> None:
    bars = random_bars(100)
    twice = pl.concat([bars, bars.tail(1).with_columns(pl.col("close") * 3)])
    store.candles.upsert(twice, "X", "1h", "a")
    stored = store.candles.last("X", "1h", 1000)
    assert stored.height == 100
    assert stored["close"][-1] == pytest.approx(bars["close"][-1] * 3)


def test_live_bars_of_several_series_are_written_in_their_order(store: Store) -> None:
    from engine.model import Bar

    t0 = 1_700_000_000_000_000_000
    bars = [
        Bar(t0, "AAA", "1m", 1.0, 2.0, 0.5, 1.5, 10.0),
        Bar(t0, "BBB", "1m", 5.0, 6.0, 4.5, 5.5, 3.0),
        Bar(t0 + 60_000_000_000, "AAA", "1m", 1.5, 1.75, 1.25, 1.625, 4.0),
        Bar(t0, "AAA", "1m", 1.0, 2.0, 0.5, 1.25, 12.0),  # re-sent: the later one stands
    ]
    assert store.candles.upsert_bars(bars, "live") == 4
    aaa = store.candles.last("AAA", "1m", 10, venue="live")
    assert aaa.rows() == [
        (t0, 1.0, 2.0, 0.5, 1.25, 12.0),
        (t0 + 60_000_000_000, 1.5, 1.75, 1.25, 1.625, 4.0),
    ]
    assert store.candles.last("BBB", "1m", 10, venue="live").rows() == [
        (t0, 5.0, 6.0, 4.5, 5.5, 3.0)
    ]
    assert store.candles.upsert_bars([], "live") == 0
