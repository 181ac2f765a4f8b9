"""What the app hands its screens: preferences over the store and the config file, and the
questions the screens and the app ask a feed."""

from __future__ import annotations

import polars as pl
import pytest

from engine.timeframes import OHLCV_SCHEMA
from feeds.demo import DemoFeed
from feeds.replay import ReplayFeed
from workstation.runtime.config import Settings
from workstation.store import Store
from workstation.ui.screens.services import Preferences, instrument_of, price_decimals, venue_of


def test_a_saved_value_wins_over_the_config_file_and_defaults_fill_the_rest(store: Store) -> None:
    settings = Settings.load(environ={"QWS__APP__TIMEFRAME": "5m"})
    prefs = Preferences(store, settings)
    assert prefs.get("app.timeframe") == "5m"
    assert prefs.get("no.such.key", 42) == 42
    prefs.save("app.timeframe", "1h")
    assert prefs.get("app.timeframe") == "1h"
    assert store.settings.get("app.timeframe") == "1h"
    assert prefs.section("signals") == settings.section("signals")


def test_a_feed_that_describes_its_instruments_gives_their_precision() -> None:
    feed = DemoFeed()
    assert instrument_of(feed, "EURUSD").symbol == "EURUSD"
    assert price_decimals(feed, "EURUSD") == feed.instrument("EURUSD").price_decimals
    assert venue_of(feed) == "demo"


class _BareFeed:
    """A feed that does not describe its instruments (the method is optional)."""

    name = "bare"


def test_a_feed_without_instruments_falls_back_to_four_decimals() -> None:
    feed = _BareFeed()
    with pytest.raises(KeyError, match="does not describe its instruments"):
        instrument_of(feed, "X")  # type: ignore[arg-type]
    assert price_decimals(feed, "X") == 4  # type: ignore[arg-type]
    assert venue_of(feed) == "bare"  # type: ignore[arg-type]


def test_a_replay_describes_its_instrument_from_the_file() -> None:
    bar = {"ts": [0], "open": [1.0], "high": [1.0], "low": [1.0], "close": [1.25], "volume": [1.0]}
    feed = ReplayFeed(frame=pl.DataFrame(bar, schema=OHLCV_SCHEMA), symbol="X")
    instrument = instrument_of(feed, "X")
    assert str(instrument.tick_size) == "0.01" and str(instrument.lot_size) == "1"
    assert price_decimals(feed, "X") == 2
    assert venue_of(feed) == "replay"
