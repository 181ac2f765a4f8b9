"""The watchlist: one row per symbol with last, change %, bid, ask and spread.

It only receives data: ``QuoteUpdated`` and ``ReferencePrice`` messages posted to it, or the
equivalent methods called by its screen. Prices are shown to each instrument's precision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.widgets import DataTable

from engine.model import Tick
from workstation.messages import QuoteUpdated, ReferencePrice

COLUMNS = (
    ("symbol", "Symbol", 10),
    ("last", "Last", 12),
    ("chg", "Chg %", 8),
    ("bid", "Bid", 12),
    ("ask", "Ask", 12),
    ("spread", "Spread", 8),
)


class Watchlist(DataTable[Text | str]):
    DEFAULT_CSS = """
    Watchlist { height: 1fr; }
    """

    def __init__(
        self, symbols: Sequence[str], decimals: dict[str, int] | None = None, **kwargs: object
    ) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.symbols = list(symbols)
        self.decimals = decimals or {}
        self.reference: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.updates = 0

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)
        for symbol in self.symbols:
            self.add_row(Text(symbol, style="bold"), "—", "—", "—", "—", "—", key=symbol)

    def _fmt(self, symbol: str, price: float, style: str = "") -> Text:
        text = f"{price:,.{self.decimals.get(symbol, 2)}f}" if math.isfinite(price) else "—"
        return Text(text, style=style, justify="right")

    def update_quote(self, tick: Tick) -> None:
        symbol = tick.symbol
        if symbol not in self.last and symbol not in self.symbols:
            return
        price = tick.last if math.isfinite(tick.last) else tick.mid
        prev = self.last.get(symbol, price)
        self.last[symbol] = price
        style = "green" if price > prev else "red" if price < prev else ""
        self.update_cell(symbol, "last", self._fmt(symbol, price, style))
        self.update_cell(symbol, "bid", self._fmt(symbol, tick.bid))
        self.update_cell(symbol, "ask", self._fmt(symbol, tick.ask))
        self.update_cell(symbol, "spread", self._fmt(symbol, tick.spread))
        ref = self.reference.get(symbol)
        if ref:
            chg = (price / ref - 1.0) * 100.0
            colour = "green" if chg > 0 else "red" if chg < 0 else ""
            self.update_cell(symbol, "chg", Text(f"{chg:+.2f}%", style=colour, justify="right"))
        self.updates += 1

    @on(QuoteUpdated)
    def _on_quote(self, message: QuoteUpdated) -> None:
        self.update_quote(message.tick)

    @on(ReferencePrice)
    def _on_reference(self, message: ReferencePrice) -> None:
        self.reference[message.symbol] = message.price
