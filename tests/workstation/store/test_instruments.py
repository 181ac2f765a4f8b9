from __future__ import annotations

from decimal import Decimal as D

from engine.model import Instrument
from workstation.store import Store


def test_venue_of_a_symbol_is_the_first_that_lists_it(store: Store) -> None:
    assert store.instruments.venue_of("BTC/USDT") is None
    store.instruments.upsert(
        [
            Instrument("BTC/USDT", "demo", D("0.01"), D("0.0001"), "USDT", "BTC"),
            Instrument("BTC/USDT", "binance", D("0.01"), D("0.00001"), "USDT", "BTC"),
        ]
    )
    assert store.instruments.venue_of("BTC/USDT") == "binance"
    found = store.instruments.get("BTC/USDT", "binance")
    assert found is not None and found.lot_size == D("0.00001")


def test_venue_of_a_symbol_is_found_by_index(store: Store) -> None:
    """Asked once per signal of a scan: a seek, not a read of every instrument."""
    executed: list[str] = []
    with store.reading() as conn:
        conn.set_trace_callback(executed.append)
        try:
            store.instruments.venue_of("BTC/USDT")
        finally:
            conn.set_trace_callback(None)
        [sql] = [s for s in executed if s.lstrip().upper().startswith("SELECT")]
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()]
    assert plan == ["SEARCH instruments USING COVERING INDEX instruments_symbol (symbol=?)"]


def test_upsert_replaces_an_instrument_and_get_returns_it_whole(store: Store) -> None:
    first = Instrument("ETH/USDT", "demo", D("0.01"), D("0.001"), "USDT", "ETH", D("0.01"), D("5"))
    store.instruments.upsert([first])
    changed = Instrument("ETH/USDT", "demo", D("0.05"), D("0.0001"), "USDT", "ETH", D("0"), D("10"))
    store.instruments.upsert([changed])
    store.instruments.upsert([])
    assert store.instruments.get("ETH/USDT", "demo") == changed
    assert store.instruments.get("ETH/USDT", "other") is None
    with store.reading() as conn:
        assert conn.execute("SELECT count(*), min(tick_size) FROM instruments").fetchone() == (
            1,
            "0.05",
        )
