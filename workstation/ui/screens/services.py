"""What the app hands its screens: the market data they read and the settings they read and save.

Screens get these as constructor arguments instead of reaching for members of the app; they
post what the user asks for as messages (:mod:`workstation.ui.screens.messages`). The module
sits beside the screens: the app imports the screens, so the screens never import the app's
folder back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from engine.model import Instrument
from workstation.runtime.config import Settings
from workstation.store import Store

if TYPE_CHECKING:
    import polars as pl


class MarketData(Protocol):
    """The part of a feed a screen reads: its symbols and bar history (every ``Feed`` is one)."""

    name: str

    def symbols(self) -> list[str]: ...

    async def history(
        self, symbol: str, timeframe: str, start: int | None = None, limit: int | None = None
    ) -> pl.DataFrame: ...


def instrument_of(market: MarketData, symbol: str) -> Instrument:
    """The feed's instrument (tick/lot grid); KeyError if the feed does not describe its
    instruments (not every feed does: the optional ``instrument(symbol)`` method)."""
    resolver = getattr(market, "instrument", None)
    if resolver is None:
        raise KeyError(f"the {market.name} feed does not describe its instruments")
    instrument: Instrument = resolver(symbol)
    return instrument


def price_decimals(market: MarketData, symbol: str, default: int = 4) -> int:
    """Decimals to show a price of ``symbol`` with: the instrument's tick, else ``default``."""
    try:
        return instrument_of(market, symbol).price_decimals
    except (KeyError, ValueError, AttributeError):
        return default


def venue_of(market: MarketData) -> str:
    """The venue its bars and signals are stored under (a feed's ``venue``, else its name)."""
    return str(getattr(market, "venue", market.name))


class Preferences:
    """The settings as the workstation uses them: a value saved from the settings screen (the
    store's settings table, audited) wins over the config file."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def get(self, key: str, default: Any = None) -> Any:
        saved = self.store.settings.get(key, None)
        return saved if saved is not None else self.settings.get(key, default)

    def save(self, key: str, value: Any) -> None:
        """Saved in the store, so it overrides the config file for this database."""
        self.store.settings.set(key, value)

    def section(self, name: str) -> dict[str, Any]:
        """A section of the config file as loaded (values saved one by one do not reach it)."""
        return self.settings.section(name)
