"""Signal prices show at their symbol's precision, as its owner learns it."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from engine.model import Action, Evidence, Signal
from widgets.prices import price_text
from widgets.signals_feed import BestSetups, SignalsFeed, cases_text, confidence_text


class _Host(App[None]):
    def __init__(self, decimals: dict[str, int]) -> None:
        super().__init__()
        self.decimals = decimals

    def compose(self) -> ComposeResult:
        yield SignalsFeed(self.decimals)


def _signal(symbol: str, price: float) -> Signal:
    return Signal(1_000_000_000, symbol, "1h", Action.OPEN_LONG, 0.8, price, ("ema up",))


def _price_cells(feed: SignalsFeed) -> list[str]:
    cells = [feed.get_row_at(i)[6] for i in range(feed.row_count)]
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


def _learnt(symbol: str, probability: float, direction: int = 1, cases: int = 412) -> Signal:
    hits = round(cases * 0.57)
    ev = Evidence(probability, direction, cases, hits, 0.52, 0.61, 4, 3)
    action = Action.OPEN_LONG if direction > 0 else Action.OPEN_SHORT
    return Signal(2_000_000_000, symbol, "1h", action, probability, 1.0, ("ema up",), None, ev)


def test_a_learnt_confidence_shows_its_interval_and_cases() -> None:
    sig = _learnt("EURUSD", 0.58)
    assert confidence_text(sig) == "58% ±5"
    assert cases_text(sig) == "412 · 57%"
    rule = _signal("EURUSD", 1.0)
    assert confidence_text(rule) == "80% rule" and cases_text(rule) == "-"
    none = _learnt("EURUSD", 0.5, cases=0)
    assert confidence_text(none) == "50%" and cases_text(none) == "0"


async def test_best_setups_say_when_nothing_reaches_the_gate() -> None:
    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield BestSetups(0.75)

    app = Host()
    async with app.run_test(size=(160, 6)):
        best = app.query_one(BestSetups)
        assert best.summary() == "no signal yet"
        best.add_signal(_learnt("EURUSD", 0.56))
        best.add_signal(_learnt("GBPUSD", 0.61, direction=-1))
        text = best.summary()
        assert text.startswith("No setup reaches the 75% gate (no learnt edge")
        assert text.index("GBPUSD down 61% ±5") < text.index("EURUSD up 56% ±5")
        best.add_signal(_learnt("XAUUSD", 0.8))
        assert best.summary().startswith("At or above the 75% gate now (1): XAUUSD up 80%")
        best.gate = 0.85
        assert best.summary().startswith("No setup reaches the 85% gate")
