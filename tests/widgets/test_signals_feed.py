"""Signal prices show at their symbol's precision, as its owner learns it."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from engine.model import Action, Signal
from widgets.prices import price_text
from widgets.signals_feed import SignalsFeed


class _Host(App[None]):
    def __init__(self, decimals: dict[str, int]) -> None:
        super().__init__()
        self.decimals = decimals

    def compose(self) -> ComposeResult:
        yield SignalsFeed(self.decimals)


def _signal(symbol: str, price: float) -> Signal:
    return Signal(1_000_000_000, symbol, "1h", Action.OPEN_LONG, 0.8, price, ("ema up",))


def _price_cells(feed: SignalsFeed) -> list[str]:
    cells = [feed.get_row_at(i)[5] for i in range(feed.row_count)]
    return [c.plain if isinstance(c, Text) else c for c in cells]


async def test_prices_show_at_each_symbols_tick_decimals() -> None:
    decimals = {"BTC/USDT": 2, "EURUSD": 5}
    app = _Host(decimals)
    async with app.run_test(size=(120, 10)):
        feed = app.query_one(SignalsFeed)
        feed.add_signal(_signal("BTC/USDT", 64000.0))
        feed.add_signal(_signal("EURUSD", 1.08512))
        feed.add_signal(_signal("XAUUSD", 2345.67))  # precision not known (yet)
        decimals["XAUUSD"] = 2  # learned later: the next row uses it
        feed.add_signal(_signal("XAUUSD", 2345.6))
        assert _price_cells(feed) == ["64,000.00", "1.08512", "2,345.67", "2,345.60"]


def test_price_text_never_drops_digits_it_has_no_precision_for() -> None:
    assert price_text(1.085125, None) == "1.085125"
    assert price_text(float("nan"), 2) == "—"
